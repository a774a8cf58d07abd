//! `dbagent`: the host-side agent of dbscale-backup's agent transports.
//!
//! * `dbagent adm --listen ADDR:PORT --secret-file FILE` serves signed HTTP
//!   requests (the adm-agent transport); with `--tls-cert FILE --tls-key
//!   FILE` it serves HTTPS instead (rustls);
//! * `dbagent rabbit --uri URI --host-id ID --agent-type TYPE [--secret-file
//!   FILE]` consumes its request queue on RabbitMQ (the rabbit-agent
//!   transport), with a secret taking signed requests only;
//! * `dbagent receive --port PORT --log FILE [--out FILE] [--sha256-to FILE]
//!   [--count-to FILE]` is the native stream receiver (`[misc] receiver =
//!   native`): one connection into a file or stdout, counted and hashed in
//!   the same pass (`agent::receiver`);
//! * `dbagent untar --into DIR [--route MEMBER COMMAND]...` unpacks a tar
//!   stream from stdin, piping the routed members into their commands
//!   (`agent::untar`; recovery's shipping of an encrypted chain).
//!
//! The two agents run each command in its own process group with its timeout, kill the
//! whole group on timeout or on a kill request, stream output back in
//! chunks, and keep running when a client disappears. Deployment (a systemd
//! unit) is described in `docs/dbagent.md`.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const DEPLOYMENT: &str = "\
Deployment: run one agent per host as the user the backup tools log in as
(it runs mariabackup and socat, so it needs read access to the datadirs).
Under systemd (see docs/dbagent.md for the full unit):

  [Service]
  User=dbsbk
  ExecStart=/usr/local/bin/dbagent adm --listen 0.0.0.0:19999 --secret-file /etc/dbagent/adm.secret
  KillMode=mixed
  Restart=on-failure

The secret file (at least 16 bytes, mode 0600) is shared with the
controller (`[adm-agent]` section). For HTTPS add
`--tls-cert /etc/dbagent/tls/cert.pem --tls-key /etc/dbagent/tls/key.pem`:
the certificate must name the host as the controller addresses it (DNS
name or IP address) and be issued by the CA in the controller's
`[adm-agent] tls-ca-file`. The rabbit-agent takes signed requests only
with `--secret-file /etc/dbagent/rabbit.secret`, the file the
controller's `[rabbit-agent] secret-file` names. Logs go to stderr
(journald).";

#[derive(Parser)]
#[command(name = "dbagent", version, about = "Host-side agent for dbscale-backup's remote commands", after_help = DEPLOYMENT)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: cli::LogFormat,
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// The agents: long-running, async.
    #[command(flatten)]
    Agent(AgentMode),
    /// Receive one stream: listen on a port, take one connection, write it
    /// into a file (or stdout), counting and hashing in the same pass. The
    /// transfer scripts run it in socat's place (`[misc] receiver =
    /// native`); it exits 0 only when every byte sent was written.
    Receive {
        /// TCP port to listen on (all IPv4 addresses).
        #[arg(long)]
        port: u16,
        /// Log file (appended): `listening on ADDR`, the peer, the result.
        #[arg(long, value_name = "FILE")]
        log: PathBuf,
        /// Write the stream into this file (created or truncated); without
        /// it the stream goes to stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write the stream's SHA-256 (lowercase hex) into this file once
        /// it is complete.
        #[arg(long, value_name = "FILE")]
        sha256_to: Option<PathBuf>,
        /// Write the number of bytes received into this file once the
        /// stream is complete.
        #[arg(long, value_name = "FILE")]
        count_to: Option<PathBuf>,
    },
    /// Unpack a tar stream from stdin into a directory, as `tar -x`
    /// does, piping each routed member into its command instead of
    /// writing it. Recovery ships an encrypted backup through it, its
    /// servers' streams going straight into their extraction. Fails when
    /// a routed command fails or a routed member is missing.
    Untar {
        /// The directory to unpack into (created if missing).
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        /// A member (its path in the archive) and the `bash -c` command
        /// that reads it on stdin; repeat for several.
        #[arg(long, num_args = 2, value_names = ["MEMBER", "COMMAND"])]
        route: Vec<String>,
    },
}

/// The agents (a runtime, logging).
#[derive(Subcommand)]
enum AgentMode {
    /// Serve the adm-agent HTTP API (requests signed with the shared secret;
    /// HTTPS with --tls-cert and --tls-key).
    Adm {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:19999")]
        listen: SocketAddr,
        /// File holding the shared secret (at least 16 bytes).
        #[arg(long)]
        secret_file: PathBuf,
        /// At most this many commands at once.
        #[arg(long, default_value_t = 256)]
        max_concurrent: usize,
        /// Serve HTTPS with this certificate chain (PEM, leaf first); needs
        /// --tls-key.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The TLS certificate's private key (PEM, mode 0600); needs
        /// --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A name or address the controllers use for this host (repeat
        /// for several). Requests are signed for one host; the agent
        /// takes those for the address they arrive at, its host name and
        /// these.
        #[arg(long = "host-id", value_name = "NAME")]
        host_ids: Vec<String>,
        /// At most this many connections at once.
        #[arg(long, default_value_t = agent::conn_guard::MAX_CONNECTIONS)]
        max_connections: usize,
        /// At most this many connections at once from one address.
        #[arg(long, default_value_t = agent::conn_guard::MAX_CONNECTIONS_PER_PEER)]
        max_connections_per_peer: usize,
        /// Seconds a new connection has to deliver a signed request's
        /// headers before it is closed.
        #[arg(long, default_value_t = agent::conn_guard::HEADER_TIMEOUT.as_secs())]
        header_timeout_secs: u64,
    },
    /// Consume this host's request queue on RabbitMQ (rabbit-agent).
    Rabbit {
        /// Broker URI: amqp://, amqps:// or the seeds' rabbit:// form.
        #[arg(long, env = "DBAGENT_RABBITMQ_URI", hide_env_values = true)]
        uri: String,
        /// This host's id as the controller names it (its address).
        #[arg(long)]
        host_id: String,
        /// Agent type, e.g. rds-dbinit or rds-taskmanager (repeat the
        /// option to serve several types from one process).
        #[arg(long = "agent-type", default_value = "rds-dbinit")]
        agent_types: Vec<String>,
        /// At most this many commands at once.
        #[arg(long, default_value_t = 256)]
        max_concurrent: usize,
        /// File holding the shared secret (at least 16 bytes, mode 0600):
        /// only requests signed with it are run. Without it requests are
        /// not signed and the broker's credentials alone decide.
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    if let Some(code) = cli::generate_if_asked::<Cli>() {
        return code;
    }
    let cli = Cli::parse();
    // The receiver and the unpacker: no runtime and no logging set-up,
    // a copy loop each, the receiver's log its file.
    let agent = match cli.command {
        Mode::Receive {
            port,
            log,
            out,
            sha256_to,
            count_to,
        } => return exit_with(receive(port, log, out, sha256_to, count_to)),
        Mode::Untar { into, route } => return exit_with(untar(&into, &route)),
        Mode::Agent(agent) => agent,
    };
    // Agents log into files (the sandbox's, a supervisor's): colour codes
    // only on a terminal, as cli's logging does.
    let common = cli::Common {
        log_format: cli.log_format,
        ..cli::Common::default()
    };
    if let Err(e) = common.init_logging(&["dbagent", "remote"]) {
        eprintln!("ERROR: {e}");
        return ExitCode::from(cli::EXIT_USAGE);
    }
    cli::run_async(async move {
        match run(agent).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => cli::fail(e),
        }
    })
}

/// `dbagent receive`: the stream, then its count and digest files.
fn receive(
    port: u16,
    log: PathBuf,
    out: Option<PathBuf>,
    sha256_to: Option<PathBuf>,
    count_to: Option<PathBuf>,
) -> Result<(), String> {
    use agent::receiver::{Output, ReceiveOptions};
    let options = ReceiveOptions {
        port,
        log,
        output: out.map_or(Output::Stdout, Output::File),
        sha256: sha256_to.is_some(),
    };
    let received = agent::receiver::receive(&options).map_err(|e| e.to_string())?;
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let (Some(path), Some(sha)) = (&sha256_to, received.sha256) {
        write(path, sha)?;
    }
    if let Some(path) = &count_to {
        write(path, received.bytes.to_string())?;
    }
    Ok(())
}

/// `dbagent untar`: stdin unpacked into `into`, the routes' members
/// (`route`: member, command, member, command, ...) piped on.
fn untar(into: &std::path::Path, route: &[String]) -> Result<(), String> {
    use agent::untar::{Route, UntarOptions};
    let routes = route
        .chunks_exact(2)
        .map(|pair| Route {
            member: pair[0].clone(),
            command: pair[1].clone(),
        })
        .collect();
    let options = UntarOptions {
        into: into.to_owned(),
        routes,
    };
    let stdin = std::io::stdin().lock();
    let input = std::io::BufReader::with_capacity(256 * 1024, stdin);
    agent::untar::untar(input, &options)
        .map(drop)
        .map_err(|e| format!("unpacking into {}: {e}", into.display()))
}

/// A one-shot mode's exit: `ERROR: ...` on stderr when it failed.
fn exit_with(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mode: AgentMode) -> Result<(), String> {
    match mode {
        AgentMode::Adm {
            listen,
            secret_file,
            max_concurrent,
            tls_cert,
            tls_key,
            host_ids,
            max_connections,
            max_connections_per_peer,
            header_timeout_secs,
        } => {
            let options = agent::adm_server::AdmOptions {
                limits: agent::conn_guard::ConnLimits {
                    max_connections: max_connections.max(1),
                    max_per_peer: max_connections_per_peer.max(1),
                    header_timeout: std::time::Duration::from_secs(header_timeout_secs.max(1)),
                },
                host_ids: own_names(listen, host_ids),
            };
            let secret = remote::agent::auth::read_agent_secret(&secret_file).map_err(|e| {
                format!("cannot read the secret file {}: {e}", secret_file.display())
            })?;
            // Certificate problems are reported before the port is taken.
            let tls = match (&tls_cert, &tls_key) {
                (Some(cert), Some(key)) => Some(
                    remote::tls::server_config(cert, key)
                        .map_err(|e| format!("adm-agent on {listen}: {e}"))?,
                ),
                _ => None,
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let identity = format!("dbagent/adm/{listen}");
            let local = remote::Local::new(listen.ip().to_string(), max_concurrent);
            let served = match tls {
                Some(tls) => {
                    tracing::info!(%listen, "adm-agent listening (https)");
                    agent::adm_server::serve_tls(listener, tls, secret, local, identity, options)
                        .await
                }
                None => {
                    tracing::info!(%listen, "adm-agent listening (http)");
                    agent::adm_server::serve(listener, secret, local, identity, options).await
                }
            };
            served.map_err(|e| format!("adm-agent on {listen} failed: {e}"))
        }
        AgentMode::Rabbit {
            uri,
            host_id,
            agent_types,
            max_concurrent,
            secret_file,
        } => {
            let secret = match &secret_file {
                Some(file) => {
                    Some(remote::agent::auth::read_agent_secret(file).map_err(|e| {
                        format!("cannot read the secret file {}: {e}", file.display())
                    })?)
                }
                None => None,
            };
            let local = remote::Local::new(host_id.clone(), max_concurrent);
            let agents = agent_types.iter().map(|agent_type| {
                agent::rabbit_server::serve(
                    &uri,
                    &host_id,
                    agent_type,
                    local.clone(),
                    secret.clone(),
                )
            });
            futures::future::try_join_all(agents).await.map(drop)
        }
    }
}

/// The names requests may be signed for, besides the address each arrives
/// at: `--host-id` values, the listen address when it is a specific one,
/// and the kernel's host name.
fn own_names(listen: SocketAddr, mut ids: Vec<String>) -> Vec<String> {
    if !listen.ip().is_unspecified() {
        ids.push(listen.ip().to_string());
    }
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            ids.push(name.to_owned());
        }
    }
    ids
}
