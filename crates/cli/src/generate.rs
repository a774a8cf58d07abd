//! Man pages and shell completions of a binary's command line, made from
//! its clap definition so they never drift from `--help`:
//! `<binary> --generate man|bash|zsh|fish` prints one on stdout
//! (`cargo xtask dist` collects them into `target/dist`).

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generate {
    /// A roff man page (section 1).
    Man,
    /// A bash completion script.
    Bash,
    /// A zsh completion script.
    Zsh,
    /// A fish completion script.
    Fish,
}

impl Generate {
    /// Every kind with its name on the command line.
    pub const ALL: [(&'static str, Generate); 4] = [
        ("man", Generate::Man),
        ("bash", Generate::Bash),
        ("zsh", Generate::Zsh),
        ("fish", Generate::Fish),
    ];
}

/// `--generate KIND` or `--generate=KIND` as the whole command line (the
/// program name aside): checked before the binary's own parsing, so a
/// binary whose subcommand is required still answers it.
fn requested(args: &[OsString]) -> Option<Result<Generate, String>> {
    let rest: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let kind = match rest.as_slice() {
        ["--generate", kind] => *kind,
        [one] => one.strip_prefix("--generate=")?,
        _ => return None,
    };
    Some(
        Generate::ALL
            .iter()
            .find(|(name, _)| *name == kind)
            .map(|(_, g)| *g)
            .ok_or_else(|| format!("--generate takes man, bash, zsh or fish, not {kind:?}")),
    )
}

/// Writes `kind` for `cmd` into `out`.
pub fn render(kind: Generate, mut cmd: clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let name = cmd.get_name().to_owned();
    let shell = match kind {
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
        Generate::Bash => clap_complete::Shell::Bash,
        Generate::Zsh => clap_complete::Shell::Zsh,
        Generate::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

/// When the command line asks `--generate KIND`, prints it for `C` and
/// gives the exit status; else `None` and the binary goes on.
pub fn generate_if_asked<C: clap::CommandFactory>() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let kind = match requested(&args)? {
        Ok(kind) => kind,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Some(ExitCode::from(crate::EXIT_USAGE));
        }
    };
    let mut out = Vec::new();
    let written = render(kind, C::command(), &mut out)
        .and_then(|()| std::io::stdout().lock().write_all(&out));
    Some(match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(format!("cannot write the {kind:?} output: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_a_whole_generate_command_line_is_taken() {
        assert_eq!(
            requested(&args(&["t", "--generate", "man"])),
            Some(Ok(Generate::Man))
        );
        assert_eq!(
            requested(&args(&["t", "--generate=zsh"])),
            Some(Ok(Generate::Zsh))
        );
        assert!(requested(&args(&["t", "--generate", "csh"])).is_some_and(|r| r.is_err()));
        assert_eq!(
            requested(&args(&["t", "verify", "--generate", "man"])),
            None
        );
        assert_eq!(requested(&args(&["t"])), None);
    }

    #[test]
    fn man_pages_and_completions_come_from_the_clap_definition() {
        let cmd = || {
            clap::Command::new("dbtool")
                .about("A tool")
                .arg(clap::Arg::new("config-file").long("config-file"))
                .subcommand(clap::Command::new("verify"))
        };
        let mut man = Vec::new();
        render(Generate::Man, cmd(), &mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH dbtool"),
            "{man}"
        );
        assert!(man.contains("config\\-file"), "{man}");
        for kind in [Generate::Bash, Generate::Zsh, Generate::Fish] {
            let mut out = Vec::new();
            render(kind, cmd(), &mut out).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(
                out.contains("config-file") && out.contains("verify"),
                "{kind:?}: {out}"
            );
        }
    }
}
