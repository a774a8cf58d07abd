//! Where the password comes from: file, `-p`, environment or prompt.

use std::path::Path;

use aescrypt::Password;
use zeroize::Zeroize;

use crate::Failure;

/// The environment variable dbcrypt reads the password from.
pub const PASSWORD_ENV: &str = "DBCRYPT_PASSWORD";

/// Finds the password in the documented order of precedence.
pub fn obtain(
    file: Option<&Path>,
    argument: Option<String>,
    confirm: bool,
) -> Result<Password, Failure> {
    let text = if let Some(path) = file {
        from_file(path)?
    } else if let Some(text) = argument {
        eprintln!(
            "WARNING: -p puts the password on the command line, where other users of this \
             machine can read it; prefer --password-file or {PASSWORD_ENV}."
        );
        text
    } else if let Some(text) = std::env::var_os(PASSWORD_ENV) {
        text.into_string()
            .map_err(|_| Failure::usage(format!("{PASSWORD_ENV} is not valid UTF-8")))?
    } else {
        prompt(confirm)?
    };
    if text.is_empty() {
        return Err(Failure::usage("the password is empty".into()));
    }
    Password::new(text).map_err(|e| Failure::usage(e.to_string()))
}

fn from_file(path: &Path) -> Result<String, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::io(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        e.into_bytes().zeroize();
        Failure::usage(format!(
            "the password file {} is not valid UTF-8",
            path.display()
        ))
    })?;
    // The first line is the password, so that `echo pw > file` works.
    let end = text.find(['\n', '\r']).unwrap_or(text.len());
    let mut rest = text.split_off(end);
    rest.zeroize();
    Ok(text)
}

fn prompt(confirm: bool) -> Result<String, Failure> {
    let no_terminal = |_| {
        Failure::usage(format!(
            "no password given: use --password-file, {PASSWORD_ENV} or run on a terminal"
        ))
    };
    let text = rpassword::prompt_password("Password: ").map_err(no_terminal)?;
    if confirm {
        let mut again = rpassword::prompt_password("Confirm password: ").map_err(no_terminal)?;
        let same = again == text;
        again.zeroize();
        if !same {
            let mut text = text;
            text.zeroize();
            return Err(Failure::usage("the passwords do not match".into()));
        }
    }
    Ok(text)
}
