//! The host-side agents behind the adm-agent and rabbit-agent transports,
//! as `dbagent adm` and `dbagent rabbit` run them.
//!
//! Both take a request (the protocol in `remote::agent`), check it
//! (signature, host, replay, size: `remote::agent::auth`) before running
//! anything, and run it with `remote::agent::serve_request` on this host:
//!
//! * [`adm_server`]: HTTP (axum), optionally TLS ([`tls_listener`]), with
//!   per-peer and total connection limits and header/body deadlines
//!   ([`conn_guard`]);
//! * [`rabbit_server`]: AMQP RPC (lapin), one request queue per host and
//!   agent type, at-most-once, with the same checks ([`rabbit_checks`]).
//!
//! Refusals are logged at a bounded rate ([`refusal_log`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use agent::adm_server::{AdmOptions, serve};
//! use remote::{Local, Secret};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:19999").await?;
//! let secret = Secret::new("a shared secret of 16 bytes or more");
//! serve(listener, secret, Local::default(), "127.0.0.1".into(), AdmOptions::default()).await
//! # }
//! ```

pub mod adm_server;
pub mod conn_guard;
pub mod rabbit_checks;
pub mod rabbit_server;
pub mod receiver;
pub mod refusal_log;
pub mod tls_listener;
pub mod untar;
