//! `dbbackup info`: what the store holds, like `pgbackrest info`: every
//! backup with its chain, type, `ok`, encryption, size, duration and
//! consistence point; the window a recovery can reach; the trash. Read in
//! three round trips (the listing, every manifest at once, the trash).

use crate::engine::{connector, open_store};
use crate::error::BackupError;
use binlog::BackupName;
use serde::Serialize;
use std::collections::BTreeMap;
use store::frames;
use store::layout::{LEGACY_MANIFEST_FILE, MANIFEST_FILE};
use store::manifest::Manifest;
use store::{Listed, Store};

/// One backup on the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupInfo {
    /// Its directory name.
    pub name: String,
    /// `full` or `inc`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether it holds `ok` (a complete backup).
    pub ok: bool,
    /// The full backup its chain starts from (itself for a full; `None`
    /// for an incremental without a good full before it).
    pub chain: Option<String>,
    /// Whether it is encrypted (`None`: no manifest says).
    pub encrypted: Option<bool>,
    /// Its bytes on the store, tarball included (`None`: no manifest).
    pub bytes: Option<u64>,
    /// How long the run took, in seconds (`None`: not recorded).
    pub duration_secs: Option<f64>,
    /// Its consistence point (`consistent_point_datetime`, the servers'
    /// local time).
    pub point: Option<String>,
}

/// Everything `info` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreInfo {
    /// `host:dir`.
    pub store: String,
    /// Every backup, oldest first.
    pub backups: Vec<BackupInfo>,
    /// The earliest and latest consistence points a recovery can reach
    /// (from the oldest good full to the newest good backup; a stop time
    /// between two backups replays the later one's binlogs).
    pub recovery_window: Option<(String, String)>,
    /// The names in `trash/`.
    pub trash: Vec<String>,
}

/// Reads the store of `cfg` and describes it.
pub async fn info(cfg: &conf::BackupConfig) -> Result<StoreInfo, BackupError> {
    let store = open_store(cfg, &connector(cfg)?)?;
    let listed = store.list().await?;
    let manifests = read_manifests(&store, &listed).await?;
    let trash = store.trash_entries().await?;
    Ok(assemble(
        format!("{}:{}", cfg.store.host.host, store.dir()),
        &listed,
        &manifests,
        trash,
    ))
}

/// Every backup's manifest, in one round trip; a missing or unreadable one
/// is left out (a seed backup, or a run that died before it).
async fn read_manifests(
    store: &Store,
    listed: &[Listed],
) -> Result<BTreeMap<String, Manifest>, BackupError> {
    // Both places a manifest may be (see store::layout), the new first.
    let rels: Vec<String> = listed
        .iter()
        .filter(|l| l.backup.is_some())
        .flat_map(|l| [LEGACY_MANIFEST_FILE, MANIFEST_FILE].map(|m| format!("{}/{m}", l.name)))
        .collect();
    if rels.is_empty() {
        return Ok(BTreeMap::new());
    }
    let names: Vec<&str> = rels.iter().map(String::as_str).collect();
    let out = store
        .run(
            "reading the manifests",
            remote::Command::shell(frames::print_script(store.dir(), &names)),
        )
        .await?;
    let files = frames::parse(&out.stdout)
        .map_err(|detail| BackupError::host(store.host(), "reading the manifests", detail))?;
    let mut manifests = BTreeMap::new();
    for (rel, bytes) in files {
        let Ok(m) = Manifest::parse(&String::from_utf8_lossy(&bytes)) else {
            continue;
        };
        if let Some(name) = rel.strip_suffix(&format!("/{MANIFEST_FILE}")) {
            manifests.insert(name.to_owned(), m);
        } else if let Some(name) = rel.strip_suffix(&format!("/{LEGACY_MANIFEST_FILE}")) {
            // Only where no manifest is in the new place.
            manifests.entry(name.to_owned()).or_insert(m);
        }
    }
    Ok(manifests)
}

/// The description from what was read (pure).
fn assemble(
    store: String,
    listed: &[Listed],
    manifests: &BTreeMap<String, Manifest>,
    trash: Vec<String>,
) -> StoreInfo {
    let mut named: Vec<(BackupName, &Listed)> =
        listed.iter().filter_map(|l| Some((l.backup?, l))).collect();
    named.sort_by_key(|(b, _)| *b);
    let mut chain_of_full: Option<String> = None;
    let mut backups = Vec::new();
    for (name, l) in named {
        let m = manifests.get(&l.name);
        let chain = if name.is_full() {
            // A full without `ok` starts no chain: the next incremental
            // builds on the last good backup, before it.
            if l.ok {
                chain_of_full = Some(l.name.clone());
            }
            Some(l.name.clone())
        } else {
            chain_of_full.clone()
        };
        backups.push(BackupInfo {
            name: l.name.clone(),
            kind: if name.is_full() { "full" } else { "inc" },
            ok: l.ok,
            chain,
            encrypted: m.map(|m| m.summary.encrypted),
            bytes: m.map(|m| {
                m.files.values().map(|f| f.size).sum::<u64>()
                    + m.tarball.as_ref().map_or(0, |t| t.size)
            }),
            duration_secs: m.and_then(|m| m.summary.elapsed_secs),
            point: l.point.clone(),
        });
    }
    let good = |b: &&BackupInfo| b.ok && b.point.is_some() && b.chain.is_some();
    let earliest = backups
        .iter()
        .filter(good)
        .find(|b| b.kind == "full")
        .and_then(|b| b.point.clone());
    let latest = backups
        .iter()
        .rev()
        .find(good)
        .and_then(|b| b.point.clone());
    StoreInfo {
        store,
        backups,
        recovery_window: earliest.zip(latest),
        trash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::manifest::{FileEntry, Summary};

    fn listed(name: &str, ok: bool, point: Option<&str>) -> Listed {
        Listed {
            name: name.into(),
            backup: name.parse().ok(),
            ok,
            point: point.map(str::to_owned),
        }
    }

    fn manifest(encrypted: bool, sizes: &[u64], tarball: Option<u64>) -> Manifest {
        let mut m = Manifest::new(
            "x",
            Summary {
                encrypted,
                elapsed_secs: Some(7.5),
                ..Summary::default()
            },
        );
        for (i, s) in sizes.iter().enumerate() {
            m.files.insert(
                format!("f{i}"),
                FileEntry {
                    size: *s,
                    sha256: None,
                },
            );
        }
        m.tarball = tarball.map(|size| FileEntry { size, sha256: None });
        m
    }

    const F1: &str = "UTC20261201000000.000-full";
    const I1: &str = "UTC20261202000000.000-inc";
    const BAD: &str = "UTC20261203000000.000-full";
    const I2: &str = "UTC20261204000000.000-inc";

    #[test]
    fn chains_sizes_and_the_recovery_window() {
        let listing = vec![
            listed(I2, true, Some("2026-12-04 00:00:09")),
            listed(F1, true, Some("2026-12-01 00:00:09")),
            listed("trash", false, None),
            listed(BAD, false, None),
            listed(I1, true, Some("2026-12-02 00:00:09")),
        ];
        let manifests: BTreeMap<String, Manifest> = [
            (F1.to_owned(), manifest(false, &[100, 20], None)),
            (I1.to_owned(), manifest(true, &[3], Some(50))),
        ]
        .into();
        let info = assemble("s:/d".into(), &listing, &manifests, vec!["old".into()]);
        let row = |n: &str| info.backups.iter().find(|b| b.name == n).unwrap();
        assert_eq!(
            info.backups
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            [F1, I1, BAD, I2]
        );
        assert_eq!(row(F1).bytes, Some(120));
        assert_eq!(row(F1).encrypted, Some(false));
        assert_eq!(row(I1).bytes, Some(53));
        assert_eq!(row(I1).chain.as_deref(), Some(F1));
        assert_eq!(row(I1).duration_secs, Some(7.5));
        assert_eq!(row(BAD).chain.as_deref(), Some(BAD));
        assert!(!row(BAD).ok);
        // A bad full starts no chain: I2 builds on F1's.
        assert_eq!(row(I2).chain.as_deref(), Some(F1));
        assert_eq!(row(I2).bytes, None);
        assert_eq!(
            info.recovery_window,
            Some(("2026-12-01 00:00:09".into(), "2026-12-04 00:00:09".into()))
        );
        let orphan = assemble(
            "s:/d".into(),
            &[listed(I1, true, Some("2026-12-02 00:00:09"))],
            &BTreeMap::new(),
            vec![],
        );
        assert_eq!(orphan.backups[0].chain, None);
        assert_eq!(orphan.recovery_window, None);
        assert_eq!(info.trash, ["old"]);
    }

    #[test]
    fn an_empty_store_has_no_window() {
        let info = assemble("s:/d".into(), &[], &BTreeMap::new(), vec![]);
        assert!(info.backups.is_empty());
        assert_eq!(info.recovery_window, None);
    }
}
