//! Command line, shaped like pyAesCrypt's (`-e|-d FILE -o OUT -p PASS`).

use std::path::PathBuf;

use clap::{ArgGroup, Parser};

const ABOUT: &str = "Encrypt or decrypt a file in the AES Crypt v2 format (AES-256-CBC + HMAC-SHA256), \
byte-compatible with pyAesCrypt: what one encrypts the other decrypts.";

const LONG_ABOUT: &str = "\
Encrypt or decrypt a file in the AES Crypt v2 format (AES-256-CBC + HMAC-SHA256), \
byte-compatible with pyAesCrypt: what one encrypts the other decrypts. Encrypted \
dbscale backup sets (`encrypted/<id>.tar.encrypted`, `encrypted_sample`) are such files.

The output file appears only when the operation has fully succeeded (it is written \
to a hidden `.NAME.XXXXXX.part` file next to it and renamed); on any error nothing \
is left behind, and an existing OUT is untouched. Output files are created with mode 0600.";

const AFTER_LONG_HELP: &str = "\
PASSWORD (the first that is given wins):
  --password-file F    first line of F (a trailing newline is dropped)
  -p PASS              accepted for pyAesCrypt compatibility; other users of the
                       machine can read it from the process list, so dbcrypt warns
  DBCRYPT_PASSWORD     environment variable
  prompt               on the terminal (asked twice when encrypting)
  One given but empty is an error (exit status 2).

STREAMING WITH `-o -`:
  Decrypting to stdout writes plaintext as it is decrypted. The password is checked
  before any output, but the integrity check (HMAC) can only end when the input does:
  all plaintext except its last 1-16 bytes is written before it, and the last block
  only if it passes. If dbcrypt then exits non-zero, discard what it wrote
  (e.g. `set -o pipefail`).

EXIT STATUS:
  0  success
  1  input or output error (missing file, disk full, ...)
  2  usage error (bad arguments, no or empty password, input and output the same)
  3  wrong password
  4  corrupted: the data does not match its HMAC (modified, or cut on a block boundary)
  5  truncated: the file ends early (inside the header or mid-block)
  6  not an AES Crypt file
  7  an AES Crypt version other than 2

EXAMPLES:
  dbcrypt -e backup.tar -o backup.tar.encrypted --password-file /etc/dbbackup/key
  DBCRYPT_PASSWORD=... dbcrypt -d backup.tar.encrypted -o backup.tar
  tar -c dir | dbcrypt -e - -o dir.tar.aes
  dbcrypt -d dir.tar.aes -o - | tar -x      # check the exit status: see above";

/// Parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "dbcrypt",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    group(ArgGroup::new("mode").required(true).args(["encrypt", "decrypt"])),
)]
pub struct Cli {
    /// File to encrypt or decrypt; `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,

    /// Encrypt FILE.
    #[arg(short, long)]
    pub encrypt: bool,

    /// Decrypt FILE.
    #[arg(short, long)]
    pub decrypt: bool,

    /// Output file; `-` writes standard output. Default as pyAesCrypt: FILE.aes when
    /// encrypting, FILE without `.aes` when decrypting, stdout when FILE is `-`.
    #[arg(short, long = "out", value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// The password (see PASSWORD below).
    #[command(flatten)]
    pub password: ::cli::PasswordArgs,

    /// Bytes processed per step (a multiple of 16); memory use is 3-4x this.
    #[arg(long, value_name = "BYTES", default_value_t = aescrypt::DEFAULT_BUFFER_SIZE)]
    pub buffer_size: usize,

    /// Compute the HMAC on the same thread as the AES (slower; uses one core).
    #[arg(long)]
    pub single_thread: bool,
}
