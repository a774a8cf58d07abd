//! The systemd units of docs/systemd (spiderbackup's timers and services)
//! pass `systemd-analyze verify`, with the binary's path replaced by the
//! one just built (verify checks that it is executable); a unit with an
//! error fails it, so the check can fail.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/systemd")
}

/// `systemd-analyze verify` on `units` (copied into a fresh directory
/// with the binary's path replaced); `None` when the tool is missing.
fn verify(units: &[(String, String)]) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, text) in units {
        let text = text.replace("/usr/local/bin/dbbackup", env!("CARGO_BIN_EXE_dbbackup"));
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success() && text.trim().is_empty(), text))
}

fn shipped() -> Vec<(String, String)> {
    let mut units: Vec<(String, String)> = std::fs::read_dir(units_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    units.sort();
    units
}

#[test]
fn the_documented_units_verify_and_a_broken_one_does_not() {
    let units = shipped();
    let names: Vec<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "dbbackup-spider-check.service",
            "dbbackup-spider-check.timer",
            "dbbackup-spider-schedule.service",
            "dbbackup-spider-schedule.timer",
        ]
    );
    for (name, text) in &units {
        if name.ends_with(".service") {
            assert!(
                text.contains("ExecStart=/usr/local/bin/dbbackup spiderbackup"),
                "{name}"
            );
        }
    }
    let Some((ok, out)) = verify(&units) else {
        eprintln!("systemd-analyze is not installed: skipped");
        return;
    };
    assert!(ok, "systemd-analyze verify:\n{out}");

    let mut broken = units.clone();
    broken[1].1 = broken[1].1.replace("OnCalendar=", "OnCalender=");
    let (ok, out) = verify(&broken).unwrap();
    assert!(!ok, "a misspelt key passed verify:\n{out}");
    let mut broken = units;
    broken[0].1 = broken[0].1.replace("Type=oneshot", "Type=oneshots");
    let (ok, out) = verify(&broken).unwrap();
    assert!(!ok, "a bad value passed verify:\n{out}");
}

#[test]
fn the_documented_crontab_lines_run_the_real_commands() {
    let doc = std::fs::read_to_string(units_dir().join("../spiderbackup.md")).unwrap();
    let lines: Vec<&str> = doc
        .lines()
        .filter(|l| {
            l.contains("/usr/local/bin/dbbackup spiderbackup") && !l.starts_with("ExecStart")
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() > 6, "{line}");
        // Five time fields, then the command: its arguments parse.
        let cmd = fields[5..].join(" ");
        let args: Vec<&str> = cmd
            .split("/usr/local/bin/dbbackup ")
            .nth(1)
            .unwrap()
            .split(" >>")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_dbbackup"))
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
