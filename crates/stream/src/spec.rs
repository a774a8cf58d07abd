//! What a transfer sends and where it lands: typed values, no I/O.

use crate::ports::PortFamily;
use remote::Command;

/// What the sending host sends.
#[derive(Debug, Clone)]
pub enum Source {
    /// One file, sent as is (`cat FILE | socat ...`).
    File(String),
    /// A directory as a tar stream: `tar -C PARENT -cf - NAME`, gzip'd when
    /// `gzip` (the seed's `tar -zcf -`), leaving out `exclude` patterns.
    Dir {
        /// The directory to send.
        path: String,
        /// Compress with gzip (`-z`).
        gzip: bool,
        /// `--exclude` patterns (the seed leaves out `*.log` and friends).
        exclude: Vec<String>,
    },
    /// The stdout of any command (`mariabackup --backup --stream=xbstream`,
    /// `tar -zcf -`, ...). Its environment travels the transport's secret
    /// path, never an argv; its stdin must be empty. Its stderr comes back
    /// to the controller (a tail of it ends up in errors), so send a chatty
    /// program's log to a file on the host as the seed does.
    Command(Command),
}

impl Source {
    /// A file.
    pub fn file(path: impl Into<String>) -> Self {
        Source::File(path.into())
    }

    /// A directory as an uncompressed tar stream.
    pub fn dir(path: impl Into<String>) -> Self {
        Source::Dir {
            path: path.into(),
            gzip: false,
            exclude: Vec::new(),
        }
    }

    /// The stdout of `cmd`.
    pub fn command(cmd: Command) -> Self {
        Source::Command(cmd)
    }

    /// The seed's port family for this kind of data: files use `socat-port2`,
    /// streams `socat-port`.
    pub fn family(&self) -> PortFamily {
        match self {
            Source::File(_) => PortFamily::File,
            Source::Dir { .. } | Source::Command(_) => PortFamily::Stream,
        }
    }

    /// A short description for messages (never a command's arguments).
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => format!("file {p}"),
            Source::Dir { path, .. } => format!("directory {path} (tar)"),
            Source::Command(c) => format!("output of {}", c.name()),
        }
    }
}

/// Where the receiving host puts the stream.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A file, created or truncated (socat's `open:FILE,creat,trunc`).
    File(String),
    /// A command reading the stream on its stdin, e.g.
    /// `mbstream -x -C DIR` (the directory must exist).
    Command(Command),
}

impl Sink {
    /// A file.
    pub fn file(path: impl Into<String>) -> Self {
        Sink::File(path.into())
    }

    /// A consumer command.
    pub fn command(cmd: Command) -> Self {
        Sink::Command(cmd)
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Sink::File(p) => format!("file {p}"),
            Sink::Command(c) => format!("consumer {}", c.name()),
        }
    }
}
