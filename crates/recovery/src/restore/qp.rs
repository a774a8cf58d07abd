//! The `.qp` files of backups taken with `--compress` (seed 000's
//! `compress = 1`): decompressed after extraction, before prepare, with the
//! backup tool's own `--decompress --remove-original` as seed 001 does.
//!
//! That runs `qpress -dio` per file. Where the job server has no `qpress`
//! (Debian ships none), [`DBQPRESS`], our qpress-compatible decompressor,
//! stands in for it: linked as `qpress` in a directory put first on `PATH`
//! for that one command.

use remote::{Command, quote};
use xtrabackup::Tool;

/// Our qpress-compatible decompressor (`bins/dbqpress`), installed on the
/// job server beside the backup tool when `qpress` is not.
pub const DBQPRESS: &str = "dbqpress";

/// What the step prints last when it ran, so the restore can log it.
const DONE: &str = "decompressed with ";

/// The step for the extracted directory `dir`: nothing when it holds no
/// `.qp` file; otherwise `--decompress --remove-original` with `qpress`,
/// or with [`DBQPRESS`] linked as `qpress` in `shim_dir` (created, then
/// removed). Fails, naming the directory, when neither program is on
/// `PATH` or when a `.qp` file is left. Prints `decompressed with qpress`
/// or `decompressed with dbqpress` when it ran.
pub fn decompress_qp(tool: &Tool, dir: &str, shim_dir: &str) -> Command {
    let decompress = xtrabackup::decompress(tool, dir, None).argv_shell();
    let d = quote(dir);
    let shim = quote(shim_dir);
    Command::shell(format!(
        r#"[ -n "$(find {d} -name '*.qp' -type f -print 2>/dev/null | head -n 1)" ] || exit 0
by=qpress
if ! command -v qpress >/dev/null 2>&1; then
  q=$(command -v {DBQPRESS}) || {{ echo "cannot decompress the .qp files in "{d}": neither qpress nor {DBQPRESS} is on PATH" >&2; exit 3; }}
  rm -rf {shim} && mkdir -p {shim} && ln -s "$q" {shim}/qpress || exit 1
  PATH={shim}:$PATH; export PATH; by={DBQPRESS}
fi
{decompress}; rc=$?
rm -rf {shim}
[ "$rc" = 0 ] || exit "$rc"
left=$(find {d} -name '*.qp' -type f -print | head -n 3)
[ -z "$left" ] || {{ echo ".qp files left after decompressing: $left" >&2; exit 1; }}
echo "{DONE}$by""#
    ))
}

/// The program [`decompress_qp`]'s output says it used; `None` when there
/// was nothing to decompress.
pub fn decompressed_with(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(DONE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command as Std;
    use xtrabackup::Flavor;

    fn mariadb() -> Flavor {
        Flavor::from_version_output(
            "",
            "mariabackup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)",
        )
        .unwrap()
    }

    fn run(cmd: &Command, path: &str) -> std::process::Output {
        let (program, args) = cmd.argv();
        Std::new(program)
            .args(args)
            .env("PATH", path)
            .output()
            .unwrap()
    }

    /// A fake backup tool that "decompresses" by renaming, and a fake
    /// `dbqpress`, in `bin`.
    fn fakes(bin: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        let tool = bin.join("mariabackup");
        std::fs::write(
            &tool,
            "#!/bin/sh\ncommand -v qpress >/dev/null || exit 9\nd=${3#--target-dir=}\nfor f in $(find \"$d\" -name '*.qp'); do mv \"$f\" \"${f%.qp}\"; done\n",
        )
        .unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let q = bin.join(DBQPRESS);
        std::fs::write(&q, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn runs_only_when_there_are_qp_files_and_stands_in_for_qpress() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        let data = t.path().join("data");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(data.join("db")).unwrap();
        fakes(&bin);
        let tool = Tool::run_as(mariadb(), bin.join("mariabackup").to_str().unwrap());
        let shim = t.path().join("shim");
        let cmd = decompress_qp(&tool, data.to_str().unwrap(), shim.to_str().unwrap());
        let path = format!("{}:/usr/bin:/bin", bin.display());

        let out = run(&cmd, &path);
        assert!(out.status.success());
        assert_eq!(
            decompressed_with(&String::from_utf8_lossy(&out.stdout)),
            None
        );

        std::fs::write(data.join("db/t.ibd.qp"), b"x").unwrap();
        let out = run(&cmd, &path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            decompressed_with(&String::from_utf8_lossy(&out.stdout)),
            Some(DBQPRESS)
        );
        assert!(data.join("db/t.ibd").exists() && !shim.exists());

        std::fs::write(data.join("db/u.ibd.qp"), b"x").unwrap();
        std::fs::remove_file(bin.join(DBQPRESS)).unwrap();
        let out = run(&cmd, &path);
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stderr).contains("neither qpress nor dbqpress"));
    }
}
