//! `cargo xtask`: the project's developer chores.
//!
//! * `cargo xtask sandbox up|down|status` manages the real test cluster
//!   (MariaDB replication groups, DBScale emulators, sshd, RabbitMQ).
//! * `cargo xtask demo` runs the main job against the sandbox, then a DR
//!   drill (`cargo xtask demo drill`: only the drill).
//! * `cargo xtask ci` is what `.ci/run` runs: formatting, clippy, all tests
//!   including the sandbox integration tests.
//! * `cargo xtask layers` checks the crates' dependencies against the
//!   layer table.
//! * `cargo xtask bench [NAME]` runs the benchmarks.
//! * `cargo xtask dist` builds the release binaries with man pages and
//!   shell completions into `target/dist`.
//! * `cargo xtask fuzz [--seconds N] [TARGET...]` runs the fuzz targets
//!   (`fuzz/`, nightly).

mod bench_backup;
mod bench_crypt;
mod bench_data;
mod bench_flashback;
mod bench_incremental;
mod bench_logical;
mod bench_recovery;
mod bench_remote;
mod bench_replay;
mod bench_stream;
mod benchdoc;
mod ci;
mod demo;
mod demo_logical;
mod dist;
mod fuzz;
mod layers;
mod packages;
mod pyaes;
mod rounds;
mod sandbox;
mod secret_scan;
mod test_pool;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "dbscale-backup developer chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Format check, clippy, unit and sandbox integration tests (what CI runs).
    Ci,
    /// Every test binary and the doc tests, a few side by side, against
    /// the sandbox if it is up (`cargo xtask sandbox up`); what CI's test
    /// step runs. Logs in target/test-logs/.
    Test {
        /// How many test binaries run at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Bring the sandbox up and run the main job against it, then a DR
    /// drill (`demo drill`: only the drill).
    Demo {
        #[command(subcommand)]
        part: Option<demo::Part>,
    },
    /// Manage the sandbox cluster (directory: $SANDBOX_DIR or target/sandbox).
    Sandbox {
        #[command(subcommand)]
        action: sandbox::Action,
    },
    /// Install the Debian packages the sandbox needs (apt-get, as root).
    Deps,
    /// Check every crate's dependencies against the layer table
    /// (xtask/src/layers.rs, printed in docs/ARCHITECTURE.md).
    Layers {
        /// Print the table as Markdown instead.
        #[arg(long)]
        print: bool,
    },
    /// Run a benchmark: ours against the raw commands, side by side in one
    /// run (alternating rounds, best of each); docs/benchmarks.md.
    Bench {
        /// Which benchmark.
        #[arg(value_enum)]
        name: Bench,
    },
    /// Build the release binaries, their man pages and shell completions
    /// into target/dist.
    Dist,
    /// Look for every sandbox password in every file of the sandbox but
    /// the ones it was written into on purpose (CI's last check).
    SecretScan,
    /// Run the cargo-fuzz targets in fuzz/ (nightly; cargo-fuzz is installed
    /// when missing), each for a bounded time; a crash fails and names the
    /// saved input.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
}

/// The benchmarks.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Bench {
    /// dbbackup vs raw per-server `mariabackup | socat`, BENCH_MIB MiB per
    /// datasource (default 1024).
    Backup,
    /// dbcrypt vs pyAesCrypt vs `openssl enc`, 1 GiB.
    Crypt,
    /// An incremental's size after 1 % of the rows changed, with and
    /// without flush-before-backup, BENCH_MIB (default 1024).
    Incremental,
    /// dr-flashback start vs the raw snapshot pipeline, stop vs the
    /// servers' restart, BENCH_MIB (default 1024) in the DR cluster.
    Flashback,
    /// dbcatalog mydumper vs mydumper by hand, BENCH_MIB (default 1024).
    Logical,
    /// dbrecover vs the raw restore commands, and on compressed and
    /// encrypted backups vs plain, BENCH_MIB (default 1024).
    Recovery,
    /// Binlog replay by the pipe vs the SQL thread alone and with parallel
    /// workers, BENCH_BINLOG_MIB (default 500) over several databases.
    Replay,
    /// Round trips and stream throughput per transport.
    Remote,
    /// 1 GiB through socat: the stream crate vs the raw pipeline.
    Stream,
}

fn main() {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Command::Ci => ci::run(),
        Command::Test { jobs } => ci::test(jobs),
        Command::Dist => dist::run_dist(),
        Command::SecretScan => secret_scan::run(sandbox::paths().root()),
        Command::Fuzz { seconds, targets } => fuzz::run_targets(seconds, &targets),
        Command::Demo { part } => demo::run(part),
        Command::Sandbox { action } => sandbox::run(action),
        Command::Deps => packages::ensure_installed(),
        Command::Layers { print: true } => {
            print!("{}", layers::markdown());
            Ok(())
        }
        Command::Layers { print: false } => layers::run(),
        Command::Bench { name } => {
            let root = util::workspace_root();
            match name {
                Bench::Backup => bench_backup::run(&root),
                Bench::Crypt => bench_crypt::run(&root),
                Bench::Incremental => bench_incremental::run(&root),
                Bench::Flashback => bench_flashback::run(&root),
                Bench::Logical => bench_logical::run(&root),
                Bench::Recovery => bench_recovery::run(&root),
                Bench::Replay => bench_replay::run(&root),
                Bench::Remote => bench_remote::run(&root),
                Bench::Stream => bench_stream::run(&root),
            }
        }
    };
    if let Err(err) = result {
        eprintln!("ERROR: {err:#}");
        std::process::exit(1);
    }
}
