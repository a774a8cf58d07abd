//! Property tests: random sizes and buffer sizes, sync and async, threaded
//! or not, always give back the plaintext; the ciphertext layout does not
//! depend on the buffer size.
#![allow(clippy::unwrap_used)] // test helpers, like #[test] functions, may panic

use aescrypt::{Options, Password, decrypt, decrypt_async, encrypt, encrypt_async};
use proptest::prelude::*;

fn options(blocks: usize, parallel: bool) -> Options {
    Options::default()
        .with_buffer_size(blocks * 16)
        .with_parallel(parallel)
}

fn password() -> Password {
    Password::from_str_ref("prop-Passw0rd").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sync_round_trip(
        plain in prop::collection::vec(any::<u8>(), 0..5000),
        enc_blocks in 1usize..300,
        dec_blocks in 1usize..300,
        enc_parallel: bool,
        dec_parallel: bool,
    ) {
        let mut sealed = Vec::new();
        let n = encrypt(&plain[..], &mut sealed, &password(), &options(enc_blocks, enc_parallel)).unwrap();
        prop_assert_eq!(n, plain.len() as u64);
        // Header + padded ciphertext + size byte + HMAC.
        let header = 5 + 2 + 11 + aescrypt::CREATED_BY.len() + 2 + 128 + 2 + 96;
        prop_assert_eq!(sealed.len(), header + plain.len().div_ceil(16) * 16 + 33);

        let mut opened = Vec::new();
        let info = decrypt(&sealed[..], &mut opened, &password(), &options(dec_blocks, dec_parallel)).unwrap();
        prop_assert_eq!(info.plaintext_len, plain.len() as u64);
        prop_assert_eq!(opened, plain);
    }

    #[test]
    fn reader_returning_small_pieces(
        plain in prop::collection::vec(any::<u8>(), 0..3000),
        piece in 1usize..50,
        blocks in 1usize..20,
    ) {
        let mut sealed = Vec::new();
        encrypt(Trickle(&plain, piece), &mut sealed, &password(), &options(blocks, true)).unwrap();
        let mut opened = Vec::new();
        decrypt(Trickle(&sealed, piece), &mut opened, &password(), &options(blocks, true)).unwrap();
        prop_assert_eq!(opened, plain);
    }

    #[test]
    fn async_round_trip(
        plain in prop::collection::vec(any::<u8>(), 0..5000),
        blocks in 1usize..300,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let opened = rt.block_on(async {
            let mut sealed = Vec::new();
            encrypt_async(&plain[..], &mut sealed, &password(), &options(blocks, true)).await.unwrap();
            let mut opened = Vec::new();
            decrypt_async(&sealed[..], &mut opened, &password(), &options(blocks, false)).await.unwrap();
            opened
        });
        prop_assert_eq!(opened, plain);
    }
}

#[tokio::test]
async fn async_reports_crypto_errors() {
    let mut sealed = Vec::new();
    encrypt(
        &[7u8; 4000][..],
        &mut sealed,
        &password(),
        &Options::default(),
    )
    .unwrap();
    let wrong = Password::from_str_ref("nope").unwrap();
    let err = decrypt_async(&sealed[..], Vec::new(), &wrong, &Options::default()).await;
    assert!(matches!(err, Err(aescrypt::Error::WrongPassword)));
    sealed[1000] ^= 1; // inside the ciphertext (the header is ~280 bytes)
    let err = decrypt_async(&sealed[..], Vec::new(), &password(), &Options::default()).await;
    assert!(matches!(err, Err(aescrypt::Error::Corrupted)));
}

/// A reader that hands out at most `.1` bytes per call.
struct Trickle<'a>(&'a [u8], usize);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}
