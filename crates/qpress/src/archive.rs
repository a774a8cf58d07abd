//! Reading a qpress archive: its files' contents, one block at a time,
//! each checked against its Adler-32 before it is decoded.

use std::io::{self, Read, Write};

use thiserror::Error;

use crate::block::{BlockError, decompress_block, header};

/// What every archive starts with.
pub(crate) const MAGIC: &[u8; 8] = b"qpress10";
/// What every data block starts with.
pub(crate) const BLOCK_MAGIC: &[u8; 8] = b"NEWBNEWB";
/// What ends every file.
pub(crate) const END_MAGIC: &[u8; 8] = b"ENDSENDS";
/// Larger blocks or names are taken for corruption rather than allocated
/// (qpress writes 64 KiB blocks; its largest chunk option is far below).
const MAX_BLOCK: usize = 256 << 20;
const MAX_NAME: usize = 64 << 10;

/// Why an archive cannot be unpacked.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// Reading the archive or writing the output failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// It does not start with `qpress10`.
    #[error("not a qpress archive (no qpress10 header)")]
    NotQpress,
    /// It ends inside an entry.
    #[error("qpress archive truncated in {0}")]
    Truncated(&'static str),
    /// An entry of a kind qpress does not write, or a bad size.
    #[error("qpress archive corrupt at byte {at}: {what}")]
    Corrupt {
        /// Offset in the archive.
        at: u64,
        /// What was wrong there.
        what: String,
    },
    /// A block whose Adler-32 differs from the one recorded.
    #[error(
        "qpress block at byte {at} is corrupt: Adler-32 {found:#010x}, recorded {recorded:#010x}"
    )]
    Checksum {
        /// Offset of the block in the archive.
        at: u64,
        /// Computed.
        found: u32,
        /// Recorded.
        recorded: u32,
    },
    /// A block that does not decode.
    #[error("qpress block at byte {at}: {source}")]
    Block {
        /// Offset of the block in the archive.
        at: u64,
        /// Why.
        source: BlockError,
    },
}

/// Adler-32 (RFC 1950) of `data`.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes at most between reductions keep b below 2^32.
    for piece in data.chunks(5552) {
        for &x in piece {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    b << 16 | a
}

/// Counts what it reads, so errors can say where.
struct Counted<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Counted<R> {
    /// Fills `buf`; `Ok(false)` at a clean end of input before any byte.
    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<bool, ArchiveError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(ArchiveError::Truncated(what)),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.at += buf.len() as u64;
        Ok(true)
    }

    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), ArchiveError> {
        if self.fill(buf, what)? || buf.is_empty() {
            Ok(())
        } else {
            Err(ArchiveError::Truncated(what))
        }
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ArchiveError> {
        let mut b = [0; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, ArchiveError> {
        let mut b = [0; 8];
        self.exact(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn corrupt(&self, what: impl Into<String>) -> ArchiveError {
        ArchiveError::Corrupt {
            at: self.at,
            what: what.into(),
        }
    }

    /// A name entry's name (`u32` length, bytes, a zero byte).
    fn name(&mut self) -> Result<Vec<u8>, ArchiveError> {
        let len = self.u32("a name's length")? as usize;
        if len > MAX_NAME {
            return Err(self.corrupt(format!("a name of {len} bytes")));
        }
        let mut name = vec![0; len + 1];
        self.exact(&mut name, "a name")?;
        name.pop();
        Ok(name)
    }
}

/// Writes the contents of every file in the archive `input` to `output`
/// (what `qpress -dio` does for the one-file archives of `--compress`),
/// returning how many bytes it wrote. Directory entries are skipped.
pub fn unpack<R: Read, W: Write>(input: R, mut output: W) -> Result<u64, ArchiveError> {
    let mut r = Counted {
        inner: input,
        at: 0,
    };
    let mut magic = [0; 8];
    if !r.fill(&mut magic, "the header")? || &magic != MAGIC {
        return Err(ArchiveError::NotQpress);
    }
    let _chunk_size = r.u64("the header")?;
    let mut written = 0u64;
    let mut out = Vec::new();
    loop {
        let mut kind = [0u8; 1];
        if !r.fill(&mut kind, "an entry")? {
            break;
        }
        match kind[0] {
            b'U' => {}
            b'D' => {
                r.name()?;
            }
            b'F' => {
                r.name()?;
                loop {
                    let mut tag = [0; 8];
                    r.exact(&mut tag, "a block")?;
                    if &tag == END_MAGIC {
                        r.u64("a file's end")?;
                        break;
                    }
                    if &tag != BLOCK_MAGIC {
                        return Err(r.corrupt("expected NEWBNEWB or ENDSENDS"));
                    }
                    let _recovery = r.u64("a block header")?;
                    let recorded = r.u32("a block header")?;
                    let at = r.at;
                    let block = read_block(&mut r)?;
                    let found = adler32(&block);
                    if found != recorded {
                        return Err(ArchiveError::Checksum {
                            at,
                            found,
                            recorded,
                        });
                    }
                    out.clear();
                    decompress_block(&block, &mut out)
                        .map_err(|source| ArchiveError::Block { at, source })?;
                    output.write_all(&out)?;
                    written += out.len() as u64;
                }
            }
            other => return Err(r.corrupt(format!("unknown entry {other:#04x}"))),
        }
    }
    output.flush()?;
    Ok(written)
}

/// One QuickLZ block, its length read from its own header.
fn read_block<R: Read>(r: &mut Counted<R>) -> Result<Vec<u8>, ArchiveError> {
    let mut block = vec![0u8; 1];
    r.exact(&mut block, "a block")?;
    let rest = if block[0] & 2 == 2 { 8 } else { 2 };
    block.resize(1 + rest, 0);
    r.exact(&mut block[1..], "a block header")?;
    let (_, len, size) =
        header(&block).map_err(|source| ArchiveError::Block { at: r.at, source })?;
    if len < block.len() || len > MAX_BLOCK || size > MAX_BLOCK {
        return Err(r.corrupt(format!("a block of {len} bytes ({size} decompressed)")));
    }
    let head = block.len();
    block.resize(len, 0);
    r.exact(&mut block[head..], "a block")?;
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::archive;

    #[test]
    fn adler32_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        // From qpress's format description: the "hello" block.
        let block = [
            0x45, 0x0c, 0x05, 0, 0, 0, 0x80, b'h', b'e', b'l', b'l', b'o',
        ];
        assert_eq!(adler32(&block), 0x0d25_02eb);
        assert_eq!(adler32(&[0xff; 100_000]), {
            let (mut a, mut b) = (1u64, 0u64);
            for _ in 0..100_000 {
                a = (a + 0xff) % 65521;
                b = (b + a) % 65521;
            }
            (b << 16 | a) as u32
        });
    }

    #[test]
    fn the_documented_archive() {
        // qpress's format description: FOO/c.txt "hello", FOO/BAR/, d.txt "there".
        let mut a = b"qpress10\x00\x00\x01\x00\x00\x00\x00\x00".to_vec();
        a.extend_from_slice(b"D\x03\x00\x00\x00FOO\x00");
        a.extend_from_slice(b"F\x05\x00\x00\x00c.txt\x00NEWBNEWB\x00\x00\x00\x00\x00\x00\x00\x00");
        a.extend_from_slice(&[0xeb, 0x02, 0x25, 0x0d, 0x45, 0x0c, 0x05, 0, 0, 0, 0x80]);
        a.extend_from_slice(b"helloENDSENDS\x00\x00\x00\x00\x00\x00\x00\x00");
        a.extend_from_slice(b"D\x03\x00\x00\x00BAR\x00UU");
        let mut out = Vec::new();
        assert_eq!(unpack(&a[..], &mut out).unwrap(), 5);
        assert_eq!(out, b"hello");
    }

    #[test]
    fn written_archives_read_back() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7000) as u8)
            .collect();
        for chunk in [1000, 65536] {
            let a = archive("ibdata1", &data, chunk);
            let mut out = Vec::new();
            assert_eq!(unpack(&a[..], &mut out).unwrap(), data.len() as u64);
            assert!(out == data);
        }
        let mut out = Vec::new();
        assert_eq!(
            unpack(&archive("empty", b"", 65536)[..], &mut out).unwrap(),
            0
        );
    }

    #[test]
    fn damage_is_reported() {
        let data = vec![b'z'; 200_000];
        let a = archive("f", &data, 65536);
        assert!(matches!(
            unpack(&b"qpress11xxxxxxxx"[..], Vec::new()),
            Err(ArchiveError::NotQpress)
        ));
        assert!(matches!(
            unpack(&a[..a.len() - 3], Vec::new()),
            Err(ArchiveError::Truncated(_))
        ));
        let mut flipped = a.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        assert!(matches!(
            unpack(&flipped[..], Vec::new()),
            Err(ArchiveError::Checksum { .. } | ArchiveError::Corrupt { .. })
        ));
        for cut in (0..a.len()).step_by(7) {
            assert!(unpack(&a[..cut], Vec::new()).is_err() || cut == 0);
        }
    }
}
