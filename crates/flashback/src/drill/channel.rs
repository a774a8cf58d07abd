//! MySQL keeps a server's replication settings in tables, which a clone
//! copies from the donor: before a node's data is replaced by its clone,
//! the node's own settings are written into the clone (MariaDB's restore
//! carries its `master.info` file over instead). A marker in the snapshot
//! directory says it was done, so a `stop` that crashed after the node was
//! shut down goes on without it.

use super::StepFailure;
use super::node::DrNode;
use crate::snapshot::clone::quoted;
use crate::snapshot::{Bounds, Instance};
use remote::Command;
use topology::Row;

/// The node's replication source (the default channel).
pub(crate) const READ: &str = "SELECT Host, Port, User_name, User_password, \
     Enabled_auto_position FROM mysql.slave_master_info WHERE Channel_name = ''";

const MARKER: &str = "channel.carried";

/// Writes the node's replication settings into the clone `instance` runs.
pub(crate) async fn carry(
    node: &DrNode<'_>,
    instance: &Instance,
    bounds: Bounds,
) -> Result<(), StepFailure> {
    let marker = instance.file(MARKER);
    let test = Command::new("test").args(["-e", &marker]);
    if node
        .transport
        .exec(&test, bounds.small)
        .await
        .is_ok_and(|out| out.success())
    {
        return Ok(());
    }
    let mut from = node.client(bounds.connect).await?;
    let rows = from.query(READ).await?;
    let statements = statements(rows.first())?;
    let mut to = instance.connect(bounds.connect).await?;
    for s in &statements {
        to.execute(s).await?;
    }
    let touch = Command::new("touch").args(["--", &marker]);
    xtrabackup::ops::run(
        &*node.transport,
        &touch,
        bounds.small,
        "marking the replication settings carried",
    )
    .await?;
    Ok(())
}

/// The statements that give a clone the replication source in `row` (an
/// answer to [`READ`]; none: the node replicated from nobody).
pub(crate) fn statements(row: Option<&Row>) -> Result<Vec<String>, StepFailure> {
    let mut statements = vec!["STOP SLAVE".to_owned(), "RESET SLAVE ALL".to_owned()];
    let Some(row) = row else {
        return Ok(statements);
    };
    let bad = |detail: String| StepFailure::BadAnswer {
        what: "the node's replication settings (mysql.slave_master_info)".to_owned(),
        detail,
    };
    let col = |c: &str| {
        row.column(c)
            .flatten()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let port: u16 = col("Port")
        .parse()
        .map_err(|_| bad(format!("Port is {:?}", col("Port"))))?;
    let auto = if col("Enabled_auto_position") == "1" {
        1
    } else {
        0
    };
    let q = |what, value: String| quoted(what, &value).map_err(|e| bad(e.to_string()));
    statements.push(format!(
        "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {port}, MASTER_USER = {}, \
         MASTER_PASSWORD = {}, MASTER_AUTO_POSITION = {auto}",
        q("the source's host", col("Host"))?,
        q("the replication user", col("User_name"))?,
        q("the replication password", col("User_password"))?,
    ));
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_source_replaces_the_donors() {
        let row = Row::from_pairs(
            [
                ("Host", "172.17.138.1"),
                ("Port", "3308"),
                ("User_name", "repl"),
                ("User_password", "s3cret"),
                ("Enabled_auto_position", "1"),
            ]
            .map(|(k, v)| (k, Some(v))),
        );
        let s = statements(Some(&row)).unwrap();
        assert_eq!(s[..2], ["STOP SLAVE", "RESET SLAVE ALL"]);
        assert_eq!(
            s[2],
            "CHANGE MASTER TO MASTER_HOST = '172.17.138.1', MASTER_PORT = 3308, \
             MASTER_USER = 'repl', MASTER_PASSWORD = 's3cret', MASTER_AUTO_POSITION = 1"
        );
        assert!(!router::redact_statement(&s[2]).contains("s3cret"));
        assert_eq!(statements(None).unwrap().len(), 2);
        let mut quote = row.clone();
        quote.set("User_password", Some("it's"));
        let err = statements(Some(&quote)).unwrap_err().to_string();
        assert!(!err.contains("it's"), "{err}");
    }
}
