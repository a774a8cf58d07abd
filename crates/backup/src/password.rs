//! The seed's password rules against the last good backup (`try_decrypt_sample`):
//! a backup taken with `-p` has `encrypted_sample`, and the next run must
//! use the same password; one taken without must not get one. The sample is
//! decrypted here, on the controller, so the password never reaches a host.

use crate::error::BackupError;
use crate::facts::LastBackup;
use store::Store;

/// Checks `password` against the last good backup before any data moves.
pub async fn check(
    store: &Store,
    last: Option<&LastBackup>,
    password: Option<&str>,
) -> Result<(), BackupError> {
    let Some(last) = last else {
        return Ok(());
    };
    match (last.encrypted, password) {
        (false, None) => Ok(()),
        (false, Some(_)) => Err(BackupError::Password(format!(
            "the last backup {} was taken without a password; a chain cannot switch to encryption: take a full backup into a new store directory, or run without -p",
            last.name
        ))),
        (true, None) => Err(BackupError::Password(format!(
            "the last backup {} was taken with a password: give the same one with -p",
            last.name
        ))),
        (true, Some(pw)) => store
            .check_sample(&last.name.to_string(), pw)
            .await
            .map_err(|e| match e {
                store::SampleError::Store(e) => e.into(),
                other => BackupError::Password(other.to_string()),
            }),
    }
}
