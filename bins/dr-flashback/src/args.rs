//! The command line: seed 002's spelling (`-si`, `-ti`, Go's single-dash
//! long flags) mapped onto clap's.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// DR drills on a DBScale DR cluster (seed 002's dr-flashback).
#[derive(Debug, Parser)]
#[command(
    name = "dr-flashback",
    about,
    after_help = crate::AFTER_HELP,
    disable_version_flag = true
)]
pub struct Cli {
    /// What to do (none only with -v).
    #[command(subcommand)]
    pub verb: Option<Verb>,
    /// The config file (default: dr_flashback.ini beside the binary).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The journal (default: [misc] journal-file, else
    /// log/gio_flashback_redo.log beside the binary).
    #[arg(long, global = true, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Print the result as one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print `version: <version>` and exit, as every tool of this project
    /// and the seed tools do.
    #[arg(
        short = 'v',
        long = "version",
        visible_short_alias = 'V',
        global = true
    )]
    pub version: bool,
    /// More log output: -d debug, -dd trace (the other tools' spelling).
    #[arg(short = 'd', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Check that a drill can start (every check of seed 002, one line each).
    Verify(Routers),
    /// Open a drill on the DR cluster.
    Start(Drill),
    /// Close the drill: the DR cluster back as it was, replicating.
    Stop(Drill),
    /// Print what the journal says.
    Status,
}

impl Verb {
    /// The routers, for the verbs that take them.
    pub fn routers(&self) -> Option<&Routers> {
        match self {
            Verb::Verify(r) => Some(r),
            Verb::Start(d) | Verb::Stop(d) => Some(&d.routers),
            Verb::Status => None,
        }
    }

    /// The verb as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Verb::Verify(_) => "verify",
            Verb::Start(_) => "start",
            Verb::Stop(_) => "stop",
            Verb::Status => "status",
        }
    }
}

/// `-si HOST:PORT -ti HOST:PORT`.
#[derive(Debug, Args)]
pub struct Routers {
    /// The production router, HOST:PORT (the seed's -si).
    #[arg(long = "si", value_name = "HOST:PORT")]
    pub si: String,
    /// The DR router, HOST:PORT (the seed's -ti).
    #[arg(long = "ti", value_name = "HOST:PORT")]
    pub ti: String,
}

/// `start` / `stop` arguments.
#[derive(Debug, Args)]
pub struct Drill {
    /// The routers.
    #[command(flatten)]
    pub routers: Routers,
    /// Print the steps it would take (and the donor it would pick, and
    /// why); change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The seed's flags as Go's `flag` package reads them (`-si`, `-ti`,
/// `-config`, with `=VALUE` or not) in clap's spelling; everything else,
/// and anything after `--`, unchanged.
pub fn seed_spelling(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    const SEED_FLAGS: [&str; 5] = ["si", "ti", "config", "journal", "json"];
    let mut done = false;
    args.into_iter()
        .map(|arg| {
            if done {
                return arg;
            }
            let Some(text) = arg.to_str() else {
                return arg;
            };
            if text == "--" {
                done = true;
                return arg;
            }
            let single = text.strip_prefix('-').filter(|t| !t.starts_with('-'));
            match single {
                Some(flag)
                    if SEED_FLAGS.contains(&flag.split_once('=').map_or(flag, |(f, _)| f)) =>
                {
                    OsString::from(format!("--{flag}"))
                }
                _ => arg,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(seed_spelling(line.split_whitespace().map(OsString::from)))
    }

    #[test]
    fn the_seed_command_line_parses() {
        let cli =
            parse("dr-flashback verify -si 10.0.0.1:3307 -ti 10.0.0.2:3307 -config x.ini").unwrap();
        let r = cli.verb.as_ref().and_then(Verb::routers).unwrap();
        assert_eq!(
            (r.si.as_str(), r.ti.as_str()),
            ("10.0.0.1:3307", "10.0.0.2:3307")
        );
        assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("x.ini")));
        let cli = parse("dr-flashback stop --si=a:1 -ti=b:2 --dry-run --json").unwrap();
        assert!(matches!(&cli.verb, Some(Verb::Stop(d)) if d.dry_run && d.routers.si == "a:1"));
        assert!(cli.json);
        assert!(matches!(
            parse("dr-flashback status").unwrap().verb,
            Some(Verb::Status)
        ));
    }

    #[test]
    fn v_is_the_version_and_d_the_verbosity_as_in_every_tool() {
        let cli = parse("dr-flashback -v").unwrap();
        assert!(cli.version && cli.verb.is_none());
        assert!(parse("dr-flashback status --version").unwrap().version);
        assert_eq!(parse("dr-flashback status -dd").unwrap().verbose, 2);
    }

    #[test]
    fn clap_refuses_what_does_not_fit() {
        // The routers are required; --dry-run belongs to start and stop.
        assert!(parse("dr-flashback verify -si a:1").is_err());
        assert!(parse("dr-flashback verify -si a:1 -ti b:2 --dry-run").is_err());
        assert!(parse("dr-flashback status --dry-run").is_err());
        assert!(parse("dr-flashback flash").is_err());
        // After `--`, nothing is rewritten.
        let args = seed_spelling(["x", "--", "-si"].map(OsString::from));
        assert_eq!(args[2], "-si");
    }
}
