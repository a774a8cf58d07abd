//! Arbitrary bytes offered as an AES Crypt file: an error or plaintext,
//! never a panic, and never plaintext from a file whose HMAC is wrong.
#![no_main]

use aescrypt::{Options, Password, decrypt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(password) = Password::new(String::from("fuzz-Passw0rd")) else {
        return;
    };
    let mut plain = Vec::new();
    // A random input almost never carries a valid HMAC: if it decrypts,
    // it was a valid file, and encrypting the plaintext again must work.
    if decrypt(data, &mut plain, &password, &Options::default()).is_ok() {
        let mut sealed = Vec::new();
        aescrypt::encrypt(&plain[..], &mut sealed, &password, &Options::default())
            .expect("re-encrypts");
    }
});
