//! `dbcrypt`: encrypt and decrypt AES Crypt v2 files, compatible with
//! pyAesCrypt's files and command line (`dbcrypt -e FILE -o OUT`,
//! `dbcrypt -d FILE -o OUT`, `-` for stdin/stdout).
//!
//! The password comes from `--password-file`, `-p` (with a warning),
//! `DBCRYPT_PASSWORD` or a prompt. Exit status: 0 success, 1 I/O error,
//! 2 usage error, 3 wrong password, 4 corrupted data, 5 truncated file,
//! 6 not an AES Crypt file, 7 unsupported AES Crypt version.
//! `dbcrypt --help` explains everything.

mod cli;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aescrypt::{Error, Options};
use clap::Parser;

use cli::Cli;

/// An error to report: one sentence and an exit status.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn io(message: String) -> Self {
        Self { code: 1, message }
    }

    fn usage(message: String) -> Self {
        Self { code: 2, message }
    }
}

fn main() -> ExitCode {
    if let Some(code) = ::cli::generate_if_asked::<Cli>() {
        return code;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("ERROR: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Where the bytes come from or go to.
enum End {
    Std,
    Path(PathBuf),
}

impl End {
    fn new(path: &Path) -> Self {
        if path == Path::new("-") {
            Self::Std
        } else {
            Self::Path(path.to_path_buf())
        }
    }

    fn name(&self, std_name: &str) -> String {
        match self {
            Self::Std => std_name.to_owned(),
            Self::Path(path) => path.display().to_string(),
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let input = End::new(&cli.input);
    let output = match (&cli.output, &input) {
        (Some(out), _) => End::new(out),
        (None, End::Std) => End::Std,
        (None, End::Path(path)) => End::Path(default_output(path, cli.encrypt)?),
    };
    let options = Options::default()
        .with_buffer_size(cli.buffer_size)
        .with_parallel(!cli.single_thread);
    if cli.buffer_size == 0 || !cli.buffer_size.is_multiple_of(16) {
        return Err(Failure::usage(format!(
            "--buffer-size {} is not a positive multiple of 16",
            cli.buffer_size
        )));
    }
    // Open the input before asking for a password, so a typo in the file
    // name is reported before the prompt.
    let reader = open_input(&input)?;
    let password = password(&cli)?;

    let verb = if cli.encrypt { "encrypt" } else { "decrypt" };
    let result = match (&output, cli.encrypt) {
        (End::Path(dst), true) => {
            check_distinct(&input, dst)?;
            aescrypt::encrypt_to_path(reader, dst, &password, &options).map(drop)
        }
        (End::Path(dst), false) => {
            check_distinct(&input, dst)?;
            aescrypt::decrypt_to_path(reader, dst, &password, &options).map(drop)
        }
        (End::Std, true) => aescrypt::encrypt(reader, stdout()?, &password, &options).map(drop),
        (End::Std, false) => aescrypt::decrypt(reader, stdout()?, &password, &options).map(drop),
    };
    result.map_err(|err| describe(verb, &input, &output, err))
}

/// pyAesCrypt's defaults: `FILE.aes`, or `FILE` minus `.aes`.
/// The password, as every binary reads it (`cli::password`), else asked
/// on the terminal (twice when encrypting).
fn password(cli: &Cli) -> Result<aescrypt::Password, Failure> {
    let prompt = if cli.encrypt {
        ::cli::Prompt::Confirmed
    } else {
        ::cli::Prompt::Once
    };
    let text = cli
        .password
        .read(PASSWORD_ENV, prompt)
        .map_err(|e| match e {
            ::cli::PasswordError::Unreadable { .. } => Failure::io(e.to_string()),
            _ => Failure::usage(e.to_string()),
        })?;
    // read() gives a password or an error when it may prompt.
    let text = text.ok_or_else(|| Failure::usage("no password given".into()))?;
    aescrypt::Password::from_str_ref(&text).map_err(|e| Failure::usage(e.to_string()))
}

/// The environment variable dbcrypt reads the password from.
const PASSWORD_ENV: &str = "DBCRYPT_PASSWORD";

fn default_output(input: &Path, encrypt: bool) -> Result<PathBuf, Failure> {
    let mut name = input.as_os_str().to_owned();
    if encrypt {
        name.push(".aes");
        return Ok(name.into());
    }
    match input.to_str().and_then(|s| s.strip_suffix(".aes")) {
        Some(stripped) if !stripped.is_empty() => Ok(stripped.into()),
        _ => Err(Failure::usage(format!(
            "{} does not end in .aes: name the output with -o",
            input.display()
        ))),
    }
}

fn open_input(input: &End) -> Result<Box<dyn Read>, Failure> {
    match input {
        // Read the descriptor directly: the engine reads in large blocks,
        // so Stdin's own buffer would only add a copy.
        End::Std => {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Failure::io(format!("cannot use standard input: {e}")))?;
            Ok(Box::new(File::from(fd)))
        }
        End::Path(path) => File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| Failure::io(format!("cannot open {}: {e}", path.display()))),
    }
}

fn stdout() -> Result<impl Write, Failure> {
    // Stdout is line-buffered; binary data should go straight to the fd.
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| Failure::io(format!("cannot use standard output: {e}")))
}

fn check_distinct(input: &End, dst: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    if let (End::Path(src), Ok(out)) = (input, std::fs::metadata(dst))
        && let Ok(inp) = std::fs::metadata(src)
        && (inp.dev(), inp.ino()) == (out.dev(), out.ino())
    {
        return Err(Failure::usage(format!(
            "{} is both the input and the output",
            dst.display()
        )));
    }
    Ok(())
}

fn describe(verb: &str, input: &End, output: &End, err: Error) -> Failure {
    let code = match &err {
        Error::WrongPassword => 3,
        Error::Corrupted | Error::MalformedHeader(_) => 4,
        Error::Truncated(_) => 5,
        Error::NotAesCrypt => 6,
        Error::UnsupportedVersion(_) => 7,
        Error::PasswordTooLong | Error::InvalidBufferSize(_) | Error::SameFile => 2,
        _ => 1,
    };
    let message = match err {
        Error::Read(e) => format!("cannot read {}: {e}", input.name("standard input")),
        Error::Write(e) => format!("cannot write {}: {e}", output.name("standard output")),
        other => format!("cannot {verb} {}: {other}", input.name("standard input")),
    };
    Failure { code, message }
}
