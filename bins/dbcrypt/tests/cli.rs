//! dbcrypt's command line: password sources, pipes, and one exit status
//! per failure with nothing left behind.
#![allow(clippy::unwrap_used)] // test helpers, like #[test] functions, may panic

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn sealed_fixture(dir: &std::path::Path) -> Vec<u8> {
    write_data(&dir.join("plain"), 100_000);
    ok(dbcrypt(&["-e", "plain", "-o", "good.aes"], dir));
    std::fs::read(dir.join("good.aes")).unwrap()
}

#[test]
fn every_failure_has_its_own_exit_status_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = sealed_fixture(d);

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    let mut version3 = good.clone();
    version3[3] = 3;
    let cases: [(&str, Vec<u8>, i32); 5] = [
        ("flipped.aes", flipped, 4),
        ("truncated.aes", good[..good.len() - 1007].to_vec(), 5),
        ("not.aes", b"PK\x03\x04 this is a zip file".to_vec(), 6),
        ("v3.aes", version3, 7),
        ("good-copy.aes", good.clone(), 3), // used with a wrong password
    ];
    for (name, bytes, code) in cases {
        std::fs::write(d.join(name), bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
            .args(["-d", name, "-o", "out"])
            .current_dir(d)
            .env(
                "DBCRYPT_PASSWORD",
                if code == 3 {
                    "Wrong-Passw0rd"
                } else {
                    PASSWORD
                },
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(stderr.starts_with("ERROR: "), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(!stderr.contains("Passw0rd"), "{name}: secret in message");
        assert!(!d.join("out").exists(), "{name}: output left behind");
        std::fs::remove_file(d.join(name)).unwrap();
    }
    assert_eq!(listing(d), ["good.aes", "plain"], "no temporary files left");
}

#[test]
fn a_failed_decrypt_keeps_an_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut good = sealed_fixture(d);
    good[50_000] ^= 1;
    std::fs::write(d.join("bad.aes"), good).unwrap();
    std::fs::write(d.join("out"), "previous").unwrap();
    let out = dbcrypt(&["-d", "bad.aes", "-o", "out"], d);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(std::fs::read(d.join("out")).unwrap(), b"previous");
}

#[test]
fn pipes_and_password_sources() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(&d.join("plain"), 70_001);
    std::fs::write(d.join("pw"), format!("{PASSWORD}\n")).unwrap();

    // stdin -> stdout with the password from a file.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
        .args(["-e", "-", "-o", "-", "--password-file", "pw"])
        .current_dir(d)
        .env_remove("DBCRYPT_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let plain = std::fs::read(d.join("plain")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&plain).unwrap());
    let out = ok(child.wait_with_output().unwrap());
    feeder.join().unwrap();
    std::fs::write(d.join("piped.aes"), &out.stdout).unwrap();

    // -p works like pyAesCrypt's, with a warning; default output name.
    let out = Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
        .args(["-p", PASSWORD, "-d", "piped.aes"])
        .current_dir(d)
        .env_remove("DBCRYPT_PASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"));
    assert_same_file(&d.join("plain"), &d.join("piped"));

    // An empty password is refused as a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
        .args(["-d", "piped.aes", "-o", "x"])
        .current_dir(d)
        .env("DBCRYPT_PASSWORD", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!d.join("x").exists());
}

#[test]
fn help_documents_the_exit_statuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "EXIT STATUS",
        "3  wrong password",
        "--password-file",
        "DBCRYPT_PASSWORD",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}");
    }
}
