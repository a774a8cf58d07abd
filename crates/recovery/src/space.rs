//! How much room a recovery needs on the job server's work-dir, estimated
//! before anything is shipped from the sizes the store knows: each backup's
//! `manifest.json` (file sizes; for an encrypted backup, whose data files
//! are in its tarball, the per-server stream sizes of its summary), else
//! measured on the store.

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use binlog::BackupName;
use remote::{Command, quote};
use std::collections::BTreeMap;
use std::fmt;
use store::manifest::Manifest;
use store::{Store, layout};

/// A guess of how much a zstd-compressed stream grows when extracted:
/// InnoDB pages typically compress 3-4 times; the headroom covers the rest.
const ZSTD_EXPANSION: u64 = 4;

/// Per restored datasource, room the prepare step and the temporary server
/// take beyond the data: redo log, temporary tablespace, logs.
const PER_DATASOURCE: u64 = 256 << 20;

/// Headroom asked for on top of the estimate, in percent.
const HEADROOM_PERCENT: u64 = 10;

/// What the store says about one backup's sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSizes {
    /// File sizes by path in the backup (`<server dir>/backup.xbsteam`, ...).
    pub files: BTreeMap<String, u64>,
    /// Stream sizes by dataserver name (an encrypted backup's summary).
    pub streams: BTreeMap<String, u64>,
    /// Whether its streams are zstd-compressed.
    pub compressed: bool,
    /// What shipping it writes on the job server (all its files, or the
    /// plaintext of its tarball).
    pub total: u64,
}

impl BackupSizes {
    /// From a `manifest.json` (`files.<path>.size`, `summary.compress`,
    /// `summary.servers[].server`/`stream_bytes`); `tarball`: the size of
    /// the encrypted tarball, which holds the files the manifest does not
    /// list.
    #[cfg(test)]
    pub fn from_manifest(text: &str, tarball: Option<u64>) -> Option<BackupSizes> {
        Some(Self::of_manifest(
            &store::manifest::Manifest::parse(text).ok()?,
            tarball,
        ))
    }

    /// From a parsed manifest (file sizes, `summary.compress`, the
    /// servers' stream sizes) and the encrypted tarball's size.
    pub fn of_manifest(m: &store::manifest::Manifest, tarball: Option<u64>) -> BackupSizes {
        let files: BTreeMap<String, u64> =
            m.files.iter().map(|(k, f)| (k.clone(), f.size)).collect();
        let total = files.values().sum::<u64>() + tarball.unwrap_or(0);
        BackupSizes {
            files,
            streams: m.stream_sizes(),
            compressed: m.summary.compress.is_some(),
            total,
        }
    }

    /// From `find -printf '%s\t%P\n'` output (a backup without manifest).
    pub fn from_listing(text: &str) -> BackupSizes {
        let files: BTreeMap<String, u64> = text
            .lines()
            .filter_map(|l| {
                let (size, path) = l.split_once('\t')?;
                Some((path.to_owned(), size.parse().ok()?))
            })
            .collect();
        BackupSizes {
            total: files.values().sum(),
            files,
            ..BackupSizes::default()
        }
    }

    /// The stream of `dir` (a server directory); unknown sizes count as the
    /// whole backup, which is never less.
    fn stream(&self, dir: &binlog::ServerDir) -> u64 {
        self.files
            .get(&format!("{dir}/backup.xbsteam"))
            .or_else(|| self.streams.get(&dir.server))
            .copied()
            .unwrap_or(self.total)
    }
}

/// The estimate, by what takes the room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceEstimate {
    /// The chain's copy on the job server (0 when used in place).
    pub shipped: u64,
    /// Extracted and prepared data of every datasource.
    pub restored: u64,
    /// What replaying the binlogs adds.
    pub replay: u64,
    /// Per-datasource room of the prepare step and the temporary server.
    pub servers: u64,
}

impl SpaceEstimate {
    /// Everything, with the headroom.
    pub fn needed(&self) -> u64 {
        let sum = self.shipped + self.restored + self.replay + self.servers;
        sum + sum * HEADROOM_PERCENT / 100
    }
}

impl fmt::Display for SpaceEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "about {} MiB ({} bytes): shipped chain {} MiB, restored data {} MiB, binlog replay {} MiB, temporary servers {} MiB, plus {HEADROOM_PERCENT} %",
            self.needed() >> 20,
            self.needed(),
            self.shipped >> 20,
            self.restored >> 20,
            self.replay >> 20,
            self.servers >> 20
        )
    }
}

/// The estimate for `plan` from the sizes of its backups.
///
/// The work-dir ends up holding, all at once: the shipped chain (unless
/// used in place); per datasource its full stream extracted (a compressed
/// stream grows), each incremental extracted and kept, plus as much again
/// for the pages it changes in the full; the rows the replay adds (about
/// the binlogs' size) and the temporary server's own binary log of them
/// (the same again); and the temporary server's fixed files.
pub fn estimate(plan: &RecoveryPlan, sizes: &BTreeMap<BackupName, BackupSizes>) -> SpaceEstimate {
    let size = |b: &BackupName| sizes.get(b);
    let shipped = if plan.in_place {
        0
    } else {
        plan.apply
            .chain
            .dirs_to_fetch()
            .iter()
            .filter_map(|b| size(b).map(|s| s.total))
            .sum()
    };
    let mut restored = 0;
    let mut replay = 0;
    for d in &plan.apply.datasources {
        for (i, b) in plan.apply.chain.backups.iter().enumerate() {
            let Some(s) = size(b) else { continue };
            let factor = if s.compressed { ZSTD_EXPANSION } else { 1 };
            let extracted = s.stream(&d.data_dir) * factor;
            restored += if i == 0 { extracted } else { 2 * extracted };
        }
        for f in &d.binlogs {
            let bytes = size(&f.backup)
                .and_then(|s| s.files.get(&format!("{}/{}", f.dir, f.file)))
                .copied()
                .unwrap_or(0);
            replay += 2 * bytes;
        }
    }
    SpaceEstimate {
        shipped,
        restored,
        replay,
        servers: PER_DATASOURCE * plan.apply.datasources.len() as u64,
    }
}

/// Each of `backups`' manifests, where it has one (read once: planning,
/// the space estimate and the check of the shipped files all use them).
pub async fn manifests(
    store: &Store,
    backups: &[BackupName],
) -> Result<BTreeMap<BackupName, Manifest>, RecoveryError> {
    let mut out = BTreeMap::new();
    for b in backups {
        let manifest = store
            .read_manifest(&b.to_string())
            .await?
            .and_then(|t| Manifest::parse(&String::from_utf8_lossy(&t)).ok());
        if let Some(m) = manifest {
            out.insert(*b, m);
        }
    }
    Ok(out)
}

/// The sizes of every backup the plan uses: from its manifest (with the
/// encrypted tarball's size, read on the store), else a listing.
pub async fn measure(
    store: &Store,
    plan: &RecoveryPlan,
    manifests: &BTreeMap<BackupName, Manifest>,
) -> Result<BTreeMap<BackupName, BackupSizes>, RecoveryError> {
    let mut out = BTreeMap::new();
    for b in plan.apply.chain.dirs_to_fetch() {
        let name = b.to_string();
        let tarball = if plan.encrypted {
            let path = store.path(&layout::encrypted_tarball(&name));
            let text = listing(store, &format!("stat -c %s {}", quote(&path))).await?;
            text.trim().parse::<u64>().ok()
        } else {
            None
        };
        let sizes = match manifests.get(&b) {
            Some(m) => BackupSizes::of_manifest(m, tarball),
            None => {
                let script = format!(
                    "cd {} && find . -type f -printf '%s\\t%P\\n'",
                    quote(&store.path(&name))
                );
                let mut s = BackupSizes::from_listing(&listing(store, &script).await?);
                s.total += tarball.unwrap_or(0);
                s
            }
        };
        out.insert(b, sizes);
    }
    Ok(out)
}

async fn listing(store: &Store, script: &str) -> Result<String, RecoveryError> {
    let out = store
        .transport()
        .exec(&Command::shell(script), std::time::Duration::from_secs(120))
        .await
        .map_err(|e| RecoveryError::host(store.host(), "measuring the chain", e))?;
    if !out.success() {
        return Err(RecoveryError::host(
            store.host(),
            "measuring the chain",
            out.stderr_str().trim(),
        ));
    }
    Ok(out.stdout_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
      "format": 1,
      "summary": {"compress": null, "servers": [
        {"server": "s1", "stream_bytes": 5000},
        {"server": "s2", "stream_bytes": 7000}]},
      "files": {
        "ds0-s1-127.0.0.11-3306/backup.xbsteam": {"size": 1000},
        "ds0-s1-127.0.0.11-3306/mysql-bin.000001": {"size": 300},
        "cluster_consistence_info": {"size": 10}
      }
    }"#;

    #[test]
    fn a_manifest_gives_files_streams_and_the_shipped_total() {
        let s = BackupSizes::from_manifest(MANIFEST, None).unwrap();
        assert_eq!(s.total, 1310);
        assert!(!s.compressed);
        let dir: binlog::ServerDir = "ds0-s1-127.0.0.11-3306".parse().unwrap();
        assert_eq!(s.stream(&dir), 1000);
        let enc = BackupSizes::from_manifest(
            &MANIFEST
                .replace("backup.xbsteam", "gone")
                .replace("null", "\"zstd -T2\""),
            Some(9000),
        )
        .unwrap();
        assert_eq!(enc.total, 10310);
        assert!(enc.compressed);
        assert_eq!(enc.stream(&dir), 5000, "the summary's stream size");
        let other: binlog::ServerDir = "ds1-s9-127.0.0.12-3306".parse().unwrap();
        assert_eq!(enc.stream(&other), 10310, "unknown: the whole backup");
        assert_eq!(BackupSizes::from_manifest("not json", None), None);
    }

    #[test]
    fn a_listing_sums_its_files() {
        let s = BackupSizes::from_listing("10\ta/backup.xbsteam\n5\tok\nbad line\n");
        assert_eq!(s.total, 15);
        assert_eq!(s.files["a/backup.xbsteam"], 10);
    }

    #[test]
    fn the_estimate_counts_shipping_extraction_replay_and_servers() {
        let full: BackupName = "UTC20260101000000.000-full".parse().unwrap();
        let inc: BackupName = "UTC20260102000000.000-inc".parse().unwrap();
        let dir: binlog::ServerDir = "ds0-s1-127.0.0.11-3306".parse().unwrap();
        let apply = binlog::DatasourceApply {
            datasource: "ds0".into(),
            data_dir: dir.clone(),
            binlog_dir: dir.clone(),
            start: binlog::BinlogPos {
                file: "mysql-bin.000001".parse().unwrap(),
                pos: 4,
            },
            skip_gtids: None,
            binlogs: vec![binlog::apply_plan::BinlogSource {
                backup: inc,
                dir: dir.clone(),
                file: "mysql-bin.000001".parse().unwrap(),
            }],
            stop: binlog::ApplyStop::Position(binlog::BinlogPos {
                file: "mysql-bin.000001".parse().unwrap(),
                pos: 4,
            }),
        };
        let mut plan = RecoveryPlan {
            apply: binlog::ApplyPlan {
                chain: binlog::Chain {
                    backups: vec![full, inc],
                    next: None,
                    stop_datetime: None,
                },
                datasources: vec![apply],
            },
            encrypted: false,
            store: "h:/s".into(),
            job_host: "j".into(),
            job_dir: "/w/t".into(),
            in_place: false,
            first_port: 27000,
            space: SpaceEstimate::default(),
            compressed: false,
        };
        let s = BackupSizes::from_manifest(MANIFEST, None).unwrap();
        let mut compressed = s.clone();
        compressed.compressed = true;
        let sizes = BTreeMap::from([(full, compressed), (inc, s)]);
        let e = estimate(&plan, &sizes);
        assert_eq!(e.shipped, 1310 * 2);
        assert_eq!(e.restored, 1000 * ZSTD_EXPANSION + 2 * 1000);
        assert_eq!(e.replay, 600);
        assert_eq!(e.servers, PER_DATASOURCE);
        let sum = e.shipped + e.restored + e.replay + e.servers;
        assert_eq!(e.needed(), sum + sum / 10);
        assert!(
            e.to_string()
                .starts_with(&format!("about {} MiB", e.needed() >> 20))
        );
        plan.in_place = true;
        assert_eq!(estimate(&plan, &sizes).shipped, 0);
    }
}
