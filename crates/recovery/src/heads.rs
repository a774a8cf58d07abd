//! Planning the replay with the heads of the binlogs that decide it: for a
//! datasource whose restored data holds no transaction (an empty
//! `executed_gtids`), the GTID list at the head of the master's start
//! binlog says whether replaying it from its start is exact (see
//! [`binlog::history`]). Only those few files are read, and only their
//! first bytes (a plain chain) or one member out of the tarball (an
//! encrypted one, decrypted on the store host into a pipe, as
//! [`crate::facts`] does).

use crate::error::RecoveryError;
use crate::facts::Reader;
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
        let script = member_head_script(dbcrypt, &tarball, &rel);
        let step = format!("reading the head of {rel} in {tarball}");
        self.decrypting(&script, password, &tarball, &step).await
    }
}

/// Decrypts `tarball` into GNU tar, which writes the member `rel` to a
/// pipe whose first [`HEAD_BYTES`] bytes are printed; the rest is drained
/// so every stage ends normally and the decryption's own status is the
/// one checked (exit 10 when it failed: a wrong password, a damaged
/// tarball). No plaintext is written on the store host.
fn member_head_script(dbcrypt: &str, tarball: &str, rel: &str) -> String {
    format!(
        "{} -d {} -o - | tar -xOf - -- {} 2>/dev/null | {{ head -c {HEAD_BYTES}; cat >/dev/null; }}; \
         [ \"${{PIPESTATUS[0]}}\" = 0 ] || exit 10",
        quote(dbcrypt),
        quote(tarball),
        quote(rel),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::tests::{fake_dbcrypts, run_sh, tarball};

    #[test]
    fn the_head_of_a_member_comes_out_of_the_tarball_and_a_failed_decryption_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut binlog = b"\xfebin".to_vec();
        binlog.extend(vec![1u8; HEAD_BYTES + 1000]);
        let tar = tarball(
            dir.path(),
            &[("srv/mysql-bin.000001", &binlog), ("srv/other", b"x")],
        );
        let tar = tar.to_str().unwrap();
        let (fake, failing) = fake_dbcrypts(dir.path());
        let out = run_sh(&member_head_script(&fake, tar, "srv/mysql-bin.000001"));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, binlog[..HEAD_BYTES]);

        let out = run_sh(&member_head_script(&failing, tar, "srv/mysql-bin.000001"));
        assert_eq!(out.status.code(), Some(10), "{out:?}");
    }
}
