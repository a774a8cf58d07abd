//! Reading a backup's small files from the store, whether the backup is
//! plain or encrypted (then they are read out of the encrypted tarball on
//! the store host, streamed through `dbcrypt` and `tar -xO`, so no
//! plaintext copy is ever written there).

use crate::error::RecoveryError;
use binlog::{
    BackupFacts, BackupName, BackupedBinlogs, ConsistenceInfo, GtidFlavor, GtidSet, ServerDir,
    ServerFacts,
};
use remote::{Command, quote};
use std::collections::BTreeMap;
use store::{Store, layout};
use zeroize::Zeroizing;

/// How the chain's files are read.
#[derive(Clone)]
pub struct Reader<'a> {
    /// The store.
    pub store: &'a Store,
    /// For an encrypted chain: the decryption program on the store host and
    /// the password.
    pub encrypted: Option<(&'a str, &'a Zeroizing<String>)>,
}

impl Reader<'_> {
    /// Reads `<backup>/<rel>`: plain files directly; in an encrypted backup
    /// the files recovery plans from stay outside the tarball, the others
    /// are read out of it.
    pub async fn read(
        &self,
        backup: BackupName,
        rel: &str,
    ) -> Result<Option<String>, RecoveryError> {
        let outside = [
            layout::CONSISTENCE_FILE,
            layout::POINT_DATETIME_FILE,
            layout::BACKUPED_BINLOGS_FILE,
        ];
        match self.encrypted {
            Some((dbcrypt, password)) if !outside.contains(&rel) => {
                let tarball = self
                    .store
                    .path(&layout::encrypted_tarball(&backup.to_string()));
                let script = format!(
                    "set -o pipefail; {} -d {} -o - | tar -xOf - {} 2>/dev/null; s=(\"${{PIPESTATUS[@]}}\"); [ \"${{s[0]}}\" = 0 ] || exit 10; [ \"${{s[1]}}\" = 0 ] || exit 3",
                    quote(dbcrypt),
                    quote(&tarball),
                    quote(rel)
                );
                let cmd = Command::new("bash")
                    .arg("-c")
                    .arg(script)
                    .env("DBCRYPT_PASSWORD", password.as_str());
                let out = self
                    .store
                    .transport()
                    .exec(&cmd, std::time::Duration::from_secs(3600))
                    .await
                    .map_err(|e| {
                        RecoveryError::host(
                            self.store.host(),
                            format!("reading {rel} from {tarball}"),
                            e,
                        )
                    })?;
                match out.exit_status {
                    0 => Ok(Some(out.stdout_str())),
                    3 => Ok(None),
                    _ => Err(RecoveryError::host(
                        self.store.host(),
                        format!("decrypting {tarball}"),
                        out.stderr_str().trim(),
                    )),
                }
            }
            _ => Ok(self
                .store
                .read_file(&format!("{backup}/{rel}"))
                .await?
                .map(|b| String::from_utf8_lossy(&b).into_owned())),
        }
    }

    /// What recovery needs from one backup: its consistence info, copied
    /// binlogs and, per backed-up server, `master_dir` and `executed_gtids`.
    pub async fn facts(&self, backup: BackupName) -> Result<BackupFacts, RecoveryError> {
        let bad = |file: &str, e: &dyn std::fmt::Display| {
            RecoveryError::Plan(format!(
                "{} on {}: {e}",
                self.store.path(&format!("{backup}/{file}")),
                self.store.host()
            ))
        };
        let text = self
            .read(backup, layout::CONSISTENCE_FILE)
            .await?
            .ok_or_else(|| {
                bad(
                    layout::CONSISTENCE_FILE,
                    &"missing: the backup is incomplete",
                )
            })?;
        let consistence: ConsistenceInfo = text
            .parse()
            .map_err(|e| bad(layout::CONSISTENCE_FILE, &e))?;
        let text = self
            .read(backup, layout::BACKUPED_BINLOGS_FILE)
            .await?
            .unwrap_or_default();
        let binlogs: BackupedBinlogs = text
            .parse()
            .map_err(|e| bad(layout::BACKUPED_BINLOGS_FILE, &e))?;
        let mut servers = BTreeMap::new();
        for line in &consistence.lines {
            let dir = line.server_dir().to_string();
            let master_dir = match self.read(backup, &format!("{dir}/master_dir")).await? {
                Some(t) => Some(
                    t.trim()
                        .parse::<ServerDir>()
                        .map_err(|e| bad(&format!("{dir}/master_dir"), &e))?,
                ),
                None => None,
            };
            let executed_gtids = match self.read(backup, &format!("{dir}/executed_gtids")).await? {
                Some(t) if !t.trim().is_empty() => {
                    let t = t.trim();
                    let flavor = if t.contains(':') {
                        GtidFlavor::Mysql
                    } else {
                        GtidFlavor::Mariadb
                    };
                    Some(
                        GtidSet::parse(flavor, t)
                            .map_err(|e| bad(&format!("{dir}/executed_gtids"), &e))?,
                    )
                }
                _ => None,
            };
            servers.insert(
                line.server.clone(),
                ServerFacts {
                    master_dir,
                    executed_gtids,
                },
            );
        }
        Ok(BackupFacts {
            name: backup,
            consistence,
            binlogs,
            servers,
        })
    }
}
