//! Buffers and the ciphertext HMAC, computed on a second core when asked.
//!
//! AES-CBC encryption is serial, and with AES-NI and SHA-NI the AES and the
//! HMAC-SHA256 cost about the same per byte. So the HMAC (and, when
//! encrypting, the write of the ciphertext) runs on a helper thread one
//! buffer behind the AES on the caller's thread, which roughly doubles
//! throughput on two cores. Buffers travel to the helper and back, so
//! memory stays at [`POOL`] buffers whatever the data size.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{Scope, ScopedJoinHandle};

use hmac::Mac;

use crate::format::HmacSha256;
use crate::{Error, Result};

/// How many buffers one operation uses at most: one being filled, one being
/// hashed, one queued between them.
pub(crate) const POOL: usize = 3;

type Job = (Arc<Vec<u8>>, usize);
type Outcome = (HmacSha256, io::Result<()>);

/// Feeds the ciphertext HMAC (and optionally a writer) in submission order,
/// and hands out the buffers to fill.
pub(crate) struct Pipeline<'scope, W> {
    capacity: usize,
    allocated: usize,
    spare: Vec<Vec<u8>>,
    mode: Mode<'scope, W>,
}

enum Mode<'scope, W> {
    Inline {
        mac: HmacSha256,
        out: Option<W>,
    },
    Threaded {
        jobs: Sender<Job>,
        returned: Receiver<Arc<Vec<u8>>>,
        worker: ScopedJoinHandle<'scope, Outcome>,
    },
}

impl<'scope, W: Write + Send + 'scope> Pipeline<'scope, W> {
    /// Every buffer handed out has `capacity` bytes. Submitted data is also
    /// written to `out` when given. With `scope`, the work runs on a helper
    /// thread of that scope; without, inline on submit.
    pub(crate) fn new<'env>(
        scope: Option<&'scope Scope<'scope, 'env>>,
        mac: HmacSha256,
        capacity: usize,
        out: Option<W>,
    ) -> Self {
        let mode = match scope {
            Some(scope) => {
                let (jobs, job_rx) = mpsc::channel::<Job>();
                let (back_tx, returned) = mpsc::channel();
                let worker = scope.spawn(move || work(mac, out, &job_rx, &back_tx));
                Mode::Threaded {
                    jobs,
                    returned,
                    worker,
                }
            }
            None => Mode::Inline { mac, out },
        };
        Self {
            capacity,
            allocated: 0,
            spare: Vec::new(),
            mode,
        }
    }

    /// A buffer of `capacity` bytes (contents unspecified). Blocks while all
    /// [`POOL`] buffers are with the helper thread.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        if let Some(buf) = self.spare.pop() {
            return buf;
        }
        if self.allocated < POOL {
            self.allocated += 1;
            return vec![0; self.capacity];
        }
        if let Mode::Threaded { returned, .. } = &self.mode
            && let Ok(buf) = returned.recv()
            && let Ok(buf) = Arc::try_unwrap(buf)
        {
            return buf;
        }
        // The helper stopped (write error, reported by finish) or the caller
        // still holds a clone: allocate rather than fail.
        vec![0; self.capacity]
    }

    /// Hashes (and writes) `buf[..len]`. The caller may keep clones of
    /// `buf` to read from, but must drop them for the buffer to be reused.
    ///
    /// # Errors
    /// [`Error::Write`] when writing inline fails. A failure on the helper
    /// thread is reported by [`Pipeline::finish`].
    pub(crate) fn submit(&mut self, buf: Arc<Vec<u8>>, len: usize) -> Result<()> {
        match &mut self.mode {
            Mode::Inline { mac, out } => {
                mac.update(&buf[..len]);
                if let Some(out) = out {
                    out.write_all(&buf[..len]).map_err(Error::Write)?;
                }
                if let Ok(buf) = Arc::try_unwrap(buf) {
                    self.spare.push(buf);
                }
            }
            Mode::Threaded { jobs, worker, .. } => {
                // Stop early if the helper has given up on a write error.
                if worker.is_finished() || jobs.send((buf, len)).is_err() {
                    return Err(Error::Write(io::Error::other("the writer thread stopped")));
                }
            }
        }
        Ok(())
    }

    /// Waits for every submitted buffer and returns the HMAC, ready to
    /// finalize or verify.
    ///
    /// # Errors
    /// [`Error::Write`] if writing failed.
    pub(crate) fn finish(self) -> Result<HmacSha256> {
        let (mac, written) = match self.mode {
            Mode::Inline { mac, .. } => (mac, Ok(())),
            Mode::Threaded { jobs, worker, .. } => {
                // Closing the job channel lets the helper drain it and stop.
                drop(jobs);
                match worker.join() {
                    Ok(outcome) => outcome,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        };
        written.map_err(Error::Write)?;
        Ok(mac)
    }

    /// The write error of a helper that stopped early, if any: better to
    /// report than the "thread stopped" placeholder of [`Pipeline::submit`].
    pub(crate) fn take_write_error(self) -> Option<Error> {
        self.finish().err()
    }
}

fn work<W: Write>(
    mut mac: HmacSha256,
    mut out: Option<W>,
    jobs: &Receiver<Job>,
    back: &Sender<Arc<Vec<u8>>>,
) -> Outcome {
    for (buf, len) in jobs {
        mac.update(&buf[..len]);
        if let Some(out) = &mut out
            && let Err(e) = out.write_all(&buf[..len])
        {
            return (mac, Err(e));
        }
        // The other side may be gone already (error path): nothing to do.
        let _ = back.send(buf);
    }
    (mac, Ok(()))
}
