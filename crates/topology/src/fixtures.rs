//! Test fixtures: result sets recorded in the seeds (see
//! `tests/fixtures/README.md`) and small builders.

use crate::{Row, recorded::parse_output};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../tests/fixtures/", $name, ".txt"))
    };
}

pub(crate) const SEED000_REPLICATION: &str = fixture!("seed000_replication_vertical");
pub(crate) const SEED000_DATASERVERS: &str = fixture!("seed000_dataservers");
pub(crate) const SEED000_SERVER_DATASOURCES: &str = fixture!("seed000_server_datasources");
pub(crate) const SEED000_EXAMPLE_REPLICATION: &str = fixture!("seed000_example_replication");
pub(crate) const SEED000_EXAMPLE_DATASERVERS: &str = fixture!("seed000_example_dataservers");
pub(crate) const SEED002_PROD_DATASERVERS: &str = fixture!("seed002_prod_dataservers");
pub(crate) const SEED002_DR_DATASERVERS: &str = fixture!("seed002_dr_dataservers");
pub(crate) const SEED002_DATASERVERS_AFTER_DISABLE: &str =
    fixture!("seed002_dataservers_after_disable");

/// Parses a recorded result set.
pub(crate) fn rows(text: &str) -> Vec<Row> {
    parse_output(text)
}
