//! Shared by the engine's sandbox tests: a private store directory and a
//! config pointing at it, and the engine's plan and execute steps.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;

/// A test's own store directory (removed on drop) and its config.
pub struct Store {
    /// The store directory.
    pub dir: PathBuf,
    base_conf: String,
    files: tempfile::TempDir,
}

impl Store {
    /// A store directory for `tag` under the sandbox's store, with the
    /// sandbox's ssh config.
    pub fn new(sb: &testkit::Sandbox, tag: &str) -> Store {
        Store::with_config(sb, tag, "BACKUP_SSH_CONF")
    }

    /// A store directory for `tag` with the sandbox config `conf_key`
    /// names (`BACKUP_ADM_CONF`, `BACKUP_RABBIT_CONF`, ...).
    pub fn with_config(sb: &testkit::Sandbox, tag: &str, conf_key: &str) -> Store {
        let dir =
            PathBuf::from(sb.var("STORE_DIR")).join(format!("rules-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let base_conf = std::fs::read_to_string(sb.var(conf_key)).unwrap();
        Store {
            dir,
            base_conf,
            files: tempfile::tempdir().unwrap(),
        }
    }

    /// The sandbox config pointing at this store, with `[misc]` overrides:
    /// a key the file has is replaced, one it lacks is added to `[misc]`.
    pub fn conf(&self, misc: &[(&str, &str)]) -> conf::BackupConfig {
        let mut text = String::new();
        let mut used = Vec::new();
        for line in self.base_conf.lines() {
            let key = line.split('=').next().unwrap_or_default().trim();
            if line.starts_with("dir = ") {
                text += &format!("dir = {}\n", self.dir.display());
            } else if let Some((k, v)) = misc.iter().find(|(k, _)| *k == key) {
                text += &format!("{k} = {v}\n");
                used.push(*k);
            } else {
                text += line;
                text += "\n";
            }
            if line.trim() == "[misc]" {
                text += "#ADDED\n";
            }
        }
        let added: String = misc
            .iter()
            .filter(|(k, _)| !used.contains(k))
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        assert!(
            added.is_empty() || text.contains("#ADDED\n"),
            "no [misc] section to add {added} to"
        );
        let text = text.replace("#ADDED\n", &added);
        let file = self.files.path().join("backup.conf");
        std::fs::write(&file, text).unwrap();
        conf::BackupConfig::load(&file).unwrap()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The plan of a dry run.
pub async fn plan(cfg: conf::BackupConfig) -> backup::BackupPlan {
    let options = backup::Options {
        dry_run: true,
        ..backup::Options::default()
    };
    backup::prepare(cfg, options).await.unwrap().plan().clone()
}

/// A backup taken.
pub async fn take(cfg: conf::BackupConfig) -> backup::Outcome {
    try_take(cfg).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A backup tried: its outcome or the error (its sentence), for tests that
/// must put something back before they fail.
pub async fn try_take(cfg: conf::BackupConfig) -> Result<backup::Outcome, String> {
    let prepared = backup::prepare(cfg, backup::Options::default())
        .await
        .map_err(|e| e.to_string())?;
    backup::execute(prepared).await.map_err(|e| e.to_string())
}
