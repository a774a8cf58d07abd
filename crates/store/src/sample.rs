//! The seed's `encrypted_sample` check (`try_decrypt_sample`): a backup
//! taken with a password holds a small AES Crypt file that only that
//! password decrypts. It is read off the store and decrypted here, on the
//! controller, so the password never reaches a host.

use crate::{Store, StoreError, layout};

/// Why a password does not open a backup's sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password is not one AES Crypt accepts.
    #[error("the password cannot be used: {0}")]
    Unusable(String),
    /// The password does not decrypt the sample.
    #[error("wrong password: it does not decrypt {path} on {host} ({reason})")]
    Wrong {
        /// The sample's path on the store.
        path: String,
        /// The store host.
        host: String,
        /// What the decryption said.
        reason: String,
    },
}

impl Store {
    /// Checks that `password` decrypts `backup`'s `encrypted_sample` (a
    /// missing sample counts as one it does not decrypt).
    pub async fn check_sample(&self, backup: &str, password: &str) -> Result<(), SampleError> {
        let rel = format!("{backup}/{}", layout::ENCRYPTED_SAMPLE_FILE);
        let sample = self.read_file(&rel).await?.unwrap_or_default();
        let password = aescrypt::Password::from_str_ref(password)
            .map_err(|e| SampleError::Unusable(e.to_string()))?;
        aescrypt::decrypt(
            &sample[..],
            &mut std::io::sink(),
            &password,
            &aescrypt::Options::default(),
        )
        .map(drop)
        .map_err(|e| SampleError::Wrong {
            path: self.path(&rel),
            host: self.host().to_owned(),
            reason: e.to_string(),
        })
    }
}
