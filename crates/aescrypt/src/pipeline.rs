//! Buffers and the ciphertext HMAC, computed on a second core when asked.
//!
//! AES-CBC encryption is serial, and with AES-NI and SHA-NI the AES and the
//! HMAC-SHA256 cost about the same per byte. Running the HMAC on its own
//! thread, one buffer behind the AES, roughly doubles throughput on a
//! machine with two cores. The buffers travel to the HMAC thread and back,
//! so memory stays at [`POOL`] buffers whatever the file size.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};

use hmac::Mac;

use crate::format::HmacSha256;

/// How many buffers one operation uses at most: one being filled, one being
/// hashed, one queued between them.
pub(crate) const POOL: usize = 3;

type Job = (Arc<Vec<u8>>, usize);

/// Hands out buffers and feeds the ciphertext HMAC in submission order.
pub(crate) struct MacPipeline {
    capacity: usize,
    allocated: usize,
    spare: Vec<Vec<u8>>,
    mode: Mode,
}

enum Mode {
    Inline(HmacSha256),
    Threaded {
        jobs: Sender<Job>,
        returned: Receiver<Arc<Vec<u8>>>,
        worker: JoinHandle<HmacSha256>,
    },
}

impl MacPipeline {
    /// `capacity` is the length of every buffer handed out.
    pub(crate) fn new(mac: HmacSha256, capacity: usize, threaded: bool) -> Self {
        let mode = if threaded {
            let (jobs, job_rx) = mpsc::channel::<Job>();
            let (back_tx, returned) = mpsc::channel();
            let for_worker = mac.clone();
            let worker = thread::Builder::new()
                .name("aescrypt-hmac".into())
                .spawn(move || hash_jobs(for_worker, &job_rx, &back_tx));
            match worker {
                Ok(worker) => Mode::Threaded {
                    jobs,
                    returned,
                    worker,
                },
                // Out of threads: hashing inline is slower but correct.
                Err(_) => Mode::Inline(mac),
            }
        } else {
            Mode::Inline(mac)
        };
        Self {
            capacity,
            allocated: 0,
            spare: Vec::new(),
            mode,
        }
    }

    /// A buffer of `capacity` bytes (contents unspecified). Blocks while all
    /// [`POOL`] buffers are with the HMAC thread.
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
        // The worker is gone (it only stops when we drop the sender) or the
        // caller still holds a clone: allocate rather than fail.
        vec![0; self.capacity]
    }

    /// Feeds `buf[..len]` to the HMAC. The caller may keep clones of `buf`
    /// to read from, but must drop them before the buffer can be reused.
    pub(crate) fn submit(&mut self, buf: Arc<Vec<u8>>, len: usize) {
        match &mut self.mode {
            Mode::Inline(mac) => {
                mac.update(&buf[..len]);
                if let Ok(buf) = Arc::try_unwrap(buf) {
                    self.spare.push(buf);
                }
            }
            Mode::Threaded { jobs, .. } => {
                // A send error means the worker died (it panicked);
                // finish() reports that.
                let _ = jobs.send((buf, len));
            }
        }
    }

    /// Waits for every submitted buffer and returns the HMAC, ready to
    /// finalize or verify.
    pub(crate) fn finish(self) -> HmacSha256 {
        match self.mode {
            Mode::Inline(mac) => mac,
            Mode::Threaded { jobs, worker, .. } => {
                // Closing the job channel lets the worker drain it and stop.
                drop(jobs);
                match worker.join() {
                    Ok(mac) => mac,
                    // Propagate a panic of the worker as our own.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        }
    }
}

fn hash_jobs(mut mac: HmacSha256, jobs: &Receiver<Job>, back: &Sender<Arc<Vec<u8>>>) -> HmacSha256 {
    for (buf, len) in jobs {
        mac.update(&buf[..len]);
        // The other side may be gone already (error path): nothing to do.
        let _ = back.send(buf);
    }
    mac
}
