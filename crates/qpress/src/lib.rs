//! qpress archives and QuickLZ level 1, the format of the `.qp` files that
//! `xtrabackup --compress` and `mariabackup --compress` write.
//!
//! Debian has no `qpress`, and `--decompress` runs `qpress -dio` for every
//! `.qp` file; this crate lets a program of ours stand in for it. Pure: the
//! decoder works over any [`std::io::Read`] and [`std::io::Write`] it is
//! given, one block in memory at a time, and opens nothing itself.
//!
//! The archive (qpress 1.1):
//!
//! ```text
//! ARCHIVE  = "qpress10" u64(chunk size) { DIR | UP | FILE }
//! DIR      = "D" u32(len) name 0x00        UP = "U"
//! FILE     = "F" u32(len) name 0x00 { "NEWBNEWB" u64(recovery) u32(adler32 of packet) packet }
//!            "ENDSENDS" u64(recovery)
//! ```
//!
//! Integers are little endian; a packet is one QuickLZ block ([`block`]).

pub mod archive;
pub mod block;
pub mod encode;

pub use archive::{ArchiveError, unpack};
pub use block::{BlockError, decompress_block};
