//! [`Store`]: the backup store's directory on its host, operated through a
//! [`remote::Transport`]. Every multi-step change is made so that a crash
//! midway never leaves something that looks valid: files are written to a
//! temporary name and renamed, and `ok` is only ever written by
//! [`Store::mark_ok`].

use crate::error::StoreError;
use crate::frames;
use crate::layout::{
    ENCRYPTED_DIR, OK_CONTENT, OK_FILE, POINT_DATETIME_FILE, RESERVED, SOCAT_LOG_DIR, TRASH_DIR,
    encrypted_tarball,
};
use binlog::{BackupDir, BackupName, parse_point_datetime};
use chrono::NaiveDate;
use remote::{Command, Output, Transport, quote};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One entry of the store's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The entry's name.
    pub name: String,
    /// Its parsed backup name (`None`: not a backup directory).
    pub backup: Option<BackupName>,
    /// Whether it holds `ok`.
    pub ok: bool,
    /// Its `consistent_point_datetime` text (first line), if any.
    pub point: Option<String>,
}

/// What to do with bad backups (`[misc] store-bad-backup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBackups {
    /// Move them to `trash/` (the default).
    Trash,
    /// Delete them.
    Remove,
}

/// The result of the bad-backup cleanup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cleanup {
    /// The newest backup with `ok`, if any.
    pub last_good: Option<BackupName>,
    /// The bad backups newer than it that were moved away, newest first.
    pub cleaned: Vec<BackupName>,
}

/// The store directory on its host.
#[derive(Debug, Clone)]
pub struct Store {
    transport: Arc<dyn Transport>,
    dir: String,
    timeout: Duration,
}

impl Store {
    /// The store at `dir` on the host `transport` reaches; every command
    /// is bounded by `timeout` (the seeds' `conn-timeout`).
    pub fn new(transport: Arc<dyn Transport>, dir: impl Into<String>, timeout: Duration) -> Self {
        Self {
            transport,
            dir: dir.into().trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// The store host.
    pub fn host(&self) -> &str {
        self.transport.host()
    }

    /// The transport to the store host.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The bound on one small command on the store (the seeds'
    /// `conn-timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The store directory.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// `dir/rel`.
    pub fn path(&self, rel: &str) -> String {
        format!("{}/{}", self.dir, rel)
    }

    /// Runs a shell snippet on the store host; a non-zero exit is an error
    /// naming `step`.
    pub async fn run(&self, step: &str, cmd: Command) -> Result<Output, StoreError> {
        let out = self
            .transport
            .exec(&cmd, self.timeout)
            .await
            .map_err(|source| StoreError::Remote {
                host: self.host().to_owned(),
                step: step.to_owned(),
                source,
            })?;
        if out.success() {
            Ok(out)
        } else {
            let stderr = out.stderr_str();
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            Err(StoreError::Failed {
                host: self.host().to_owned(),
                step: step.to_owned(),
                exit_status: out.exit_status,
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
            })
        }
    }

    /// Creates the store layout and today's socat log directory; returns
    /// the latter's path.
    pub async fn prepare(&self, today: NaiveDate) -> Result<String, StoreError> {
        let socat_log = self.path(&format!("{SOCAT_LOG_DIR}/{}", today.format("%Y%m%d")));
        let script = format!(
            "mkdir -p {} {} {}",
            quote(&self.dir),
            quote(&self.path(TRASH_DIR)),
            quote(&socat_log)
        );
        self.run("creating the store layout", Command::shell(script))
            .await?;
        Ok(socat_log)
    }

    /// Every entry of the store directory, with its `ok` flag and
    /// consistence time, in one round trip.
    pub async fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let script = format!(
            "cd {} || exit 1\n\
             for d in *; do\n\
               [ -d \"$d\" ] || continue\n\
               ok=0; [ \"$(cat \"$d/{OK_FILE}\" 2>/dev/null)\" = ok ] && ok=1\n\
               pt=$(head -n 1 \"$d/{POINT_DATETIME_FILE}\" 2>/dev/null | head -c 64)\n\
               printf '%s\\t%s\\t%s\\n' \"$d\" \"$ok\" \"$pt\"\n\
             done",
            quote(&self.dir)
        );
        let out = self.run("listing backups", Command::shell(script)).await?;
        Ok(out
            .stdout_str()
            .lines()
            .filter_map(|line| {
                let mut f = line.splitn(3, '\t');
                let name = f.next()?.to_owned();
                let ok = f.next()? == "1";
                let point = f.next().filter(|p| !p.is_empty()).map(str::to_owned);
                Some(Listed {
                    backup: name.parse().ok(),
                    name,
                    ok,
                    point,
                })
            })
            .collect())
    }

    /// The backup directories as the chain planner wants them.
    pub async fn backup_dirs(&self) -> Result<Vec<BackupDir>, StoreError> {
        let mut dirs = Vec::new();
        for l in self.list().await? {
            let Some(name) = l.backup else { continue };
            let point = match &l.point {
                None => None,
                Some(p) => Some(parse_point_datetime(p).map_err(|e| StoreError::Invalid {
                    host: self.host().to_owned(),
                    path: self.path(&format!("{}/{POINT_DATETIME_FILE}", l.name)),
                    detail: e.to_string(),
                })?),
            };
            dirs.push(BackupDir {
                name,
                ok: l.ok,
                point,
            });
        }
        dirs.sort_by_key(|d| d.name);
        Ok(dirs)
    }

    /// The seed's bad-backup cleanup: newest first, every backup without
    /// `ok` is moved to trash (or removed) with its encrypted tarball, up to
    /// the newest good one. Entries that are not backup names are left
    /// alone (the seed would trash them too).
    pub async fn clean_bad(&self, policy: BadBackups) -> Result<Cleanup, StoreError> {
        let mut listed = self.list().await?;
        listed.sort_by_key(|l| std::cmp::Reverse(l.backup));
        let mut cleanup = Cleanup::default();
        for l in listed {
            let Some(name) = l.backup else {
                if !RESERVED.contains(&l.name.as_str()) {
                    tracing::warn!(store = %self.host(), entry = %l.name, "not a backup directory; left alone");
                }
                continue;
            };
            if l.ok {
                cleanup.last_good = Some(name);
                break;
            }
            tracing::info!(store = %self.host(), backup = %name, ?policy, "bad backup (no ok flag)");
            match policy {
                BadBackups::Trash => self.move_to_trash(name).await?,
                BadBackups::Remove => self.remove(name).await?,
            }
            cleanup.cleaned.push(name);
        }
        Ok(cleanup)
    }

    /// Moves a backup and its encrypted tarball into `trash/` (a name
    /// already in the trash gets a numeric suffix rather than being nested
    /// inside the old one).
    pub async fn move_to_trash(&self, backup: BackupName) -> Result<(), StoreError> {
        let script = format!(
            "cd {} || exit 1\n\
             mkdir -p {TRASH_DIR}\n\
             for src in {} {}; do\n\
               [ -e \"$src\" ] || continue\n\
               dst={TRASH_DIR}/$(basename \"$src\")\n\
               [ -e \"$dst\" ] && dst=\"$dst.$(date +%s%N)\"\n\
               mv -T \"$src\" \"$dst\" || exit 1\n\
             done",
            quote(&self.dir),
            quote(&backup.to_string()),
            quote(&encrypted_tarball(&backup.to_string()))
        );
        self.run(&format!("moving {backup} to trash"), Command::shell(script))
            .await
            .map(drop)
    }

    /// Deletes a backup and its encrypted tarball.
    pub async fn remove(&self, backup: BackupName) -> Result<(), StoreError> {
        let script = format!(
            "rm -rf -- {} {}",
            quote(&self.path(&backup.to_string())),
            quote(&self.path(&encrypted_tarball(&backup.to_string())))
        );
        self.run(&format!("removing {backup}"), Command::shell(script))
            .await
            .map(drop)
    }

    /// The names in `trash/`, sorted (none when it does not exist).
    pub async fn trash_entries(&self) -> Result<Vec<String>, StoreError> {
        let script = format!(
            "t={}; [ -d \"$t\" ] || exit 0; cd \"$t\" && find . -mindepth 1 -maxdepth 1 -printf '%f\\n'",
            quote(&self.path(TRASH_DIR))
        );
        let out = self.run("listing trash", Command::shell(script)).await?;
        let mut names: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
        names.sort();
        Ok(names)
    }

    /// Empties `trash/`.
    pub async fn clean_trash(&self) -> Result<(), StoreError> {
        let script = format!(
            "t={}; [ -d \"$t\" ] || exit 0; find \"$t\" -mindepth 1 -maxdepth 1 -exec rm -rf -- {{}} +",
            quote(&self.path(TRASH_DIR))
        );
        self.run("emptying trash", Command::shell(script))
            .await
            .map(drop)
    }

    /// Writes `bytes` to `rel` (directories created), through a temporary
    /// name and a rename, so a reader never sees half a file.
    pub async fn write_file(&self, rel: &str, bytes: impl Into<Vec<u8>>) -> Result<(), StoreError> {
        let path = self.path(rel);
        let script = format!(
            "p={}; mkdir -p \"$(dirname \"$p\")\" && cat > \"$p.tmp.$$\" && mv -f \"$p.tmp.$$\" \"$p\"",
            quote(&path)
        );
        self.run(
            &format!("writing {path}"),
            Command::shell(script).stdin(bytes),
        )
        .await
        .map(drop)
    }

    /// Reads `rel`; `None` when it does not exist.
    pub async fn read_file(&self, rel: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(rel);
        let script = format!("p={}; [ -e \"$p\" ] || exit 3; cat -- \"$p\"", quote(&path));
        let out = self
            .transport
            .exec(&Command::shell(script), self.timeout)
            .await
            .map_err(|source| StoreError::Remote {
                host: self.host().to_owned(),
                step: format!("reading {path}"),
                source,
            })?;
        match out.exit_status {
            0 => Ok(Some(out.stdout)),
            3 => Ok(None),
            code => Err(StoreError::Failed {
                host: self.host().to_owned(),
                step: format!("reading {path}"),
                exit_status: code,
                stderr: out.stderr_str().trim().to_owned(),
            }),
        }
    }

    /// Reads several files of the directory `rel_dir` in one round trip
    /// (see [`crate::frames`]); the result holds those that exist, by
    /// their name in `rels`.
    pub async fn read_files(
        &self,
        rel_dir: &str,
        rels: &[&str],
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        let dir = self.path(rel_dir);
        let step = format!("reading {} in {dir}", rels.join(", "));
        let out = self
            .run(&step, Command::shell(frames::print_script(&dir, rels)))
            .await?;
        frames::parse(&out.stdout).map_err(|detail| StoreError::Invalid {
            host: self.host().to_owned(),
            path: dir,
            detail,
        })
    }

    /// `backup`'s manifest text, from where this version writes it or
    /// where the first versions did; `None` when it has none.
    pub async fn read_manifest(&self, backup: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut found = self
            .read_files(
                backup,
                &[
                    crate::layout::MANIFEST_FILE,
                    crate::layout::LEGACY_MANIFEST_FILE,
                ],
            )
            .await?;
        Ok(found
            .remove(crate::layout::MANIFEST_FILE)
            .or_else(|| found.remove(crate::layout::LEGACY_MANIFEST_FILE)))
    }

    /// Whether `rel` exists.
    pub async fn exists(&self, rel: &str) -> Result<bool, StoreError> {
        let path = self.path(rel);
        let out = self
            .transport
            .exec(&Command::new("test").arg("-e").arg(&path), self.timeout)
            .await
            .map_err(|source| StoreError::Remote {
                host: self.host().to_owned(),
                step: format!("looking for {path}"),
                source,
            })?;
        Ok(out.success())
    }

    /// Checks, in one round trip, that every file of `expected` (paths
    /// relative to the store directory) exists with that size;
    /// [`StoreError::Incomplete`] lists every one that does not.
    pub async fn check_sizes(&self, expected: &BTreeMap<String, u64>) -> Result<(), StoreError> {
        if expected.is_empty() {
            return Ok(());
        }
        // The names go on stdin, one a line: a long list fits no argv.
        let names: String = expected.keys().map(|p| format!("{p}\n")).collect();
        let script = format!(
            "cd {} || exit 1\nwhile IFS= read -r p; do [ -f \"$p\" ] && printf '%s\\t%s\\n' \"$(stat -c %s -- \"$p\")\" \"$p\"; done; exit 0",
            quote(&self.dir),
        );
        let out = self
            .run(
                "checking the backup's files",
                Command::shell(script).stdin(names),
            )
            .await?;
        let found: BTreeMap<String, u64> = out
            .stdout_str()
            .lines()
            .filter_map(|l| {
                let (size, path) = l.split_once('\t')?;
                Some((path.to_owned(), size.parse().ok()?))
            })
            .collect();
        let problems = size_problems(expected, &found);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Incomplete {
                host: self.host().to_owned(),
                dir: self.dir.clone(),
                problems,
            })
        }
    }

    /// Marks `backup` complete. Nothing else writes `ok`; call it last.
    pub async fn mark_ok(&self, backup: BackupName) -> Result<(), StoreError> {
        self.write_file(&format!("{backup}/{OK_FILE}"), OK_CONTENT)
            .await
    }

    /// Bytes available to the login user on the store's file system.
    pub async fn free_bytes(&self) -> Result<u64, StoreError> {
        // The store directory may not exist yet (a first or a dry run):
        // measure the file system it will be created on.
        let script = format!(
            "d={}; while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; df -P -B1 \"$d\" | tail -n 1",
            quote(&self.dir)
        );
        let out = self
            .run("measuring free space", Command::shell(script))
            .await?;
        let text = out.stdout_str();
        text.split_whitespace()
            .nth(3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| StoreError::Invalid {
                host: self.host().to_owned(),
                path: self.dir.clone(),
                detail: format!("cannot read free space from df: {:?}", text.trim()),
            })
    }

    /// Creates `rel` (and its parents).
    pub async fn mkdir(&self, rel: &str) -> Result<(), StoreError> {
        let path = self.path(rel);
        self.run(
            &format!("creating {path}"),
            Command::new("mkdir").arg("-p").arg(&path),
        )
        .await
        .map(drop)
    }

    /// The encrypted tarballs directory, created.
    pub async fn encrypted_dir(&self) -> Result<String, StoreError> {
        let dir = self.path(ENCRYPTED_DIR);
        self.run(
            "creating encrypted/",
            Command::new("mkdir").arg("-p").arg(&dir),
        )
        .await?;
        Ok(dir)
    }
}

/// Each expected file that is missing or of another size, in words.
fn size_problems(expected: &BTreeMap<String, u64>, found: &BTreeMap<String, u64>) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(path, size)| match found.get(path) {
            None => Some(format!("{path} is missing ({size} bytes expected)")),
            Some(f) if f != size => Some(format!("{path} holds {f} bytes, {size} expected")),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_resized_files_are_each_named() {
        let expected: BTreeMap<String, u64> =
            [("a/x".into(), 3), ("a/y".into(), 4), ("b".into(), 0)].into();
        let found: BTreeMap<String, u64> = [("a/x".into(), 3), ("a/y".into(), 2)].into();
        assert_eq!(
            size_problems(&expected, &found),
            [
                "a/y holds 2 bytes, 4 expected",
                "b is missing (0 bytes expected)"
            ]
        );
        assert!(size_problems(&expected, &expected).is_empty());
    }
}
