//! Names on the store, as the seeds lay them out:
//!
//! ```text
//! <dir>/
//!   UTC20240222014345.236-full/          one backup run (or -inc)
//!     <ds>-<server>-<host>-<port>/        one backed-up server
//!       backup.xbsteam (sic)  my.conf  master_dir | master_slave  executed_gtids  <binlogs>
//!     cluster_consistence_info  consistent_point_datetime  backuped_binlogs
//!     datanode_base/  calcnode_base/  backup.conf  encrypted_sample
//!     .dbscale-backup/manifest.json       (new; hidden from the seed tools' `ls`)
//!     ok                                  written last: the run completed
//!   encrypted/<name>.tar.encrypted        with -p: the run's files, AES Crypt
//!   trash/                                bad and purged backups
//!   socat_log/YYYYMMDD/                   listener logs
//!   .dbscale-backup.lock                  names the run in progress (new)
//! ```

/// The flag that marks a completed backup; its content is `ok\n`.
pub const OK_FILE: &str = "ok";
/// What `ok` holds.
pub const OK_CONTENT: &[u8] = b"ok\n";
/// Bad and purged backups.
pub const TRASH_DIR: &str = "trash";
/// Encrypted backup tarballs.
pub const ENCRYPTED_DIR: &str = "encrypted";
/// socat listener logs, one subdirectory per day.
pub const SOCAT_LOG_DIR: &str = "socat_log";
/// The consistence point's wall-clock time.
pub const POINT_DATETIME_FILE: &str = "consistent_point_datetime";
/// Per server, the consistence point.
pub const CONSISTENCE_FILE: &str = "cluster_consistence_info";
/// Which binlogs each server's copy holds.
pub const BACKUPED_BINLOGS_FILE: &str = "backuped_binlogs";
/// What an encrypted backup keeps in clear beside its tarball: the files
/// recovery plans from.
pub const CLEAR_FILES: [&str; 3] = [CONSISTENCE_FILE, POINT_DATETIME_FILE, BACKUPED_BINLOGS_FILE];
/// The password check of an encrypted chain.
pub const ENCRYPTED_SAMPLE_FILE: &str = "encrypted_sample";
/// What this tool adds to a backup directory lives here: hidden, because
/// the seed's recovery takes every entry `ls` shows in a backup, but the
/// ones it knows, for a server directory.
pub const TOOL_DIR: &str = ".dbscale-backup";
/// The checksum manifest (new in this tool), in [`TOOL_DIR`].
pub const MANIFEST_FILE: &str = ".dbscale-backup/manifest.json";
/// Where the first versions of this tool wrote the manifest (still read).
pub const LEGACY_MANIFEST_FILE: &str = "manifest.json";
/// The copy of the config the run used.
pub const BACKUP_CONF_FILE: &str = "backup.conf";

/// The run lock (see [`crate::lock`]): hidden, so that the seed tools'
/// `ls` never sees it.
pub const LOCK_FILE: &str = ".dbscale-backup.lock";

/// Store entries that are not backups and are never cleaned up.
pub const RESERVED: [&str; 3] = [TRASH_DIR, ENCRYPTED_DIR, SOCAT_LOG_DIR];

/// `<ds>-<server>-<host>-<port>`: one backed-up server's directory.
pub fn server_dir(datasource: &str, server: &str, host: &str, port: u16) -> String {
    format!("{datasource}-{server}-{host}-{port}")
}

/// `encrypted/<name>.tar.encrypted`.
pub fn encrypted_tarball(backup: &str) -> String {
    format!("{ENCRYPTED_DIR}/{backup}.tar.encrypted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_seed() {
        assert_eq!(
            server_dir("normal_0", "normal_0_1", "172.17.134.71", 16315),
            "normal_0-normal_0_1-172.17.134.71-16315"
        );
        assert_eq!(
            encrypted_tarball("UTC20240222014345.236-full"),
            "encrypted/UTC20240222014345.236-full.tar.encrypted"
        );
    }
}
