//! `dbbackup spiderbackup`: the command line of `backup::spider` (seed
//! 004) and what it prints.

use backup::spider::{self, CheckOptions, CheckReport, Located, Overall, ScheduleOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `spiderbackup`'s options and action.
#[derive(Debug, clap::Args)]
pub struct SpiderArgs {
    /// The config file (schedule, query); for check a comma-separated
    /// list (default: the `backup*.conf` and `dbbackup.*.ini` files in the
    /// working directory).
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        value_delimiter = ',',
        value_name = "FILE[,FILE...]"
    )]
    config: Vec<PathBuf>,
    #[command(subcommand)]
    action: Action,
}

/// What `spiderbackup` does.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// On the controller: plan the backup as `dbbackup` would and write one
    /// task per chosen server into infodba_schema.global_backup.
    Schedule(ScheduleArgs),
    /// On each database host (cron, every minute): housekeeping of this
    /// host's tasks, then run its init tasks of the earliest backup id.
    Check(CheckArgs),
    /// The tasks, as a table (or --json).
    Query(QueryArgs),
}

/// `spiderbackup schedule`.
#[derive(Debug, clap::Args)]
struct ScheduleArgs {
    /// Wait until every task of the backup id has ended (and the backup
    /// is finished); exit 1 if any failed.
    #[arg(long)]
    wait: bool,
    /// Use this backup id instead of a new UUID.
    #[arg(long = "backup-id", value_name = "ID")]
    backup_id: Option<String>,
    /// Print the plan only; write no task.
    #[arg(long, conflicts_with = "wait")]
    dry_run: bool,
    /// Seconds between two looks at the tasks while waiting.
    #[arg(long, default_value_t = 5, hide = true)]
    poll_secs: u64,
    /// Failed looks in a row (router or a master unreachable) before
    /// the wait gives up.
    #[arg(long, default_value_t = 120, hide = true)]
    tries: u32,
}

/// `spiderbackup check`.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Run the tasks (required, as in the seed's command line).
    #[arg(long, required = true)]
    run: bool,
    /// Only this backup id's tasks.
    #[arg(long = "backup-id", value_name = "ID")]
    backup_id: Option<String>,
    /// The address of this host as tasks name it (default: the server
    /// address of $SSH_CONNECTION and the addresses of `hostname -I`).
    #[arg(long, value_name = "ADDR")]
    host: Option<String>,
    /// init/running tasks older than this are failed (48 h).
    #[arg(long, default_value_t = 48 * 3600, hide = true)]
    expire_after_secs: u64,
    /// Seconds a quit task's worker gets after SIGTERM before SIGKILL.
    #[arg(long, default_value_t = 10, hide = true)]
    stop_wait_secs: u64,
    /// Seconds between a running worker's looks at its own task (it
    /// stops itself when the task is set to quit).
    #[arg(long, default_value_t = 10, hide = true)]
    quit_poll_secs: u64,
}

/// `spiderbackup query`.
#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// Only this backup id.
    #[arg(long = "backupId", alias = "backup-id", value_name = "ID")]
    backup_id: Option<String>,
    /// Only tasks in this state (init, running, success, failed, quit).
    #[arg(long = "backupStatus", alias = "backup-status", value_name = "STATUS")]
    backup_status: Option<String>,
    /// One JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

fn load(path: &Path) -> Result<conf::BackupConfig, ExitCode> {
    conf::BackupConfig::load(path).map_err(|e| {
        eprintln!("ERROR: {e}");
        ExitCode::from(cli::EXIT_USAGE)
    })
}

fn one_config(args: &SpiderArgs) -> Result<conf::BackupConfig, ExitCode> {
    match args.config.as_slice() {
        [one] => load(one),
        [] => load(Path::new("backup.conf")),
        _ => {
            eprintln!("ERROR: schedule and query take one config file (-c FILE)");
            Err(ExitCode::from(cli::EXIT_USAGE))
        }
    }
}

/// The `backup*.conf` and `dbbackup.*.ini` files of `dir`, sorted.
pub fn found_configs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("backup") && n.ends_with(".conf"))
                    || (n.len() >= "dbbackup..ini".len()
                        && n.starts_with("dbbackup.")
                        && n.ends_with(".ini"))
            })
        })
        .collect();
    out.sort();
    out
}

fn my_host() -> String {
    let ssh = std::env::var("SSH_CONNECTION").ok();
    spider::local_addresses(None, ssh.as_deref())
        .into_iter()
        .next()
        .unwrap_or_else(|| "localhost".into())
}

/// Runs `dbbackup spiderbackup ...`.
pub async fn run(args: SpiderArgs) -> ExitCode {
    match &args.action {
        Action::Schedule(a) => schedule(&args, a).await,
        Action::Check(a) => check(&args, a).await,
        Action::Query(a) => query(&args, a).await,
    }
}

/// `schedule`: the plan, the tasks written, and with `--wait` their end.
async fn schedule(args: &SpiderArgs, a: &ScheduleArgs) -> ExitCode {
    let cfg = match one_config(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let opts = ScheduleOptions {
        backup_id: a.backup_id.clone(),
        dry_run: a.dry_run,
    };
    let scheduled = match spider::schedule(cfg.clone(), &opts).await {
        Ok(s) => s,
        Err(e) => return cli::fail(e),
    };
    print!("{}", scheduled.plan);
    if !scheduled.written {
        println!("dry run: no task written");
        return ExitCode::SUCCESS;
    }
    println!(
        "backup id {}: {} tasks written",
        scheduled.backup_id,
        scheduled.plan.servers.len()
    );
    if !a.wait {
        return ExitCode::SUCCESS;
    }
    let wait_opts = spider::WaitOptions {
        poll: Duration::from_secs(a.poll_secs.max(1)),
        tries: a.tries.max(1),
        worker: spider::this_worker(&my_host()),
    };
    let w = match spider::wait(&cfg, &scheduled.backup_id, &wait_opts).await {
        Ok(w) => w,
        Err(e) => return cli::fail(e),
    };
    print!("{}", tasks_table(&w.tasks));
    match (w.overall, w.failure) {
        (Overall::Succeeded, _) => {
            println!(
                "backup id {} succeeded: {} has ok",
                scheduled.backup_id, scheduled.plan.name
            );
            ExitCode::SUCCESS
        }
        (_, failure) => cli::fail(format_args!(
            "backup id {} failed: {}",
            scheduled.backup_id,
            failure.unwrap_or_else(|| "a task failed".into())
        )),
    }
}

/// `check --run`: each config's housekeeping and this host's tasks; exit 1
/// when any failed.
async fn check(args: &SpiderArgs, a: &CheckArgs) -> ExitCode {
    let configs = if args.config.is_empty() {
        found_configs(Path::new("."))
    } else {
        args.config.clone()
    };
    if configs.is_empty() {
        eprintln!("ERROR: no config given (-c) and no backup*.conf or dbbackup.*.ini here");
        return ExitCode::from(cli::EXIT_USAGE);
    }
    let ssh = std::env::var("SSH_CONNECTION").ok();
    let opts = CheckOptions {
        hosts: spider::local_addresses(a.host.as_deref(), ssh.as_deref()),
        backup_id: a.backup_id.clone(),
        expire_after: Duration::from_secs(a.expire_after_secs),
        stop_wait: Duration::from_secs(a.stop_wait_secs),
        quit_poll: Duration::from_secs(a.quit_poll_secs.max(1)),
    };
    let mut failed = false;
    for path in configs {
        let cfg = match load(&path) {
            Ok(c) => c,
            Err(code) => return code,
        };
        match spider::check_run(cfg, &opts).await {
            Ok(report) => {
                print!("{}", check_report(&path, &report));
                failed |= report.failed();
            }
            Err(e) => {
                eprintln!("ERROR: {}: {e}", path.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `query`: the tasks, filtered, as a table or JSON.
async fn query(args: &SpiderArgs, a: &QueryArgs) -> ExitCode {
    let status = match a.backup_status.as_deref().map(str::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: --backupStatus: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let cfg = match one_config(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let filter = spider::Filter {
        backup_id: a.backup_id.clone(),
        status,
        host: None,
    };
    match spider::query(cfg, &filter).await {
        Ok(tasks) if a.json => {
            println!("{:#}", tasks_json(&tasks));
            ExitCode::SUCCESS
        }
        Ok(tasks) => {
            print!("{}", tasks_table(&tasks));
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail(e),
    }
}

fn time(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The tasks as a table.
pub fn tasks_table(tasks: &[Located]) -> String {
    let mut out = format!(
        "{:<36} {:<12} {:<20} {:<8} {:<8} {:<19} {:<19} {:<29} {}\n",
        "BackupId",
        "ServerName",
        "Host:Port",
        "Status",
        "TaskPid",
        "StartedAt",
        "EndedAt",
        "BackupName",
        "Reason"
    );
    for l in tasks {
        let t = &l.task;
        out += &format!(
            "{:<36} {:<12} {:<20} {:<8} {:<8} {:<19} {:<19} {:<29} {}\n",
            t.backup_id,
            t.server_name,
            format!("{}:{}", t.host, t.port),
            t.status,
            t.task_pid.map_or_else(|| "-".into(), |p| p.to_string()),
            time(t.started_at),
            time(t.ended_at),
            t.backup_name,
            t.reason.as_deref().unwrap_or("").replace('\n', " ")
        );
    }
    if tasks.is_empty() {
        out += "(no task)\n";
    }
    out
}

/// The tasks as JSON (without their plans and results).
pub fn tasks_json(tasks: &[Located]) -> serde_json::Value {
    tasks
        .iter()
        .map(|l| {
            let t = &l.task;
            serde_json::json!({
                "id": t.id,
                "backup_id": t.backup_id,
                "server": t.server_name,
                "datasource": t.datasource,
                "host": t.host,
                "port": t.port,
                "status": t.status.as_str(),
                "task_pid": t.task_pid,
                "worker_host": t.worker_host,
                "backup_name": t.backup_name,
                "created_at": time(Some(t.created_at)),
                "started_at": t.started_at.map(|x| time(Some(x))),
                "ended_at": t.ended_at.map(|x| time(Some(x))),
                "reason": t.reason,
            })
        })
        .collect()
}

/// What one check over one config did.
pub fn check_report(path: &Path, r: &CheckReport) -> String {
    let mut out = String::new();
    for n in &r.notes {
        out += &format!("{}: {n}\n", path.display());
    }
    if let Some(why) = &r.skipped {
        out += &format!("{}: nothing run: {why}\n", path.display());
    }
    for t in &r.runs {
        match &t.failure {
            None => {
                out += &format!(
                    "{}: task {} {} of backup id {}: success\n",
                    path.display(),
                    t.id,
                    t.server,
                    t.backup_id
                )
            }
            Some(e) => {
                out += &format!(
                    "{}: task {} {} of backup id {}: failed: {e}\n",
                    path.display(),
                    t.id,
                    t.server,
                    t.backup_id
                )
            }
        }
    }
    match &r.finished {
        Some(Ok(name)) => {
            out += &format!(
                "{}: every task succeeded: backup {name} finished with ok\n",
                path.display()
            )
        }
        Some(Err(e)) => out += &format!("{}: the finish failed: {e}\n", path.display()),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_finds_the_seed_config_names_only() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "backup.conf",
            "backup-ssh.conf",
            "dbbackup.20000.ini",
            "recovery.conf",
            "dbbackup.ini",
            "backup.conf.bak",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let names: Vec<String> = found_configs(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["backup-ssh.conf", "backup.conf", "dbbackup.20000.ini"]
        );
    }
}
