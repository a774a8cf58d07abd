//! What xtrabackup/mariabackup and the server wrote: the backup log, the
//! `xtrabackup_checkpoints` and `xtrabackup_binlog_info` files and a
//! server's command line. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, text)) = dbscale_fuzz::selector_and_text(data) else {
        return;
    };
    match which % 4 {
        0 => drop(xtrabackup::BackupLog::parse(text)),
        1 => drop(xtrabackup::Checkpoints::parse(text)),
        2 => drop(xtrabackup::parse_binlog_info(text)),
        _ => drop(xtrabackup::cmdline::ServerCmdline::parse(text)),
    }
});
