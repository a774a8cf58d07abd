//! Reading a backup's small files from the store, whether the backup is
//! plain or encrypted (then they are read out of the encrypted tarball on
//! the store host, streamed through `dbcrypt` into GNU tar, so no
//! plaintext copy is ever written there). Several files come back in one
//! round trip as frames (`<size> <name>` line, then the bytes).

use crate::error::RecoveryError;
use binlog::{
    BackupFacts, BackupName, BackupedBinlogs, ConsistenceInfo, GtidFlavor, GtidSet, ServerDir,
    ServerFacts,
};
use remote::{Command, quote};
use std::collections::BTreeMap;
use store::{Store, frames, layout};
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
        Ok(self.read_many(backup, &[rel.to_owned()]).await?.remove(rel))
    }

    /// Reads several of `<backup>`'s files in one round trip, and for an
    /// encrypted backup in one pass over its tarball (a decryption reads
    /// all of it, however small the file wanted). The result holds the
    /// files that exist.
    pub async fn read_many(
        &self,
        backup: BackupName,
        rels: &[String],
    ) -> Result<BTreeMap<String, String>, RecoveryError> {
        let (inside, outside): (Vec<&str>, Vec<&str>) = rels
            .iter()
            .map(String::as_str)
            .partition(|rel| self.encrypted.is_some() && !OUTSIDE_THE_TARBALL.contains(rel));
        let mut found = BTreeMap::new();
        if !outside.is_empty() {
            let files = self.store.read_files(&backup.to_string(), &outside).await?;
            found.extend(files.into_iter().map(text));
        }
        if let (Some((dbcrypt, password)), false) = (self.encrypted, inside.is_empty()) {
            let tarball = self
                .store
                .path(&layout::encrypted_tarball(&backup.to_string()));
            let cmd = Command::new("bash")
                .arg("-c")
                .arg(tarball_frames_script(dbcrypt, &tarball, &inside))
                .env("DBCRYPT_PASSWORD", password.as_str());
            let host = self.store.host();
            let step = format!("reading {} from {tarball}", inside.join(", "));
            // Bounded by the tarball's size, not by a small command's timeout.
            let bound = std::time::Duration::from_secs(24 * 3600);
            let out = self
                .store
                .transport()
                .exec(&cmd, bound)
                .await
                .map_err(|e| RecoveryError::host(host, &step, e))?;
            if !out.success() {
                return Err(RecoveryError::host(
                    host,
                    format!("decrypting {tarball}"),
                    out.stderr_str().trim(),
                ));
            }
            let files =
                frames::parse(&out.stdout).map_err(|e| RecoveryError::host(host, &step, e))?;
            found.extend(files.into_iter().map(text));
        }
        Ok(found)
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
        let planning = [
            layout::CONSISTENCE_FILE.to_owned(),
            layout::BACKUPED_BINLOGS_FILE.to_owned(),
        ];
        let mut planning = self.read_many(backup, &planning).await?;
        let text = planning.remove(layout::CONSISTENCE_FILE).ok_or_else(|| {
            bad(
                layout::CONSISTENCE_FILE,
                &"missing: the backup is incomplete",
            )
        })?;
        let consistence: ConsistenceInfo = text
            .parse()
            .map_err(|e| bad(layout::CONSISTENCE_FILE, &e))?;
        let text = planning
            .remove(layout::BACKUPED_BINLOGS_FILE)
            .unwrap_or_default();
        let binlogs: BackupedBinlogs = text
            .parse()
            .map_err(|e| bad(layout::BACKUPED_BINLOGS_FILE, &e))?;
        let per_server = |dir: &str| [format!("{dir}/master_dir"), format!("{dir}/executed_gtids")];
        let wanted: Vec<String> = consistence
            .lines
            .iter()
            .flat_map(|line| per_server(&line.server_dir().to_string()))
            .collect();
        let mut files = self.read_many(backup, &wanted).await?;
        let mut servers = BTreeMap::new();
        for line in &consistence.lines {
            let [master_dir_file, gtids_file] = per_server(&line.server_dir().to_string());
            let master_dir = match files.remove(&master_dir_file) {
                Some(t) => Some(
                    t.trim()
                        .parse::<ServerDir>()
                        .map_err(|e| bad(&master_dir_file, &e))?,
                ),
                None => None,
            };
            let executed_gtids = match files.remove(&gtids_file) {
                Some(t) if !t.trim().is_empty() => {
                    let t = t.trim();
                    let flavor = if t.contains(':') {
                        GtidFlavor::Mysql
                    } else {
                        GtidFlavor::Mariadb
                    };
                    Some(GtidSet::parse(flavor, t).map_err(|e| bad(&gtids_file, &e))?)
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

/// The files an encrypted backup keeps in clear beside its tarball (what
/// recovery plans from).
const OUTSIDE_THE_TARBALL: [&str; 3] = [
    layout::CONSISTENCE_FILE,
    layout::POINT_DATETIME_FILE,
    layout::BACKUPED_BINLOGS_FILE,
];

/// Decrypts `tarball` into GNU tar, which prints each of `rels` it holds
/// as a frame (see [`store::frames`]); no plaintext is written on the
/// store host. A member not in the archive only makes tar exit 2, so
/// tar's status is not checked: absent frames are absent files. The
/// decryption's status is (exit 10): it is what a wrong password or a
/// damaged tarball fails.
fn tarball_frames_script(dbcrypt: &str, tarball: &str, rels: &[&str]) -> String {
    let list: Vec<String> = rels.iter().map(|r| quote(r).into_owned()).collect();
    format!(
        "{} -d {} -o - | tar -xf - --to-command={} -- {} 2>/dev/null; \
         [ \"${{PIPESTATUS[0]}}\" = 0 ] || exit 10",
        quote(dbcrypt),
        quote(tarball),
        quote(frames::TAR_TO_COMMAND),
        list.join(" ")
    )
}

/// A file's bytes as text (the files read here are written as text).
fn text((name, bytes): (String, Vec<u8>)) -> (String, String) {
    (name, String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_sh(script: &str) -> std::process::Output {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    }

    #[test]
    fn tarball_frames_come_from_tar_and_a_failed_decryption_fails() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("srv")).unwrap();
        std::fs::write(src.join("srv/executed_gtids"), "0-1-5\n").unwrap();
        std::fs::write(src.join("srv/backup.xbsteam"), vec![7u8; 100_000]).unwrap();
        let tar = dir.path().join("b.tar");
        assert!(
            run_sh(&format!(
                "cd {} && tar -cf {} srv",
                quote(src.to_str().unwrap()),
                quote(tar.to_str().unwrap())
            ))
            .status
            .success()
        );
        // `cat` stands in for the decryption: same pipe, same arguments.
        let fake = dir.path().join("fake-dbcrypt");
        std::fs::write(&fake, "#!/bin/sh\ncat \"$2\"\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let rels = ["srv/executed_gtids", "srv/master_dir"];
        let out = run_sh(&tarball_frames_script(
            fake.to_str().unwrap(),
            tar.to_str().unwrap(),
            &rels,
        ));
        assert!(out.status.success(), "{out:?}");
        let files = frames::parse(&out.stdout).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files["srv/executed_gtids"], b"0-1-5\n");

        let failing = dir.path().join("failing-dbcrypt");
        std::fs::write(&failing, "#!/bin/sh\necho 'wrong password' >&2; exit 1\n").unwrap();
        std::fs::set_permissions(
            &failing,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let out = run_sh(&tarball_frames_script(
            failing.to_str().unwrap(),
            tar.to_str().unwrap(),
            &rels,
        ));
        assert_eq!(out.status.code(), Some(10), "{out:?}");
    }
}
