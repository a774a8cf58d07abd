//! `dr-flashback`: the command line of the flashback engine (crate
//! `flashback`), as seed 002's: `dr-flashback verify|start|stop -si
//! HOST:PORT -ti HOST:PORT [--config dr_flashback.ini]`, plus `status`.

mod args;
mod output;

use args::{Cli, Verb};
use clap::Parser as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
WHAT IT DOES:
  A DR drill on the DR cluster that replicates from production through the
  router's slave_dbscale_server (seed 002).
  verify  checks both routers, every dataserver, the DR link, DR replication,
          GTID containment and room for the snapshot; one line per check.
  start   runs verify's checks, then opens a drill (MariaDB): detaches the
          DR cluster, stops its replication once applied, disables the donor,
          opens the DR cluster read-write and snapshots the donor onto every
          other DR node (a server on the snapshot port, default 18000);
          --dry-run prints the steps and the donor it would pick, and why.
  stop    closes the drill: read-only, every DR node's data replaced by its
          snapshot, the donor enabled, the DR cluster attached and
          replicating; with no drill open it says so and exits 0.
  status  prints what the journal says: which drill, which step, since when.

  -si / -ti (also --si / --ti) give the production and DR routers and
  override [source]/[target] host and port. The default config is
  dr_flashback.ini beside the binary; the journal is the seed's
  log/gio_flashback_redo.log beside the binary unless --journal or
  [misc] journal-file says otherwise.

EXIT STATUS:
  0 done (verify: every check passed); 1 failed (one ERROR: line names the
  step, the host and the cause); 2 bad arguments or configuration.

EXAMPLES:
  dr-flashback verify -si 10.0.0.10:3307 -ti 10.1.0.10:3307
  dr-flashback verify -si 10.0.0.10:3307 -ti 10.1.0.10:3307 --config /etc/dr_flashback.ini --json
  dr-flashback start -si 10.0.0.10:3307 -ti 10.1.0.10:3307 --dry-run
  dr-flashback status";

fn main() -> ExitCode {
    if let Some(code) = cli::generate_if_asked::<Cli>() {
        return code;
    }
    let cli = match Cli::try_parse_from(args::seed_spelling(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            // Help and version go to stdout with status 0, as clap's own.
            if e.print().is_err() || usage {
                return ExitCode::from(cli::EXIT_USAGE);
            }
            return ExitCode::SUCCESS;
        }
    };
    if cli.version {
        println!("{}", cli::version_line());
        return ExitCode::SUCCESS;
    }
    let Some(verb) = &cli.verb else {
        eprintln!("ERROR: no verb given: dr-flashback verify|start|stop|status (see --help)");
        return ExitCode::from(cli::EXIT_USAGE);
    };
    cli::init_logging(cli.verbose, &["dr_flashback", "flashback"]);
    match verb {
        Verb::Status => status(&cli),
        Verb::Verify(_) => with_settings(&cli, verb, |settings| verify(&cli, settings)),
        Verb::Start(drill) => with_settings(&cli, verb, |settings| start(&cli, drill, settings)),
        Verb::Stop(drill) => with_settings(&cli, verb, |settings| stop(&cli, drill, settings)),
    }
}

/// The config file: `--config`, else `dr_flashback.ini` beside the binary.
fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| beside_binary("dr_flashback.ini"))
}

fn beside_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The journal: `--journal`, else the config's `journal-file`, else the
/// seed's path beside the binary.
fn journal(cli: &Cli, config: Option<&conf::FlashbackConfig>) -> flashback::Journal {
    match (&cli.journal, config.and_then(|c| c.journal_file.as_ref())) {
        (Some(path), _) | (None, Some(path)) => flashback::Journal::new(path),
        (None, None) => flashback::Journal::in_dir(&beside_binary("")),
    }
}

fn with_settings(
    cli: &Cli,
    verb: &Verb,
    run: impl FnOnce(flashback::Settings) -> ExitCode,
) -> ExitCode {
    let usage = |message: &dyn std::fmt::Display| {
        eprintln!("ERROR: {message}");
        ExitCode::from(cli::EXIT_USAGE)
    };
    let Some(routers) = verb.routers() else {
        return usage(&format_args!("{} takes no routers", verb.name()));
    };
    let path = config_path(cli);
    let config = match conf::FlashbackConfig::load(&path) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let addresses = flashback::RouterAddr::parse("-si", &routers.si)
        .and_then(|p| flashback::RouterAddr::parse("-ti", &routers.ti).map(|d| (p, d)));
    match addresses {
        Ok((production, dr)) => run(flashback::Settings::new(config, production, dr)),
        Err(e) => usage(&e),
    }
}

fn verify(cli: &Cli, settings: flashback::Settings) -> ExitCode {
    let json = cli.json;
    cli::run_async(async move {
        let report = match flashback::verify(&settings).await {
            Ok(report) => report,
            Err(e) => return cli::fail(format_args!("verify: {e}")),
        };
        output::verify_report(&report, json);
        match report.checks.iter().find(|c| c.failure().is_some()) {
            None if report.passed() => ExitCode::SUCCESS,
            None => cli::fail("verify: some checks could not run (see the skip lines)"),
            Some(first) => cli::fail(output::first_failure(&report, first)),
        }
    })
}

fn status(cli: &Cli) -> ExitCode {
    let path = config_path(cli);
    let config = Path::new(&path)
        .exists()
        .then(|| conf::FlashbackConfig::load(&path));
    let config = match config.transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let journal = journal(cli, config.as_ref());
    match journal.read() {
        Ok(state) => {
            output::status(&journal, &state, cli.json);
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail(format_args!("status: {e}")),
    }
}

/// `start`: the checks and the plan; with `--dry-run` nothing more,
/// else the drill's steps, a line each.
fn start(cli: &Cli, drill: &args::Drill, settings: flashback::Settings) -> ExitCode {
    let journal = journal(cli, Some(&settings.config));
    let (json, dry_run) = (cli.json, drill.dry_run);
    cli::run_async(async move {
        if dry_run {
            return match flashback::plan_start(&settings, &journal).await {
                Ok((report, plan)) => {
                    output::start_plan(&report, plan.as_ref(), json);
                    match plan {
                        Some(_) if !json => {
                            println!("dry run: nothing changed");
                            ExitCode::SUCCESS
                        }
                        Some(_) => ExitCode::SUCCESS,
                        None => refused(&report),
                    }
                }
                Err(e) => cli::fail(format_args!("start: {e}")),
            };
        }
        let say = |line: &str| output::progress(line, json);
        match flashback::start(&settings, &journal, &say).await {
            Ok((report, Some(done))) => {
                output::started(&report, &done, json);
                ExitCode::SUCCESS
            }
            Ok((report, None)) => {
                output::verify_report(&report, json);
                refused(&report)
            }
            Err(e) => cli::fail(format_args!(
                "start: {e} (see `dr-flashback status`; `dr-flashback stop` brings the DR cluster back)"
            )),
        }
    })
}

/// The `ERROR:` line of a start whose checks failed.
fn refused(report: &flashback::Report) -> ExitCode {
    match report.failures().next() {
        Some(first) => cli::fail(format_args!(
            "start refused: {}",
            output::first_failure(report, first)
        )),
        None => cli::fail("start refused: some checks could not run (see the skip lines)"),
    }
}

/// `stop`: with no drill open, nothing to do (a second stop says so);
/// `--dry-run` lists the steps.
fn stop(cli: &Cli, drill: &args::Drill, settings: flashback::Settings) -> ExitCode {
    let journal = journal(cli, Some(&settings.config));
    let json = cli.json;
    let entry = match journal.read() {
        Ok(flashback::JournalState::Closed) => {
            println!(
                "no drill is open (journal {}): nothing to stop",
                journal.path().display()
            );
            return ExitCode::SUCCESS;
        }
        Ok(flashback::JournalState::Open(entry)) => entry,
        Ok(flashback::JournalState::SeedTool(_)) => {
            return cli::fail(format_args!(
                "stop: journal {}: the drill was opened by the seed's dr-flashback; close it with that tool",
                journal.path().display()
            ));
        }
        Err(e) => return cli::fail(format_args!("stop: {e}")),
    };
    if drill.dry_run {
        println!(
            "drill {} (journal {}):",
            entry.drill_id,
            journal.path().display()
        );
        for (i, step) in flashback::drill::stop_plan(&entry).iter().enumerate() {
            println!("step {}: {step}", i + 1);
        }
        println!("dry run: nothing changed");
        return ExitCode::SUCCESS;
    }
    cli::run_async(async move {
        let say = |line: &str| output::progress(line, json);
        match flashback::stop(&settings, &journal, &say).await {
            Ok(done) => {
                output::stopped(done.as_ref(), json);
                ExitCode::SUCCESS
            }
            Err(e) => cli::fail(format_args!(
                "stop: {e} (run stop again once the cause is fixed)"
            )),
        }
    })
}
