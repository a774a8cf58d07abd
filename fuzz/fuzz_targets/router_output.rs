//! What the router answers: `dbscale show ...` result sets (as recorded
//! text, turned into rows) and the flushed `dbscale.conf` with the
//! servers' logins. Never a panic, whatever the rows hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, text)) = dbscale_fuzz::selector_and_text(data) else {
        return;
    };
    match which % 3 {
        0 => drop(topology::parse_dbscale_conf(text)),
        1 => drop(topology::parse_dataservers(
            &topology::recorded::parse_output(text),
        )),
        _ => drop(topology::parse_server_datasources(
            &topology::recorded::parse_output(text),
        )),
    }
});
