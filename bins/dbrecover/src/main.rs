//! `dbrecover`: the command line of the recovery engine (crate `recovery`).

mod progress;
mod run_record;
mod summary;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

const AFTER_HELP: &str = "\
WHAT IT DOES:
  Reads recovery.conf: [recover-to] names either a backup directory (dir =
  UTC...-full|inc) or a time (stop-datetime = 'YYYY-MM-DD HH:MM:SS', local
  time as in consistent_point_datetime). Chooses the chain of backups on the
  store (the full backup, its incrementals, and for a time the next backup,
  whose binlogs cover it), ships it to the recovery job server
  ([recovery-job-server]), and there, per datasource in parallel, extracts and
  prepares the data, starts a temporary server (from server-tmp-port on),
  replays the master's binlogs to the target and shuts it down. Each
  datasource's data directory is then ready, as the seed lays it out, at
  <work-dir>/<target>/datadir/<ds>-<server>-<host>-<port>/ (the tools' logs
  and the temporary servers' files under <work-dir>/<target>/tmp/).

PASSWORD (an encrypted chain; the first that is given wins):
  --password-file F   first line of F
  -p PASS             as the seed tool; visible to other users in `ps`
  DBRECOVER_PASSWORD  environment variable
  One given but empty is an error (not taken as no password).

EXIT STATUS:
  0 recovered; 1 failed (one ERROR: line says why); 2 bad arguments or
  configuration.

EXAMPLES:
  dbrecover --config-file recovery.conf --dry-run
  dbrecover --config-file recovery.conf
  dbrecover --config-file recovery.conf --password-file /etc/dbbackup/key";

/// Restore a whole DBScale cluster to a backup or a point in time.
#[derive(Debug, Parser)]
#[command(about, after_help = AFTER_HELP, disable_version_flag = true)]
struct Cli {
    /// The seed-format configuration file.
    #[arg(long = "config-file", default_value = "recovery.conf")]
    config_file: PathBuf,
    /// The chain's encryption password.
    #[command(flatten)]
    password: cli::PasswordArgs,
    /// Print the chain and the binlogs to replay per datasource (start and
    /// stop positions) and exit; nothing is touched.
    #[arg(long)]
    dry_run: bool,
    /// How many datasources restore at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Parallel replication workers replaying each datasource's binlogs
    /// to a backup's consistence point (transactions applied at once,
    /// committed in binlog order). 0, the default: the SQL thread applies
    /// one transaction at a time, which measured fastest on two cores; on a
    /// job server with cores to spare per datasource, try 4.
    #[arg(long, default_value_t = recovery::DEFAULT_REPLAY_WORKERS, value_name = "N")]
    replay_workers: usize,
    /// Do not check the chain's files against their manifests before
    /// preparing (the check reads every shipped file once more).
    #[arg(long)]
    no_verify: bool,
    /// Print the report as one JSON document on stdout (the plan goes to
    /// stderr).
    #[arg(long)]
    json: bool,
    /// Print no plan, no progress and no report: only warnings, errors and
    /// the result line (for cron).
    #[arg(short = 'q', long)]
    quiet: bool,
    #[command(flatten)]
    common: cli::Common,
}

fn main() -> ExitCode {
    if let Some(code) = cli::generate_if_asked::<Cli>() {
        return code;
    }
    let cli = Cli::parse();
    if let Some(code) = cli.common.version_exit() {
        return code;
    }
    let display =
        cli::progress::Display::new(!cli.dry_run && cli::progress::wanted(cli.quiet, cli.json));
    // The engine's info lines and step timings are detail: `-d` shows them.
    let logging = match cli.common.init_logging_for_run(
        &["dbrecover"],
        &["recovery", "stream::timing"],
        &display,
    ) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let (cfg, password) = match cli::config_and_password(
        || conf::RecoveryConfig::load(&cli.config_file),
        &cli.password,
        "DBRECOVER_PASSWORD",
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    logging.config_debug(cfg.debug);
    cli::run_async(run(cli, cfg, password, display))
}

async fn run(
    cli: Cli,
    cfg: conf::RecoveryConfig,
    password: Option<Zeroizing<String>>,
    display: cli::progress::Display,
) -> ExitCode {
    let progress = progress::Progress::new(display);
    let options = recovery::Options {
        password,
        parallel: Some(cli.parallel),
        replay_workers: Some(cli.replay_workers),
        skip_verify: cli.no_verify,
        observer: Some(progress.clone()),
    };
    let mut record = run_record::RunRecord::start(&cfg, cli.dry_run);
    let target = cfg.recover_to.clone();
    let prepared = match recovery::prepare(cfg, options).await {
        Ok(p) => p,
        Err(e) => {
            let warning = record.finish(Err(&e)).await;
            return fail(&e, warning.as_deref());
        }
    };
    record.planned(prepared.plan(), &target).await;
    if cli.json {
        eprint!("{}", prepared.plan());
    } else if !cli.quiet || cli.dry_run {
        print!("{}", prepared.plan());
    }
    if cli.dry_run {
        println!("dry run: nothing touched");
        return ExitCode::SUCCESS;
    }
    progress.plan(prepared.plan());
    let executed = recovery::execute(prepared).await;
    progress.clear();
    let mut outcome = match executed {
        Ok(outcome) => outcome,
        Err(e) => {
            let warning = record.finish(Err(&e)).await;
            return fail(&e, warning.as_deref());
        }
    };
    let warning = record.finish(Ok(&outcome)).await;
    outcome.warnings.extend(warning);
    if cli.json {
        println!("{:#}", report_json(&outcome));
    } else {
        print_report(&outcome, cli.quiet);
    }
    ExitCode::SUCCESS
}

/// The report a DBA reads: per datasource where its data is, what it
/// reached, with which stop, and every table's row count.
fn print_report(outcome: &recovery::Outcome, quiet: bool) {
    let host = &outcome.plan.job_host;
    for r in outcome.restored.iter().filter(|_| !quiet) {
        let ds = &r.datasource;
        println!(
            "datasource {ds}: restored ({} binlog files replayed by {}) in {host}:{}",
            r.binlogs, r.replayed_by, r.data_dir
        );
        match &r.position {
            Some(p) => println!("datasource {ds}: binlog position {p} of its master"),
            None => println!("datasource {ds}: binlog position: up to the stop time"),
        }
        match &r.gtid {
            Some(g) => println!("datasource {ds}: GTID position {g}"),
            None => println!("datasource {ds}: no GTID position"),
        }
        println!(
            "datasource {ds}: stop used: {}",
            r.stop_used.as_deref().unwrap_or("none (nothing to replay)")
        );
        for t in &r.tables {
            println!(
                "datasource {ds}: table {}.{}: {} rows",
                t.schema, t.table, t.rows
            );
        }
    }
    if !quiet {
        print!(
            "{}",
            summary::table(&summary::rows(outcome), outcome.elapsed)
        );
        println!("temporary servers ran {host}:{}", outcome.server);
        if let Some(info) = &outcome.ds_info {
            println!("ds_info for the PIT tool: {host}:{}", info.path);
        }
    }
    for w in &outcome.warnings {
        println!("WARNING: {w}");
    }
    println!(
        "cluster recovery succeed in {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
}

/// `--json`: the same report as one document.
fn report_json(outcome: &recovery::Outcome) -> serde_json::Value {
    serde_json::json!({
        "job_host": outcome.plan.job_host,
        "chain": outcome.plan.apply.chain.backups.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "server": outcome.server,
        "ds_info": outcome.ds_info.as_ref().map(|i| i.path.clone()),
        "elapsed_secs": outcome.elapsed.as_secs_f64(),
        "timings": outcome.timings.to_json(),
        "warnings": outcome.warnings,
        "datasources": outcome.restored.iter().map(|r| serde_json::json!({
            "datasource": r.datasource,
            "data_dir": r.data_dir,
            "binlogs_replayed": r.binlogs,
            "replayed_by": r.replayed_by,
            "binlog_position": r.position.as_ref().map(ToString::to_string),
            "gtid_position": r.gtid.as_ref().map(ToString::to_string),
            "stop_used": r.stop_used,
            "tables": r.tables.iter().map(|t| serde_json::json!({
                "schema": t.schema, "table": t.table, "rows": t.rows,
            })).collect::<Vec<_>>(),
            "timings": r.timings.to_json(),
        })).collect::<Vec<_>>(),
    })
}

/// The `ERROR:` line, a warning, then the seed's last line of a failed
/// recovery.
fn fail(error: &recovery::RecoveryError, warning: Option<&str>) -> ExitCode {
    let code = cli::fail(error);
    if let Some(w) = warning {
        println!("WARNING: {w}");
    }
    println!("cluster recovery failed.");
    code
}
