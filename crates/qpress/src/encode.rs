//! A QuickLZ level 1 encoder and a qpress archive writer, so tests can
//! make `.qp` files where no `qpress` exists. Simple rather than fast: it
//! finds the matches a level 1 decoder can express (a hash slot's last
//! position), which is all the format allows.

use crate::archive::{BLOCK_MAGIC, END_MAGIC, MAGIC, adler32};
use crate::block::{HASH_VALUES, TAIL, hash};

/// Longest match one token can carry.
const MAX_MATCH: usize = 255;

/// Compresses `data` into one QuickLZ level 1 block (header included);
/// stored as is when that is not smaller.
pub fn compress_block(data: &[u8]) -> Vec<u8> {
    let size = data.len();
    let body = compress_body(data);
    let (compressed, body) = match body {
        Some(b) if b.len() < size => (1u8, b),
        _ => (0u8, data.to_vec()),
    };
    let mut out = Vec::with_capacity(body.len() + 9);
    if size < 216 {
        out.push(0x44 | compressed);
        out.push((body.len() + 3) as u8);
        out.push(size as u8);
    } else {
        out.push(0x46 | compressed);
        out.extend_from_slice(&((body.len() + 9) as u32).to_le_bytes());
        out.extend_from_slice(&(size as u32).to_le_bytes());
    }
    out.extend_from_slice(&body);
    out
}

/// Control words and tokens; `None` for an empty input.
fn compress_body(data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() {
        return None;
    }
    let size = data.len();
    let last_match_start = size.checked_sub(TAIL + 1);
    let mut w = Words::default();
    // The decoder's table, kept exactly as it will keep it.
    let mut table: Vec<Option<usize>> = vec![None; HASH_VALUES];
    let mut next_hash = 0usize;
    let hash_upto = |table: &mut Vec<Option<usize>>, next: &mut usize, max: usize| {
        while *next <= max {
            table[hash(&data[*next..*next + 3])] = Some(*next);
            *next += 1;
        }
    };
    let mut i = 0;
    while i < size {
        if last_match_start.is_some_and(|l| i < l) {
            let slot = hash(&data[i..i + 3]);
            if let Some(c) = table[slot] {
                let mut len = 0;
                while len < MAX_MATCH && i + len < size && data[c + len] == data[i + len] {
                    len += 1;
                }
                if len >= 3 {
                    let code = (slot as u16) << 4;
                    if len <= 17 {
                        w.token(true, &(code | (len as u16 - 2)).to_le_bytes());
                    } else {
                        let [a, b] = code.to_le_bytes();
                        w.token(true, &[a, b, len as u8]);
                    }
                    hash_upto(&mut table, &mut next_hash, i);
                    next_hash = i + len;
                    i += len;
                    continue;
                }
            }
            w.token(false, &[data[i]]);
            i += 1;
            if i >= 3 {
                hash_upto(&mut table, &mut next_hash, i - 3);
            }
        } else {
            w.token(false, &[data[i]]);
            i += 1;
        }
    }
    Some(w.finish())
}

/// Control words with 31 flags each and the tokens they govern.
#[derive(Default)]
struct Words {
    out: Vec<u8>,
    word_at: usize,
    word: u32,
    flags: u32,
}

impl Words {
    fn token(&mut self, is_match: bool, bytes: &[u8]) {
        if self.flags == 0 {
            self.word_at = self.out.len();
            self.out.extend_from_slice(&[0; 4]);
            self.word = 0;
        }
        if is_match {
            self.word |= 1 << self.flags;
        }
        self.flags += 1;
        self.out.extend_from_slice(bytes);
        if self.flags == 31 {
            self.seal();
        }
    }

    fn seal(&mut self) {
        let w = self.word | 1 << 31;
        self.out[self.word_at..self.word_at + 4].copy_from_slice(&w.to_le_bytes());
        self.flags = 0;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.flags > 0 {
            self.seal();
        }
        self.out
    }
}

/// A qpress archive holding one file `name` with `data`, cut into blocks
/// of `chunk` bytes (qpress and xtrabackup use 65536).
pub fn archive(name: &str, data: &[u8], chunk: usize) -> Vec<u8> {
    let chunk = chunk.max(1);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(chunk as u64).to_le_bytes());
    out.push(b'F');
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    for (n, piece) in data.chunks(chunk).enumerate() {
        let block = compress_block(piece);
        out.extend_from_slice(BLOCK_MAGIC);
        out.extend_from_slice(&((n * chunk) as u64).to_le_bytes());
        out.extend_from_slice(&adler32(&block).to_le_bytes());
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(END_MAGIC);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out
}
