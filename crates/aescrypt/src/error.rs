//! The one error type of the crate.

use std::io;

/// Everything that can go wrong while encrypting or decrypting.
///
/// The variants a caller most often has to tell apart when decrypting are
/// [`NotAesCrypt`](Error::NotAesCrypt),
/// [`UnsupportedVersion`](Error::UnsupportedVersion),
/// [`WrongPassword`](Error::WrongPassword),
/// [`Corrupted`](Error::Corrupted) and [`Truncated`](Error::Truncated).
/// No message ever contains the password or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not start with the `AES` magic bytes.
    #[error("not an AES Crypt file")]
    NotAesCrypt,

    /// The input is an AES Crypt file of a format version other than 2.
    #[error(
        "unsupported AES Crypt format version {0} (only version 2, the one pyAesCrypt writes, is supported)"
    )]
    UnsupportedVersion(u8),

    /// The HMAC over the encrypted key block does not match: the password is
    /// wrong (or, much less likely, those 80 header bytes were damaged).
    #[error("wrong password (or the file's key block is damaged)")]
    WrongPassword,

    /// The HMAC over the ciphertext does not match: the encrypted data was
    /// modified, or cut at a 16-byte boundary so that it still looks whole.
    #[error("the encrypted data is corrupted (its HMAC does not match)")]
    Corrupted,

    /// The input ends before a structurally complete AES Crypt file: inside
    /// the header, or with a ciphertext that is not a whole number of blocks.
    #[error("the file is truncated ({0})")]
    Truncated(&'static str),

    /// The header's extension block is larger than this crate accepts, which
    /// no real writer produces.
    #[error("malformed AES Crypt header ({0})")]
    MalformedHeader(&'static str),

    /// The password has more than [`MAX_PASSWORD_CHARS`](crate::MAX_PASSWORD_CHARS)
    /// characters, which pyAesCrypt and AES Crypt refuse.
    #[error("the password is longer than {} characters", crate::MAX_PASSWORD_CHARS)]
    PasswordTooLong,

    /// The buffer size is zero or not a multiple of the AES block size (16).
    #[error("buffer size {0} is not a positive multiple of 16")]
    InvalidBufferSize(usize),

    /// The input and the output are the same file.
    #[error("the input and the output are the same file")]
    SameFile,

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(getrandom::Error),

    /// Reading the input failed.
    #[error("cannot read the input: {0}")]
    Read(#[source] io::Error),

    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Write(#[source] io::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
