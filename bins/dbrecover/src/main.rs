//! `dbrecover`: the command line of the recovery engine (crate `recovery`).

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
  datasource's data directory is then ready under
  <work-dir>/<target>/restore/<datasource>/data.

PASSWORD (an encrypted chain; the first that is given wins):
  --password-file F   first line of F
  -p PASS             as the seed tool; visible to other users in `ps`
  DBRECOVER_PASSWORD  environment variable

EXIT STATUS:
  0 recovered; 1 failed (one ERROR: line says why); 2 bad arguments or
  configuration.

EXAMPLES:
  dbrecover --config-file recovery.conf --dry-run
  dbrecover --config-file recovery.conf
  dbrecover --config-file recovery.conf --password-file /etc/dbbackup/key";

/// Restore a whole DBScale cluster to a backup or a point in time.
#[derive(Debug, Parser)]
#[command(version, about, after_help = AFTER_HELP)]
struct Cli {
    /// The seed-format configuration file.
    #[arg(long = "config-file", default_value = "recovery.conf")]
    config_file: PathBuf,
    /// The chain's encryption password (visible in `ps`: prefer --password-file).
    #[arg(short = 'p', long = "password")]
    password: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Print the chain and the binlogs to replay per datasource (start and
    /// stop positions) and exit; nothing is touched.
    #[arg(long)]
    dry_run: bool,
    /// How many datasources restore at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.verbose, &["dbrecover", "recovery"]);
    let (cfg, password) = match cli::config_and_password(
        || conf::RecoveryConfig::load(&cli.config_file),
        cli.password_file.as_deref(),
        cli.password.as_deref(),
        "DBRECOVER_PASSWORD",
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    cli::run_async(run(cli, cfg, password))
}

async fn run(cli: Cli, cfg: conf::RecoveryConfig, password: Option<Zeroizing<String>>) -> ExitCode {
    let options = recovery::Options {
        password,
        parallel: Some(cli.parallel),
    };
    let prepared = match recovery::prepare(cfg, options).await {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    print!("{}", prepared.plan());
    if cli.dry_run {
        println!("dry run: nothing touched");
        return ExitCode::SUCCESS;
    }
    match recovery::execute(prepared).await {
        Ok(outcome) => {
            for r in &outcome.restored {
                println!(
                    "datasource {}: restored ({} binlog files replayed by {}) in {}:{}",
                    r.datasource, r.binlogs, r.replayed_by, outcome.plan.job_host, r.data_dir
                );
                match &r.gtid {
                    Some(g) => println!("datasource {}: GTID position {g}", r.datasource),
                    None => println!("datasource {}: no GTID position", r.datasource),
                }
            }
            println!(
                "temporary servers ran {}:{}",
                outcome.plan.job_host, outcome.server
            );
            if let Some(info) = &outcome.ds_info {
                println!(
                    "ds_info for the PIT tool: {}:{}",
                    outcome.plan.job_host, info.path
                );
            }
            println!(
                "cluster recovery succeed in {:.1} s",
                outcome.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// The `ERROR:` line, then the seed's last line of a failed recovery.
fn fail(error: &recovery::RecoveryError) -> ExitCode {
    let code = cli::fail(error);
    println!("cluster recovery failed.");
    code
}
