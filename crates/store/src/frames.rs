//! Several small files in one round trip: the store host prints each file
//! as a *frame*, a `<size> <name>` line followed by exactly `size` bytes,
//! and [`parse`] splits the frames apart again. Reading a backup's handful
//! of small files this way costs one command instead of one per file (each
//! a round trip, over ssh a channel, through an agent a queue message).
//!
//! The same frames come out of GNU tar with [`TAR_TO_COMMAND`], so files
//! inside a (decrypted) tarball are read the same way.

use remote::quote;
use std::collections::BTreeMap;

/// A `tar -x --to-command` that prints each extracted member as a frame.
pub const TAR_TO_COMMAND: &str = r#"printf "%s %s\n" "$TAR_SIZE" "$TAR_FILENAME"; cat"#;

/// A shell snippet printing, as frames, each of `rels` (relative to `dir`)
/// that is a regular file; the others are left out. It fails (exit 1) when
/// `dir` cannot be entered or a file cannot be read. Each file is opened
/// once, so a file replaced meanwhile (by a rename) cannot give a size of
/// one version and the bytes of another.
pub fn print_script(dir: &str, rels: &[&str]) -> String {
    let list: Vec<String> = rels.iter().map(|r| quote(r).into_owned()).collect();
    format!(
        "cd {} || exit 1; for f in {}; do [ -f \"$f\" ] || continue; \
         {{ printf '%s %s\\n' \"$(stat -L -c %s /dev/fd/3)\" \"$f\" && cat <&3; }} 3< \"$f\" || exit 1; done",
        quote(dir),
        list.join(" ")
    )
}

/// Splits frames (`<size> <name>\n` then `size` bytes, repeated) into
/// files by name; a truncated or garbled frame is an error saying which.
pub fn parse(mut bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    while !bytes.is_empty() {
        let eol = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a frame header without its line end")?;
        let header = String::from_utf8_lossy(&bytes[..eol]).into_owned();
        let (size, name) = header
            .split_once(' ')
            .ok_or_else(|| format!("not a `<size> <name>` frame header: {header:?}"))?;
        let size: usize = size
            .parse()
            .map_err(|_| format!("not a size in the frame header {header:?}"))?;
        let body = &bytes[eol + 1..];
        if body.len() < size {
            return Err(format!(
                "{name}: {} bytes where the header says {size}",
                body.len()
            ));
        }
        files.insert(name.to_owned(), body[..size].to_vec());
        bytes = &body[size..];
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the script as the store host's shell would.
    fn run_sh(script: &str) -> std::process::Output {
        let sh = std::process::Command::new("bash")
            .args(["-c", script])
            .output();
        sh.unwrap()
    }

    #[test]
    fn printed_frames_hold_the_files_that_exist_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("srv 1")).unwrap();
        std::fs::write(dir.path().join("srv 1/master_dir"), "a b\n\nc").unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        std::fs::write(dir.path().join("binary"), [0u8, 10, 255, 10]).unwrap();
        let out = run_sh(&print_script(
            dir.path().to_str().unwrap(),
            &["srv 1/master_dir", "missing", "empty", "binary"],
        ));
        assert!(out.status.success(), "{out:?}");
        let files = parse(&out.stdout).unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files["srv 1/master_dir"], b"a b\n\nc");
        assert_eq!(files["empty"], b"");
        assert_eq!(files["binary"], [0u8, 10, 255, 10]);
    }

    #[test]
    fn a_missing_directory_fails_the_script() {
        let out = run_sh(&print_script("/nonexistent/store", &["a"]));
        assert_eq!(out.status.code(), Some(1), "{out:?}");
    }

    #[test]
    fn tar_prints_the_same_frames() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("srv")).unwrap();
        std::fs::write(dir.path().join("srv/gtids"), "0-1-5\n").unwrap();
        std::fs::write(dir.path().join("srv/big"), vec![7u8; 100_000]).unwrap();
        let tar = |args: &[&str]| {
            let out = std::process::Command::new("tar")
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "tar {args:?}: {out:?}");
            out.stdout
        };
        tar(&["-cf", "b.tar", "srv"]);
        let to_command = format!("--to-command={TAR_TO_COMMAND}");
        let files = parse(&tar(&["-xf", "b.tar", &to_command, "--", "srv/gtids"])).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files["srv/gtids"], b"0-1-5\n");
    }

    #[test]
    fn truncated_or_garbled_frames_are_errors() {
        assert!(parse(b"5 a\nabc").unwrap_err().contains("3 bytes"));
        assert!(parse(b"x a\n").is_err());
        assert!(parse(b"3 a").is_err());
        assert_eq!(parse(b"").unwrap().len(), 0);
    }
}
