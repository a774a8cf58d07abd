//! `dbqpress`: decompresses qpress (`.qp`) archives, the files of backups
//! taken with `xtrabackup --compress` / `mariabackup --compress`, where no
//! `qpress` is installed. It answers the two command lines the backup tools
//! and runbooks use, `qpress -dio < F.qp > F` and `qpress -do F.qp > F`, so
//! it can stand in for `qpress` on `PATH` (`mariabackup --decompress` runs
//! `qpress -dio`). Decompression only.
//!
//! Exit status: 0 success, 1 input, output or format error, 2 usage error.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

const AFTER_LONG_HELP: &str = "\
EXAMPLES:
  dbqpress -do ibdata1.qp > ibdata1
  dbqpress -dio < ibdata1.qp > ibdata1
  ln -s \"$(command -v dbqpress)\" DIR/qpress && PATH=DIR:$PATH mariabackup --decompress --remove-original --target-dir=B

The output is every file of the archive, one after the other (a --compress archive holds one).
Each block is checked against its Adler-32 before it is written; on an error, discard the output.";

/// Parsed command line (qpress's letters).
#[derive(Debug, Parser)]
#[command(
    name = "dbqpress",
    version,
    about = "Decompress a qpress (.qp) archive to standard output (qpress -do / -dio).",
    after_long_help = AFTER_LONG_HELP
)]
struct Cli {
    /// Decompress (the only mode; qpress's -d).
    #[arg(short = 'd', required = true)]
    decompress: bool,
    /// Read the archive from standard input.
    #[arg(short = 'i', conflicts_with = "archive")]
    stdin: bool,
    /// Write to standard output (always; accepted for qpress's command line).
    #[arg(short = 'o')]
    stdout: bool,
    /// Threads (accepted for qpress's command line; one is used).
    #[arg(short = 'T', value_name = "N")]
    threads: Option<u32>,
    /// The archive (omit with -i).
    #[arg(value_name = "FILE.qp", required_unless_present = "stdin")]
    archive: Option<PathBuf>,
}

fn main() -> ExitCode {
    if let Some(code) = ::cli::generate_if_asked::<Cli>() {
        return code;
    }
    let args = Cli::parse();
    let (input, name): (Box<dyn Read>, String) = match &args.archive {
        Some(path) => match File::open(path) {
            Ok(f) => (Box::new(f), path.display().to_string()),
            Err(e) => return fail(format!("cannot open {}: {e}", path.display())),
        },
        None => (Box::new(io::stdin().lock()), "standard input".to_owned()),
    };
    let out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    match qpress::unpack(BufReader::with_capacity(1 << 20, input), out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(format!("cannot decompress {name}: {e}")),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("ERROR: {message}");
    ExitCode::FAILURE
}
