//! `dbbackup`: the command line of the backup engine (crate `backup`).
//! It parses arguments, reads `backup.conf`, runs the engine and prints;
//! nothing else.

mod metrics;
mod progress;
mod report;
mod run_record;
mod spider;
mod summary;

use clap::Parser;
use report::{clean_trash_report, purge_report};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use zeroize::Zeroizing;

const AFTER_HELP: &str = "\
WHAT IT DOES:
  Reads the cluster topology from the DBScale router named in [cluster], cleans
  bad backups (no `ok` file) off the store into trash/, decides full or
  incremental (and says why), streams every selected server's
  xtrabackup/mariabackup backup to the store through socat, records the global
  consistence point (cluster_consistence_info), copies the binlogs recovery
  needs, and writes `ok` last. A backup without `ok` is never used.

PASSWORD (encryption, AES Crypt; the first that is given wins):
  --password-file F   first line of F
  -p PASS             as the seed tool; visible to other users in `ps`
  DBBACKUP_PASSWORD   environment variable
  One given but empty is an error (not taken as no password).
  Every backup of a chain must use the same password (checked before any
  data moves).

EXIT STATUS:
  0 the backup (or purge / clean) succeeded; 1 it failed (one ERROR: line
  says why; a failed backup leaves no `ok` and is moved to trash by the next
  run); 2 bad arguments or configuration.

EXAMPLES:
  dbbackup --config-file /etc/dbbackup/backup.conf
  dbbackup --config-file backup.conf --dry-run
  dbbackup --config-file backup.conf --password-file /etc/dbbackup/key
  dbbackup --config-file backup.conf --purge-to '2026-11-01 00:00:00'
  dbbackup --config-file backup.conf --clean-trash
  dbbackup --config-file backup.conf metrics --textfile /var/lib/node_exporter/textfile";

/// Physical backup of a DBScale cluster (full or incremental).
#[derive(Debug, Parser)]
#[command(
    about,
    after_help = AFTER_HELP,
    disable_version_flag = true
)]
struct Cli {
    /// What else to do than a backup.
    #[command(subcommand)]
    command: Option<Sub>,
    /// The seed-format configuration file.
    #[arg(long = "config-file", default_value = "backup.conf", global = true)]
    config_file: PathBuf,
    /// The encryption password.
    #[command(flatten)]
    password: cli::PasswordArgs,
    /// Move every backup started at or before this UTC time ('Y-m-d H:M:S',
    /// the time in the backup names) to trash, then exit. A full backup that
    /// a kept incremental builds on is kept.
    #[arg(long = "purge-to", value_name = "DATETIME", conflicts_with_all = ["clean_trash", "parallel"])]
    purge_to: Option<String>,
    /// With --purge-to: purge even a chain a kept incremental needs.
    #[arg(long, requires = "purge_to")]
    force: bool,
    /// Empty the store's trash/, then exit.
    #[arg(long = "clean-trash", conflicts_with = "parallel")]
    clean_trash: bool,
    /// Change nothing: print the plan (full or incremental and why,
    /// servers, binlogs); with --purge-to, what would be moved to trash and
    /// kept; with --clean-trash, what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// At most this many servers stream at once (default: every chosen
    /// server at once, as the seed tool does).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    parallel: Option<u16>,
    /// Print the result as one JSON document on stdout (the plan goes to
    /// stderr); keys in docs/json.md.
    #[arg(long, conflicts_with_all = ["purge_to", "clean_trash"])]
    json: bool,
    /// Print no plan, no progress and no summary table: only warnings,
    /// errors and the result lines (for cron).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// How often (milliseconds) each stream's receiving end reports its
    /// bytes for the progress lines (default 1000; tests shorten it).
    #[arg(long, hide = true, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..))]
    progress_every_ms: Option<u64>,
    #[command(flatten)]
    common: cli::Common,
}

/// Subcommands (the seed's command line has none; a backup is the default).
#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Re-read backups on the store host and check every file against its
    /// manifest.json (presence, size, SHA-256, nothing extra); with the
    /// password, an encrypted backup's HMAC too (no plaintext written).
    /// Exit 1 when any file is bad. Default: the newest backup with `ok`.
    Verify {
        /// This backup (a directory name on the store).
        #[arg(long, value_name = "NAME", conflicts_with = "all")]
        backup: Option<String>,
        /// Every backup on the store.
        #[arg(long)]
        all: bool,
    },
    /// What the store holds: every backup (chain, type, ok, encrypted,
    /// size, duration, consistence point), the window a recovery can
    /// reach, and the trash.
    Info {
        /// One JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Write the Prometheus textfile-collector file of this cluster's
    /// store into DIR (read as `info` reads the store; written to a
    /// temporary name and renamed). Metrics in docs/operations.md.
    Metrics {
        /// The collector's directory (node_exporter
        /// --collector.textfile.directory).
        #[arg(long, value_name = "DIR")]
        textfile: PathBuf,
    },
    /// Cluster-wide backup through a task table (seed 004): `schedule` on
    /// the controller, `check --run` on every database host (cron),
    /// `query`. See docs/spiderbackup.md.
    Spiderbackup(spider::SpiderArgs),
}

fn main() -> ExitCode {
    if let Some(code) = cli::generate_if_asked::<Cli>() {
        return code;
    }
    let cli = Cli::parse();
    if let Some(code) = cli.common.version_exit() {
        return code;
    }
    // Progress lines only on a terminal, for a backup run (not the
    // housekeeping modes or subcommands).
    let display = cli::progress::Display::new(
        cli.command.is_none()
            && cli.purge_to.is_none()
            && !cli.clean_trash
            && !cli.dry_run
            && cli::progress::wanted(cli.quiet, cli.json),
    );
    // Step timings and the binlog ranges are detail: `-d` shows them.
    let logging = match cli.common.init_logging_for_run(
        &["dbbackup", "backup"],
        &["stream::timing", "backup::finish"],
        &display,
    ) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    if let Some(Sub::Spiderbackup(args)) = cli.command {
        if cli.password.given() {
            eprintln!("ERROR: spiderbackup does not encrypt: no password may sit in a task row");
            return ExitCode::from(cli::EXIT_USAGE);
        }
        return cli::run_async(spider::run(args));
    }
    let (cfg, password) = match cli::config_and_password(
        || conf::BackupConfig::load(&cli.config_file),
        &cli.password,
        "DBBACKUP_PASSWORD",
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    logging.config_debug(cfg.debug);
    cli::run_async(run(cli, cfg, password, display))
}

/// The backup's and the housekeeping's options given with a subcommand,
/// which is its own mode. (clap's `args_conflicts_with_subcommands` would
/// refuse the shared flags before it too: `--config-file F verify`.)
fn options_beside_a_subcommand(cli: &Cli) -> Vec<&'static str> {
    if cli.command.is_none() {
        return Vec::new();
    }
    [
        ("--purge-to", cli.purge_to.is_some()),
        ("--clean-trash", cli.clean_trash),
        ("--dry-run", cli.dry_run),
        ("--parallel", cli.parallel.is_some()),
        ("--json", cli.json),
        ("--progress-every-ms", cli.progress_every_ms.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect()
}

async fn run(
    cli: Cli,
    cfg: conf::BackupConfig,
    password: Option<Zeroizing<String>>,
    display: cli::progress::Display,
) -> ExitCode {
    let beside = options_beside_a_subcommand(&cli);
    if !beside.is_empty() {
        eprintln!(
            "ERROR: {} cannot go with verify, info, metrics or spiderbackup (they are options of a backup run; info has its own --json after it)",
            beside.join(", ")
        );
        return ExitCode::from(cli::EXIT_USAGE);
    }
    match &cli.command {
        Some(Sub::Verify { backup, all }) => {
            return verify(&cfg, backup.as_deref(), *all, password.as_ref()).await;
        }
        Some(Sub::Info { json }) => {
            return match backup::info(&cfg).await {
                Ok(info) if *json => match serde_json::to_string_pretty(&info) {
                    Ok(text) => {
                        println!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => cli::fail(e),
                },
                Ok(info) => {
                    print!("{}", report::info_report(&info));
                    ExitCode::SUCCESS
                }
                Err(e) => cli::fail(&e),
            };
        }
        Some(Sub::Metrics { textfile }) => return metrics::command(&cfg, textfile).await,
        Some(Sub::Spiderbackup(_)) | None => {}
    }
    if let Some(text) = &cli.purge_to {
        let Ok(to) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") else {
            eprintln!("ERROR: --purge-to {text:?} is not 'YYYY-MM-DD HH:MM:SS'");
            return ExitCode::from(cli::EXIT_USAGE);
        };
        return match backup::purge_to(&cfg, to, cli.force, cli.dry_run).await {
            Ok(plan) => {
                print!("{}", purge_report(&plan, cli.dry_run));
                ExitCode::SUCCESS
            }
            Err(e) => cli::fail(&e),
        };
    }
    if cli.clean_trash {
        return match backup::clean_trash(&cfg, cli.dry_run).await {
            Ok(held) => {
                print!("{}", clean_trash_report(&held, cli.dry_run));
                ExitCode::SUCCESS
            }
            Err(e) => cli::fail(&e),
        };
    }
    let progress = progress::Progress::new(display);
    let options = backup::Options {
        password,
        parallel: cli.parallel.map(usize::from),
        dry_run: cli.dry_run,
        observer: Some(progress.clone()),
        progress_every: cli.progress_every_ms.map(Duration::from_millis),
    };
    let mut record = run_record::RunRecord::start(&cfg, cli.dry_run);
    let metrics_cfg = (!cli.dry_run && cfg.metrics_textfile_dir.is_some()).then(|| cfg.clone());
    let prepared = match backup::prepare(cfg, options).await {
        Ok(p) => p,
        Err(e) => {
            let warnings = run_record::failed(record, metrics_cfg.as_ref(), &e).await;
            return failed(&e, &warnings, cli.json);
        }
    };
    record.planned(prepared.plan()).await;
    if cli.json {
        eprint!("{}", prepared.plan());
    } else if !cli.quiet {
        print!("{}", prepared.plan());
    }
    progress.plan(prepared.plan());
    if cli.dry_run {
        if cli.json {
            println!("{:#}", report::plan_json(prepared.plan(), None));
        } else {
            println!("dry run: nothing written");
        }
        return ExitCode::SUCCESS;
    }
    let executed = backup::execute(prepared).await;
    progress.clear();
    let mut outcome = match executed {
        Ok(outcome) => outcome,
        Err(e) => {
            let warnings = run_record::failed(record, metrics_cfg.as_ref(), &e).await;
            return failed(&e, &warnings, cli.json);
        }
    };
    let warnings = run_record::ended(record, metrics_cfg.as_ref(), Ok(&outcome)).await;
    outcome.warnings.extend(warnings);
    if cli.json {
        println!("{:#}", report::plan_json(&outcome.plan, Some(&outcome)));
        return ExitCode::SUCCESS;
    }
    print!("{}", summary::backup_summary(&outcome, cli.quiet));
    ExitCode::SUCCESS
}

/// A failed backup: the `ERROR:` line, the warnings, the seed's last line
/// (or the JSON document).
fn failed(e: &backup::BackupError, warnings: &[String], json: bool) -> ExitCode {
    let code = cli::fail(e);
    if json {
        println!(
            "{:#}",
            serde_json::json!({"ok": false, "error": e.to_string(), "warnings": warnings})
        );
    } else {
        print!("{}", summary::warnings(warnings));
        println!("cluster backup failed because reach max-time-sec or get exception.");
    }
    code
}

/// `dbbackup verify`.
async fn verify(
    cfg: &conf::BackupConfig,
    backup: Option<&str>,
    all: bool,
    password: Option<&Zeroizing<String>>,
) -> ExitCode {
    let which = match (backup, all) {
        (_, true) => backup::Which::All,
        (Some(name), false) => match name.parse() {
            Ok(n) => backup::Which::Named(n),
            Err(e) => {
                eprintln!("ERROR: --backup {name:?}: {e}");
                return ExitCode::from(cli::EXIT_USAGE);
            }
        },
        (None, false) => backup::Which::Newest,
    };
    match backup::verify(cfg, &which, password).await {
        Ok(checked) => {
            print!("{}", report::verify_report(&checked));
            match report::verify_failure(&checked) {
                None => ExitCode::SUCCESS,
                Some(message) => cli::fail(message),
            }
        }
        Err(e) => cli::fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("dbbackup").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn modes_that_cannot_go_together_are_refused() {
        for args in [
            &["--purge-to", "2026-01-01 00:00:00", "--clean-trash"][..],
            &["--purge-to", "2026-01-01 00:00:00", "--parallel", "2"],
            &["--clean-trash", "--parallel", "2"],
            &["--force"],
        ] {
            let e = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(
                matches!(
                    e.kind(),
                    clap::error::ErrorKind::ArgumentConflict
                        | clap::error::ErrorKind::MissingRequiredArgument
                ),
                "{args:?}: {e}"
            );
        }
        for args in [
            &["--purge-to", "2026-01-01 00:00:00", "--dry-run"][..],
            &["--purge-to", "2026-01-01 00:00:00", "--force", "--dry-run"],
            &["--clean-trash", "--dry-run"],
            &["--dry-run", "--parallel", "2"],
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(cli.dry_run);
        }
    }

    /// A subcommand is its own mode: the backup's and the housekeeping's
    /// options are refused with it, naming them; the shared flags (config,
    /// password, -d, --log-*, -q) go with it.
    #[test]
    fn a_subcommand_takes_no_backup_or_housekeeping_option() {
        for (args, named) in [
            (&["--dry-run", "verify"][..], "--dry-run"),
            (&["--json", "info"], "--json"),
            (
                &["--parallel", "2", "metrics", "--textfile", "d"],
                "--parallel",
            ),
            (&["--clean-trash", "verify", "--all"], "--clean-trash"),
            (&["--purge-to", "2026-01-01 00:00:00", "info"], "--purge-to"),
            (
                &["--progress-every-ms", "100", "spiderbackup", "query"],
                "--progress-every-ms",
            ),
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(options_beside_a_subcommand(&cli), [named], "{args:?}");
        }
        for args in [
            &["-d", "--config-file", "b.conf", "verify"][..],
            &["-q", "spiderbackup", "query"],
            &["--password-file", "p", "info", "--json"],
            &["--dry-run", "--parallel", "2"],
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(options_beside_a_subcommand(&cli).is_empty(), "{args:?}");
        }
    }

    #[test]
    fn dash_v_is_the_version_as_in_the_seed_and_dash_d_the_verbosity() {
        assert!(parse(&["-v"]).unwrap().common.version);
        assert!(parse(&["--version"]).unwrap().common.version);
        let cli = parse(&["-dd", "--dry-run"]).unwrap();
        assert_eq!((cli.common.version, cli.common.verbose), (false, 2));
    }

    #[test]
    fn dry_run_reports_say_nothing_changed() {
        let plan = store::PurgePlan {
            purge: vec!["UTC20240101000000.000-full".parse().unwrap()],
            kept_for_chain: vec![],
        };
        assert_eq!(
            purge_report(&plan, true),
            "would move to trash: UTC20240101000000.000-full\ndry run: nothing changed\n"
        );
        assert_eq!(
            clean_trash_report(&["a".into()], true),
            "would delete from trash: a\ndry run: nothing changed\n"
        );
        assert_eq!(clean_trash_report(&[], false), "trash is empty\n");
    }
}
