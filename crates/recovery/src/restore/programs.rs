//! The programs and options that go with the temporary server, by the
//! backup's flavor, as seed 001 derives them: MySQL's `mysqlbinlog` and
//! `mysqladmin` from the server's base directory (`<client>binlog` beside
//! `<client>d`), the GTID options its `prepare_datanode_base` passes, and
//! `--mysqlx=0` for 8.0; MariaDB's `mariadb-binlog` and `mariadb-admin`.
//! Pure: the words are built here, run by the restore.

use super::ServerBinary;
use remote::quote;
use xtrabackup::Flavor;

/// The binlog reader of `flavor`'s servers.
pub(crate) fn binlog_reader_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Mariabackup { .. } => "mariadb-binlog",
        Flavor::Xtrabackup { .. } => "mysqlbinlog",
    }
}

/// The admin client of `flavor`'s servers (the start-up ping).
pub(crate) fn admin_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Mariabackup { .. } => "mariadb-admin",
        Flavor::Xtrabackup { .. } => "mysqladmin",
    }
}

/// The temporary server's options `flavor` needs beyond the common ones:
/// a MySQL server replays GTIDs only with GTID mode on, and seed 001 starts
/// it with lower-case table names (the cluster's setting) and, on 8.0, no
/// X plugin (its port would clash between temporary servers). MariaDB
/// needs none (its GTIDs are always on).
pub(crate) fn server_options(flavor: Flavor) -> String {
    match flavor {
        Flavor::Mariabackup { .. } => String::new(),
        Flavor::Xtrabackup { server } => {
            let mut options =
                "--gtid-mode=ON --enforce-gtid-consistency=ON --lower-case-table-names=1"
                    .to_owned();
            if server.major >= 8 {
                options.push_str(" --mysqlx=0");
            }
            options
        }
    }
}

impl ServerBinary {
    /// A shell word running `name` from the unpacked base directory's
    /// `bin/` when it is there (as the seed runs `<base>/bin/mysqlbinlog`),
    /// else from `PATH` (an installed server, or a base directory without
    /// it).
    pub(crate) fn companion(&self, name: &str) -> String {
        match &self.basedir {
            Some(base) => format!(
                "\"$(p={}; [ -x \"$p\" ] && echo \"$p\" || echo {name})\"",
                quote(&format!("{base}/bin/{name}"))
            ),
            None => name.to_owned(),
        }
    }
}

/// Flavors for the crate's tests: MariaDB 10.11 and MySQL `major`.0.26.
#[cfg(test)]
pub(crate) mod test_flavors {
    use xtrabackup::{Flavor, Version};

    /// mariabackup of MariaDB 10.11.19.
    pub const MARIADB: Flavor = Flavor::Mariabackup {
        server: Version {
            major: 10,
            minor: 11,
            patch: 19,
        },
    };

    /// XtraBackup of MySQL `major`.0.26.
    pub fn mysql(major: u32) -> Flavor {
        Flavor::Xtrabackup {
            server: Version {
                major,
                minor: 0,
                patch: 26,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_flavors::{MARIADB, mysql};
    use super::*;

    #[test]
    fn mysql_gets_the_seeds_options_and_no_x_plugin_from_8_0() {
        assert_eq!(
            server_options(mysql(8)),
            "--gtid-mode=ON --enforce-gtid-consistency=ON --lower-case-table-names=1 --mysqlx=0"
        );
        assert!(!server_options(mysql(5)).contains("mysqlx"));
        assert!(server_options(mysql(5)).contains("--gtid-mode=ON"));
        assert_eq!(server_options(MARIADB), "");
    }

    #[test]
    fn each_flavor_reads_binlogs_and_pings_with_its_own_clients() {
        assert_eq!(binlog_reader_name(mysql(8)), "mysqlbinlog");
        assert_eq!(admin_name(mysql(8)), "mysqladmin");
        assert_eq!(binlog_reader_name(MARIADB), "mariadb-binlog");
        assert_eq!(admin_name(MARIADB), "mariadb-admin");
    }

    /// The word runs in a real shell: the base directory's program when it
    /// is there and executable, else the name for `PATH`.
    #[test]
    fn a_companion_comes_from_the_base_directory_when_it_has_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("mysql 8.0.26");
        std::fs::create_dir_all(base.join("bin")).unwrap();
        let server = ServerBinary {
            program: base.join("bin/mysqld").display().to_string(),
            basedir: Some(base.display().to_string()),
        };
        let resolve = |word: String| {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {word}")])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(resolve(server.companion("mysqlbinlog")), "mysqlbinlog");
        let program = base.join("bin/mysqlbinlog");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve(server.companion("mysqlbinlog")),
            program.display().to_string()
        );
        let installed = ServerBinary {
            program: "/usr/sbin/mysqld".into(),
            basedir: None,
        };
        assert_eq!(installed.companion("mysqladmin"), "mysqladmin");
    }
}
