//! `dbagent untar`: unpacks a tar stream into a directory as `tar -x`
//! does (directories, files, links, modes, times; nothing outside the
//! directory), except that the members named in routes are piped into a
//! command each instead of being written. Recovery ships an encrypted
//! backup's decrypted tarball through it so that every server's stream
//! goes straight into its extraction (`mbstream -x`) rather than being
//! landed on the job server and read back.
//!
//! Every route must be used: a routed member missing from the archive, a
//! command that cannot start or exits non-zero, fails the unpacking,
//! naming the member.
//!
//! ```no_run
//! use agent::untar::{Route, UntarOptions, untar};
//!
//! let options = UntarOptions {
//!     into: "/restore/UTC20240222014345.236-full".into(),
//!     routes: vec![Route {
//!         member: "normal_0-normal_0_1-127.0.0.12-16315/backup.xbsteam".into(),
//!         command: "mbstream -x -C /restore/datadir/normal_0".into(),
//!     }],
//! };
//! let unpacked = untar(std::io::stdin().lock(), &options)?;
//! eprintln!("{} members, {} bytes routed", unpacked.members, unpacked.routed_bytes);
//! # Ok::<(), agent::untar::UntarError>(())
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The copy buffer of a routed member (large writes into the pipe; the
/// reading side is a single extraction process).
const COPY_BUFFER: usize = 256 * 1024;

/// One member piped into a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The member's path in the archive (a leading `./` ignored).
    pub member: String,
    /// A `bash -c` command that reads the member's bytes on its stdin.
    pub command: String,
}

/// What to unpack where.
#[derive(Debug, Clone)]
pub struct UntarOptions {
    /// The directory the archive is unpacked into (created if missing).
    pub into: PathBuf,
    /// The members piped into commands instead of being written.
    pub routes: Vec<Route>,
}

/// What was unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Untarred {
    /// Members unpacked or routed.
    pub members: u64,
    /// Bytes piped into the routes' commands.
    pub routed_bytes: u64,
}

/// Why an unpacking failed.
#[derive(Debug, thiserror::Error)]
pub enum UntarError {
    /// The archive could not be read (truncated, not a tar).
    #[error("cannot read the archive: {0}")]
    Read(#[source] std::io::Error),
    /// A member could not be written under the directory.
    #[error("cannot unpack {member} into {into}: {source}")]
    Unpack {
        /// The member.
        member: String,
        /// The directory.
        into: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A routed member's command failed.
    #[error("{member}: `{command}` {reason}")]
    Command {
        /// The member.
        member: String,
        /// The command it was piped into.
        command: String,
        /// What went wrong (could not start, exit status, broken pipe).
        reason: String,
    },
    /// Routed members the archive does not hold.
    #[error("the archive holds no {}", .0.join(", no "))]
    Missing(Vec<String>),
}

/// Unpacks the archive read from `input` as `options` say.
pub fn untar(input: impl Read, options: &UntarOptions) -> Result<Untarred, UntarError> {
    let into = &options.into;
    std::fs::create_dir_all(into).map_err(|source| UntarError::Unpack {
        member: ".".into(),
        into: into.display().to_string(),
        source,
    })?;
    let mut routes: BTreeMap<&str, &str> = options
        .routes
        .iter()
        .map(|r| (normalized(&r.member), r.command.as_str()))
        .collect();
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut done = Untarred::default();
    for entry in archive.entries().map_err(UntarError::Read)? {
        let mut entry = entry.map_err(UntarError::Read)?;
        let member = entry
            .path()
            .map_err(UntarError::Read)?
            .to_string_lossy()
            .into_owned();
        done.members += 1;
        if let Some(command) = routes.remove(normalized(&member)) {
            done.routed_bytes += pipe(&mut entry, &member, command)?;
            continue;
        }
        let unpack_error = |source| UntarError::Unpack {
            member: member.clone(),
            into: into.display().to_string(),
            source,
        };
        if !entry.unpack_in(into).map_err(unpack_error)? {
            return Err(unpack_error(std::io::Error::other(
                "its path leads outside the directory",
            )));
        }
    }
    if !routes.is_empty() {
        return Err(UntarError::Missing(
            routes.keys().map(|m| (*m).to_owned()).collect(),
        ));
    }
    Ok(done)
}

/// `member` without a leading `./`.
fn normalized(member: &str) -> &str {
    member.strip_prefix("./").unwrap_or(member)
}

/// Copies `entry` into `bash -c command` and waits for it; returns the
/// bytes copied.
fn pipe(entry: &mut impl Read, member: &str, command: &str) -> Result<u64, UntarError> {
    let failed = |reason: String| UntarError::Command {
        member: member.to_owned(),
        command: command.to_owned(),
        reason,
    };
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("could not start: {e}")))?;
    let copied = match child.stdin.take() {
        Some(mut stdin) => copy(entry, &mut stdin),
        None => Ok(0),
    };
    // stdin is closed here: the command sees the member's end.
    let status = child
        .wait()
        .map_err(|e| failed(format!("could not be waited for: {e}")))?;
    if !status.success() {
        return Err(failed(format!("failed ({status})")));
    }
    copied.map_err(|e| failed(format!("stopped reading: {e}")))
}

/// `std::io::copy` with a large buffer.
fn copy(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A tar of `files` (path, bytes) made by GNU tar, `./` prefixed, an
    /// empty directory and a symlink beside them.
    fn archive(dir: &Path, files: &[(&str, &[u8])]) -> Vec<u8> {
        let src = dir.join("src");
        for (rel, bytes) in files {
            let p = src.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        std::fs::create_dir_all(src.join("empty")).unwrap();
        std::os::unix::fs::symlink("a/x", src.join("link")).unwrap();
        let out = Command::new("tar")
            .arg("-C")
            .arg(&src)
            .args(["-cf", "-", "."])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    }

    #[test]
    fn members_are_unpacked_and_routed_ones_piped_into_their_command() {
        let d = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let tar = archive(
            d.path(),
            &[("a/x", b"small\n"), ("s1/backup.xbsteam", &big)],
        );
        let into = d.path().join("out");
        let got = d.path().join("piped");
        let options = UntarOptions {
            into: into.clone(),
            routes: vec![Route {
                member: "s1/backup.xbsteam".into(),
                command: format!("cat > '{}'", got.display()),
            }],
        };
        let done = untar(&tar[..], &options).unwrap();
        assert_eq!(done.routed_bytes, big.len() as u64);
        assert_eq!(std::fs::read(&got).unwrap(), big);
        assert_eq!(std::fs::read(into.join("a/x")).unwrap(), b"small\n");
        assert!(
            !into.join("s1/backup.xbsteam").exists(),
            "a routed member was written"
        );
        assert!(into.join("s1").is_dir(), "its directory is still made");
        assert!(into.join("empty").is_dir());
        assert_eq!(
            std::fs::read_link(into.join("link")).unwrap(),
            Path::new("a/x")
        );
    }

    #[test]
    fn a_failing_command_a_missing_member_and_a_cut_archive_fail_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let tar = archive(d.path(), &[("s1/backup.xbsteam", &[7u8; 300_000])]);
        let route = |member: &str, command: &str| UntarOptions {
            into: d.path().join("out"),
            routes: vec![Route {
                member: member.into(),
                command: command.into(),
            }],
        };
        let e = untar(
            &tar[..],
            &route("s1/backup.xbsteam", "head -c 10 >/dev/null; exit 3"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("s1/backup.xbsteam") && e.to_string().contains("exit status: 3"),
            "{e}"
        );
        let e = untar(&tar[..], &route("s2/backup.xbsteam", "cat >/dev/null")).unwrap_err();
        assert_eq!(e.to_string(), "the archive holds no s2/backup.xbsteam");
        let e = untar(
            &tar[..tar.len() / 2],
            &route("s1/backup.xbsteam", "cat >/dev/null"),
        )
        .unwrap_err();
        assert!(
            matches!(e, UntarError::Read(_) | UntarError::Command { .. }),
            "{e}"
        );
    }

    #[test]
    fn a_member_reaching_outside_the_directory_is_not_written_there() {
        let d = tempfile::tempdir().unwrap();
        // A hand-made header: GNU tar refuses to write `../` names.
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        {
            let name = &mut header.as_old_mut().name;
            name[..9].copy_from_slice(b"../escape");
        }
        header.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header, &b"bad"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let into = d.path().join("in");
        let e = untar(
            &tar[..],
            &UntarOptions {
                into: into.clone(),
                routes: vec![],
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        assert!(!d.path().join("escape").exists());
    }
}
