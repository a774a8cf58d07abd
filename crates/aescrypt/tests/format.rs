//! The format against a file pyAesCrypt wrote, and every decryption error.
#![allow(clippy::unwrap_used)] // test helpers, like #[test] functions, may panic

use aescrypt::{Error, Options, Password, decrypt, encrypt};

/// `printf 'abc123\n'` encrypted by pyAesCrypt 6.1.1 with this password.
const PYAESCRYPT_SAMPLE: &[u8] = include_bytes!("data/sample.pyaescrypt.aes");
const SAMPLE_PASSWORD: &str = "fixture-Passw0rd";

fn password(text: &str) -> Password {
    Password::from_str_ref(text).unwrap()
}

fn sealed(plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encrypt(plain, &mut out, &password("pw"), &Options::default()).unwrap();
    out
}

fn open(file: &[u8], pw: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decrypt(file, &mut out, &password(pw), &Options::default()).map(|_| out)
}

#[test]
fn decrypts_a_file_written_by_pyaescrypt() {
    let mut out = Vec::new();
    let info = decrypt(
        PYAESCRYPT_SAMPLE,
        &mut out,
        &password(SAMPLE_PASSWORD),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out, b"abc123\n");
    assert_eq!(info.extensions[0].identifier, b"CREATED_BY");
    assert_eq!(info.extensions[0].content, b"pyAesCrypt 6.1.1");
    assert_eq!(info.extensions[1].identifier, b"");
}

#[test]
fn writes_the_same_layout_as_pyaescrypt() {
    let ours = sealed(b"abc123\n");
    // Same extension block shape (CREATED_BY, 128-byte container), so the
    // sizes differ only by the length of the CREATED_BY text.
    let created_by_delta = aescrypt::CREATED_BY.len() as isize - "pyAesCrypt 6.1.1".len() as isize;
    assert_eq!(
        ours.len() as isize,
        PYAESCRYPT_SAMPLE.len() as isize + created_by_delta
    );
    assert_eq!(&ours[..7], b"AES\x02\x00\x00\x28");
    // Size byte: 7 % 16.
    assert_eq!(ours[ours.len() - 33], 7);
}

#[test]
fn reads_extensions_other_writers_add() {
    let file = sealed(b"payload");
    // Insert a CREATED_DATE extension right after the reserved byte, as
    // AES Crypt itself does; extensions are not authenticated.
    let mut with_date = file[..5].to_vec();
    let ext = b"CREATED_DATE\x002026-11-21";
    with_date.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    with_date.extend_from_slice(ext);
    with_date.extend_from_slice(&file[5..]);
    let mut out = Vec::new();
    let info = decrypt(
        &with_date[..],
        &mut out,
        &password("pw"),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out, b"payload");
    assert_eq!(info.extensions.len(), 3);
    assert_eq!(info.extensions[0].identifier, b"CREATED_DATE");
    assert_eq!(info.extensions[0].content, b"2026-11-21");
}

#[test]
fn each_failure_has_its_own_error() {
    let file = sealed(&vec![42u8; 100_000]);
    assert!(matches!(open(&file, "nope"), Err(Error::WrongPassword)));

    let mut flipped = file.clone();
    flipped[file.len() / 2] ^= 0x01;
    assert!(matches!(open(&flipped, "pw"), Err(Error::Corrupted)));

    // Cut mid-block, and inside the header.
    assert!(matches!(
        open(&file[..file.len() - 40], "pw"),
        Err(Error::Truncated(_))
    ));
    assert!(matches!(open(&file[..100], "pw"), Err(Error::Truncated(_))));
    // Cut on a block boundary: structurally whole, so the HMAC catches it.
    assert!(matches!(
        open(&file[..file.len() - 16 * 100], "pw"),
        Err(Error::Corrupted)
    ));

    assert!(matches!(
        open(b"PK\x03\x04 not at all", "pw"),
        Err(Error::NotAesCrypt)
    ));
    assert!(matches!(open(b"", "pw"), Err(Error::NotAesCrypt)));
    let mut v3 = file.clone();
    v3[3] = 3;
    assert!(matches!(open(&v3, "pw"), Err(Error::UnsupportedVersion(3))));
}

#[test]
fn a_bad_hmac_releases_everything_but_the_last_block() {
    // The documented contract of the streaming decrypt.
    let plain: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut file = sealed(&plain);
    let last = file.len() - 1;
    file[last] ^= 0x80; // the ciphertext HMAC itself
    let mut out = Vec::new();
    let err = decrypt(&file[..], &mut out, &password("pw"), &Options::default());
    assert!(matches!(err, Err(Error::Corrupted)));
    // 1000 bytes = 62 full blocks + 8: the last (partial) block is withheld.
    assert_eq!(out, &plain[..992]);
}

#[test]
fn rejects_bad_buffer_sizes() {
    for size in [0, 15, 17] {
        let options = Options::default().with_buffer_size(size);
        let err = encrypt(&b""[..], Vec::new(), &password("pw"), &options);
        assert!(matches!(err, Err(Error::InvalidBufferSize(s)) if s == size));
    }
}

#[test]
fn file_functions_leave_nothing_behind_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("x.aes");
    std::fs::write(&src, sealed(b"secret data")).unwrap();
    let dst = dir.path().join("x");
    let err = aescrypt::decrypt_file(&src, &dst, &password("wrong"), &Options::default());
    assert!(matches!(err, Err(Error::WrongPassword)));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("x.aes")]);

    aescrypt::decrypt_file(&src, &dst, &password("pw"), &Options::default()).unwrap();
    assert_eq!(std::fs::read(&dst).unwrap(), b"secret data");
    assert!(matches!(
        aescrypt::encrypt_file(&src, &src, &password("pw"), &Options::default()),
        Err(Error::SameFile)
    ));
}
