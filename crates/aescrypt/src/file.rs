//! Whole-file operations that never leave a partial output behind.
//!
//! The output is written to a hidden temporary file next to the
//! destination (`.<name>.XXXXXX.part`, mode 0600) and renamed over the
//! destination only when the operation, including every integrity check,
//! has succeeded. On any error the temporary file is removed, so the
//! destination either holds a complete, verified result or is untouched.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{Decrypted, Error, Options, Password, Result, decrypt, encrypt};

/// Encrypts `input` into the file `dst`, replacing it atomically.
///
/// # Errors
/// As [`encrypt`]; creating or renaming the output gives [`Error::Write`].
pub fn encrypt_to_path<R: Read>(
    input: R,
    dst: &Path,
    password: &Password,
    options: &Options,
) -> Result<u64> {
    write_atomically(dst, |file| encrypt(input, file, password, options))
}

/// Decrypts `input` into the file `dst`, which appears only once both HMACs
/// have been verified.
///
/// # Errors
/// As [`decrypt`]; creating or renaming the output gives [`Error::Write`].
pub fn decrypt_to_path<R: Read>(
    input: R,
    dst: &Path,
    password: &Password,
    options: &Options,
) -> Result<Decrypted> {
    write_atomically(dst, |file| decrypt(input, file, password, options))
}

/// Encrypts the file `src` into `dst` (see [`encrypt_to_path`]).
///
/// # Errors
/// [`Error::SameFile`] if `dst` is `src`, [`Error::Read`] if `src` cannot be
/// opened, else as [`encrypt_to_path`].
pub fn encrypt_file(src: &Path, dst: &Path, password: &Password, options: &Options) -> Result<u64> {
    let input = open_distinct(src, dst)?;
    encrypt_to_path(input, dst, password, options)
}

/// Decrypts the file `src` into `dst` (see [`decrypt_to_path`]).
///
/// # Errors
/// [`Error::SameFile`] if `dst` is `src`, [`Error::Read`] if `src` cannot be
/// opened, else as [`decrypt_to_path`].
pub fn decrypt_file(
    src: &Path,
    dst: &Path,
    password: &Password,
    options: &Options,
) -> Result<Decrypted> {
    let input = open_distinct(src, dst)?;
    decrypt_to_path(input, dst, password, options)
}

fn open_distinct(src: &Path, dst: &Path) -> Result<File> {
    let input = File::open(src).map_err(Error::Read)?;
    if let Ok(out_meta) = std::fs::metadata(dst) {
        let in_meta = input.metadata().map_err(Error::Read)?;
        if same_file(&in_meta, &out_meta) {
            return Err(Error::SameFile);
        }
    }
    Ok(input)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

fn write_atomically<T>(dst: &Path, work: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let dir = match dst.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let prefix = match dst.file_name() {
        Some(name) => format!(".{}.", name.to_string_lossy()),
        None => ".aescrypt.".to_owned(),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(Error::Write)?;
    // On error `tmp` is dropped here, which deletes the partial output.
    let value = work(tmp.as_file_mut())?;
    tmp.persist(dst).map_err(|e| Error::Write(e.error))?;
    Ok(value)
}
