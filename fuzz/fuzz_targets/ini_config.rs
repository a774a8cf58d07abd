//! Config files as users write them: the INI reader with Python
//! configparser's rules, then each tool's validation. An error or a
//! config, never a panic.
#![no_main]

use conf::{BackupConfig, FlashbackConfig, Ini, RecoveryConfig};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ini) = Ini::parse(text, Path::new("fuzz.conf")) else {
        return;
    };
    drop(BackupConfig::from_ini(&ini));
    drop(RecoveryConfig::from_ini(&ini));
    drop(FlashbackConfig::from_ini(&ini));
});
