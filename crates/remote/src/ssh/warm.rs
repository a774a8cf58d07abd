//! Warm channels: ssh channels opened ahead of need, each already running
//! the bootstrap and waiting for its script on stdin.
//!
//! Most of a short command's round trip over ssh is not the command: it is
//! starting the local `ssh -S` mux client (an exec that loads OpenSSL and
//! reads the ssh configuration), opening the channel, and sshd starting the
//! login shell and `sh` on the host. A warm channel has done all that
//! before the command arrives, so a command only pays for its own script.
//! After a command takes one, another is started in the background.
//!
//! A warm channel holds one of the transport's `max_concurrent` permits,
//! so idle channels plus running commands never exceed the sessions sshd
//! allows (`MaxSessions`); channels are only started while a permit is
//! free, never ahead of a command waiting for one. A warm channel that died
//! meanwhile (the master went away, sshd closed it) shows up as a missing
//! "started" line: the command then runs on a fresh channel.

use openssh::Session;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A warm channel idle longer than this is closed rather than used: it
/// costs the host a session and an idle `sh` for nothing.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// One warm channel and the permit it holds.
pub(super) struct Warm {
    /// The `ssh -S` client running the bootstrap.
    pub child: openssh::Child<Arc<Session>>,
    /// Its share of `max_concurrent`, handed to the command that takes it.
    pub permit: OwnedSemaphorePermit,
    born: Instant,
}

/// The warm channels of one master connection (closed with it).
pub(super) struct WarmPool {
    inner: Mutex<Inner>,
    target: usize,
}

#[derive(Default)]
struct Inner {
    idle: Vec<Warm>,
    /// Channels being opened (counted so that `fill` does not overshoot).
    starting: usize,
}

impl WarmPool {
    /// A pool that keeps `target` channels ready (0: none).
    pub fn new(target: usize) -> Arc<WarmPool> {
        Arc::new(WarmPool {
            inner: Mutex::new(Inner::default()),
            target,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The oldest usable warm channel, if any; stale ones are closed.
    pub fn take(&self) -> Option<Warm> {
        let mut inner = self.inner();
        inner.idle.retain(|w| w.born.elapsed() < MAX_IDLE);
        (!inner.idle.is_empty()).then(|| inner.idle.remove(0))
    }

    /// How many channels are idle now.
    pub fn ready(&self) -> usize {
        self.inner().idle.len()
    }

    /// Closes every idle channel (one was found dead: the others most
    /// likely share its fate).
    pub fn clear(&self) {
        self.inner().idle.clear();
    }

    /// Starts channels in the background until `target` are idle or
    /// starting, as long as `limit` has a free permit.
    pub fn fill(self: &Arc<Self>, session: &Arc<Session>, limit: &Arc<Semaphore>) {
        loop {
            let permit = {
                let mut inner = self.inner();
                if inner.idle.len() + inner.starting >= self.target {
                    return;
                }
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    return;
                };
                inner.starting += 1;
                permit
            };
            let pool: Weak<WarmPool> = Arc::downgrade(self);
            let session = session.clone();
            tokio::spawn(async move {
                let child = super::open_channel(&session).await;
                // The pool is gone with its master: the channel is dropped
                // (its ssh client killed) and the permit returned.
                let Some(pool) = pool.upgrade() else { return };
                let mut inner = pool.inner();
                inner.starting -= 1;
                match child {
                    Ok(child) => inner.idle.push(Warm {
                        child,
                        permit,
                        born: Instant::now(),
                    }),
                    Err(e) => tracing::debug!(error = %e, "cannot open a warm ssh channel"),
                }
            });
        }
    }
}
