//! `cargo xtask dist`: the release binaries with their man pages and shell
//! completions in `target/dist` (`bin/`, `man/man1/`, `completions/`),
//! ready to copy to the hosts. The pages and completions come from each
//! binary's own clap definition (`<binary> --generate man|bash|zsh|fish`),
//! so they never drift from `--help`.

use crate::util::{cargo, output, run, target_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shipped binaries.
pub const BINARIES: &[&str] = &[
    "dbbackup",
    "dbrecover",
    "dr-flashback",
    "dbcatalog",
    "dbagent",
    "dbcrypt",
    "dbqpress",
];

/// Builds the release binaries and writes everything into `target/dist`.
pub fn run_dist() -> Result<()> {
    run(cargo().args(["build", "--release", "--workspace", "--bins"]))?;
    let dist = target_dir().join("dist");
    let bin = dist.join("bin");
    std::fs::create_dir_all(&bin)?;
    for name in BINARIES {
        let from = target_dir().join("release").join(name);
        std::fs::copy(&from, bin.join(name))
            .with_context(|| format!("cannot copy {}", from.display()))?;
    }
    let written = generate_all(&bin, &dist)?;
    eprintln!(
        "{}: {} binaries, {} man pages and completion files",
        dist.display(),
        BINARIES.len(),
        written.len()
    );
    Ok(())
}

/// Runs each binary in `bin_dir` with `--generate KIND` and writes its man
/// page and completions under `out`; the files written.
pub fn generate_all(bin_dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for name in BINARIES {
        let program = bin_dir.join(name);
        for (kind, file) in [
            ("man", format!("man/man1/{name}.1")),
            ("bash", format!("completions/bash/{name}")),
            ("zsh", format!("completions/zsh/_{name}")),
            ("fish", format!("completions/fish/{name}.fish")),
        ] {
            let text = output(Command::new(&program).args(["--generate", kind]))
                .with_context(|| format!("{name} --generate {kind}"))?;
            if text.trim().is_empty() {
                bail!("{name} --generate {kind} printed nothing");
            }
            let path = out.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped binary answers `--generate` (even those whose
    /// subcommand is required): a man page naming it and its options, and
    /// completions naming it.
    #[test]
    fn every_binary_has_a_man_page_and_completions() {
        let bin_dir = crate::util::workspace_binary("dbbackup")
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let out = tempfile::tempdir().unwrap();
        let written = generate_all(&bin_dir, out.path()).unwrap();
        assert_eq!(written.len(), BINARIES.len() * 4);
        for name in BINARIES {
            let man =
                std::fs::read_to_string(out.path().join(format!("man/man1/{name}.1"))).unwrap();
            assert!(man.contains(&format!(".TH {name}")), "{name}: {man}");
            assert!(man.contains(".SH OPTIONS"), "{name}: no options section");
            let bash = std::fs::read_to_string(out.path().join(format!("completions/bash/{name}")))
                .unwrap();
            assert!(bash.contains(name), "{name}: {bash}");
        }
    }
}
