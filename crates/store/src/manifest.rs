//! `manifest.json`: what a backup holds, written by the backup engine
//! before `ok` and read by recovery (sizes, compression) and by the
//! completeness check. One definition for both sides; fields added later
//! are optional, so older manifests still read.
//!
//! ```
//! use store::manifest::{FileEntry, Manifest};
//!
//! let mut m = Manifest::new("UTC20240222014345.236-full", Default::default());
//! m.files.insert("cluster_consistence_info".into(), FileEntry { size: 10, sha256: None });
//! let text = m.to_json();
//! assert_eq!(Manifest::parse(&text).unwrap(), m);
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The manifest format this code writes.
pub const FORMAT: u32 = 1;

/// A backup's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// The program and version that wrote it.
    #[serde(default)]
    pub tool: String,
    /// The backup's name.
    #[serde(default)]
    pub backup: String,
    /// The plan it carried out and how long it took.
    #[serde(default)]
    pub summary: Summary,
    /// Every file of the backup directory but `ok` and the manifest itself,
    /// by path relative to it.
    #[serde(default)]
    pub files: BTreeMap<String, FileEntry>,
    /// With `-p`: the encrypted tarball (`encrypted/<backup>.tar.encrypted`),
    /// which holds the files `files` does not list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball: Option<FileEntry>,
    /// With `-p`: the files inside the tarball and their sizes (no
    /// digests: the tarball's HMAC covers them). Recovery reads its few
    /// small files out of the tarball by name and stops there, which it
    /// can only do for members it knows exist (empty: written before this
    /// field, read the whole tarball).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tarball_files: BTreeMap<String, u64>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What the run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `full` or `inc`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The backup an incremental builds on.
    #[serde(default)]
    pub last_good: Option<String>,
    /// Each backed-up server.
    #[serde(default)]
    pub servers: Vec<ServerSummary>,
    /// The stream compression (`zstd -T<n>`), if any.
    #[serde(default)]
    pub compress: Option<String>,
    /// Whether the files went into an encrypted tarball.
    #[serde(default)]
    pub encrypted: bool,
    /// The run's step timings.
    #[serde(default)]
    pub timings: serde_json::Value,
    /// Seconds from the run's start to its manifest (about its whole
    /// duration; `ok` follows at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_secs: Option<f64>,
}

/// One backed-up server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    /// Its dataserver name.
    pub server: String,
    /// Its datasource.
    #[serde(default)]
    pub datasource: String,
    /// `host:port`.
    #[serde(default)]
    pub address: String,
    /// `master` or `slave`.
    #[serde(default)]
    pub role: String,
    /// The checkpoint LSN the next incremental starts from.
    #[serde(default)]
    pub lsn: u64,
    /// The LSN this incremental started from.
    #[serde(default)]
    pub incremental_from: Option<u64>,
    /// `file:pos` of its own binlog at the end of its backup.
    #[serde(default)]
    pub binlog: String,
    /// The GTID state the backup holds.
    #[serde(default)]
    pub executed_gtids: String,
    /// The stream's size.
    #[serde(default)]
    pub stream_bytes: u64,
    /// The stream's SHA-256.
    #[serde(default)]
    pub stream_sha256: Option<String>,
    /// Its step timings.
    #[serde(default)]
    pub timings: serde_json::Value,
}

impl Manifest {
    /// An empty manifest of `backup`, written by this version.
    pub fn new(backup: &str, summary: Summary) -> Manifest {
        Manifest {
            format: FORMAT,
            tool: concat!("dbscale-backup ", env!("CARGO_PKG_VERSION")).to_owned(),
            backup: backup.to_owned(),
            summary,
            files: BTreeMap::new(),
            tarball: None,
            tarball_files: BTreeMap::new(),
        }
    }

    /// Parses a manifest; a format newer than [`FORMAT`] is refused.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| format!("not a manifest: {e}"))?;
        if m.format > FORMAT {
            return Err(format!(
                "manifest format {} is newer than this tool's ({FORMAT})",
                m.format
            ));
        }
        Ok(m)
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain data: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The streams' sizes by server name.
    pub fn stream_sizes(&self) -> BTreeMap<String, u64> {
        self.summary
            .servers
            .iter()
            .map(|s| (s.server.clone(), s.stream_bytes))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::new(
            "UTC20240222014345.236-full",
            Summary {
                kind: "full".into(),
                last_good: None,
                servers: vec![ServerSummary {
                    server: "normal_0_1".into(),
                    datasource: "normal_0".into(),
                    address: "127.0.0.12:16315".into(),
                    role: "slave".into(),
                    lsn: 44744,
                    incremental_from: None,
                    binlog: "mysql-bin.000002:385".into(),
                    executed_gtids: "0-1-7".into(),
                    stream_bytes: 1000,
                    stream_sha256: Some("ab".into()),
                    timings: serde_json::json!({"stream": 1.5}),
                }],
                compress: Some("zstd -T2".into()),
                encrypted: false,
                timings: serde_json::json!({}),
                elapsed_secs: Some(12.5),
            },
        );
        m.files.insert(
            "normal_0-normal_0_1-127.0.0.12-16315/backup.xbsteam".into(),
            FileEntry {
                size: 1000,
                sha256: Some("ab".into()),
            },
        );
        m
    }

    #[test]
    fn it_round_trips() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn the_written_keys_are_the_documented_ones() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        for key in ["format", "tool", "backup", "summary", "files"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["summary"]["type"], "full");
        assert_eq!(v["summary"]["servers"][0]["stream_bytes"], 1000);
        assert_eq!(
            v["files"]["normal_0-normal_0_1-127.0.0.12-16315/backup.xbsteam"]["size"],
            1000
        );
    }

    #[test]
    fn an_older_manifest_with_fewer_fields_reads() {
        let m = Manifest::parse(r#"{"format": 1, "files": {"a": {"size": 3}}}"#).unwrap();
        assert_eq!(m.files["a"].size, 3);
        assert!(m.summary.servers.is_empty());
    }

    #[test]
    fn garbage_and_newer_formats_are_refused() {
        assert!(Manifest::parse("not json").is_err());
        let e = Manifest::parse(r#"{"format": 99}"#).unwrap_err();
        assert!(e.contains("newer"), "{e}");
    }
}
