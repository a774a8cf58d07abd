//! The transfer to the storage host: `rsync` to `[rsync] dest` (an rsync
//! daemon module: `user@host[:port]/module/path`), the daemon password
//! from `password_file` (`--password-file`), never on an argv.

use crate::error::LogicalError;
use crate::tool::{self, path_arg};
use catalog::history::Transfer;
use std::path::{Path, PathBuf};

/// Where backups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `dest` as written.
    pub dest: String,
    /// `password_file`.
    pub password_file: Option<PathBuf>,
    /// `address`: the local address to bind.
    pub address: Option<String>,
}

impl From<&conf::pbackup::RsyncConfig> for Target {
    fn from(c: &conf::pbackup::RsyncConfig) -> Self {
        Target {
            dest: c.dest.clone(),
            password_file: c.password_file.clone(),
            address: c.address.clone(),
        }
    }
}

impl Target {
    /// `remote_dest` as the catalog records it: `dest` with a trailing `/`.
    pub fn remote_dest(&self) -> String {
        format!("{}/", self.dest.trim_end_matches('/'))
    }

    /// The destination argument: `rsync://dest/`, or `dest` itself when it
    /// is already a URL or `host::module` form.
    pub fn url(&self) -> String {
        if self.dest.starts_with("rsync://") || self.dest.contains("::") {
            self.remote_dest()
        } else {
            format!("rsync://{}", self.remote_dest())
        }
    }

    /// rsync's arguments: `source` (a directory, sent as itself, so the
    /// destination gets `<dest>/<name of source>/...`).
    pub fn args(&self, source: &Path, log_file: Option<&Path>) -> Vec<String> {
        let mut args = vec![
            "-rlpt".to_owned(),
            "--contimeout=20".to_owned(),
            "--timeout=600".to_owned(),
        ];
        if let Some(f) = &self.password_file {
            args.push(path_arg("--password-file=", f));
        }
        if let Some(a) = &self.address {
            args.push(format!("--address={a}"));
        }
        if let Some(l) = log_file {
            args.push(path_arg("--log-file=", l));
        }
        let source = source.display().to_string();
        args.push(source.trim_end_matches('/').to_owned());
        args.push(self.url());
        args
    }

    /// Sends `source`; the transfer's times and outcome, plus the error
    /// when rsync failed.
    pub async fn send(
        &self,
        source: &Path,
        log_file: Option<&Path>,
    ) -> Result<(Transfer, Option<LogicalError>), LogicalError> {
        let start = crate::tool::now();
        let ran = tool::run("rsync", &self.args(source, log_file), &[]).await?;
        let end = crate::tool::now();
        let failure = (!ran.ok).then(|| LogicalError::Tool {
            step: format!("rsync of {} to {}", source.display(), self.remote_dest()),
            program: "rsync".into(),
            status: ran.status.clone(),
            tail: ran.tail.clone(),
        });
        Ok((
            Transfer {
                start,
                end,
                complete: ran.ok,
            },
            failure,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_dest_becomes_a_daemon_url() {
        let t = Target {
            dest: "platform@182.92.83.238/db_backup/106.3.130.84".into(),
            password_file: Some("/etc/rsync.sec".into()),
            address: Some("10.0.0.1".into()),
        };
        assert_eq!(
            t.remote_dest(),
            "platform@182.92.83.238/db_backup/106.3.130.84/"
        );
        assert_eq!(
            t.args(Path::new("/data/bk/2017-11-15/"), None),
            [
                "-rlpt",
                "--contimeout=20",
                "--timeout=600",
                "--password-file=/etc/rsync.sec",
                "--address=10.0.0.1",
                "/data/bk/2017-11-15",
                "rsync://platform@182.92.83.238/db_backup/106.3.130.84/"
            ]
        );
        let t = Target {
            dest: "u@h::mod/x".into(),
            password_file: None,
            address: None,
        };
        assert_eq!(t.url(), "u@h::mod/x/");
    }
}
