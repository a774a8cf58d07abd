//! Planning the replay with the heads of the binlogs that decide it: for a
//! datasource whose restored data holds no transaction (an empty
//! `executed_gtids`), the GTID list at the head of the master's start
//! binlog says whether replaying it from its start is exact (see
//! [`binlog::history`]). Only those few files are read, and only their
//! first bytes (a plain chain) or one member out of the tarball (an
//! encrypted one, decrypted on the store host into a pipe, as
//! [`crate::facts`] does).

use crate::error::RecoveryError;
use crate::facts::{Reader, decryption_status};
use binlog::apply_plan::BinlogSource;
use binlog::{
    ApplyPlan, BackupFacts, Chain, HEAD_BYTES, StartGtids, heads_needed, plan_apply_with,
};
use remote::{Command, quote};
use store::layout;

impl Reader<'_> {
    /// The replay plan of `chain`, reading the binlog heads it depends on.
    /// A head that cannot be read leaves that datasource refused, the
    /// error saying why.
    pub async fn plan(
        &self,
        chain: &Chain,
        target: &BackupFacts,
        next: Option<&BackupFacts>,
    ) -> Result<ApplyPlan, RecoveryError> {
        let mut heads = StartGtids::new();
        for source in heads_needed(target, next) {
            let gtids = match self.head(&source).await {
                Ok(bytes) => binlog::gtids_before(&bytes).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(why) = &gtids {
                tracing::warn!(binlog = %source, error = %why, "could not read the GTIDs logged before a binlog");
            }
            heads.insert(&source.dir.server, source.file.clone(), gtids);
        }
        Ok(plan_apply_with(chain, target, next, &heads)?)
    }

    /// The first [`HEAD_BYTES`] bytes of a binlog on the store (fewer when
    /// the file is shorter).
    async fn head(&self, source: &BinlogSource) -> Result<Vec<u8>, RecoveryError> {
        let backup = source.backup.to_string();
        let rel = format!("{}/{}", source.dir, source.file);
        let Some((dbcrypt, password)) = self.encrypted else {
            let path = self.store.path(&format!("{backup}/{rel}"));
            let script = format!("head -c {HEAD_BYTES} -- {}", quote(&path));
            let out = self
                .store
                .run(
                    &format!("reading the head of {path}"),
                    Command::shell(script),
                )
                .await?;
            return Ok(out.stdout);
        };
        let tarball = self.store.path(&layout::encrypted_tarball(&backup));
        let known = self
            .tarball_members(source.backup)
            .is_some_and(|m| m.contains_key(&rel));
        let script = member_head_script(dbcrypt, &tarball, &rel, known);
        let step = format!("reading the head of {rel} in {tarball}");
        self.decrypting(&script, password, &tarball, &step).await
    }
}

/// Decrypts `tarball` into GNU tar, which writes the member `rel` to a
/// pipe whose first [`HEAD_BYTES`] bytes are printed; the rest of the
/// member is drained so tar ends normally. The decryption's status is
/// checked as [`decryption_status`] says (exit 10 when it failed: a wrong
/// password, a damaged tarball); a `known` member (the manifest lists it)
/// lets tar stop after it. No plaintext is written on the store host.
fn member_head_script(dbcrypt: &str, tarball: &str, rel: &str, known: bool) -> String {
    format!(
        "{} -d {} -o - | tar -xOf - {}-- {} 2>/dev/null | {{ head -c {HEAD_BYTES}; cat >/dev/null; }}; {}",
        quote(dbcrypt),
        quote(tarball),
        if known { "--occurrence=1 " } else { "" },
        quote(rel),
        decryption_status(known),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::tests::{fake_dbcrypts, fake_status, run_sh, tarball};

    #[test]
    fn the_head_of_a_member_comes_out_of_the_tarball_and_a_failed_decryption_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut binlog = b"\xfebin".to_vec();
        binlog.extend(vec![1u8; HEAD_BYTES + 1000]);
        let tar = tarball(
            dir.path(),
            &[
                ("srv/mysql-bin.000001", &binlog),
                ("srv/backup.xbsteam", &vec![2u8; 4 << 20]),
            ],
        );
        let tar_path = tar.to_str().unwrap();
        let (fake, failing) = fake_dbcrypts(dir.path());
        for known in [false, true] {
            let out = run_sh(&member_head_script(
                &fake,
                tar_path,
                "srv/mysql-bin.000001",
                known,
            ));
            assert!(out.status.success(), "{known}: {out:?}");
            assert_eq!(out.stdout, binlog[..HEAD_BYTES]);
            // A member the manifest lists is the last thing decrypted.
            assert_eq!(fake_status(&tar) == "0", !known, "{known}");

            let out = run_sh(&member_head_script(
                &failing,
                tar_path,
                "srv/mysql-bin.000001",
                known,
            ));
            assert_eq!(out.status.code(), Some(10), "{known}: {out:?}");
        }
    }
}
