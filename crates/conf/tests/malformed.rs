//! Malformed configs, generated from a complete file of each kind the tools
//! read (`backup.conf`, `recovery.conf`, `dr_flashback.ini`): every key given
//! a wrong value and an empty one, every section removed, an unknown key
//! added to every section. Each outcome is either a valid config or one
//! error naming the file, the section and the key (or the section), and
//! never a password; an unknown key is read and warned about by name.
//!
//! The cases come from the files themselves, so a key added to a sample is
//! covered without touching the table; the keys that must refuse a wrong
//! value are listed so a check that silently accepts junk is caught.
#![allow(clippy::unwrap_used)]

use conf::{BackupConfig, ConfError, FlashbackConfig, Ini, RecoveryConfig};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One kind of config file: its name, a complete valid sample, how it is
/// read, the keys whose wrong value must be refused and the secrets in it.
struct Kind {
    file: &'static str,
    sample: &'static str,
    read: fn(&Ini) -> Result<(), ConfError>,
    typed: &'static [(&'static str, &'static str)],
    secrets: &'static [&'static str],
}

const BACKUP: &str = "\
[misc]
force-full-backup = 0
debug = 1
log-audit = 0
socat-port = 29999
socat-port2 = 29998
socat-retry-count = 10
receiver = native
receiver-bin = /usr/local/bin/dbagent
compress = 0
compress-threads = 2
max-time-sec = 1800
backup-master = 0
backup-slave = 1
connect-method = ssh
conn-timeout = 3600
ftwrl-dead-lock-retry = 10
ftwrl-dead-lock-seconds = 8
use-disaster-recovery-cluster = 0
xtrabackup-bin-dir = /usr/bin/mariabackup
store-bad-backup = 1

[cluster]
ip = 127.0.0.10
user = admin
port = 16310
password = Router-Secret-1

[server-ssh-info]
user = dbsbk
password = Ssh-Secret-2
port = 2222

[backup-store]
ip = 127.0.0.50
port = 2222
user = dbsbk
password = Store-Secret-3
dir = /data/backup_dir

[catalog]
host = 127.0.0.40
port = 16340
user = dbbackup
password = Catalog-Secret-9
database = dbscale_backup

[metrics]
textfile-dir = /var/lib/node_exporter/textfile
";

const RECOVERY: &str = "\
[recover-to]
stop-datetime = 2024-02-22 13:00:00

[backup-store]
ip = 10.1.2.5
port = 22
user = backup
password = Store-Secret-3
dir = /data/backup_dir

[recovery-job-server]
ip = 10.1.2.6
port = 22
user = backup
password = Job-Secret-4
work-dir = /data/recover

[misc]
debug = 0
socat-port = 45509
socat-port2 = 45514
receiver = socat
connect-method = ssh
server-tmp-port = 27100

[catalog]
host = 127.0.0.40
user = dbbackup
password = Catalog-Secret-9
";

const FLASHBACK: &str = "\
[source]
host = 172.17.138.0
port = 3307
mysql_user = admin
mysql_password = Prod-Secret-5
sys_user = mysql
sys_password = Sys-Secret-6
sys_port = 22

[target]
host = 172.17.138.181
port = 3307
mysql_user = admin
mysql_password = Dr-Secret-7
sys_user = mysql
sys_password = Sys-Secret-8
sys_port = 22

[misc]
snapshot-port = 17000
snapshot-margin-percent = 10
";

fn kinds() -> [Kind; 3] {
    [
        Kind {
            file: "backup.conf",
            sample: BACKUP,
            read: |ini| BackupConfig::from_ini(ini).map(drop),
            typed: &[
                ("misc", "force-full-backup"),
                ("misc", "debug"),
                ("misc", "log-audit"),
                ("misc", "socat-port"),
                ("misc", "socat-port2"),
                ("misc", "socat-retry-count"),
                ("misc", "receiver"),
                ("misc", "compress"),
                ("misc", "compress-threads"),
                ("misc", "max-time-sec"),
                ("misc", "backup-master"),
                ("misc", "connect-method"),
                ("misc", "conn-timeout"),
                ("misc", "ftwrl-dead-lock-retry"),
                ("misc", "ftwrl-dead-lock-seconds"),
                ("misc", "use-disaster-recovery-cluster"),
                ("misc", "store-bad-backup"),
                ("cluster", "port"),
                ("server-ssh-info", "port"),
                ("backup-store", "port"),
                ("catalog", "port"),
                ("catalog", "database"),
            ],
            secrets: &[
                "Router-Secret-1",
                "Ssh-Secret-2",
                "Store-Secret-3",
                "Catalog-Secret-9",
            ],
        },
        Kind {
            file: "recovery.conf",
            sample: RECOVERY,
            read: |ini| RecoveryConfig::from_ini(ini).map(drop),
            typed: &[
                ("recover-to", "stop-datetime"),
                ("backup-store", "port"),
                ("recovery-job-server", "port"),
                ("misc", "debug"),
                ("misc", "socat-port"),
                ("misc", "socat-port2"),
                ("misc", "receiver"),
                ("misc", "connect-method"),
                ("misc", "server-tmp-port"),
            ],
            secrets: &["Store-Secret-3", "Job-Secret-4", "Catalog-Secret-9"],
        },
        Kind {
            file: "dr_flashback.ini",
            sample: FLASHBACK,
            read: |ini| FlashbackConfig::from_ini(ini).map(drop),
            typed: &[
                ("source", "port"),
                ("source", "sys_port"),
                ("target", "port"),
                ("target", "sys_port"),
                ("misc", "snapshot-port"),
                ("misc", "snapshot-margin-percent"),
            ],
            secrets: &[
                "Prod-Secret-5",
                "Sys-Secret-6",
                "Dr-Secret-7",
                "Sys-Secret-8",
            ],
        },
    ]
}

/// Every `(section, key, line index)` of a sample.
fn keys(sample: &str) -> Vec<(String, String, usize)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, line) in sample.lines().enumerate() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, _)) = line.split_once('=') {
            out.push((section.clone(), key.trim().to_owned(), i));
        }
    }
    out
}

fn with_line(sample: &str, index: usize, line: &str) -> String {
    let mut lines: Vec<&str> = sample.lines().collect();
    lines[index] = line;
    lines.join("\n") + "\n"
}

/// Reads `text` as `kind`'s file; the error as its message, with the
/// warnings logged meanwhile.
fn read(kind: &Kind, text: &str) -> (Result<(), String>, String) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(log.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, || {
        Ini::parse(text, Path::new(kind.file))
            .and_then(|ini| (kind.read)(&ini))
            .map_err(|e| e.to_string())
    });
    let warnings = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    (result, warnings)
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error is one line that names the file and `[section] key` (or the
/// section alone when `key` is empty) and no secret of the sample.
fn assert_names(kind: &Kind, case: &str, err: &str, section: &str, key: &str) {
    let want = if key.is_empty() {
        format!("[{section}]")
    } else {
        format!("[{section}] {key}")
    };
    assert!(
        err.starts_with(&format!("{}:", kind.file)) && err.contains(&want) && !err.contains('\n'),
        "{case}: the error should name {}, {want}: {err}",
        kind.file
    );
    for secret in kind.secrets {
        assert!(!err.contains(secret), "{case}: a password in {err:?}");
    }
}

#[test]
fn every_sample_is_valid_and_warns_of_nothing() {
    for kind in kinds() {
        let (result, warnings) = read(&kind, kind.sample);
        assert_eq!(result, Ok(()), "{}", kind.file);
        assert!(warnings.is_empty(), "{}: {warnings}", kind.file);
    }
}

#[test]
fn a_wrong_value_is_refused_by_section_and_key_or_accepted() {
    for kind in kinds() {
        for (section, key, line) in keys(kind.sample) {
            // A value no number, flag, port, date or method accepts; then
            // a lone `%`, which configparser's interpolation refuses in any
            // key.
            let text = with_line(kind.sample, line, &format!("{key} = x!y"));
            let case = format!("{}: [{section}] {key} = x!y", kind.file);
            match read(&kind, &text).0 {
                Ok(()) => assert!(
                    !kind.typed.contains(&(section.as_str(), key.as_str())),
                    "{case} was accepted"
                ),
                Err(err) => assert_names(&kind, &case, &err, &section, &key),
            }
            let text = with_line(kind.sample, line, &format!("{key} = 50%off"));
            let case = format!("{}: [{section}] {key} = 50%off", kind.file);
            let err = read(&kind, &text).0.expect_err(&case);
            assert_names(&kind, &case, &err, &section, &key);
            assert!(!err.contains("50%off"), "{case}: the value in {err:?}");
        }
    }
}

#[test]
fn an_empty_value_is_a_default_or_an_error_by_section_and_key() {
    for kind in kinds() {
        for (section, key, line) in keys(kind.sample) {
            let text = with_line(kind.sample, line, &format!("{key} ="));
            let case = format!("{}: [{section}] {key} =", kind.file);
            if let Err(err) = read(&kind, &text).0 {
                assert_names(&kind, &case, &err, &section, &key);
            }
        }
    }
}

#[test]
fn a_missing_section_is_optional_or_named() {
    for kind in kinds() {
        let sections: Vec<String> =
            keys(kind.sample)
                .into_iter()
                .map(|(s, _, _)| s)
                .fold(Vec::new(), |mut all, s| {
                    if !all.contains(&s) {
                        all.push(s);
                    }
                    all
                });
        for section in sections {
            let mut text = String::new();
            let mut inside = false;
            for line in kind.sample.lines() {
                if line.starts_with('[') {
                    inside = line == format!("[{section}]");
                }
                if !inside {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            let case = format!("{} without [{section}]", kind.file);
            if let Err(err) = read(&kind, &text).0 {
                assert_names(&kind, &case, &err, &section, "");
            }
        }
    }
}

#[test]
fn the_required_sections_are_refused_when_missing() {
    // Without these there is nothing to connect to: never a silent default.
    for (file, section) in [
        ("backup.conf", "cluster"),
        ("backup.conf", "backup-store"),
        ("recovery.conf", "recover-to"),
        ("recovery.conf", "recovery-job-server"),
        ("dr_flashback.ini", "source"),
        ("dr_flashback.ini", "target"),
    ] {
        let kind = kinds().into_iter().find(|k| k.file == file).unwrap();
        let header = format!("[{section}]");
        let text = kind.sample.replace(&header, "[unrelated]");
        let (result, _) = read(&kind, &text);
        let err = result.expect_err(&format!("{file} without {header} was accepted"));
        assert_names(
            &kind,
            &format!("{file} without {header}"),
            &err,
            section,
            "",
        );
    }
}

#[test]
fn an_unknown_key_is_warned_about_by_name_in_every_section() {
    for kind in kinds() {
        let mut sections: Vec<String> = keys(kind.sample).into_iter().map(|(s, _, _)| s).collect();
        sections.dedup();
        for section in sections {
            let header = format!("[{section}]");
            let text = kind
                .sample
                .replace(&header, &format!("{header}\nsocat-prot = 1"));
            let (result, warnings) = read(&kind, &text);
            assert_eq!(result, Ok(()), "{} [{section}] with a typo", kind.file);
            assert!(
                warnings.contains(&format!(
                    "{}: unknown key [{section}] socat-prot",
                    kind.file
                )),
                "{} [{section}]: {warnings:?}",
                kind.file
            );
        }
    }
}
