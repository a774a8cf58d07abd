//! The drill's journal: the seed's redo file (`log/gio_flashback_redo.log`)
//! with the seed's JSON node list, plus which drill it is and which step it
//! reached, so a crash at any point leaves enough to continue or undo.
//!
//! The file is replaced atomically on every write (a temporary file in the
//! same directory, fsync, rename, fsync of the directory), so a reader sees
//! either the previous record or the new one, never a mix; a temporary file
//! left by a crash is ignored (and removed by the next write). An empty or
//! absent file means no drill is open, as the seed's truncated file does.
//!
//! The seed wrote a bare JSON array of its nodes; such a file reads as
//! [`JournalState::SeedTool`]: a drill opened by the old tool.
//!
//! ```
//! use flashback::journal::{Entry, Journal, JournalState, StepState};
//!
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::new(dir.path().join("log/gio_flashback_redo.log"));
//! assert!(matches!(journal.read()?, JournalState::Closed));
//! let entry = Entry::open("detach DR from production", Vec::new());
//! journal.write(&entry)?;
//! let JournalState::Open(back) = journal.read()? else { panic!() };
//! assert_eq!(back.drill_id, entry.drill_id);
//! assert_eq!(back.state, StepState::Started);
//! journal.close()?;
//! assert!(matches!(journal.read()?, JournalState::Closed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The seed's journal path, relative to the directory it is kept in.
pub const SEED_JOURNAL_PATH: &str = "log/gio_flashback_redo.log";

/// The format version this crate writes and reads.
pub const JOURNAL_VERSION: u32 = 1;

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("journal {}: cannot {op}: {source}", path.display())]
    Io {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// What was being done (`read`, `write`, `rename`, ...).
        op: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The content is neither a journal record nor the seed's node list.
    #[error(
        "journal {}: not a dr-flashback journal (line {line}, column {column}: {reason}); \
         look at it before removing it: it may describe an open drill",
        path.display()
    )]
    Garbled {
        /// The file.
        path: PathBuf,
        /// Where parsing failed.
        line: usize,
        /// Where parsing failed.
        column: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// A record written by a newer dr-flashback.
    #[error(
        "journal {}: format version {found} is newer than this dr-flashback reads ({JOURNAL_VERSION})",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version it holds.
        found: u32,
    },
}

/// A DR data node's part in the drill (the seed's `Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The DR datasource's master.
    Primary,
    /// A DR replica that receives the snapshot.
    Joiner,
    /// The DR replica kept aside, whose data is the snapshot.
    Donor,
}

/// One DR data node as the seed's redo file lists it (its field names;
/// the seed's passwords are never written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The dataserver's name on the DR router.
    #[serde(rename = "ServerName", default)]
    pub server_name: String,
    /// Its address.
    #[serde(rename = "MySQL_Ip")]
    pub host: String,
    /// Its MySQL port, as text (the seed's type).
    #[serde(rename = "MySQL_Port")]
    pub port: String,
    /// Its part in the drill.
    #[serde(rename = "Role")]
    pub role: Role,
    /// Its data directory.
    #[serde(rename = "DataDir", default)]
    pub data_dir: String,
    /// The donor's port (the seed's `DonorPort`).
    #[serde(rename = "DonorPort", default)]
    pub donor_port: String,
    /// The temporary instance's port (the seed's `JoinerPort`, 18000).
    #[serde(rename = "JoinerPort", default)]
    pub joiner_port: String,
    /// Its server's pid file (an addition: `stop` restarts the server).
    #[serde(rename = "PidFile", default, skip_serializing_if = "String::is_empty")]
    pub pid_file: String,
    /// Its server's command line, as it was started (an addition).
    #[serde(rename = "ServerArgv", default, skip_serializing_if = "Vec::is_empty")]
    pub server_argv: Vec<String>,
}

/// The DR servers' family: it decides how the snapshot is taken (a
/// mariabackup stream, or MySQL 8's CLONE plugin) and restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// MariaDB (a record without the field: the only family before).
    #[default]
    Mariadb,
    /// MySQL 8.
    Mysql,
}

impl Flavor {
    fn is_mariadb(&self) -> bool {
        *self == Flavor::Mariadb
    }

    /// The GTID family of its servers.
    pub fn gtid(self) -> binlog::gtid::GtidFlavor {
        match self {
            Flavor::Mariadb => binlog::gtid::GtidFlavor::Mariadb,
            Flavor::Mysql => binlog::gtid::GtidFlavor::Mysql,
        }
    }
}

impl From<binlog::gtid::GtidFlavor> for Flavor {
    fn from(f: binlog::gtid::GtidFlavor) -> Flavor {
        match f {
            binlog::gtid::GtidFlavor::Mariadb => Flavor::Mariadb,
            binlog::gtid::GtidFlavor::Mysql => Flavor::Mysql,
        }
    }
}

/// Whether the journaled step is under way or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Written before the step changes anything.
    Started,
    /// Written once the step completed.
    Done,
}

/// One journal record: the drill, the last step and the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version ([`JOURNAL_VERSION`]).
    pub version: u32,
    /// Identifies the drill (`<UTC time>-<random>`).
    pub drill_id: String,
    /// The step counter: 1 for the first step of `start`, then up.
    pub step: u32,
    /// The step's name, as the output prints it.
    pub step_name: String,
    /// Whether that step is under way or done.
    pub state: StepState,
    /// When the drill was opened.
    pub opened_at: DateTime<Utc>,
    /// When this record was written.
    pub updated_at: DateTime<Utc>,
    /// The DR data nodes (the seed's redo content).
    pub nodes: Vec<Node>,
    /// The DR servers' family.
    #[serde(default, skip_serializing_if = "Flavor::is_mariadb")]
    pub flavor: Flavor,
    /// The production datasource the DR cluster hangs off (`stop`
    /// re-attaches it there; the seed assumed `normal_0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to: Option<String>,
    /// The donor's GTIDs once it was disabled: what every snapshot holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub donor_gtid: Option<String>,
    /// `start` began opening the DR cluster to writes (every snapshot was
    /// taken before): from then on only the snapshots undo the drill.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opened: bool,
    /// `stop` closed the DR cluster to writes: a later `stop` goes on from
    /// there (a DR master it stopped makes the router refuse that step).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closing: bool,
}

impl Entry {
    /// The first record of a new drill: step 1, `step_name`, started now.
    pub fn open(step_name: impl Into<String>, nodes: Vec<Node>) -> Entry {
        let now = Utc::now();
        let random = remote::CommandId::random().0;
        Entry {
            version: JOURNAL_VERSION,
            drill_id: format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &random[..8]),
            step: 1,
            step_name: step_name.into(),
            state: StepState::Started,
            opened_at: now,
            updated_at: now,
            nodes,
            flavor: Flavor::Mariadb,
            attached_to: None,
            donor_gtid: None,
            opened: false,
            closing: false,
        }
    }

    /// This drill at step `step` (`step_name`) in `state`, stamped now.
    pub fn at(&self, step: u32, step_name: impl Into<String>, state: StepState) -> Entry {
        Entry {
            step,
            step_name: step_name.into(),
            state,
            updated_at: Utc::now(),
            ..self.clone()
        }
    }
}

/// What the journal says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalState {
    /// No drill is open (no file, or an empty one).
    Closed,
    /// A drill this tool opened.
    Open(Entry),
    /// A drill the seed's dr-flashback opened (a bare node list).
    SeedTool(Vec<Node>),
}

/// The journal file.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Journal {
        Journal { path: path.into() }
    }

    /// The seed's journal inside `dir` (`dir/log/gio_flashback_redo.log`).
    pub fn in_dir(dir: &Path) -> Journal {
        Journal::new(dir.join(SEED_JOURNAL_PATH))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the journal.
    pub fn read(&self) -> Result<JournalState, JournalError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalState::Closed),
            Err(source) => return Err(self.io("read", source)),
        };
        parse(&self.path, &text)
    }

    /// Replaces the journal with `entry`, atomically.
    pub fn write(&self, entry: &Entry) -> Result<(), JournalError> {
        let mut bytes = serde_json::to_vec(entry).map_err(|e| self.io("encode", e.into()))?;
        bytes.push(b'\n');
        self.replace(&bytes)
    }

    /// Marks the drill closed: the file is emptied (the seed's truncate),
    /// atomically.
    pub fn close(&self) -> Result<(), JournalError> {
        self.replace(b"")
    }

    fn replace(&self, bytes: &[u8]) -> Result<(), JournalError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| self.io("create its directory", e))?;
        remove_stale_temporaries(&dir, &name);
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            });
        written.map_err(|e| self.io("write a temporary file", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io("rename into place", e))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io("sync its directory", e))
    }

    fn io(&self, op: &'static str, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }
}

/// Temporary files a crashed writer left (`.<name>.tmp.<pid>`).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix)
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a stale journal temporary");
        }
    }
}

fn parse(path: &Path, text: &str) -> Result<JournalState, JournalError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(JournalState::Closed);
    }
    let garbled = |e: serde_json::Error| JournalError::Garbled {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    };
    if trimmed.starts_with('[') {
        // The seed writes its nodes on one line and reads only that line.
        let first = trimmed.lines().next().unwrap_or_default();
        return serde_json::from_str(first)
            .map(JournalState::SeedTool)
            .map_err(garbled);
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).map_err(garbled)?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v > u64::from(JOURNAL_VERSION) => Err(JournalError::UnsupportedVersion {
            path: path.to_owned(),
            found: u32::try_from(v).unwrap_or(u32::MAX),
        }),
        _ => serde_json::from_value(value)
            .map(JournalState::Open)
            .map_err(garbled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, role: Role) -> Node {
        Node {
            server_name: name.into(),
            host: "127.0.0.31".into(),
            port: "16315".into(),
            role,
            data_dir: "/data/mysqldata/x/dbdata".into(),
            donor_port: "16315".into(),
            joiner_port: "18000".into(),
            pid_file: String::new(),
            server_argv: Vec::new(),
        }
    }

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::in_dir(dir.path());
        (dir, j)
    }

    #[test]
    fn round_trip_and_step_counter() {
        let (_dir, j) = journal();
        let first = Entry::open(
            "detach",
            vec![node("dr_0_0", Role::Primary), node("dr_0_1", Role::Donor)],
        );
        j.write(&first).unwrap();
        assert_eq!(j.read().unwrap(), JournalState::Open(first.clone()));
        let later = first.at(4, "snapshot", StepState::Done);
        j.write(&later).unwrap();
        let JournalState::Open(back) = j.read().unwrap() else {
            panic!("not open")
        };
        assert_eq!((back.step, back.state), (4, StepState::Done));
        assert_eq!(back.drill_id, first.drill_id);
        assert_eq!(back.opened_at, first.opened_at);
        assert!(j.path().ends_with("log/gio_flashback_redo.log"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(j.path()).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        j.close().unwrap();
        assert_eq!(std::fs::read(j.path()).unwrap(), b"");
        assert_eq!(j.read().unwrap(), JournalState::Closed);
    }

    #[test]
    fn the_flavor_is_kept_and_an_older_record_is_mariadb() {
        let (_dir, j) = journal();
        let mut entry = Entry::open("detach", vec![node("dr_0_0", Role::Primary)]);
        let maria = serde_json::to_string(&entry).unwrap();
        assert!(!maria.contains("flavor"), "{maria}");
        entry.flavor = Flavor::Mysql;
        j.write(&entry).unwrap();
        let JournalState::Open(back) = j.read().unwrap() else {
            panic!("not open")
        };
        assert_eq!(back.flavor.gtid(), binlog::gtid::GtidFlavor::Mysql);
        std::fs::write(j.path(), maria).unwrap();
        let JournalState::Open(older) = j.read().unwrap() else {
            panic!("not open")
        };
        assert_eq!(older.flavor, Flavor::Mariadb);
    }

    #[test]
    fn a_torn_temporary_file_is_ignored_and_removed() {
        let (dir, j) = journal();
        let entry = Entry::open("detach", vec![node("dr_0_0", Role::Primary)]);
        j.write(&entry).unwrap();
        // A writer that died between writing and renaming.
        let torn = dir.path().join("log/.gio_flashback_redo.log.tmp.4242");
        std::fs::write(&torn, br#"{"version":1,"drill_id":"x","st"#).unwrap();
        assert_eq!(j.read().unwrap(), JournalState::Open(entry.clone()));
        j.write(&entry.at(2, "stop replication", StepState::Started))
            .unwrap();
        assert!(!torn.exists(), "the next write removes it");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("log"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["gio_flashback_redo.log"]);
    }

    #[test]
    fn garbled_and_unknown_content_are_clear_errors() {
        let (_dir, j) = journal();
        std::fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        for bad in [
            "{\"version\":1,\"drill",
            "hello",
            "{\"version\":1}",
            "[{\"x\":",
        ] {
            std::fs::write(j.path(), bad).unwrap();
            let err = j.read().unwrap_err();
            assert!(matches!(err, JournalError::Garbled { .. }), "{bad}: {err}");
            assert!(
                err.to_string().contains("not a dr-flashback journal"),
                "{err}"
            );
        }
        std::fs::write(j.path(), "{\"version\":7,\"drill_id\":\"x\"}").unwrap();
        let err = j.read().unwrap_err();
        assert!(
            matches!(err, JournalError::UnsupportedVersion { found: 7, .. }),
            "{err}"
        );
        std::fs::write(j.path(), "\n  \n").unwrap();
        assert_eq!(j.read().unwrap(), JournalState::Closed);
    }

    #[test]
    fn the_seed_tools_node_list_reads_without_its_passwords() {
        let (_dir, j) = journal();
        std::fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        // Field names of the seed's Node, as its json.Marshal writes them.
        let seed = r#"[{"MySQL_Ip":"172.17.138.182","MySQL_Port":"3308","MySQL_User":"admin","MySQL_Password":"123456","SysUser":"mysql","SysPassword":"QWer12","ServerName":"database_1","Role":"primary","DataDir":"16315fff","DonorPort":"3308","JoinerPort":"18000"}]"#;
        std::fs::write(j.path(), seed).unwrap();
        let JournalState::SeedTool(nodes) = j.read().unwrap() else {
            panic!("not the seed's list")
        };
        assert_eq!(nodes[0].server_name, "database_1");
        assert_eq!(nodes[0].role, Role::Primary);
        assert_eq!(nodes[0].joiner_port, "18000");
        // Written back by this tool, no password survives.
        let entry = Entry::open("x", nodes);
        j.write(&entry).unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(
            !text.contains("123456") && !text.contains("QWer12"),
            "{text}"
        );
        assert!(text.contains("\"MySQL_Ip\":\"172.17.138.182\""), "{text}");
    }
}
