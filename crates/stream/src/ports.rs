//! Listening ports: the seed's two port families and the "bump by 10 on
//! Address already in use" rule, as an explicit object instead of the seed's
//! `socat_port`/`socat_port2` globals.

use std::sync::Mutex;

/// How far a port moves when the one tried is taken (the seed's `+ 10`).
pub const PORT_STEP: u16 = 10;

/// Which of the seed's two port counters a transfer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortFamily {
    /// `socat-port`: xbstream and tar streams, command output.
    Stream,
    /// `socat-port2`: single files (`my.conf`, binlogs, `dbscale.conf`).
    File,
}

/// Hands out the port to try next for each family and remembers the one that
/// worked, so the next transfer starts there (as the seed's `set_socat_port`).
///
/// Shared by every transfer of a run (wrap it in an `Arc`, or let
/// [`crate::Streamer`] own it).
#[derive(Debug)]
pub struct PortAllocator {
    stream: Mutex<u16>,
    file: Mutex<u16>,
    retry_count: u32,
}

impl PortAllocator {
    /// Starts at `socat_port` (streams) and `socat_port2` (files); a taken
    /// port is bumped by [`PORT_STEP`] up to `retry_count` times (0 = no retry).
    pub fn new(socat_port: u16, socat_port2: u16, retry_count: u32) -> Self {
        Self {
            stream: Mutex::new(socat_port),
            file: Mutex::new(socat_port2),
            retry_count,
        }
    }

    fn slot(&self, family: PortFamily) -> &Mutex<u16> {
        match family {
            PortFamily::Stream => &self.stream,
            PortFamily::File => &self.file,
        }
    }

    /// The port the next transfer of `family` tries first.
    pub fn current(&self, family: PortFamily) -> u16 {
        // A poisoned lock still holds a valid port number.
        *self.slot(family).lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the port a listener of `family` got.
    pub fn remember(&self, family: PortFamily, port: u16) {
        *self.slot(family).lock().unwrap_or_else(|e| e.into_inner()) = port;
    }

    /// How many times a taken port is bumped before giving up.
    pub fn retry_count(&self) -> u32 {
        self.retry_count
    }

    /// The ports a listener of `family` may try, in order: the current one,
    /// then up to `retry_count` bumps (stops short of overflowing `u16`).
    pub fn candidates(&self, family: PortFamily) -> Vec<u16> {
        candidates(self.current(family), self.retry_count)
    }
}

/// `first`, `first + 10`, ... (`retries + 1` ports at most, none above 65535).
pub fn candidates(first: u16, retries: u32) -> Vec<u16> {
    (0..=retries)
        .map_while(|i| {
            let step = u16::try_from(i).ok()?.checked_mul(PORT_STEP)?;
            first.checked_add(step)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_counted_apart_and_remembered() {
        let a = PortAllocator::new(29999, 29998, 3);
        assert_eq!(a.current(PortFamily::Stream), 29999);
        assert_eq!(a.current(PortFamily::File), 29998);
        a.remember(PortFamily::Stream, 30019);
        assert_eq!(a.current(PortFamily::Stream), 30019);
        assert_eq!(a.current(PortFamily::File), 29998);
        assert_eq!(
            a.candidates(PortFamily::Stream),
            vec![30019, 30029, 30039, 30049]
        );
    }

    #[test]
    fn zero_retries_is_one_try_and_no_overflow() {
        assert_eq!(candidates(45509, 0), vec![45509]);
        assert_eq!(candidates(65520, 5), vec![65520, 65530]);
    }
}
