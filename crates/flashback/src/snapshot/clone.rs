//! MySQL 8's snapshot: the CLONE plugin, as seed 002 drives it
//! (`donor_node_install_plugin`, `joiner_node_init`,
//! `joiner_node_install_plugin_and_exec_clone`, `judge_clone_finished`).
//! Here the statements, pure and tested on the seed's recordings;
//! [`config`] the recipient's files, [`status`] `clone_status`, and
//! [`take()`] runs it all against a donor and a receiving host.

pub mod config;
pub mod status;
mod take;

pub use take::take;

use binlog::gtid::{GtidError, GtidFlavor, GtidSet};

/// Whether the plugin is there: one row `clone ACTIVE` when it is.
pub const PLUGIN_STATUS: &str =
    "SELECT PLUGIN_NAME, PLUGIN_STATUS FROM INFORMATION_SCHEMA.PLUGINS WHERE PLUGIN_NAME = 'clone'";

/// The seed's tuning of every clone (`clone_buffer_size` 32 MiB, 32 threads).
const TUNING: [&str; 3] = [
    "SET GLOBAL clone_autotune_concurrency = OFF",
    "SET GLOBAL clone_buffer_size = 33554432",
    "SET GLOBAL clone_max_concurrency = 32",
];

/// A value that cannot be put in a quoted SQL string safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} holds a quote, a backslash or a control character: it cannot go into a CLONE statement"
)]
pub struct Unquotable {
    /// Which value (never the value: it may be a password).
    pub what: &'static str,
}

/// `value` in single quotes, refused when it holds a quote, a backslash or
/// a control character.
pub(crate) fn quoted(what: &'static str, value: &str) -> Result<String, Unquotable> {
    if value
        .chars()
        .any(|c| c == '\'' || c == '\\' || c.is_control())
    {
        return Err(Unquotable { what });
    }
    Ok(format!("'{value}'"))
}

/// The donor's statements: the plugin installed unless `active` (the
/// server writable for that, as the seed does, and read-only again after
/// when it was `super_read_only`), then the tuning.
pub fn donor_setup(active: bool, super_read_only: bool) -> Vec<String> {
    let mut statements = Vec::new();
    if !active {
        statements.push("SET GLOBAL super_read_only = 0".to_owned());
        statements.push("INSTALL PLUGIN clone SONAME 'mysql_clone.so'".to_owned());
        if super_read_only {
            statements.push("SET GLOBAL super_read_only = 1".to_owned());
        }
    }
    statements.extend(TUNING.map(str::to_owned));
    statements
}

/// The joiner's statements: the plugin (unless `active`), the tuning, the
/// donor allowed, then `CLONE INSTANCE FROM` with the donor's login. The
/// password travels only inside the statement on the SQL connection (the
/// router crate masks `IDENTIFIED BY` values in logs and errors).
pub fn joiner_clone(
    active: bool,
    donor_host: &str,
    donor_port: u16,
    user: &str,
    password: &str,
) -> Result<Vec<String>, Unquotable> {
    let mut statements = Vec::new();
    if !active {
        statements.push("INSTALL PLUGIN clone SONAME 'mysql_clone.so'".to_owned());
    }
    statements.extend(TUNING.map(str::to_owned));
    let donor = quoted("the donor's address", &format!("{donor_host}:{donor_port}"))?;
    statements.push(format!("SET GLOBAL clone_valid_donor_list = {donor}"));
    statements.push(format!(
        "CLONE INSTANCE FROM {}@{}:{donor_port} IDENTIFIED BY {}",
        quoted("the donor's user", user)?,
        quoted("the donor's host", donor_host)?,
        quoted("the donor's password", password)?,
    ));
    Ok(statements)
}

/// `Executed_Gtid_Set` of `SHOW MASTER STATUS` (one set over several lines,
/// as recorded) parsed; the seed compares joiners and donor as text.
pub fn executed(text: &str) -> Result<GtidSet, GtidError> {
    GtidSet::parse(GtidFlavor::Mysql, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_statements() {
        assert_eq!(
            donor_setup(false, false),
            [
                "SET GLOBAL super_read_only = 0",
                "INSTALL PLUGIN clone SONAME 'mysql_clone.so'",
                "SET GLOBAL clone_autotune_concurrency = OFF",
                "SET GLOBAL clone_buffer_size = 33554432",
                "SET GLOBAL clone_max_concurrency = 32",
            ]
        );
        assert_eq!(
            donor_setup(true, true).len(),
            3,
            "an active plugin is only tuned"
        );
        assert_eq!(
            donor_setup(false, true)[2],
            "SET GLOBAL super_read_only = 1",
            "a read-only donor is read-only again once the plugin is in"
        );
        let joiner = joiner_clone(true, "172.17.138.1", 3308, "dbscale_internal", "p@ss").unwrap();
        assert_eq!(
            &joiner[3..],
            [
                "SET GLOBAL clone_valid_donor_list = '172.17.138.1:3308'",
                "CLONE INSTANCE FROM 'dbscale_internal'@'172.17.138.1':3308 IDENTIFIED BY 'p@ss'",
            ]
        );
        assert_eq!(
            router::redact_statement(&joiner[4]),
            "CLONE INSTANCE FROM 'dbscale_internal'@'172.17.138.1':3308 IDENTIFIED BY '***'"
        );
        let err = joiner_clone(false, "h", 1, "u", "it's").unwrap_err();
        assert_eq!(err.what, "the donor's password");
        assert!(!err.to_string().contains("it's"));
    }

    #[test]
    fn clone_finished_as_the_seed_judges_it() {
        // Seed 002's `show master status` on a clone and on the donor: the
        // same set, written over several lines.
        let clone = "b9da174e-5208-11ee-8c26-00163e2d01d5:1-53,\n\
                     ba09b02c-5208-11ee-b5af-00163ed307b5:1-114500,\n\
                     ba245d88-5208-11ee-aae7-00163ee05610:1-4";
        let donor = "ba245d88-5208-11ee-aae7-00163ee05610:1-4,\
                     b9da174e-5208-11ee-8c26-00163e2d01d5:1-53,ba09b02c-5208-11ee-b5af-00163ed307b5:1-114500";
        assert_eq!(executed(clone).unwrap(), executed(donor).unwrap());
        let behind = clone.replace("1-114500", "1-114499");
        assert_ne!(executed(&behind).unwrap(), executed(donor).unwrap());
    }
}
