//! dbcrypt against the real pyAesCrypt 6.1.1, both ways.
//!
//! Needs `PYAESCRYPT_PYTHON` (see `common::pyaescrypt_python`).
#![allow(clippy::unwrap_used)] // test helpers, like #[test] functions, may panic

mod common;

use std::path::Path;

use common::*;

/// pyAesCrypt encrypts, dbcrypt decrypts; dbcrypt encrypts, pyAesCrypt
/// decrypts; both byte-identical to the original.
fn both_ways(python: &Path, dir: &Path, size: usize) {
    let plain = dir.join(format!("plain-{size}"));
    write_data(&plain, size);
    let name = |what: &str| format!("{what}-{size}");

    ok(pyaescrypt_cli(
        python,
        &["-e", &name("plain"), "-o", &name("py.aes")],
        dir,
    ));
    ok(dbcrypt(
        &["-d", &name("py.aes"), "-o", &name("py.dec")],
        dir,
    ));
    assert_same_file(&plain, &dir.join(name("py.dec")));

    ok(dbcrypt(&["-e", &name("plain"), "-o", &name("rs.aes")], dir));
    ok(pyaescrypt_cli(
        python,
        &["-d", &name("rs.aes"), "-o", &name("rs.dec")],
        dir,
    ));
    assert_same_file(&plain, &dir.join(name("rs.dec")));

    for file in ["plain", "py.aes", "py.dec", "rs.aes", "rs.dec"] {
        std::fs::remove_file(dir.join(name(file))).unwrap();
    }
}

#[test]
fn small_and_block_edge_sizes() {
    let Some(python) = pyaescrypt_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for size in [0, 1, 15, 16, 17, 1 << 20] {
        both_ways(&python, dir.path(), size);
    }
}

#[test]
fn two_hundred_fifty_six_mib() {
    let Some(python) = pyaescrypt_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    both_ways(&python, dir.path(), 256 << 20);
}

/// pyAesCrypt 6.1.1's own bug: when the padded ciphertext is a multiple of
/// its 64 KiB buffer, its decrypt leaves the padding in. dbcrypt reads
/// those files right and writes files pyAesCrypt reads no worse than its
/// own.
#[test]
fn sizes_hitting_the_pyaescrypt_buffer_bug() {
    let Some(python) = pyaescrypt_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for size in [65521usize, 65535, 131071] {
        let plain_name = format!("p{size}");
        let plain = d.join(&plain_name);
        write_data(&plain, size);
        let original = std::fs::read(&plain).unwrap();
        let pad = (16 - size % 16) % 16;

        // pyAesCrypt -> dbcrypt and dbcrypt -> dbcrypt: exact.
        ok(pyaescrypt_cli(
            &python,
            &["-e", &plain_name, "-o", "py.aes"],
            d,
        ));
        ok(dbcrypt(&["-d", "py.aes", "-o", "py.dec"], d));
        assert_same_file(&plain, &d.join("py.dec"));
        ok(dbcrypt(&["-e", &plain_name, "-o", "rs.aes"], d));
        ok(dbcrypt(&["-d", "rs.aes", "-o", "rs.dec"], d));
        assert_same_file(&plain, &d.join("rs.dec"));

        // pyAesCrypt's decrypt keeps `pad` bytes of padding, whoever
        // encrypted: the bug is on its side, and our files are not worse.
        for (source, out) in [("py.aes", "py.pydec"), ("rs.aes", "rs.pydec")] {
            ok(pyaescrypt_cli(&python, &["-d", source, "-o", out], d));
            let got = std::fs::read(d.join(out)).unwrap();
            assert_eq!(
                got.len(),
                size + pad,
                "{source}: pyAesCrypt bug shape changed"
            );
            assert!(got[..size] == original[..], "{source}: prefix differs");
            assert!(got[size..].iter().all(|&b| usize::from(b) == pad));
        }
    }
}

/// `encryptStream`/`decryptStream` with unusual buffer sizes, chosen so that
/// no ciphertext is a multiple of the buffer (pyAesCrypt's own bug, above).
#[test]
fn pyaescrypt_streams() {
    let Some(python) = pyaescrypt_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (size, buffer) in [
        (0usize, 1024usize),
        (33, 32),
        (100_000, 1024),
        (1 << 20, 48_000),
    ] {
        let plain = d.join("plain");
        write_data(&plain, size);

        let sealed = ok(pyaescrypt_stream(&python, "encryptStream", buffer, &plain)).stdout;
        std::fs::write(d.join("py.aes"), &sealed).unwrap();
        ok(dbcrypt(&["-d", "py.aes", "-o", "py.dec"], d));
        assert_same_file(&plain, &d.join("py.dec"));

        ok(dbcrypt(&["-e", "plain", "-o", "rs.aes"], d));
        let opened = ok(pyaescrypt_stream(
            &python,
            "decryptStream",
            buffer,
            &d.join("rs.aes"),
        ))
        .stdout;
        assert!(
            opened == std::fs::read(&plain).unwrap(),
            "size {size}, buffer {buffer}"
        );
    }
}

/// The seeds' password check: `echo 'abc123' > sample`, `pyAesCrypt -e
/// ./sample -o encrypted_sample` at backup time, `pyAesCrypt -d
/// ./encrypted_sample -o sample` to test a password later. Either tool may
/// play either part.
#[test]
fn encrypted_sample_round_trip() {
    let Some(python) = pyaescrypt_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Written by pyAesCrypt (the seeds), checked by dbcrypt.
    std::fs::write(d.join("sample"), "abc123\n").unwrap();
    ok(pyaescrypt_cli(
        &python,
        &["-e", "./sample", "-o", "encrypted_sample"],
        d,
    ));
    std::fs::remove_file(d.join("sample")).unwrap();
    ok(dbcrypt(&["-d", "./encrypted_sample", "-o", "sample"], d));
    assert_eq!(std::fs::read(d.join("sample")).unwrap(), b"abc123\n");
    std::fs::remove_file(d.join("sample")).unwrap();
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
        .args(["-d", "./encrypted_sample", "-o", "sample"])
        .current_dir(d)
        .env("DBCRYPT_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3));
    assert_eq!(listing(d), ["encrypted_sample"]);

    // Written by dbcrypt, checked by pyAesCrypt as the seeds do.
    std::fs::write(d.join("sample"), "abc123\n").unwrap();
    ok(dbcrypt(&["-e", "./sample", "-o", "encrypted_sample"], d));
    std::fs::remove_file(d.join("sample")).unwrap();
    ok(pyaescrypt_cli(
        &python,
        &["-d", "./encrypted_sample", "-o", "sample"],
        d,
    ));
    assert_eq!(std::fs::read(d.join("sample")).unwrap(), b"abc123\n");
}
