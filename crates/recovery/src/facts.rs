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
use store::manifest::Manifest;
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
    /// The chain's manifests (an encrypted backup's lists the files its
    /// tarball holds).
    pub manifests: &'a BTreeMap<BackupName, Manifest>,
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
            .partition(|rel| self.encrypted.is_some() && !layout::CLEAR_FILES.contains(rel));
        let mut found = BTreeMap::new();
        if !outside.is_empty() {
            let files = self.store.read_files(&backup.to_string(), &outside).await?;
            found.extend(files.into_iter().map(text));
        }
        if let (Some((dbcrypt, password)), false) = (self.encrypted, inside.is_empty()) {
            let (inside, known) = match self.tarball_members(backup) {
                Some(members) => {
                    let there: Vec<&str> = inside
                        .into_iter()
                        .filter(|r| members.contains_key(*r))
                        .collect();
                    (there, true)
                }
                None => (inside, false),
            };
            if inside.is_empty() {
                return Ok(found);
            }
            let tarball = self
                .store
                .path(&layout::encrypted_tarball(&backup.to_string()));
            let step = format!("reading {} from {tarball}", inside.join(", "));
            let script = tarball_frames_script(dbcrypt, &tarball, &inside, known);
            let stdout = self.decrypting(&script, password, &tarball, &step).await?;
            let files = frames::parse(&stdout)
                .map_err(|e| RecoveryError::host(self.store.host(), &step, e))?;
            found.extend(files.into_iter().map(text));
        }
        Ok(found)
    }

    /// The files `backup`'s tarball holds, as its manifest lists them
    /// (`None` when it does not: a backup written before the list was
    /// kept, or without a manifest).
    pub(crate) fn tarball_members(&self, backup: BackupName) -> Option<&BTreeMap<String, u64>> {
        self.manifests
            .get(&backup)
            .map(|m| &m.tarball_files)
            .filter(|files| !files.is_empty())
    }

    /// Runs `script`, which decrypts `tarball` (exit 10 when that failed),
    /// on the store host with the password in its environment; returns its
    /// output.
    pub(crate) async fn decrypting(
        &self,
        script: &str,
        password: &Zeroizing<String>,
        tarball: &str,
        step: &str,
    ) -> Result<Vec<u8>, RecoveryError> {
        let cmd = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("DBCRYPT_PASSWORD", password.as_str());
        let host = self.store.host();
        // Bounded by the tarball's size, not by a small command's timeout.
        let bound = std::time::Duration::from_secs(24 * 3600);
        let out = self
            .store
            .transport()
            .exec(&cmd, bound)
            .await
            .map_err(|e| RecoveryError::host(host, step, e))?;
        if !out.success() {
            return Err(RecoveryError::host(
                host,
                format!("decrypting {tarball}"),
                out.stderr_str().trim(),
            ));
        }
        Ok(out.stdout)
    }

    /// What recovery needs from one backup: its consistence info, copied
    /// binlogs and, per backed-up server, `master_dir` and `executed_gtids`.
    pub async fn facts(&self, backup: BackupName) -> Result<BackupFacts, RecoveryError> {
        let bad = |file: &str, e: &dyn std::fmt::Display| RecoveryError::PlanningFile {
            path: self.store.path(&format!("{backup}/{file}")),
            host: self.store.host().to_owned(),
            reason: e.to_string(),
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
            let gtids_text = files.remove(&gtids_file);
            let executed_gtids_empty = gtids_text.as_ref().is_some_and(|t| t.trim().is_empty());
            let executed_gtids = match gtids_text {
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
                    executed_gtids_empty,
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

/// Decrypts `tarball` into GNU tar, which prints each of `rels` it holds
/// as a frame (see [`store::frames`]); no plaintext is written on the
/// store host. A member not in the archive only makes tar exit 2, so
/// absent frames are absent files. The decryption's status is checked
/// (exit 10): it is what a wrong password or a damaged tarball fails; see
/// [`decryption_status`] for `known` members.
fn tarball_frames_script(dbcrypt: &str, tarball: &str, rels: &[&str], known: bool) -> String {
    let list: Vec<String> = rels.iter().map(|r| quote(r).into_owned()).collect();
    format!(
        "{} -d {} -o - | tar -xf - {}--to-command={} -- {} 2>/dev/null; {}",
        quote(dbcrypt),
        quote(tarball),
        if known { "--occurrence=1 " } else { "" },
        quote(frames::TAR_TO_COMMAND),
        list.join(" "),
        decryption_status(known)
    )
}

/// The status check after `dbcrypt -d ... | tar ...` (exit 10 when the
/// decryption failed). With `known` members (tar given `--occurrence=1`
/// and only names the manifest lists), tar stops reading once it has them
/// all and the decryption then dies writing into a closed pipe: tar's
/// success is enough. Those bytes were read before the tarball's HMAC at
/// its end; a wrong password still fails (nothing decrypts, tar finds
/// nothing), and a damaged tarball fails the recovery when shipping
/// decrypts all of it, before anything is restored.
pub(crate) fn decryption_status(known: bool) -> &'static str {
    if known {
        "st=(\"${PIPESTATUS[@]}\"); [ \"${st[0]}\" = 0 ] || [ \"${st[1]}\" = 0 ] || exit 10"
    } else {
        "[ \"${PIPESTATUS[0]}\" = 0 ] || exit 10"
    }
}

/// A file's bytes as text (the files read here are written as text).
fn text((name, bytes): (String, Vec<u8>)) -> (String, String) {
    (name, String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    pub(crate) fn run_sh(script: &str) -> std::process::Output {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    }

    /// `<dir>/b.tar` holding `files` (path in the archive, bytes), in
    /// that order.
    pub(crate) fn tarball(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let src = dir.join("src");
        for (rel, bytes) in files {
            let path = src.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let tar = dir.join("b.tar");
        let names: Vec<String> = files.iter().map(|(r, _)| quote(r).into_owned()).collect();
        let made = run_sh(&format!(
            "cd {} && tar -cf {} -- {}",
            quote(src.to_str().unwrap()),
            quote(tar.to_str().unwrap()),
            names.join(" ")
        ));
        assert!(made.status.success(), "{made:?}");
        tar
    }

    /// Stand-ins for the decryption, with its arguments (`-d FILE -o -`):
    /// one that passes the file through (`cat`) and leaves its exit
    /// status in `FILE.status` (not 0 when its reader stopped early), one
    /// that fails as a wrong password does.
    pub(crate) fn fake_dbcrypts(dir: &Path) -> (String, String) {
        let make = |name: &str, body: &str| {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            path.display().to_string()
        };
        (
            make(
                "fake-dbcrypt",
                "cat \"$2\"; st=$?; echo $st > \"$2.status\"; exit $st",
            ),
            make("failing-dbcrypt", "echo 'wrong password' >&2; exit 1"),
        )
    }

    /// What the fake decryption left in `tar`.status.
    pub(crate) fn fake_status(tar: &Path) -> String {
        std::fs::read_to_string(format!("{}.status", tar.display()))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn tarball_frames_come_from_tar_and_a_failed_decryption_fails() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; 4 << 20];
        let tar = tarball(
            dir.path(),
            &[
                ("srv/executed_gtids", b"0-1-5\n"),
                ("srv/backup.xbsteam", &big),
            ],
        );
        let tar_path = tar.to_str().unwrap();
        let (fake, failing) = fake_dbcrypts(dir.path());
        let rels = ["srv/executed_gtids", "srv/master_dir"];
        let out = run_sh(&tarball_frames_script(&fake, tar_path, &rels, false));
        assert!(out.status.success(), "{out:?}");
        let files = frames::parse(&out.stdout).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files["srv/executed_gtids"], b"0-1-5\n");
        assert_eq!(fake_status(&tar), "0", "read to its end");

        for known in [false, true] {
            let out = run_sh(&tarball_frames_script(
                &failing,
                tar_path,
                &rels[..1],
                known,
            ));
            assert_eq!(out.status.code(), Some(10), "{known}: {out:?}");
        }
    }

    #[test]
    fn members_the_manifest_lists_are_read_without_decrypting_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; 4 << 20];
        let tar = tarball(
            dir.path(),
            &[
                ("srv/executed_gtids", b"0-1-5\n"),
                ("srv/master_dir", b"m\n"),
                ("srv/backup.xbsteam", &big),
            ],
        );
        let (fake, _) = fake_dbcrypts(dir.path());
        let rels = ["srv/executed_gtids", "srv/master_dir"];
        let out = run_sh(&tarball_frames_script(
            &fake,
            tar.to_str().unwrap(),
            &rels,
            true,
        ));
        assert!(out.status.success(), "{out:?}");
        let files = frames::parse(&out.stdout).unwrap();
        assert_eq!(files["srv/executed_gtids"], b"0-1-5\n");
        assert_eq!(files["srv/master_dir"], b"m\n");
        assert_ne!(
            fake_status(&tar),
            "0",
            "the decryption ran on to the tarball's end"
        );
    }
}
