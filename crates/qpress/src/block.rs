//! One QuickLZ block (QuickLZ 1.5, level 1, no streaming buffer: what
//! xtrabackup and mariabackup bundle and write; checked against a file of
//! `mariabackup --compress`, not against the standalone qpress 1.1 binary,
//! which links QuickLZ 1.4).
//!
//! Header: a flags byte `01SSLLHC` (C: compressed, H: 9-byte header with
//! u32 sizes instead of 3 bytes with u8 sizes, LL: level, SS: streaming
//! buffer), then the block's whole size and its decompressed size. A
//! compressed body is 32-bit control words (LSB first, a set top bit ends
//! each word's 31 flags), each flag saying literal byte or match. A level 1
//! match names a *hash slot*, not an offset, so the decoder keeps the same
//! table of "last position with these 3 bytes" as the encoder did.

use thiserror::Error;

/// Entries in the level 1 hash table.
pub(crate) const HASH_VALUES: usize = 4096;
/// Matches are never decoded in the last `UNCONDITIONAL_MATCHLEN +
/// UNCOMPRESSED_END` bytes of a block: they are literals.
pub(crate) const TAIL: usize = 10;

/// Why a block cannot be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BlockError {
    /// Shorter than its header or than the size it declares.
    #[error("QuickLZ block truncated: {0}")]
    Truncated(&'static str),
    /// Not level 1 or made with a streaming buffer.
    #[error(
        "QuickLZ block of an unsupported kind (flags {0:#04x}): only level 1 without streaming buffer"
    )]
    Unsupported(u8),
    /// The data contradicts itself (a match before any data, past the end).
    #[error("QuickLZ block corrupt: {0}")]
    Corrupt(&'static str),
}

/// The 3-byte hash of level 1.
pub(crate) fn hash(b: &[u8]) -> usize {
    let i = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    (((i >> 12) ^ i) as usize) & (HASH_VALUES - 1)
}

/// Header length and sizes of the block at the start of `src`:
/// `(header_len, block_len, decompressed_len)`.
pub fn header(src: &[u8]) -> Result<(usize, usize, usize), BlockError> {
    let flags = *src.first().ok_or(BlockError::Truncated("no header"))?;
    if flags & 2 == 2 {
        let h = src
            .get(1..9)
            .ok_or(BlockError::Truncated("in the header"))?;
        let c = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let d = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        Ok((9, c, d))
    } else {
        let h = src
            .get(1..3)
            .ok_or(BlockError::Truncated("in the header"))?;
        Ok((3, usize::from(h[0]), usize::from(h[1])))
    }
}

/// Decompresses the one block `src` (exactly its bytes) onto the end of
/// `out`.
pub fn decompress_block(src: &[u8], out: &mut Vec<u8>) -> Result<(), BlockError> {
    let (head, len, size) = header(src)?;
    if len != src.len() || len < head {
        return Err(BlockError::Truncated("size in the header differs"));
    }
    let flags = src[0];
    if (flags >> 2) & 3 != 1 || (flags >> 4) & 3 != 0 {
        return Err(BlockError::Unsupported(flags));
    }
    let body = &src[head..];
    if flags & 1 == 0 {
        if body.len() != size {
            return Err(BlockError::Corrupt("stored block of the wrong size"));
        }
        out.extend_from_slice(body);
        return Ok(());
    }
    let start = out.len();
    out.reserve(size);
    Decoder {
        src: body,
        pos: 0,
        out,
        start,
        size,
        table: vec![None; HASH_VALUES],
        last_hashed: None,
    }
    .run()
}

struct Decoder<'a> {
    src: &'a [u8],
    pos: usize,
    out: &'a mut Vec<u8>,
    /// Where this block starts in `out`.
    start: usize,
    size: usize,
    /// Per hash, the last position (relative to `start`) hashed.
    table: Vec<Option<usize>>,
    /// The last position hashed (relative).
    last_hashed: Option<usize>,
}

impl Decoder<'_> {
    fn dst(&self) -> usize {
        self.out.len() - self.start
    }

    fn byte(&mut self) -> Result<u8, BlockError> {
        let b = *self
            .src
            .get(self.pos)
            .ok_or(BlockError::Truncated("in the data"))?;
        self.pos += 1;
        Ok(b)
    }

    fn word(&mut self) -> Result<u32, BlockError> {
        let w = self
            .src
            .get(self.pos..self.pos + 4)
            .ok_or(BlockError::Truncated("in a control word"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// Hashes every position after the last hashed one up to `max`
    /// (relative, inclusive), as the encoder did.
    fn hash_upto(&mut self, max: usize) {
        let mut next = self.last_hashed.map_or(0, |l| l + 1);
        while next <= max && next + 3 <= self.dst() {
            let at = self.start + next;
            self.table[hash(&self.out[at..at + 3])] = Some(next);
            self.last_hashed = Some(next);
            next += 1;
        }
    }

    fn run(mut self) -> Result<(), BlockError> {
        let size = self.size;
        // Matches may start only before here; after it all is literals.
        let last_match_start = size.checked_sub(TAIL + 1);
        let mut cword: u32 = 1;
        while self.dst() < size {
            if cword == 1 {
                cword = self.word()?;
            }
            let dst = self.dst();
            if cword & 1 == 1 {
                cword >>= 1;
                let lo = self.byte()?;
                let hi = self.byte()?;
                let fetch = u32::from(lo) | u32::from(hi) << 8;
                let slot = ((fetch >> 4) & 0xfff) as usize;
                let len = match fetch & 0xf {
                    0 => usize::from(self.byte()?),
                    n => n as usize + 2,
                };
                let from = self.table[slot].ok_or(BlockError::Corrupt("match to an empty slot"))?;
                if from >= dst || len == 0 || dst + len > size {
                    return Err(BlockError::Corrupt("match out of range"));
                }
                // Byte by byte: a match may overlap what it writes.
                for k in 0..len {
                    let b = self.out[self.start + from + k];
                    self.out.push(b);
                }
                self.hash_upto(dst);
                self.last_hashed = Some(dst + len - 1);
            } else if last_match_start.is_some_and(|l| dst < l) {
                // Up to 4 literals at once, as many as the flags say.
                let n = match cword & 0xf {
                    0 => 4,
                    f => f.trailing_zeros() as usize,
                };
                for _ in 0..n {
                    let b = self.byte()?;
                    self.out.push(b);
                }
                cword >>= n;
                if let Some(m) = self.dst().checked_sub(3) {
                    self.hash_upto(m);
                }
            } else {
                // The tail: literals only, control words skipped unread.
                while self.dst() < size {
                    if cword == 1 {
                        self.word()?;
                        cword = 1 << 31;
                    }
                    let b = self.byte()?;
                    self.out.push(b);
                    cword >>= 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::compress_block;

    fn round_trip(data: &[u8]) {
        let block = compress_block(data);
        let mut out = Vec::new();
        decompress_block(&block, &mut out).unwrap();
        assert_eq!(out, data, "round trip of {} bytes", data.len());
    }

    #[test]
    fn the_qpress_documentation_example() {
        // "hello" from qpress's own format description.
        let block = [
            0x45, 0x0c, 0x05, 0, 0, 0, 0x80, b'h', b'e', b'l', b'l', b'o',
        ];
        let mut out = b"before".to_vec();
        decompress_block(&block, &mut out).unwrap();
        assert_eq!(out, b"beforehello");
    }

    #[test]
    fn stored_blocks_are_copied() {
        let mut block = vec![0x44, 8, 5];
        block.extend_from_slice(b"hello");
        let mut out = Vec::new();
        decompress_block(&block, &mut out).unwrap();
        assert_eq!(out, b"hello");
        block[1] = 9;
        assert!(decompress_block(&block, &mut out).is_err());
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"hello hello hello hello hello hello hello");
        round_trip(&[0u8; 100_000]);
        let text: Vec<u8> = (0..70_000u32)
            .flat_map(|i| format!("row {} value {}\n", i % 977, i % 13).into_bytes())
            .collect();
        round_trip(&text);
        // Noise: nothing matches, the encoder stores it.
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        round_trip(&noise);
        for n in 0..40 {
            round_trip(&text[..n]);
            round_trip(&vec![7u8; n]);
        }
    }

    #[test]
    fn bad_blocks_are_refused_not_panicked_on() {
        let block = compress_block(&[b'x'; 1000]);
        for cut in 0..block.len() {
            let mut b = block[..cut].to_vec();
            let _ = decompress_block(&b, &mut Vec::new());
            if cut > 9 {
                b[cut - 1] ^= 0x5a;
                let _ = decompress_block(&b, &mut Vec::new());
            }
        }
        let mut other_level = block.clone();
        other_level[0] = (other_level[0] & !0x0c) | 0x0c;
        assert_eq!(
            decompress_block(&other_level, &mut Vec::new()),
            Err(BlockError::Unsupported(other_level[0]))
        );
    }
}
