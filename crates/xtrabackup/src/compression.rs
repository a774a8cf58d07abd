//! How a backup stream is compressed, and the marker recorded with it.
//!
//! XtraBackup's `--compress` writes QuickLZ `.qp` files that need `qpress`,
//! which Debian lacks. So `compress = 1` compresses the whole *stream* with
//! multi-threaded zstd on the sending host, for every flavor; recovery must
//! know which one it has, hence a one-word marker ([`Compression::marker`])
//! to store beside the stream. `.qp` backups (the seed's `compress = 1`)
//! are decompressed after extraction with [`crate::decompress`]: with
//! `qpress`, or with our `dbqpress` standing in for it (recovery's
//! `restore/qp.rs`).

use std::fmt;
use std::str::FromStr;

use remote::Command;

/// Compression of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// A plain xbstream.
    #[default]
    None,
    /// The whole xbstream piped through `zstd -T<threads>` on the sender.
    Zstd {
        /// zstd worker threads (`compress-threads`; 0 = one per core).
        threads: u32,
    },
    /// Per-file QuickLZ inside the stream (`--compress`, legacy backups):
    /// extract as usual, then `--decompress` (`qpress` or `dbqpress`).
    QuickLz,
}

impl Compression {
    /// The marker word: `none`, `zstd`, `qpress`.
    pub fn marker(&self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd { .. } => "zstd",
            Compression::QuickLz => "qpress",
        }
    }

    /// The sender-side compressor (`zstd -T<threads> -c`), if any.
    pub fn compressor(&self) -> Option<Command> {
        match self {
            Compression::Zstd { threads } => Some(
                Command::new("zstd")
                    .arg(format!("-T{threads}"))
                    .arg("-q")
                    .arg("-c"),
            ),
            _ => None,
        }
    }

    /// The receiver-side stream decompressor (`zstd -d -c`), if any.
    pub fn decompressor(&self) -> Option<Command> {
        match self {
            Compression::Zstd { .. } => Some(Command::new("zstd").arg("-d").arg("-q").arg("-c")),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.marker())
    }
}

impl FromStr for Compression {
    type Err = String;

    /// Reads a marker back (surrounding whitespace ignored). The thread
    /// count is a sender detail and reads back as 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "none" | "" => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd { threads: 0 }),
            "qpress" => Ok(Compression::QuickLz),
            other => Err(format!(
                "unknown backup compression marker {other:?} (expected none, zstd or qpress)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for c in [
            Compression::None,
            Compression::Zstd { threads: 0 },
            Compression::QuickLz,
        ] {
            assert_eq!(c.marker().parse::<Compression>(), Ok(c));
        }
        assert_eq!("\n".parse::<Compression>(), Ok(Compression::None));
        assert!("lz4".parse::<Compression>().unwrap_err().contains("lz4"));
    }

    #[test]
    fn zstd_pieces() {
        let c = Compression::Zstd { threads: 4 };
        assert_eq!(c.compressor().unwrap().argv_shell(), "zstd -T4 -q -c");
        assert_eq!(c.decompressor().unwrap().argv_shell(), "zstd -d -q -c");
        assert!(Compression::QuickLz.compressor().is_none());
    }
}
