//! End-to-end tests of the real `dbbackup` binary on the sandbox, in one
//! test binary (one link instead of six). Each module is one concern; the
//! shared helpers are in `common`. Run one module with
//! `cargo test -p dbbackup --test e2e chain::`.
#![allow(clippy::unwrap_used)]

mod common;

mod chain;
mod clock;
mod failures;
mod interrupted;
mod output;
mod password;
mod records;
mod restore;
mod spider;
mod store_space;
