//! The CLONE recipient's files, written from typed values: its option file
//! from what the receiving DR server reports (the seed copied that
//! server's config and edited it with `sed -i`), and the statements its
//! `--initialize-insecure` runs to create the login the drill uses.

use super::{Unquotable, quoted};
use topology::Row;

/// What the receiving DR server is asked for: the settings a clone's data
/// must share with the server that will run it, and where its plugins are.
pub const REPORT: &str = "SELECT @@innodb_page_size AS innodb_page_size, \
     @@innodb_data_file_path AS innodb_data_file_path, \
     @@lower_case_table_names AS lower_case_table_names, \
     @@character_set_server AS character_set_server, \
     @@collation_server AS collation_server, \
     @@plugin_dir AS plugin_dir, \
     @@gtid_mode AS gtid_mode, \
     @@enforce_gtid_consistency AS enforce_gtid_consistency";

/// The settings carried into the recipient's option file, in its order:
/// (the column of [`REPORT`], the option it becomes).
const CARRIED: [(&str, &str); 8] = [
    ("innodb_page_size", "innodb-page-size"),
    ("innodb_data_file_path", "innodb-data-file-path"),
    ("lower_case_table_names", "lower-case-table-names"),
    ("character_set_server", "character-set-server"),
    ("collation_server", "collation-server"),
    ("plugin_dir", "plugin-dir"),
    ("gtid_mode", "gtid-mode"),
    ("enforce_gtid_consistency", "enforce-gtid-consistency"),
];

/// What a server reported for [`REPORT`]: each carried setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    values: Vec<(&'static str, String)>,
}

impl ServerReport {
    /// Reads the first row of [`REPORT`]'s answer; a missing, empty or
    /// multi-line value is named in the error.
    pub fn from_row(row: Option<&Row>) -> Result<ServerReport, String> {
        let row = row.ok_or("no row")?;
        let mut values = Vec::new();
        for (column, option) in CARRIED {
            let value = row.column(column).flatten().unwrap_or_default().trim();
            if value.is_empty() || value.chars().any(char::is_control) {
                return Err(format!("{column} is {value:?}"));
            }
            values.push((option, value.to_owned()));
        }
        Ok(ServerReport { values })
    }
}

/// Where the recipient lives on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Its directory (`data/`, `tmp/`, its files).
    pub dir: String,
    /// The address it binds.
    pub host: String,
    /// Its port (the snapshot port).
    pub port: u16,
    /// Its socket.
    pub socket: String,
}

/// The recipient's option file: its own paths and port, no X protocol (the
/// DR server holds its port), replication held, the seed's 512 MiB buffer
/// pool, then what the DR server reported.
pub fn option_file(place: &Place, report: &ServerReport) -> String {
    let mut text = format!(
        "# written by dr-flashback: the drill's CLONE recipient, on its own port\n\
         [mysqld]\ndatadir = {dir}/data\ntmpdir = {dir}/tmp\nsocket = {socket}\n\
         pid-file = {dir}/mysqld.pid\nlog-error = {dir}/mysqld.err\n\
         bind-address = {host}\nport = {port}\nmysqlx = OFF\nskip-slave-start\n\
         innodb-buffer-pool-size = 512M\n",
        dir = place.dir,
        socket = place.socket,
        host = place.host,
        port = place.port,
    );
    for (option, value) in &report.values {
        text.push_str(&format!("{option} = {value}\n"));
    }
    text
}

/// What `--initialize-insecure` runs (`--init-file`): the drill's login,
/// allowed from anywhere, with every privilege (CLONE_ADMIN among them).
/// The file holding it is 0600 and removed once the initialization ends.
pub fn init_statements(user: &str, password: &str) -> Result<String, Unquotable> {
    let account = format!("{}@'%'", quoted("the donor's user", user)?);
    let password = quoted("the donor's password", password)?;
    Ok(format!(
        "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password};\n\
         GRANT ALL ON *.* TO {account} WITH GRANT OPTION;\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Row {
        Row::from_pairs(
            [
                ("innodb_page_size", "16384"),
                ("innodb_data_file_path", "ibdata1:12M:autoextend"),
                ("lower_case_table_names", "1"),
                ("character_set_server", "utf8mb4"),
                ("collation_server", "utf8mb4_0900_ai_ci"),
                ("plugin_dir", "/data/app/mysql-8.0.26/lib/plugin/"),
                ("gtid_mode", "ON"),
                ("enforce_gtid_consistency", "ON"),
            ]
            .map(|(k, v)| (k, Some(v))),
        )
    }

    #[test]
    fn the_option_file_is_written_from_the_report() {
        let place = Place {
            dir: "/data/mysqldata/16315fff/flashback_snapshot".into(),
            host: "172.17.138.0".into(),
            port: 18000,
            socket: "/tmp/s.sock".into(),
        };
        let report = ServerReport::from_row(Some(&report())).unwrap();
        let text = option_file(&place, &report);
        for line in [
            "datadir = /data/mysqldata/16315fff/flashback_snapshot/data",
            "port = 18000",
            "bind-address = 172.17.138.0",
            "mysqlx = OFF",
            "lower-case-table-names = 1",
            "innodb-data-file-path = ibdata1:12M:autoextend",
            "plugin-dir = /data/app/mysql-8.0.26/lib/plugin/",
            "gtid-mode = ON",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn a_missing_or_multiline_setting_is_named() {
        let mut row = report();
        row.set("gtid_mode", None);
        assert_eq!(
            ServerReport::from_row(Some(&row)).unwrap_err(),
            "gtid_mode is \"\""
        );
        row.set("gtid_mode", Some("ON\nskip-grant-tables"));
        assert!(ServerReport::from_row(Some(&row)).is_err());
        assert_eq!(ServerReport::from_row(None).unwrap_err(), "no row");
    }

    #[test]
    fn the_login_is_created_by_the_init_file() {
        let sql = init_statements("dbscale_internal", "p@ss").unwrap();
        assert_eq!(
            sql,
            "CREATE USER IF NOT EXISTS 'dbscale_internal'@'%' IDENTIFIED BY 'p@ss';\n\
             GRANT ALL ON *.* TO 'dbscale_internal'@'%' WITH GRANT OPTION;\n"
        );
        let err = init_statements("u", "it's").unwrap_err();
        assert!(!err.to_string().contains("it's"));
    }
}
