//! `-p`: the seed's encrypted layout. The backup's files (all but
//! `cluster_consistence_info`, `consistent_point_datetime` and
//! `backuped_binlogs`, which recovery reads to plan) become
//! `encrypted/<name>.tar.encrypted`, streamed through `dbcrypt` on the
//! store host (no temporary plaintext tar), and `encrypted_sample` lets the
//! next run check the password. The password reaches the store host in
//! `DBCRYPT_PASSWORD`, through the transport's private channel (never an
//! argv).

use crate::engine::Options;
use crate::error::BackupError;
use crate::run::Run;
use remote::{Command, quote};
use store::layout;

/// The sample's plaintext (the seed's).
const SAMPLE: &str = "abc123\n";

/// Encrypts the run's files in place.
pub async fn encrypt(run: &Run, options: &Options) -> Result<(), BackupError> {
    let Some(password) = &options.password else {
        return Ok(());
    };
    let name = run.plan.name.to_string();
    let encrypted_dir = run.store.encrypted_dir().await?;
    let dbcrypt = quote(&run.cfg.encrypt_bin).into_owned();
    let kept = [
        layout::CONSISTENCE_FILE,
        layout::POINT_DATETIME_FILE,
        layout::BACKUPED_BINLOGS_FILE,
    ];
    let excludes: String = kept.iter().map(|k| format!(" --exclude={k}")).collect();
    let keep_find: String = kept
        .iter()
        .chain(std::iter::once(&layout::ENCRYPTED_SAMPLE_FILE))
        .map(|k| format!(" ! -name {k}"))
        .collect();
    let tarball = format!("{encrypted_dir}/{name}.tar.encrypted");
    let script = format!(
        "set -o pipefail\n\
         cd {dir} || exit 1\n\
         tar --create --file -{excludes} -- * | {dbcrypt} -e - -o {tarball} || exit 1\n\
         printf %s {sample} | {dbcrypt} -e - -o {sample_file} || exit 1\n\
         find . -mindepth 1 -maxdepth 1{keep_find} -exec rm -rf -- {{}} +",
        dir = quote(&run.store_path(&name)),
        tarball = quote(&tarball),
        sample = quote(SAMPLE),
        sample_file = layout::ENCRYPTED_SAMPLE_FILE,
    );
    let cmd = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("DBCRYPT_PASSWORD", password.as_str());
    run.store.run("encrypting the backup", cmd).await?;
    Ok(())
}
