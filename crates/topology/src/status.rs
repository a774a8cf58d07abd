//! Statuses as the router prints them.

use std::fmt;

/// What a dataserver status says, parsed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// `Server normal`: a healthy master (or standalone server).
    ServerNormal,
    /// `Slave normal`: a healthy replica.
    SlaveNormal,
    /// Another text with the word `normal` in it (e.g. `Master normal`).
    OtherNormal,
    /// A text with the word `down` in it (`Server down`, `Slave down`).
    Down,
    /// Any other non-empty text (e.g. `Slave abnormal`).
    Abnormal,
    /// No status.
    Empty,
}

/// A dataserver status (`status` of `dbscale show dataservers`,
/// `MasterServerStatus`/`SlaveServerStatus` of `dbscale show datasource`):
/// the parsed [`StatusKind`] plus the raw text for messages.
///
/// ```
/// use topology::{ServerStatus, StatusKind};
/// assert_eq!(ServerStatus::parse("Slave normal").kind(), StatusKind::SlaveNormal);
/// assert!(!ServerStatus::parse("Slave abnormal").is_normal());
/// assert!(ServerStatus::parse("Server down").is_down());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerStatus {
    kind: StatusKind,
    raw: String,
}

impl ServerStatus {
    /// Parses a status text. Matching is case-insensitive and by whole words,
    /// so `abnormal` is not `normal`.
    pub fn parse(raw: &str) -> Self {
        let lower = raw.trim().to_ascii_lowercase();
        let has_word = |w: &str| lower.split_whitespace().any(|t| t == w);
        let kind = match lower.as_str() {
            "" => StatusKind::Empty,
            "server normal" => StatusKind::ServerNormal,
            "slave normal" => StatusKind::SlaveNormal,
            _ if lower.contains("down") => StatusKind::Down,
            _ if has_word("normal") => StatusKind::OtherNormal,
            _ => StatusKind::Abnormal,
        };
        Self {
            kind,
            raw: raw.trim().to_owned(),
        }
    }

    /// A status of the given kind with its canonical text (used by the
    /// static topology, which has no router to ask).
    pub fn of_kind(kind: StatusKind) -> Self {
        let raw = match kind {
            StatusKind::ServerNormal => "Server normal",
            StatusKind::SlaveNormal => "Slave normal",
            StatusKind::OtherNormal => "normal",
            StatusKind::Down => "down",
            StatusKind::Abnormal => "abnormal",
            StatusKind::Empty => "",
        };
        Self {
            kind,
            raw: raw.to_owned(),
        }
    }

    /// The parsed kind.
    pub fn kind(&self) -> StatusKind {
        self.kind
    }

    /// The text as the router printed it (trimmed).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether the status says `normal` (any of the normal kinds). This is
    /// the seed's rule for `MasterServerStatus`.
    pub fn is_normal(&self) -> bool {
        matches!(
            self.kind,
            StatusKind::ServerNormal | StatusKind::SlaveNormal | StatusKind::OtherNormal
        )
    }

    /// Whether the status is exactly `Slave normal`, the seed's rule for a
    /// replica that may be picked by `backup-slave = N`.
    pub fn is_slave_normal(&self) -> bool {
        self.kind == StatusKind::SlaveNormal
    }

    /// Whether the status says `down` (dr-flashback's rule).
    pub fn is_down(&self) -> bool {
        self.kind == StatusKind::Down
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw.is_empty() {
            f.write_str("(no status)")
        } else {
            f.write_str(&self.raw)
        }
    }
}

/// `master-online-status` of `dbscale show dataservers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MasterOnline {
    /// `Master_Online`: the server is the online master of its datasource.
    MasterOnline,
    /// `Not_A_Master`.
    NotAMaster,
    /// Any other text, kept as printed.
    Other(String),
}

impl MasterOnline {
    /// Parses the column's text.
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "Master_Online" => MasterOnline::MasterOnline,
            "Not_A_Master" => MasterOnline::NotAMaster,
            other => MasterOnline::Other(other.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let cases = [
            ("Server normal", StatusKind::ServerNormal, true),
            ("slave NORMAL ", StatusKind::SlaveNormal, true),
            ("Master normal", StatusKind::OtherNormal, true),
            ("Slave abnormal", StatusKind::Abnormal, false),
            ("Server down", StatusKind::Down, false),
            ("Slave_down", StatusKind::Down, false),
            ("", StatusKind::Empty, false),
        ];
        for (raw, kind, normal) in cases {
            let s = ServerStatus::parse(raw);
            assert_eq!(s.kind(), kind, "{raw}");
            assert_eq!(s.is_normal(), normal, "{raw}");
            assert_eq!(ServerStatus::of_kind(kind).kind(), kind);
        }
        assert!(ServerStatus::parse("Slave normal").is_slave_normal());
        assert!(!ServerStatus::parse("Server normal").is_slave_normal());
        assert_eq!(
            ServerStatus::parse(" Slave normal ").to_string(),
            "Slave normal"
        );
        assert_eq!(ServerStatus::parse("").to_string(), "(no status)");
    }

    #[test]
    fn master_online() {
        assert_eq!(
            MasterOnline::parse("Master_Online"),
            MasterOnline::MasterOnline
        );
        assert_eq!(
            MasterOnline::parse("Not_A_Master"),
            MasterOnline::NotAMaster
        );
        assert_eq!(MasterOnline::parse("x"), MasterOnline::Other("x".into()));
    }
}
