//! Encryption and decryption over `std::io::Read` / `Write`.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;
use std::thread;

use cbc::cipher::KeyIvInit;
use hmac::Mac;

use crate::format::{
    self, BLOCK, CbcDec, CbcEnc, Extension, Parse, ParsedHeader, Secrets, TRAILER,
};
use crate::pipeline::Pipeline;
use crate::{Error, Options, Password, Result};

/// What a successful decryption learned about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// Bytes of plaintext written.
    pub plaintext_len: u64,
    /// The header's extensions, in file order (pyAesCrypt writes
    /// `CREATED_BY` and an empty container).
    pub extensions: Vec<Extension>,
}

/// Encrypts everything `input` yields into `output` as an AES Crypt v2 file
/// and returns the number of plaintext bytes. `output` is flushed.
///
/// Memory use is three buffers of [`Options::buffer_size`] bytes,
/// whatever the input size. With [`Options::parallel`] `output` is written
/// from a helper thread, hence `Send`.
///
/// # Errors
/// [`Error::Read`], [`Error::Write`], [`Error::InvalidBufferSize`],
/// [`Error::Random`].
pub fn encrypt<R: Read, W: Write + Send>(
    mut input: R,
    mut output: W,
    password: &Password,
    options: &Options,
) -> Result<u64> {
    let size = options.checked_buffer_size()?;
    let secrets = Secrets::generate()?;
    output
        .write_all(&format::build_header(password, &secrets))
        .map_err(Error::Write)?;

    let mut cbc = CbcEnc::new((&*secrets.key0).into(), (&secrets.iv0).into());
    let mac = format::new_mac(&secrets.key0);
    let (total, mac) = thread::scope(|scope| {
        // The helper hashes and writes the ciphertext; this thread reads and
        // runs the (serial) CBC encryption.
        let helper = options.parallel.then_some(scope);
        let mut pipe = Pipeline::new(helper, mac, size, Some(&mut output));
        let mut total: u64 = 0;
        loop {
            let mut buf = pipe.take();
            let n = read_full(&mut input, &mut buf[..size]).map_err(Error::Read)?;
            total += n as u64;
            // `size` is a multiple of 16, so the padding of a short read fits.
            let pad = format::padding_len(n);
            buf[n..n + pad].fill(pad as u8);
            let len = n + pad;
            format::encrypt_in_place(&mut cbc, &mut buf[..len]);
            if let Err(e) = pipe.submit(Arc::new(buf), len) {
                return Err(pipe.take_write_error().unwrap_or(e));
            }
            if n < size {
                return Ok((total, pipe.finish()?));
            }
        }
    })?;
    output
        .write_all(&[(total % BLOCK as u64) as u8])
        .and_then(|()| output.write_all(&mac.finalize().into_bytes()))
        .and_then(|()| output.flush())
        .map_err(Error::Write)?;
    Ok(total)
}

/// Decrypts an AES Crypt v2 stream from `input` into `output`.
///
/// The password is checked before anything is written. The ciphertext HMAC
/// can only be checked at the end of the stream, so **before the final
/// check `output` has received all the plaintext except its last block
/// (1 to 16 bytes)**; that block is written only after the HMAC matched. On
/// any error the caller must discard what was written, as
/// [`decrypt_to_path`](crate::decrypt_to_path) does for files.
///
/// # Errors
/// [`Error::NotAesCrypt`], [`Error::UnsupportedVersion`],
/// [`Error::WrongPassword`], [`Error::Truncated`], [`Error::Corrupted`],
/// [`Error::MalformedHeader`], [`Error::Read`], [`Error::Write`],
/// [`Error::InvalidBufferSize`].
pub fn decrypt<R: Read, W: Write>(
    mut input: R,
    mut output: W,
    password: &Password,
    options: &Options,
) -> Result<Decrypted> {
    let size = options.checked_buffer_size()?;
    let header = read_header(&mut input)?;
    let key = format::open_key_block(&header, password)?;
    let cbc = CbcDec::new((&*key.key0).into(), (&key.iv0).into());
    let mac = format::new_mac(&key.key0);
    let plaintext_len = thread::scope(|scope| {
        // The helper hashes the ciphertext while this thread decrypts it.
        let helper = options.parallel.then_some(scope);
        let pipe = Pipeline::<io::Sink>::new(helper, mac, size + KEEP, None);
        decrypt_body(&mut input, &mut output, cbc, pipe, size)
    })?;
    Ok(Decrypted {
        plaintext_len,
        extensions: header.extensions,
    })
}

/// Every buffer holds `size` bytes to process plus a tail of KEEP bytes
/// carried to the next round: the trailer must never be decrypted as data,
/// and the last block must wait for the HMAC check.
const KEEP: usize = 4 * BLOCK;
const _: () = assert!(KEEP >= TRAILER + BLOCK);

fn decrypt_body<R: Read, W: Write>(
    input: &mut R,
    output: &mut W,
    mut cbc: CbcDec,
    mut pipe: Pipeline<'_, io::Sink>,
    size: usize,
) -> Result<u64> {
    let capacity = size + KEEP;
    let mut plain = vec![0u8; capacity];
    let mut carry = [0u8; KEEP];
    let mut carried = 0;
    let mut total: u64 = 0;
    loop {
        let mut buf = pipe.take();
        buf[..carried].copy_from_slice(&carry[..carried]);
        let filled = carried + read_full(input, &mut buf[carried..]).map_err(Error::Read)?;
        if filled == capacity {
            let buf = Arc::new(buf);
            pipe.submit(Arc::clone(&buf), size)?;
            format::decrypt_b2b(&mut cbc, &buf[..size], &mut plain[..size]);
            output.write_all(&plain[..size]).map_err(Error::Write)?;
            total += size as u64;
            carry.copy_from_slice(&buf[size..]);
            carried = KEEP;
            continue;
        }

        // End of input: what is left is the last ciphertext and the trailer.
        let Some(ct_len) = filled.checked_sub(TRAILER) else {
            return Err(Error::Truncated("no room for the final HMAC"));
        };
        if !ct_len.is_multiple_of(BLOCK) {
            return Err(Error::Truncated(
                "the ciphertext is not a whole number of blocks",
            ));
        }
        let size_mod_16 = usize::from(buf[ct_len] & 0x0f);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&buf[ct_len + 1..filled]);
        let buf = Arc::new(buf);
        pipe.submit(Arc::clone(&buf), ct_len)?;
        format::decrypt_b2b(&mut cbc, &buf[..ct_len], &mut plain[..ct_len]);
        let held_back = ct_len.saturating_sub(BLOCK);
        output
            .write_all(&plain[..held_back])
            .map_err(Error::Write)?;
        drop(buf);

        // verify_slice compares in constant time.
        pipe.finish()?
            .verify_slice(&tag)
            .map_err(|_| Error::Corrupted)?;
        let last_len = match (ct_len, size_mod_16) {
            (0, _) => 0,
            (_, 0) => BLOCK,
            (_, n) => n,
        };
        output
            .write_all(&plain[held_back..held_back + last_len])
            .and_then(|()| output.flush())
            .map_err(Error::Write)?;
        return Ok(total + (held_back + last_len) as u64);
    }
}

/// Reads the header with exactly-sized reads, so that no byte of the body
/// is consumed from `input`.
pub(crate) fn read_header<R: Read>(input: &mut R) -> Result<ParsedHeader> {
    let mut buf = Vec::with_capacity(256);
    loop {
        match format::parse_header(&buf)? {
            Parse::Done(header) => return Ok(header),
            Parse::NeedAtLeast(need) => {
                let start = buf.len();
                buf.resize(need, 0);
                let got = read_full(input, &mut buf[start..]).map_err(Error::Read)?;
                if start + got < need {
                    return Err(if start + got < 3 {
                        Error::NotAesCrypt
                    } else {
                        Error::Truncated("the input ends inside the header")
                    });
                }
            }
        }
    }
}

/// Fills `buf` unless the input ends first; returns the bytes read.
pub(crate) fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
