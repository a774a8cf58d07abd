//! Reads one backup directory from the store and checks it against the
//! seed's layout: names, per-server files, `cluster_consistence_info`,
//! `consistent_point_datetime`, `backuped_binlogs`, bases, `backup.conf`,
//! `manifest.json` (sizes and SHA-256 recomputed here) and `ok`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use binlog::{BackupName, BackupType, BackupedBinlogs, ConsistenceInfo, MasterSlave};
use chrono::NaiveDateTime;
use sha2::{Digest as _, Sha256};
use testkit::{Sandbox, Server};

use super::TestStore;

/// Files a backup's top level may hold besides server directories.
const TOP_FILES: [&str; 9] = [
    "cluster_consistence_info",
    "consistent_point_datetime",
    "backuped_binlogs",
    "datanode_base",
    "calcnode_base",
    "backup.conf",
    ".dbscale-backup",
    "encrypted_sample",
    "ok",
];

/// A checked backup.
#[derive(Debug)]
pub struct Backup {
    /// Its name.
    pub name: BackupName,
    /// Its directory.
    pub dir: PathBuf,
    /// `cluster_consistence_info`.
    pub consistence: ConsistenceInfo,
    /// `backuped_binlogs`.
    pub binlogs: BackupedBinlogs,
    /// `manifest.json`.
    pub manifest: serde_json::Value,
}

impl Backup {
    /// The directory of a backed-up server (`<ds>-<server>-<host>-<port>`).
    pub fn server_dir(&self, server: &str) -> PathBuf {
        let line = self
            .consistence
            .line(server)
            .unwrap_or_else(|| panic!("{server} is not in {}", self.name));
        self.dir.join(line.server_dir().to_string())
    }

    /// The backed-up servers, in file order.
    pub fn servers(&self) -> Vec<String> {
        self.consistence
            .lines
            .iter()
            .map(|l| l.server.clone())
            .collect()
    }
}

/// `<ds>-<server>-<host>-<port>` of a sandbox server.
pub fn dir_name(s: &Server) -> String {
    format!("{}-{}-{}-{}", s.datasource, s.name, s.host, s.port)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::encode(&Sha256::digest(&bytes)[..])
}

/// Checks the backup `name` in `store`, taken between `from` and `to`
/// (UTC), of kind `kind`, against the seed layout; `encrypted` backups keep
/// only the files recovery plans from (the rest is in the tarball).
pub fn check_backup(
    sb: &Sandbox,
    store: &TestStore,
    name: &str,
    kind: BackupType,
    (from, to): (NaiveDateTime, NaiveDateTime),
    encrypted: bool,
) -> Backup {
    let parsed: BackupName = name.parse().unwrap_or_else(|e| panic!("backup name: {e}"));
    assert_eq!(parsed.kind, kind, "{name}");
    assert_eq!(parsed.to_string(), name, "the name round-trips");
    let slack = chrono::Duration::seconds(2);
    assert!(
        parsed.started >= from - slack && parsed.started <= to + slack,
        "{name} is not between {from} and {to} (UTC)"
    );
    let dir = store.dir.join(name);
    assert_eq!(read(&dir.join("ok")), "ok\n", "{name}/ok");
    let manifest = check_manifest(&dir, name, kind);
    // `compress = 1` streams through zstd, else a raw xbstream.
    let magic: &[u8] = if manifest["summary"]["compress"].is_null() {
        b"XBSTCK01"
    } else {
        b"\x28\xb5\x2f\xfd"
    };

    let consistence: ConsistenceInfo = read(&dir.join("cluster_consistence_info"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}/cluster_consistence_info: {e}"));
    let binlogs: BackupedBinlogs = read(&dir.join("backuped_binlogs"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}/backuped_binlogs: {e}"));
    let point = binlog::parse_point_datetime(&read(&dir.join("consistent_point_datetime")))
        .unwrap_or_else(|e| panic!("{name}/consistent_point_datetime: {e}"));
    let local = |t: NaiveDateTime| t.and_utc().with_timezone(&chrono::Local).naive_local();
    assert!(
        point >= local(from) - slack && point <= local(to) + slack,
        "consistent_point_datetime {point} is not within the run (local time)"
    );

    let prod = sb.prod_servers();
    let by_name: BTreeMap<&str, &Server> = prod.iter().map(|s| (s.name.as_str(), s)).collect();
    let master_of = |ds: &str| {
        prod.iter()
            .find(|s| s.datasource == ds && s.initial_role == "master")
            .unwrap_or_else(|| panic!("no master of {ds}"))
    };

    // Every datasource has a backed-up server, each named as the sandbox
    // names it, with the seed's files.
    let datasources: BTreeSet<&str> = prod.iter().map(|s| s.datasource.as_str()).collect();
    let covered: BTreeSet<&str> = consistence
        .lines
        .iter()
        .map(|l| l.datasource.as_str())
        .collect();
    assert_eq!(covered, datasources, "{name}: datasources backed up");
    let mut expected_dirs = BTreeSet::new();
    for line in &consistence.lines {
        let s = by_name
            .get(line.server.as_str())
            .unwrap_or_else(|| panic!("{name}: unknown server {}", line.server));
        assert_eq!(
            (line.datasource.as_str(), line.host.as_str(), line.port),
            (s.datasource.as_str(), s.host.as_str(), s.port),
            "{name}: consistence line of {}",
            s.name
        );
        assert!(
            line.xb_to_lsn.is_some_and(|l| l > 0),
            "{name}: no LSN for {}",
            s.name
        );
        let master = master_of(&s.datasource);
        assert_eq!(
            line.point.file,
            binlogs
                .last(&master.name)
                .unwrap_or_else(|| panic!("{name}: no binlogs of {}", master.name))
                .clone(),
            "{name}: the consistence point is in the last copied binlog of {}",
            master.name
        );
        let sdir = dir.join(dir_name(s));
        assert_eq!(line.server_dir().to_string(), dir_name(s));
        expected_dirs.insert(dir_name(s));
        if encrypted {
            assert!(
                !sdir.exists(),
                "{name}: {} left unencrypted",
                sdir.display()
            );
            continue;
        }
        let stream = std::fs::read(sdir.join("backup.xbsteam")).unwrap();
        assert!(
            stream.starts_with(magic),
            "{name}: the stream of {} does not start with {magic:?}",
            s.name
        );
        assert_eq!(
            read(&sdir.join("my.conf")),
            read(&s.dir.join("my.cnf")),
            "{name}: my.conf of {}",
            s.name
        );
        let gtids = read(&sdir.join("executed_gtids"));
        assert!(
            gtids.ends_with('\n') && gtids.lines().count() == 1,
            "{gtids:?}"
        );
        if s.initial_role == "master" {
            let ms: MasterSlave = read(&sdir.join("master_slave")).parse().unwrap();
            assert_eq!(ms.master, (s.host.clone(), s.port));
            assert!(!sdir.join("master_dir").exists());
        } else {
            assert_eq!(
                read(&sdir.join("master_dir")),
                format!("{}\n", dir_name(master)),
                "{name}: master_dir of {}",
                s.name
            );
            assert!(!sdir.join("master_slave").exists());
        }
    }

    // The binlogs: every listed file is in its server's directory, nothing
    // else is; the copy reaches the consistence point.
    for server in binlogs.servers() {
        let s = by_name
            .get(server)
            .unwrap_or_else(|| panic!("{name}: backuped_binlogs names unknown {server}"));
        let sdir = dir.join(dir_name(s));
        expected_dirs.insert(dir_name(s));
        if encrypted {
            continue;
        }
        let files = binlogs.files(server).unwrap();
        assert!(!files.is_empty(), "{name}: no binlog of {server}");
        let present: BTreeSet<String> = super::names_in(&sdir)
            .into_iter()
            .filter(|n| n.starts_with("mysql-bin."))
            .collect();
        let listed: BTreeSet<String> = files.iter().map(ToString::to_string).collect();
        assert_eq!(present, listed, "{name}: binlog files of {server}");
        // The point is in the master's binlog numbering; a backed-up
        // replica (its directory names its master) numbers its own.
        let replica = sdir.join("master_dir").exists();
        if let Some(line) = consistence
            .of_datasource(&s.datasource)
            .first()
            .filter(|_| !replica)
        {
            let last = sdir.join(line.point.file.to_string());
            let size = std::fs::metadata(&last).unwrap().len();
            assert!(
                size >= line.point.pos,
                "{name}: {} is {size} bytes, the point is at {}",
                last.display(),
                line.point.pos
            );
        }
    }

    let full = kind == BackupType::Full;
    let mut expected_top: BTreeSet<String> = TOP_FILES
        .iter()
        .filter(|f| match **f {
            // Every backup, as the seed writes them (an incremental's
            // datanode_base/ is empty); with -p inside the tarball.
            "datanode_base" | "calcnode_base" => !encrypted,
            "encrypted_sample" => encrypted,
            "backup.conf" => !encrypted,
            _ => true,
        })
        .map(|f| (*f).to_owned())
        .collect();
    if !encrypted {
        expected_top.extend(expected_dirs);
    }
    let top: BTreeSet<String> = super::names_in(&dir).into_iter().collect();
    assert_eq!(top, expected_top, "{name}: top-level entries");
    if !encrypted {
        assert_eq!(
            super::names_in(&dir.join("datanode_base")).is_empty(),
            !full,
            "{name}: datanode_base/ (a full's holds the server's base, an incremental's nothing)"
        );
        // The router's flushed config names the dataservers' login.
        let conf = read(&dir.join("calcnode_base/dbscale.conf"));
        assert!(
            conf.contains(&format!("user = {}", sb.var("MYSQL_USER"))),
            "{name}: calcnode_base/dbscale.conf is not the router's config"
        );
        assert_router_tarball(&dir, name, full);
    }
    if !encrypted {
        // Compared without printing: the config holds the sandbox's passwords.
        let copied = read(&dir.join("backup.conf"));
        let expected = store.conf_text();
        let differs = copied
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .or_else(|| (copied.lines().count() != expected.lines().count()).then_some(0));
        assert!(
            differs.is_none(),
            "{name}: backup.conf is not the run's config (line {} differs; not printed: it holds passwords)",
            differs.map_or(0, |l| l + 1)
        );
    }

    Backup {
        name: parsed,
        dir,
        consistence,
        binlogs,
        manifest,
    }
}

/// `manifest.json` lists exactly the backup's files (but `ok` and itself)
/// with their true sizes and SHA-256.
fn check_manifest(dir: &Path, name: &str, kind: BackupType) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&dir.join(".dbscale-backup/manifest.json"))).unwrap();
    assert_eq!(manifest["backup"], name);
    let want_type = if kind == BackupType::Full {
        "full"
    } else {
        "inc"
    };
    assert_eq!(manifest["summary"]["type"], want_type);
    let mut on_disk = BTreeMap::new();
    super::walk(dir, dir, &mut on_disk);
    let on_disk: BTreeMap<String, u64> = on_disk
        .into_iter()
        .filter(|(p, _)| !p.ends_with('/') && p != "ok" && p != ".dbscale-backup/manifest.json")
        .collect();
    let files = manifest["files"].as_object().unwrap();
    let listed: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    let present: BTreeSet<&str> = on_disk.keys().map(String::as_str).collect();
    assert_eq!(listed, present, "{name}: manifest.json lists other files");
    for (path, size) in &on_disk {
        let entry = &files[path];
        assert_eq!(entry["size"].as_u64(), Some(*size), "{name}/{path}: size");
        assert_eq!(
            entry["sha256"].as_str(),
            Some(sha256_file(&dir.join(path)).as_str()),
            "{name}/{path}: sha256"
        );
    }
    // With -p the tarball, outside the backup directory, is listed too.
    let tarball = dir
        .parent()
        .unwrap()
        .join("encrypted")
        .join(format!("{name}.tar.encrypted"));
    if manifest["summary"]["encrypted"] == true {
        let entry = &manifest["tarball"];
        assert_eq!(
            entry["size"].as_u64(),
            Some(std::fs::metadata(&tarball).unwrap().len()),
            "{name}: the tarball's size"
        );
        assert_eq!(
            entry["sha256"].as_str(),
            Some(sha256_file(&tarball).as_str()),
            "{name}: the tarball's sha256"
        );
    } else {
        assert!(manifest.get("tarball").is_none(), "{name}: {manifest}");
    }
    // Where the time went: the run's steps, and each server's.
    let steps = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("{name}: timings are not a list: {v}"))
            .iter()
            .map(|s| {
                assert!(s["secs"].as_f64().is_some_and(|t| t >= 0.0), "{s}");
                s["step"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let run = steps(&manifest["summary"]["timings"]);
    for step in ["reading the router", "pre-checks", "servers", "binlogs"] {
        assert!(
            run.iter().any(|s| s == step),
            "{name}: no {step:?} in {run:?}"
        );
    }
    for server in manifest["summary"]["servers"].as_array().unwrap() {
        let own = steps(&server["timings"]);
        assert!(
            own.iter().any(|s| s == "streaming the backup"),
            "{name}: {server}"
        );
    }
    manifest
}

/// A full backup's `calcnode_base/dbscale.tar.gz` holds the router's base
/// directory (the emulator's: the executable, `bin/`, its config) without
/// the logs seed 000 leaves out (`*.log *.log_slow *.log_audit *.log_zk`);
/// an incremental has none (the seed copies only the config then).
fn assert_router_tarball(dir: &Path, name: &str, full: bool) {
    let tarball = dir.join("calcnode_base/dbscale.tar.gz");
    if !full {
        assert!(!tarball.exists(), "{name}: an incremental with {tarball:?}");
        return;
    }
    let out = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&tarball)
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: tar -tzf {tarball:?} failed");
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    for kept in [
        "dbscale/dbscale",
        "dbscale/bin/dbscale-admin",
        "dbscale/dbscale.conf",
    ] {
        assert!(listed.contains(kept), "{name}: {kept} not in {listed:?}");
    }
    for left_out in [".log", ".log_slow", ".log_audit", ".log_zk"] {
        assert!(
            !listed.iter().any(|f| f.ends_with(left_out)),
            "{name}: a *{left_out} file in {listed:?}"
        );
    }
}
