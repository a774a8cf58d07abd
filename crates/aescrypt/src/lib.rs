//! The AES Crypt file format, version 2: the format `pyAesCrypt` writes and
//! reads, and so the format of every encrypted dbscale backup set.
//!
//! Files written here decrypt with pyAesCrypt 6.x (and AES Crypt ≥ 3.06),
//! and their files decrypt here. The scheme (see [`format`](self#format)):
//! AES-256-CBC under a random data key, that key encrypted under a key
//! stretched from the password with 8192 rounds of SHA-256, and
//! HMAC-SHA256 over both the key block and the ciphertext.
//!
//! ```
//! use aescrypt::{Options, Password, decrypt, encrypt};
//!
//! let password = Password::new(String::from("s3cret-Passw0rd"))?;
//! let mut sealed = Vec::new();
//! encrypt(&b"abc123\n"[..], &mut sealed, &password, &Options::default())?;
//! assert_eq!(&sealed[..4], b"AES\x02");
//!
//! let mut opened = Vec::new();
//! let info = decrypt(&sealed[..], &mut opened, &password, &Options::default())?;
//! assert_eq!(opened, b"abc123\n");
//! assert_eq!(info.plaintext_len, 7);
//!
//! let wrong = Password::new(String::from("guess"))?;
//! let err = decrypt(&sealed[..], &mut Vec::new(), &wrong, &Options::default());
//! assert!(matches!(err, Err(aescrypt::Error::WrongPassword)));
//! # Ok::<(), aescrypt::Error>(())
//! ```
//!
//! # Which function
//! * [`encrypt`] / [`decrypt`]: any `Read` to any `Write`.
//! * [`encrypt_async`] / [`decrypt_async`]: tokio `AsyncRead` to `AsyncWrite`.
//! * [`encrypt_file`], [`decrypt_file`], [`encrypt_to_path`],
//!   [`decrypt_to_path`]: into a file that appears only when complete and
//!   verified; on error no output file is left behind.
//!
//! All run in constant memory: three or four buffers of
//! [`Options::buffer_size`] (plus two chunks queued each way for the async
//! functions), whatever the data size.
//! By default the ciphertext HMAC runs on a second thread, so encryption
//! and decryption use two cores; [`Options::with_parallel`] turns that off.
//!
//! # What a streaming decrypt releases before the last check
//! The password (key-block HMAC) is checked before any output. The
//! ciphertext HMAC can only be checked at the end, so [`decrypt`] writes
//! all plaintext except the **last block (1–16 bytes)** before it, and
//! writes that block only if the HMAC matches. A caller writing to a pipe
//! must treat the data as untrusted until `decrypt` returns `Ok`; the
//! `*_to_path` functions do that for you.
//!
//! # Errors when decrypting
//! | cause | error |
//! | --- | --- |
//! | not starting with `AES` (also: empty input) | [`Error::NotAesCrypt`] |
//! | AES Crypt version 0, 1 or 3 | [`Error::UnsupportedVersion`] |
//! | key-block HMAC mismatch | [`Error::WrongPassword`] |
//! | ends inside the header, or mid-block | [`Error::Truncated`] |
//! | ciphertext HMAC mismatch (modified data, or a cut on a block boundary) | [`Error::Corrupted`] |
//!
//! # Format
//! ```text
//! "AES" 0x02 0x00                      magic, version, reserved
//! { u16be len, ident 0x00 content }*   extensions, ended by len = 0
//! IV1 (16)                             salt of the stretch, IV of the key block
//! AES-256-CBC(K, IV1, IV0 ‖ K0) (48)   K = stretch(UTF-16LE password, IV1)
//! HMAC-SHA256(K, key block) (32)
//! AES-256-CBC(K0, IV0, data ‖ pad)     pad: n bytes of value n, n = (16 - len % 16) % 16
//! len % 16 (1)                         not authenticated (a known v2 weakness)
//! HMAC-SHA256(K0, ciphertext) (32)
//! ```
//! Like pyAesCrypt, this crate writes a `CREATED_BY` extension and an empty
//! 128-byte container extension; extensions written by other tools are
//! returned in [`Decrypted::extensions`].
//!
//! # A pyAesCrypt bug to know about
//! pyAesCrypt 6.1.1 decrypts wrongly when the padded ciphertext is a
//! multiple of its buffer (64 KiB on its command line): plaintext sizes
//! 65521–65535, 131057–131071, … come out of *its* decrypt with the 1–15
//! padding bytes left at the end, whoever encrypted the file. The files
//! themselves are correct, and this crate decrypts them exactly; the
//! interop tests pin both behaviours.

mod error;
mod file;
mod format;
mod password;
mod pipeline;
mod stream;
mod tokio_io;

pub use error::{Error, Result};
pub use file::{decrypt_file, decrypt_to_path, encrypt_file, encrypt_to_path};
pub use format::Extension;
pub use password::{MAX_PASSWORD_CHARS, Password};
pub use stream::{Decrypted, decrypt, encrypt};
pub use tokio_io::{decrypt_async, encrypt_async};

/// The `CREATED_BY` extension this crate writes.
pub const CREATED_BY: &str = concat!("dbscale-backup aescrypt ", env!("CARGO_PKG_VERSION"));

/// The default [`Options::buffer_size`]: 1 MiB.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;

/// Tuning knobs; none of them changes the bytes written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Bytes processed per step, a positive multiple of 16. Bigger buffers
    /// mean fewer system calls and thread hand-offs; memory use is three to
    /// four times this.
    pub buffer_size: usize,
    /// Whether the ciphertext HMAC runs on its own thread.
    pub parallel: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            buffer_size: DEFAULT_BUFFER_SIZE,
            parallel: true,
        }
    }
}

impl Options {
    /// Sets [`Options::buffer_size`] (checked when used).
    #[must_use]
    pub fn with_buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes;
        self
    }

    /// Sets [`Options::parallel`].
    #[must_use]
    pub fn with_parallel(mut self, parallel: bool) -> Self {
        self.parallel = parallel;
        self
    }

    pub(crate) fn checked_buffer_size(&self) -> Result<usize> {
        if self.buffer_size == 0 || !self.buffer_size.is_multiple_of(16) {
            return Err(Error::InvalidBufferSize(self.buffer_size));
        }
        Ok(self.buffer_size)
    }
}
