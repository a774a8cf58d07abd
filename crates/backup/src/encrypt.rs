//! `-p`: the seed's encrypted layout. The backup's files (all but
//! `cluster_consistence_info`, `consistent_point_datetime` and
//! `backuped_binlogs`, which recovery reads to plan) become
//! `encrypted/<name>.tar.encrypted`, streamed through `dbcrypt` on the
//! store host (no temporary plaintext tar), and `encrypted_sample` lets the
//! next run check the password. The password reaches the store host in
//! `DBCRYPT_PASSWORD`, through the transport's private channel (never an
//! argv).
//!
//! The tarball holds its directories first, then its files smallest
//! first: the few small files recovery plans from (`executed_gtids`,
//! `master_dir`, ...) sit at its start, so a reader decrypting it for them
//! stops there instead of decrypting the streams too. The seed's tools
//! extract the whole tarball and do not mind the order.

use crate::engine::Options;
use crate::error::BackupError;
use crate::run::Run;
use remote::{Command, quote};
use std::collections::BTreeMap;
use store::layout;

/// The sample's plaintext (the seed's).
const SAMPLE: &str = "abc123\n";

/// Encrypts the run's files in place; returns the tarball's files and
/// their sizes (for the manifest). Nothing without a password.
pub async fn encrypt(run: &Run, options: &Options) -> Result<BTreeMap<String, u64>, BackupError> {
    let Some(password) = &options.password else {
        return Ok(BTreeMap::new());
    };
    let name = run.plan.name.to_string();
    let encrypted_dir = run.store.encrypted_dir().await?;
    let tarball = format!("{encrypted_dir}/{name}.tar.encrypted");
    let script = script(&run.store_path(&name), &run.cfg.encrypt_bin, &tarball);
    let cmd = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("DBCRYPT_PASSWORD", password.as_str());
    let out = run.store.run("encrypting the backup", cmd).await?;
    Ok(parse_members(&out.stdout))
}

/// The encryption of backup directory `dir` into `tarball` with `dbcrypt`
/// (the password in `DBCRYPT_PASSWORD`): the member list (`find`, hidden
/// entries and [`layout::CLEAR_FILES`] left out; directories first, then files by size)
/// into a temporary file, `tar` of that list into `dbcrypt`, the sample,
/// then everything but the kept files removed. Prints the list,
/// NUL-separated `<size>\t<path>` (`d` for a directory's size), on stdout.
fn script(dir: &str, dbcrypt: &str, tarball: &str) -> String {
    let leave_out: String = std::iter::once("./.*".to_owned())
        .chain(layout::CLEAR_FILES.iter().map(|k| format!("./{k}")))
        .map(|p| format!(" ! -path {}", quote(&p)))
        .collect();
    let keep_find: String = layout::CLEAR_FILES
        .iter()
        .chain(std::iter::once(&layout::ENCRYPTED_SAMPLE_FILE))
        .map(|k| format!(" ! -name {k}"))
        .collect();
    format!(
        "set -o pipefail\n\
         cd {dir} || exit 1\n\
         members=$(mktemp) || exit 1\n\
         trap 'rm -f \"$members\"' EXIT\n\
         {{ find . -mindepth 1 -type d{leave_out} -printf 'd\\t%P\\0' | sort -z && \
            find . -mindepth 1 ! -type d{leave_out} -printf '%s\\t%P\\0' | sort -z -t \"$(printf '\\t')\" -k1,1n -k2; }} \
            > \"$members\" || exit 1\n\
         cut -z -f2- < \"$members\" | tar --create --file - --null --no-recursion --files-from - \
            | {dbcrypt} -e - -o {tarball} || exit 1\n\
         printf %s {sample} | {dbcrypt} -e - -o {sample_file} || exit 1\n\
         find . -mindepth 1 -maxdepth 1{keep_find} -exec rm -rf -- {{}} + || exit 1\n\
         cat \"$members\"",
        dir = quote(dir),
        dbcrypt = quote(dbcrypt),
        tarball = quote(tarball),
        sample = quote(SAMPLE),
        sample_file = layout::ENCRYPTED_SAMPLE_FILE,
    )
}

/// The files of [`script`]'s member list, by path.
fn parse_members(out: &[u8]) -> BTreeMap<String, u64> {
    out.split(|&b| b == 0)
        .filter_map(|entry| {
            let entry = std::str::from_utf8(entry).ok()?;
            let (size, path) = entry.split_once('\t')?;
            Some((path.to_owned(), size.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn the_tarball_holds_directories_then_files_smallest_first_and_the_list_says_so() {
        let d = tempfile::tempdir().unwrap();
        let backup = d.path().join("UTC20240222014345.236-full");
        write(&backup, "s1/backup.xbsteam", &[1; 5000]);
        write(&backup, "s1/executed_gtids", b"0-1-5\n");
        write(&backup, "s2 x/backup.xbsteam", &[2; 4000]);
        write(&backup, "s2 x/master_dir", b"normal_0-m-127.0.0.1-3306\n");
        write(&backup, "s2 x/mysql-bin.000002", &[3; 700]);
        std::fs::create_dir_all(backup.join("empty")).unwrap();
        write(&backup, "cluster_consistence_info", b"kept\n");
        write(&backup, "backuped_binlogs", b"kept\n");
        write(&backup, ".dbscale-backup/x", b"hidden\n");
        // A stand-in for dbcrypt: `-e - -o FILE` copies its input.
        let fake = d.path().join("fake-dbcrypt");
        std::fs::write(&fake, "#!/bin/sh\ncat > \"$4\"\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let tarball = d.path().join("b.tar");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(script(
                backup.to_str().unwrap(),
                fake.to_str().unwrap(),
                tarball.to_str().unwrap(),
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");

        let members = parse_members(&out.stdout);
        let listed: Vec<(&str, u64)> = members.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        assert_eq!(
            listed,
            [
                ("s1/backup.xbsteam", 5000),
                ("s1/executed_gtids", 6),
                ("s2 x/backup.xbsteam", 4000),
                ("s2 x/master_dir", 26),
                ("s2 x/mysql-bin.000002", 700),
            ]
        );
        let toc = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&tarball)
            .output()
            .unwrap();
        let toc = String::from_utf8(toc.stdout).unwrap();
        let toc: Vec<&str> = toc.lines().collect();
        assert_eq!(
            toc,
            [
                "empty/",
                "s1/",
                "s2 x/",
                "s1/executed_gtids",
                "s2 x/master_dir",
                "s2 x/mysql-bin.000002",
                "s2 x/backup.xbsteam",
                "s1/backup.xbsteam",
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(&backup)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "backuped_binlogs",
                "cluster_consistence_info",
                "encrypted_sample"
            ]
        );
    }
}
