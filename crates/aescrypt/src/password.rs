//! The password, kept as a secret that is wiped from memory on drop.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

/// The longest password AES Crypt and pyAesCrypt accept, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// An encryption password.
///
/// AES Crypt hashes the password as UTF-16LE, so that is the only form kept;
/// the bytes are zeroized when the value is dropped, and [`fmt::Debug`]
/// prints a placeholder. There is deliberately no way to get the text back.
///
/// ```
/// let password = aescrypt::Password::new(String::from("correct horse"))?;
/// assert_eq!(format!("{password:?}"), "Password(<redacted>)");
/// # Ok::<(), aescrypt::Error>(())
/// ```
#[derive(Clone)]
pub struct Password {
    utf16le: Zeroizing<Vec<u8>>,
}

impl Password {
    /// Takes ownership of `text` and wipes it once converted.
    ///
    /// # Errors
    /// [`Error::PasswordTooLong`] above [`MAX_PASSWORD_CHARS`] characters
    /// (counted as Python counts them, in Unicode code points).
    pub fn new(mut text: String) -> Result<Self> {
        let result = Self::from_str_ref(&text);
        text.zeroize();
        result
    }

    /// Copies the password from a borrowed string; the caller remains
    /// responsible for wiping its own copy.
    ///
    /// # Errors
    /// [`Error::PasswordTooLong`], as for [`Password::new`].
    pub fn from_str_ref(text: &str) -> Result<Self> {
        if text.chars().count() > MAX_PASSWORD_CHARS {
            return Err(Error::PasswordTooLong);
        }
        // Reserve the exact size up front: a reallocation would leave an
        // un-wiped copy of the secret behind in freed memory.
        let mut utf16le = Zeroizing::new(Vec::with_capacity(text.encode_utf16().count() * 2));
        for unit in text.encode_utf16() {
            utf16le.extend_from_slice(&unit.to_le_bytes());
        }
        Ok(Self { utf16le })
    }

    /// Whether the password is the empty string.
    pub fn is_empty(&self) -> bool {
        self.utf16le.is_empty()
    }

    /// The password as AES Crypt hashes it.
    pub(crate) fn utf16le(&self) -> &[u8] {
        &self.utf16le
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_utf16le_with_surrogate_pairs() {
        let p = Password::from_str_ref("aé😀").unwrap();
        assert_eq!(
            p.utf16le(),
            &[0x61, 0x00, 0xe9, 0x00, 0x3d, 0xd8, 0x00, 0xde][..]
        );
    }

    #[test]
    fn length_limit_counts_characters() {
        assert!(Password::from_str_ref(&"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(matches!(
            Password::from_str_ref(&"a".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(Error::PasswordTooLong)
        ));
    }
}
