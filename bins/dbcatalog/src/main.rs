//! `dbcatalog`: the command line of the logical backup engine (crate
//! `logical`), pybackup's commands kept.

use clap::{Parser, Subcommand};
use logical::{BackupOptions, LogicalError, MydumperArgs, Recorded};
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
WHAT IT DOES:
  mydumper: backs up the databases [TDB] db_list names (MySQL wildcards,
  !name exclusions, % for all; database=/regex=/tables-list= on the command
  line override it) with mydumper into <outputdir>/<bk_id>/, one run per
  database, or one consistent run when [TDB] db_consistency = True; then
  rsyncs <outputdir> to [rsync] dest and records the backup in the catalog
  ([CATALOG], table user_backup). ARG... are mydumper's long options without
  `--` (outputdir=DIR threads=8 compress ...); host/port/user/password/socket
  default to [TDB]. No password is ever put on a command line.
  `dbcatalog mydumper help` prints mydumper's own help.
  only-rsync: sends a backup directory again; with --bk-id records it.
  mark-del: marks every backup (bk_id directory) under --backup-dir deleted.
  validate-backup: loads the oldest backup not yet validated into a scratch
  MariaDB with myloader, checks every table, records the result.
  list: the recent backups from the catalog.

EXIT STATUS:
  0 done; 1 failed (one ERROR: line says why; a backup whose catalog record
  could not be written also exits 1, its files are kept); 2 bad arguments or
  configuration.

EXAMPLES:
  dbcatalog mydumper outputdir=/data/backup_db/2026-12-04 verbose=3 compress threads=8 triggers events routines use-savepoints logfile=/data/backup_db/pybackup.log
  dbcatalog only-rsync --backup-dir=/data/backup_db/2026-12-04 --bk-id=bcd36dc6-c9e7-41e7-9e30-005056b15d9c
  dbcatalog mark-del --backup-dir=/data/backup_db/2026-11-01
  dbcatalog validate-backup --log-file=/var/log/validate.log
  dbcatalog list --json";

/// Logical backups (mydumper + rsync) recorded in a catalog database.
#[derive(Debug, Parser)]
#[command(about, after_help = AFTER_HELP, disable_version_flag = true)]
struct Cli {
    /// pybackup's configuration file.
    #[arg(
        long = "config",
        short = 'c',
        env = "PBACKUP_CONF",
        default_value = "pbackup.conf",
        global = true
    )]
    config: PathBuf,
    #[command(flatten)]
    common: cli::Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Back up with mydumper: ARG... are its long options without `--`.
    Mydumper {
        /// mydumper options as key=value or key (`help` prints mydumper's help).
        #[arg(required = true)]
        args: Vec<String>,
        /// Do not use rsync.
        #[arg(long)]
        no_rsync: bool,
        /// Do not record backup history information.
        #[arg(long)]
        no_history: bool,
        /// Equal to --no-rsync and --no-history together.
        #[arg(long, conflicts_with_all = ["no_rsync", "no_history"])]
        only_backup: bool,
    },
    /// Send a backup directory to [rsync] dest (after a failed transfer).
    OnlyRsync {
        /// The directory to send.
        #[arg(long, default_value = "./")]
        backup_dir: PathBuf,
        /// Record the transfer in this backup's user_backup row.
        #[arg(long)]
        bk_id: Option<String>,
        /// rsync's log file.
        #[arg(long)]
        log_file: Option<PathBuf>,
    },
    /// Mark every backup under DIR (directories named by bk_id) deleted.
    MarkDel {
        /// The directory holding bk_id directories.
        #[arg(long, required = true)]
        backup_dir: PathBuf,
    },
    /// Restore-test the oldest backup not yet validated.
    ValidateBackup {
        /// The log of the tools run (myloader, the scratch server).
        #[arg(long, default_value = "./pybackup_default.log")]
        log_file: PathBuf,
        /// Where the scratch server's directory is made (short: a socket
        /// path must fit 107 bytes).
        #[arg(long, default_value = "/tmp")]
        scratch_dir: PathBuf,
    },
    /// Recent backups: size, duration, transfer and validation state.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

fn main() -> ExitCode {
    if let Some(code) = cli::generate_if_asked::<Cli>() {
        return code;
    }
    let cli = Cli::parse();
    if let Some(code) = cli.common.version_exit() {
        return code;
    }
    let Some(command) = cli.command else {
        eprintln!(
            "ERROR: a command is needed: mydumper, only-rsync, mark-del, validate-backup or list (see --help)"
        );
        return ExitCode::from(cli::EXIT_USAGE);
    };
    // `dbcatalog --log-format json --log-file F <command>`: the tool's own
    // log (the subcommands' --log-file are rsync's and the validation's).
    if let Err(e) = cli
        .common
        .init_logging(&["dbcatalog", "logical", "catalog"])
    {
        eprintln!("ERROR: {e}");
        return ExitCode::from(cli::EXIT_USAGE);
    }
    if let Command::Mydumper { args, .. } = &command
        && args.iter().any(|a| a == "help")
    {
        return match std::process::Command::new("mydumper")
            .arg("--help")
            .status()
        {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            Ok(s) => cli::fail(format_args!("mydumper --help: {s}")),
            Err(e) => cli::fail(format_args!("cannot start mydumper: {e}")),
        };
    }
    let cfg = match conf::PbackupConfig::load(&cli.config) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    cli::run_async(async move {
        // On SIGINT/SIGTERM the run is dropped: its tools (mydumper, rsync,
        // myloader, a scratch server) are killed, the defaults file and
        // scratch directory removed, a validation's claim released.
        tokio::select! {
            code = run(cfg, command) => code,
            signal = stop_signal() => cli::fail(format_args!("stopped by {signal}; what the run started was stopped and its temporary files removed")),
        }
    })
}

/// The first SIGINT or SIGTERM.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn usage(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("ERROR: {e}");
    ExitCode::from(cli::EXIT_USAGE)
}

fn fail(e: &LogicalError) -> ExitCode {
    if e.is_usage() { usage(e) } else { cli::fail(e) }
}

async fn run(cfg: conf::PbackupConfig, command: Command) -> ExitCode {
    match command {
        Command::Mydumper {
            args,
            no_rsync,
            no_history,
            only_backup,
        } => {
            let parsed = match MydumperArgs::parse(&args) {
                Ok(a) => a,
                Err(e) => return fail(&e),
            };
            let opts = BackupOptions {
                no_rsync: no_rsync || only_backup,
                no_history: no_history || only_backup,
            };
            match logical::backup(&cfg, &parsed, opts).await {
                Ok(outcome) => report_backup(&outcome),
                Err(e) => fail(&e),
            }
        }
        Command::OnlyRsync {
            backup_dir,
            bk_id,
            log_file,
        } => {
            match logical::only_rsync(&cfg, &backup_dir, bk_id.as_deref(), log_file.as_deref())
                .await
            {
                Ok(done) => report_rsync(&done, &backup_dir, bk_id.as_deref()),
                Err(e) => fail(&e),
            }
        }
        Command::MarkDel { backup_dir } => match logical::mark_del(&cfg, &backup_dir).await {
            Ok(marked) => {
                for (id, changed) in marked {
                    println!(
                        "{id}: {}",
                        if changed {
                            "marked deleted"
                        } else {
                            "not in the catalog or already marked"
                        }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::ValidateBackup {
            log_file,
            scratch_dir,
        } => match logical::validate_backup(&cfg, &log_file, &scratch_dir).await {
            Ok(validation) => report_validation(validation.as_ref()),
            Err(e) => fail(&e),
        },
        Command::List { json, limit } => match logical::list(&cfg, limit).await {
            Ok(rows) if json => match serde_json::to_string_pretty(&rows) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => cli::fail(e),
            },
            Ok(rows) => {
                print_list(rows);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

/// `only-rsync`'s lines: a missing catalog row warned about, the transfer
/// failed or done.
fn report_rsync(
    done: &logical::maintain::OnlyRsync,
    backup_dir: &std::path::Path,
    bk_id: Option<&str>,
) -> ExitCode {
    if let Some(false) = done.updated {
        eprintln!(
            "warning: the catalog has no backup {}; nothing recorded",
            bk_id.unwrap_or_default()
        );
    }
    match &done.failure {
        Some(e) => cli::fail(e),
        None => {
            println!(
                "rsync of {} done in {} s",
                backup_dir.display(),
                done.transfer.elapsed_secs()
            );
            ExitCode::SUCCESS
        }
    }
}

/// `validate-backup`'s lines: each database restored or not, then the
/// verdict (exit 1 when the validation failed).
fn report_validation(v: Option<&logical::validate::Validation>) -> ExitCode {
    let Some(v) = v else {
        println!("nothing to validate");
        return ExitCode::SUCCESS;
    };
    for db in &v.databases {
        println!(
            "{}: {} {} ({} s)",
            v.bk_id,
            db.db,
            if db.ok { "restored" } else { "FAILED" },
            db.elapsed_secs
        );
    }
    match &v.failure {
        None => {
            println!("backup {} validated", v.bk_id);
            ExitCode::SUCCESS
        }
        Some(why) => cli::fail(format_args!("validation of {} failed: {why}", v.bk_id)),
    }
}

/// `list`'s table: one row per backup, in the catalog's order.
fn print_list(rows: Vec<catalog::history::BackupRecord>) {
    println!(
        "{:<36}  {:<15}  {:<19}  {:>7}  {:>6}  {:<8}  {:<8}  {:<7}  databases",
        "bk_id", "server", "start", "size", "secs", "complete", "transfer", "valid"
    );
    for r in rows {
        let complete = r.is_complete.as_deref().map_or("", |c| {
            if c.split(',').all(|x| x == "Y") {
                "Y"
            } else {
                "N"
            }
        });
        println!(
            "{:<36}  {:<15}  {:<19}  {:>7}  {:>6}  {:<8}  {:<8}  {:<7}  {}{}",
            r.bk_id,
            r.bk_server,
            r.start_time.to_string(),
            r.bk_size,
            r.elapsed_time,
            complete,
            r.transfer_complete,
            r.validate_status,
            r.backuped_db.unwrap_or_default(),
            if r.is_deleted == "Y" {
                " (deleted)"
            } else {
                ""
            }
        );
    }
}

/// The backup's lines; exit 1 when anything of it failed.
fn report_backup(o: &logical::BackupOutcome) -> ExitCode {
    let r = &o.record;
    for run in &o.runs {
        match &run.failure {
            None => println!(
                "{}: backed up into {}",
                run.databases.join(","),
                run.dir.display()
            ),
            Some(why) => println!("{}: FAILED: {why}", run.databases.join(",")),
        }
    }
    println!(
        "bk_id {} ({}, {} s) in {}",
        r.bk_id,
        r.bk_size,
        r.elapsed_time,
        o.backup_dir.display()
    );
    let mut problems = Vec::new();
    if o.runs.iter().any(|r| !r.ok) {
        problems.push("a mydumper run failed".to_owned());
    }
    match &o.transfer {
        Some((t, None)) => println!("sent to {} in {} s", r.remote_dest, t.elapsed_secs()),
        Some((_, Some(e))) => problems.push(format!(
            "{e}; send it with `dbcatalog only-rsync --backup-dir={} --bk-id={}`",
            r.bk_dir, r.bk_id
        )),
        None => println!("not sent (--no-rsync)"),
    }
    match &o.recorded {
        Recorded::Yes(id) => println!("recorded in the catalog (user_backup id {id})"),
        Recorded::Skipped => println!("not recorded (--no-history)"),
        Recorded::Missing(e) => problems.push(format!(
            "the backup is kept but its catalog record is missing: {e}"
        )),
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        cli::fail(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_seed_command_lines_parse() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "dbcatalog",
            "mydumper",
            "password=x",
            "database=fandb",
            "outputdir=/o",
            "verbose=3",
            "--no-rsync",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Mydumper {
                args,
                no_rsync,
                no_history,
                only_backup,
            }) => {
                assert_eq!(
                    args,
                    ["password=x", "database=fandb", "outputdir=/o", "verbose=3"]
                );
                assert!(no_rsync && !no_history && !only_backup);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "dbcatalog",
            "--log-format",
            "json",
            "--log-file",
            "/tmp/x.log",
            "only-rsync",
            "--bk-id=abc",
            "--log-file=/tmp/rsync.log",
        ])
        .unwrap();
        assert_eq!(cli.common.log_file, Some(PathBuf::from("/tmp/x.log")));
        assert!(
            matches!(cli.command, Some(Command::OnlyRsync { ref log_file, .. }) if log_file.as_deref() == Some(std::path::Path::new("/tmp/rsync.log")))
        );
        let cli = Cli::try_parse_from(["dbcatalog", "only-rsync", "--bk-id=abc"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::OnlyRsync { ref backup_dir, .. }) if backup_dir == &PathBuf::from("./"))
        );
        // --only-backup excludes the other two, as in the seed.
        for other in ["--no-rsync", "--no-history"] {
            assert!(
                Cli::try_parse_from([
                    "dbcatalog",
                    "mydumper",
                    "outputdir=/o",
                    "--only-backup",
                    other
                ])
                .is_err()
            );
        }
        assert!(
            Cli::try_parse_from(["dbcatalog", "mark-del"]).is_err(),
            "--backup-dir is required"
        );
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("EXIT STATUS") && help.contains("2 bad arguments"));
    }
}
