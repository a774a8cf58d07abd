//! `dbbackup verify`: re-reads every file of a backup on the store host (no
//! data through the controller) and checks it against `manifest.json`:
//! present, the recorded size, the recorded SHA-256, and nothing the
//! manifest does not list. An encrypted backup's tarball is checked as
//! ciphertext, and, given the password, by its HMAC (`dbcrypt -d` into
//! `/dev/null`: no plaintext written anywhere).

use crate::engine::{connector, open_store};
use crate::error::BackupError;
use binlog::BackupName;
use remote::{Command, quote};
use store::check::{compare, compare_one, listing_script, parse_listing};
use store::manifest::Manifest;
use store::{Store, layout};
use zeroize::Zeroizing;

/// Which backups to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The newest backup with `ok`.
    Newest,
    /// This one.
    Named(BackupName),
    /// Every backup on the store.
    All,
}

/// What was found about one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The backup.
    pub backup: BackupName,
    /// Whether it holds `ok`.
    pub ok_flag: bool,
    /// Files read and checked.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Whether the encrypted tarball's HMAC was checked (with the password).
    pub hmac_checked: bool,
    /// Each problem, in words naming the file; empty: the backup is intact.
    pub problems: Vec<String>,
}

impl Verified {
    /// Intact and complete.
    pub fn is_good(&self) -> bool {
        self.ok_flag && self.problems.is_empty()
    }
}

/// Verifies `which` backups of the store of `cfg`.
pub async fn verify(
    cfg: &conf::BackupConfig,
    which: &Which,
    password: Option<&Zeroizing<String>>,
) -> Result<Vec<Verified>, BackupError> {
    let store = open_store(cfg, &connector(cfg)?)?;
    let listed = store.list().await?;
    let chosen: Vec<(BackupName, bool)> = match which {
        Which::All => listed
            .iter()
            .filter_map(|l| Some((l.backup?, l.ok)))
            .collect(),
        Which::Newest => listed
            .iter()
            .filter_map(|l| Some((l.backup?, l.ok)))
            .filter(|(_, ok)| *ok)
            .max()
            .into_iter()
            .collect(),
        Which::Named(name) => listed
            .iter()
            .filter_map(|l| Some((l.backup?, l.ok)))
            .filter(|(b, _)| b == name)
            .collect(),
    };
    if chosen.is_empty() {
        return Err(BackupError::host(
            store.host(),
            "choosing the backups to verify",
            match which {
                Which::Named(n) => format!("{n} is not in {}", store.dir()),
                _ => format!("no backup with ok in {}", store.dir()),
            },
        ));
    }
    let mut all = Vec::new();
    for (backup, ok_flag) in chosen {
        all.push(verify_one(&store, cfg, backup, ok_flag, password).await?);
    }
    Ok(all)
}

async fn verify_one(
    store: &Store,
    cfg: &conf::BackupConfig,
    backup: BackupName,
    ok_flag: bool,
    password: Option<&Zeroizing<String>>,
) -> Result<Verified, BackupError> {
    let name = backup.to_string();
    let mut verified = Verified {
        backup,
        ok_flag,
        files: 0,
        bytes: 0,
        hmac_checked: false,
        problems: Vec::new(),
    };
    if !ok_flag {
        verified.problems.push(format!(
            "{name} has no ok: the run that wrote it did not finish"
        ));
    }
    let manifest_path = format!("{name}/{}", layout::MANIFEST_FILE);
    let Some(text) = store.read_manifest(&name).await? else {
        verified.problems.push(format!(
            "{name} has no {}: it cannot be verified (a backup of the seed tool?)",
            layout::MANIFEST_FILE
        ));
        return Ok(verified);
    };
    let manifest = match Manifest::parse(&String::from_utf8_lossy(&text)) {
        Ok(m) => m,
        Err(e) => {
            verified.problems.push(format!("{manifest_path}: {e}"));
            return Ok(verified);
        }
    };
    let tarball = format!("../{}", layout::encrypted_tarball(&name));
    let with_tarball = manifest.tarball.is_some().then_some(tarball.as_str());
    let out = store
        .run(
            &format!("reading {name} back"),
            Command::new("bash").arg("-c").arg(listing_script(
                &store.path(&name),
                std::iter::empty(),
                with_tarball,
                stream::PICK_SHA256,
            )),
        )
        .await?;
    let mut found = parse_listing(&out.stdout_str());
    let found_tarball = found.remove(&tarball);
    verified.files = found.len() + usize::from(found_tarball.is_some());
    verified.bytes = found
        .values()
        .chain(found_tarball.iter())
        .map(|f| f.size)
        .sum();
    verified
        .problems
        .extend(compare(&name, &manifest.files, &found));
    if let Some(want) = &manifest.tarball {
        let path = layout::encrypted_tarball(&name);
        verified
            .problems
            .extend(compare_one(&path, want, found_tarball.as_ref()));
        if let Some(password) = password {
            verified.hmac_checked = true;
            if let Some(p) = check_hmac(store, cfg, &path, password).await? {
                verified.problems.push(p);
            }
        }
    }
    Ok(verified)
}

/// Decrypts the tarball into `/dev/null` on the store host: its HMAC (and
/// the password) checked, no plaintext kept. `Some(problem)` when it fails.
async fn check_hmac(
    store: &Store,
    cfg: &conf::BackupConfig,
    path: &str,
    password: &Zeroizing<String>,
) -> Result<Option<String>, BackupError> {
    let script = format!(
        "{} -d {} -o - > /dev/null",
        quote(&cfg.encrypt_bin),
        quote(&store.path(path))
    );
    let cmd = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("DBCRYPT_PASSWORD", password.as_str());
    let out = store
        .transport()
        .exec(&cmd, store.timeout())
        .await
        .map_err(|e| BackupError::host(store.host(), format!("decrypting {path}"), e))?;
    Ok((!out.success()).then(|| {
        let why = match out.exit_status {
            3 => "wrong password".to_owned(),
            4 => "its HMAC does not match: the ciphertext is corrupted".to_owned(),
            5 => "it is truncated".to_owned(),
            code => format!("dbcrypt exit {code}: {}", out.stderr_str().trim()),
        };
        format!("{path}: {why}")
    }))
}
