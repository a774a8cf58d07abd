//! The AES Crypt version 2 file layout, without any I/O.
//!
//! ```text
//! "AES" 0x02 0x00                      magic, version, reserved
//! { u16be len, ident 0x00 content }*   extensions, ended by len = 0
//! IV1 (16)                             salt of the password stretch, IV of the key block
//! AES-256-CBC(K, IV1, IV0 ‖ K0) (48)   the key block, K = stretch(password, IV1)
//! HMAC-SHA256(K, key block) (32)       checked first: wrong password
//! AES-256-CBC(K0, IV0, data ‖ pad)     pad: n bytes of value n, n = (16 - len % 16) % 16
//! len % 16 (1)                         not authenticated (a known v2 weakness)
//! HMAC-SHA256(K0, ciphertext) (32)     checked last: corruption
//! ```

use aes::Aes256;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Password, Result};

/// AES block size in bytes.
pub(crate) const BLOCK: usize = 16;
/// Bytes after the ciphertext: the size byte and the HMAC.
pub(crate) const TRAILER: usize = 1 + 32;
/// The fixed part after the extensions: IV1, key block, HMAC.
const KEY_SECTION: usize = 16 + 48 + 32;
/// Upper bound on the extension bytes we are willing to buffer; real writers
/// put a few hundred bytes there.
const MAX_EXTENSION_BYTES: usize = 1 << 20;
/// Rounds of SHA-256 in the password stretch.
const STRETCH_ROUNDS: usize = 8192;

pub(crate) type HmacSha256 = hmac::Hmac<Sha256>;
pub(crate) type CbcEnc = cbc::Encryptor<Aes256>;
pub(crate) type CbcDec = cbc::Decryptor<Aes256>;

/// One entry of the header's extension block.
///
/// The "container" extension that writers reserve for later tags has an
/// empty identifier and zero bytes as content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The identifier, e.g. `CREATED_BY` (bytes before the first NUL).
    pub identifier: Vec<u8>,
    /// The bytes after the NUL.
    pub content: Vec<u8>,
}

/// The random values one encryption needs.
pub(crate) struct Secrets {
    pub iv1: [u8; 16],
    pub iv0: [u8; 16],
    pub key0: Zeroizing<[u8; 32]>,
}

impl Secrets {
    pub(crate) fn generate() -> Result<Self> {
        let mut iv1 = [0u8; 16];
        let mut iv0 = [0u8; 16];
        let mut key0 = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut iv1).map_err(Error::Random)?;
        getrandom::fill(&mut iv0).map_err(Error::Random)?;
        getrandom::fill(key0.as_mut()).map_err(Error::Random)?;
        Ok(Self { iv1, iv0, key0 })
    }
}

/// The password stretch of AES Crypt v1/v2: 8192 rounds of
/// `d = SHA-256(d ‖ password)`, starting from IV1 padded to 32 bytes.
pub(crate) fn stretch(password: &Password, iv1: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    let mut digest = Zeroizing::new([0u8; 32]);
    digest[..16].copy_from_slice(iv1);
    for _ in 0..STRETCH_ROUNDS {
        let mut hash = Sha256::new();
        hash.update(digest.as_ref());
        hash.update(password.utf16le());
        digest.copy_from_slice(&hash.finalize());
    }
    digest
}

pub(crate) fn new_mac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// The whole header of a new file, ending with the key block and its HMAC.
///
/// The extensions are the ones pyAesCrypt writes: `CREATED_BY` and a
/// 128-byte empty container.
pub(crate) fn build_header(password: &Password, secrets: &Secrets) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"AES\x02\x00");
    push_extension(&mut out, b"CREATED_BY", crate::CREATED_BY.as_bytes());
    out.extend_from_slice(&128u16.to_be_bytes());
    out.extend_from_slice(&[0u8; 128]);
    out.extend_from_slice(&[0, 0]);

    let key = stretch(password, &secrets.iv1);
    let mut block = Zeroizing::new([0u8; 48]);
    block[..16].copy_from_slice(&secrets.iv0);
    block[16..].copy_from_slice(secrets.key0.as_ref());
    let mut cbc = CbcEnc::new((&*key).into(), (&secrets.iv1).into());
    encrypt_in_place(&mut cbc, block.as_mut());
    let mut mac = new_mac(&key);
    mac.update(block.as_ref());

    out.extend_from_slice(&secrets.iv1);
    out.extend_from_slice(block.as_ref());
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

fn push_extension(out: &mut Vec<u8>, identifier: &[u8], content: &[u8]) {
    let len = identifier.len() + 1 + content.len();
    let len = u16::try_from(len).unwrap_or_else(|_| unreachable!("our extensions are short"));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(identifier);
    out.push(0);
    out.extend_from_slice(content);
}

/// A header read from a file, up to and including the key block's HMAC.
#[derive(Debug)]
pub(crate) struct ParsedHeader {
    pub extensions: Vec<Extension>,
    pub iv1: [u8; 16],
    pub key_block: [u8; 48],
    pub key_block_mac: [u8; 32],
}

/// Result of looking at the first bytes of a file.
pub(crate) enum Parse {
    /// At least this many bytes (in total) are needed to go on.
    NeedAtLeast(usize),
    /// The header is complete.
    Done(ParsedHeader),
}

/// Parses a header from the start of `buf`, or says how many bytes are
/// needed. Re-parsing from the start each time is fine: headers are small.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Parse> {
    if buf.len() < 3 {
        return Ok(Parse::NeedAtLeast(3));
    }
    if &buf[..3] != b"AES" {
        return Err(Error::NotAesCrypt);
    }
    if buf.len() < 5 {
        return Ok(Parse::NeedAtLeast(5));
    }
    if buf[3] != 2 {
        return Err(Error::UnsupportedVersion(buf[3]));
    }
    // buf[4] is reserved; like pyAesCrypt, ignore its value.
    let mut pos = 5;
    let mut extensions = Vec::new();
    loop {
        if buf.len() < pos + 2 {
            return Ok(Parse::NeedAtLeast(pos + 2));
        }
        let len = usize::from(u16::from_be_bytes([buf[pos], buf[pos + 1]]));
        pos += 2;
        if len == 0 {
            break;
        }
        if pos + len > MAX_EXTENSION_BYTES {
            return Err(Error::MalformedHeader("more than 1 MiB of extensions"));
        }
        if buf.len() < pos + len {
            return Ok(Parse::NeedAtLeast(pos + len));
        }
        extensions.push(split_extension(&buf[pos..pos + len]));
        pos += len;
    }
    if buf.len() < pos + KEY_SECTION {
        return Ok(Parse::NeedAtLeast(pos + KEY_SECTION));
    }
    let fixed = &buf[pos..pos + KEY_SECTION];
    let mut header = ParsedHeader {
        extensions,
        iv1: [0; 16],
        key_block: [0; 48],
        key_block_mac: [0; 32],
    };
    header.iv1.copy_from_slice(&fixed[..16]);
    header.key_block.copy_from_slice(&fixed[16..64]);
    header.key_block_mac.copy_from_slice(&fixed[64..]);
    Ok(Parse::Done(header))
}

fn split_extension(raw: &[u8]) -> Extension {
    // The identifier is NUL-terminated; be lenient about a missing NUL.
    match raw.iter().position(|&b| b == 0) {
        Some(nul) => Extension {
            identifier: raw[..nul].to_vec(),
            content: raw[nul + 1..].to_vec(),
        },
        None => Extension {
            identifier: raw.to_vec(),
            content: Vec::new(),
        },
    }
}

/// The data key and IV recovered from a header.
pub(crate) struct DataKey {
    pub iv0: [u8; 16],
    pub key0: Zeroizing<[u8; 32]>,
}

/// Checks the password against the key block and decrypts it.
pub(crate) fn open_key_block(header: &ParsedHeader, password: &Password) -> Result<DataKey> {
    let key = stretch(password, &header.iv1);
    let mut mac = new_mac(&key);
    mac.update(&header.key_block);
    // verify_slice compares in constant time.
    mac.verify_slice(&header.key_block_mac)
        .map_err(|_| Error::WrongPassword)?;
    let mut block = Zeroizing::new(header.key_block);
    let mut cbc = CbcDec::new((&*key).into(), (&header.iv1).into());
    decrypt_in_place(&mut cbc, block.as_mut());
    let mut data_key = DataKey {
        iv0: [0; 16],
        key0: Zeroizing::new([0; 32]),
    };
    data_key.iv0.copy_from_slice(&block[..16]);
    data_key.key0.copy_from_slice(&block[16..]);
    Ok(data_key)
}

/// Number of padding bytes after `len` bytes of plaintext. AES Crypt pads
/// with n bytes of value n but, unlike PKCS#7, adds nothing to a whole block.
pub(crate) fn padding_len(len: usize) -> usize {
    (BLOCK - len % BLOCK) % BLOCK
}

/// Encrypts whole blocks in place; `buf.len()` must be a multiple of 16.
pub(crate) fn encrypt_in_place(cbc: &mut CbcEnc, buf: &mut [u8]) {
    let (blocks, rest) = aes::Block::slice_as_chunks_mut(buf);
    debug_assert!(rest.is_empty());
    cbc.encrypt_blocks(blocks);
}

/// Decrypts whole blocks in place; `buf.len()` must be a multiple of 16.
pub(crate) fn decrypt_in_place(cbc: &mut CbcDec, buf: &mut [u8]) {
    let (blocks, rest) = aes::Block::slice_as_chunks_mut(buf);
    debug_assert!(rest.is_empty());
    cbc.decrypt_blocks(blocks);
}

/// Decrypts whole blocks from `input` into `output` of the same length.
pub(crate) fn decrypt_b2b(cbc: &mut CbcDec, input: &[u8], output: &mut [u8]) {
    let (in_blocks, _) = aes::Block::slice_as_chunks(input);
    let (out_blocks, _) = aes::Block::slice_as_chunks_mut(output);
    // Equal lengths are the caller's invariant.
    if cbc.decrypt_blocks_b2b(in_blocks, out_blocks).is_err() {
        unreachable!("decrypt_b2b called with buffers of different lengths");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_password_check() {
        let password = Password::from_str_ref("pw").unwrap();
        let secrets = Secrets::generate().unwrap();
        let bytes = build_header(&password, &secrets);
        for cut in 0..bytes.len() {
            assert!(matches!(
                parse_header(&bytes[..cut]),
                Ok(Parse::NeedAtLeast(n)) if n > cut
            ));
        }
        let Ok(Parse::Done(header)) = parse_header(&bytes) else {
            panic!("complete header not parsed")
        };
        assert_eq!(header.extensions.len(), 2);
        assert_eq!(header.extensions[0].identifier, b"CREATED_BY");
        assert_eq!(header.extensions[1].identifier, b"");
        assert_eq!(header.extensions[1].content, vec![0u8; 127]);
        let key = open_key_block(&header, &password).unwrap();
        assert_eq!(key.iv0, secrets.iv0);
        assert_eq!(*key.key0, *secrets.key0);
        let wrong = Password::from_str_ref("pW").unwrap();
        assert!(matches!(
            open_key_block(&header, &wrong),
            Err(Error::WrongPassword)
        ));
    }

    #[test]
    fn rejects_other_files_and_versions() {
        assert!(matches!(
            parse_header(b"PK\x03\x04"),
            Err(Error::NotAesCrypt)
        ));
        assert!(matches!(
            parse_header(b"AES\x03\x00"),
            Err(Error::UnsupportedVersion(3))
        ));
    }

    #[test]
    fn padding_is_not_pkcs7() {
        assert_eq!(padding_len(0), 0);
        assert_eq!(padding_len(1), 15);
        assert_eq!(padding_len(16), 0);
        assert_eq!(padding_len(17), 15);
    }
}
