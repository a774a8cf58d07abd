//! The native stream receiver (`dbagent receive`): socat's place on the
//! receiving end of a transfer, when `[misc] receiver = native`.
//!
//! It listens on one TCP port, takes one connection, and copies it into a
//! file or to its stdout (a consumer such as `mbstream -x` reads that) in
//! 128 KiB blocks, counting the bytes and, when asked, taking the SHA-256
//! of each block once written, on a second thread. That last part is why it exists: with socat the store
//! read every stored stream back to hash it once written, one more pass
//! over every byte on a busy host.
//!
//! It speaks to the transfer script (`stream`'s receiver script) through
//! its log file, as socat does: `listening on ADDR` once it listens,
//! `Address already in use` when the port is taken (the script then bumps
//! the port), then a line per event. Its exit status is 0 only when the
//! sender closed the connection cleanly and every byte was written; the
//! byte count and the digest go to the files `dbagent receive` is given
//! (`--count-to`, `--sha256-to`).
//!
//! ```no_run
//! use agent::receiver::{Output, ReceiveOptions, receive};
//!
//! let report = receive(&ReceiveOptions {
//!     port: 29999,
//!     log: "/backup/socat_log/20261205/29999_1".into(),
//!     output: Output::File("/backup/UTC20261205101500.123-full/normal_0_1.xbstream".into()),
//!     sha256: true,
//! })?;
//! println!("{} bytes, sha256 {:?}", report.bytes, report.sha256);
//! # Ok::<(), agent::receiver::ReceiveError>(())
//! ```

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Bytes per read and write, socat's `-b` as the tools run it: a block
/// stays in the CPU's cache between its read, its write and its hash
/// (1 MiB blocks cost a third more system time here, two streams at once
/// on two cores, than 128 KiB ones).
const BLOCK: usize = 128 << 10;

/// Where the received bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Created (or truncated) and written.
    File(PathBuf),
    /// The process's stdout (a pipe to a consumer).
    Stdout,
}

/// What to receive, and where.
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    /// The TCP port to listen on (all IPv4 addresses, as socat's
    /// `tcp-listen`).
    pub port: u16,
    /// The log file, appended to.
    pub log: PathBuf,
    /// Where the bytes go.
    pub output: Output,
    /// Take the SHA-256 of the stream while it flows.
    pub sha256: bool,
}

/// What a completed receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The peer that sent.
    pub peer: SocketAddr,
    /// Bytes received and written.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of those bytes, when asked for.
    pub sha256: Option<String>,
}

/// Why a receipt failed; every variant names the step and the file or port.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The log could not be opened or written.
    #[error("cannot write the receiver log {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The port could not be listened on (taken: "Address already in use").
    #[error("cannot listen on port {port}: {source}")]
    Listen {
        /// The port.
        port: u16,
        /// The cause.
        source: io::Error,
    },
    /// Accepting the connection failed.
    #[error("accepting a connection on port {port} failed: {source}")]
    Accept {
        /// The port.
        port: u16,
        /// The cause.
        source: io::Error,
    },
    /// The output could not be created or written.
    #[error("cannot write {what} after {bytes} bytes: {source}")]
    Write {
        /// The file, or "stdout".
        what: String,
        /// Bytes written before the failure.
        bytes: u64,
        /// The cause.
        source: io::Error,
    },
    /// The hashing thread died: no digest to vouch for the copy.
    #[error("the SHA-256 thread failed: the stream's digest is unknown")]
    Hash,
    /// Reading the connection failed (e.g. the sender reset it).
    #[error("reading the connection from {peer} failed after {bytes} bytes: {source}")]
    Read {
        /// The sender.
        peer: SocketAddr,
        /// Bytes received before the failure.
        bytes: u64,
        /// The cause.
        source: io::Error,
    },
}

/// Listens, takes one connection, copies it to the output; logs each step
/// (see the module docs) and the failure, if any, to the log.
pub fn receive(opts: &ReceiveOptions) -> Result<Received, ReceiveError> {
    let mut log = Log::open(&opts.log)?;
    let result = listen_and_copy(opts, &mut log);
    match &result {
        Ok(r) => log.line(&format!("done: {} bytes from {}", r.bytes, r.peer))?,
        Err(e) => log.line(&format!("E {e}"))?,
    }
    result
}

fn listen_and_copy(opts: &ReceiveOptions, log: &mut Log) -> Result<Received, ReceiveError> {
    // std sets SO_REUSEADDR on Unix, as socat's `reuseaddr`.
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, opts.port)).map_err(|source| {
        ReceiveError::Listen {
            port: opts.port,
            source,
        }
    })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ReceiveError::Listen {
            port: opts.port,
            source,
        })?;
    // The output exists before the sender may start: a file sink the
    // controller stats for progress is never missing.
    let mut out = open_output(&opts.output)?;
    log.line(&format!("listening on {addr}"))?;
    let (mut conn, peer) = listener.accept().map_err(|source| ReceiveError::Accept {
        port: opts.port,
        source,
    })?;
    // One connection only, as socat without `fork`.
    drop(listener);
    log.line(&format!("accepted connection from {peer}"))?;
    let what = || match &opts.output {
        Output::File(p) => p.display().to_string(),
        Output::Stdout => "stdout".to_owned(),
    };
    let mut hash = opts.sha256.then(HashThread::start);
    let mut spare = vec![vec![0u8; BLOCK]];
    let mut bytes = 0u64;
    loop {
        let mut buf = match (spare.pop(), &mut hash) {
            (Some(buf), _) => buf,
            (None, Some(hash)) => hash.free_block(),
            (None, None) => vec![0u8; BLOCK],
        };
        let n = fill(&mut conn, &mut buf).map_err(|source| ReceiveError::Read {
            peer,
            bytes,
            source,
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|source| ReceiveError::Write {
                what: what(),
                bytes,
                source,
            })?;
        bytes += n as u64;
        match &mut hash {
            Some(hash) => hash.submit(buf, n),
            None => spare.push(buf),
        }
    }
    out.flush().map_err(|source| ReceiveError::Write {
        what: what(),
        bytes,
        source,
    })?;
    Ok(Received {
        peer,
        bytes,
        sha256: hash.map(HashThread::finish).transpose()?,
    })
}

/// SHA-256 on a thread of its own, fed each block once it is written:
/// the hash of one block runs while the next is read and written (on two
/// cores a single thread doing all three was slower than socat followed
/// by a separate hash of the stored file).
struct HashThread {
    blocks: Option<mpsc::SyncSender<(Vec<u8>, usize)>>,
    free: mpsc::Receiver<Vec<u8>>,
    /// Blocks made so far (at most [`HASH_BLOCKS`]).
    made: usize,
    thread: std::thread::JoinHandle<String>,
}

/// Blocks in flight between the copy and the hash (512 KiB; 2 and 8
/// were slower, two streams at once on two cores).
const HASH_BLOCKS: usize = 4;

impl HashThread {
    fn start() -> Self {
        let (blocks, to_hash) = mpsc::sync_channel::<(Vec<u8>, usize)>(HASH_BLOCKS);
        let (done, free) = mpsc::sync_channel(HASH_BLOCKS);
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for (block, n) in to_hash {
                hasher.update(&block[..n]);
                // The copy may have ended: nobody wants the block back.
                let _ = done.send(block);
            }
            hex(&hasher.finalize())
        });
        Self {
            blocks: Some(blocks),
            free,
            made: 1,
            thread,
        }
    }

    /// A block to read into: a new one while fewer than [`HASH_BLOCKS`]
    /// exist, else the next one the hash is done with.
    fn free_block(&mut self) -> Vec<u8> {
        if self.made < HASH_BLOCKS {
            self.made += 1;
            return vec![0u8; BLOCK];
        }
        // The thread only ends when `blocks` is dropped, in `finish`.
        self.free.recv().unwrap_or_else(|_| vec![0u8; BLOCK])
    }

    fn submit(&mut self, block: Vec<u8>, n: usize) {
        if let Some(blocks) = &self.blocks {
            // A dead hash thread shows in `finish` (its panic).
            let _ = blocks.send((block, n));
        }
    }

    /// The digest of every block submitted.
    fn finish(mut self) -> Result<String, ReceiveError> {
        drop(self.blocks.take());
        self.thread.join().map_err(|_| ReceiveError::Hash)
    }
}

/// Reads until `buf` is full or the stream ends: whole blocks for the
/// hash and the write. Returns 0 only at the end of the stream.
fn fill(conn: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match conn.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A file, or stdout unbuffered (std's stdout is line-buffered: it would
/// scan every block for newlines).
fn open_output(output: &Output) -> Result<File, ReceiveError> {
    match output {
        Output::File(path) => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|source| ReceiveError::Write {
                what: path.display().to_string(),
                bytes: 0,
                source,
            }),
        Output::Stdout => io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .map_err(|source| ReceiveError::Write {
                what: "stdout".into(),
                bytes: 0,
                source,
            }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The receiver's log: a line per event, each written at once (the
/// transfer script polls it for `listening on`).
struct Log {
    path: PathBuf,
    file: File,
}

impl Log {
    fn open(path: &Path) -> Result<Self, ReceiveError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ReceiveError::Log {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    fn line(&mut self, text: &str) -> Result<(), ReceiveError> {
        // socat's own format, so the two receivers' logs read alike.
        let stamp = chrono::Local::now().format("%Y/%m/%d %H:%M:%S%.3f");
        writeln!(
            self.file,
            "{stamp} dbagent receive[{}] {text}",
            std::process::id()
        )
        .map_err(|source| ReceiveError::Log {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;
    use testkit::poll::Poll;

    /// Starts `receive` on a free port in a thread; returns the port (from
    /// its log) and the thread.
    fn start(
        dir: &Path,
        output: Output,
    ) -> (u16, std::thread::JoinHandle<Result<Received, ReceiveError>>) {
        let log = dir.join("log");
        let opts = ReceiveOptions {
            port: 0,
            log: log.clone(),
            output,
            sha256: true,
        };
        let thread = std::thread::spawn(move || receive(&opts));
        let port = Poll::within(Duration::from_secs(10))
            .every(Duration::from_millis(5))
            .until("the receiver to listen", || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                Ok(text
                    .split("listening on 0.0.0.0:")
                    .nth(1)
                    .and_then(|rest| rest.trim().parse::<u16>().ok()))
            })
            .unwrap();
        (port, thread)
    }

    #[test]
    fn one_connection_lands_in_the_file_with_its_count_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.xbstream");
        std::fs::write(&out, "an older, longer file to be truncated").unwrap();
        let (port, thread) = start(dir.path(), Output::File(out.clone()));
        // More than one block, not a multiple of it.
        let data: Vec<u8> = (0..(3 * BLOCK + 12345)).map(|i| (i % 251) as u8).collect();
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.write_all(&data).unwrap();
        drop(conn);
        let got = thread.join().unwrap().unwrap();
        assert_eq!(got.bytes, data.len() as u64);
        assert_eq!(got.sha256, Some(hex(&Sha256::digest(&data))));
        assert_eq!(std::fs::read(&out).unwrap(), data);
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(log.contains("accepted connection from 127.0.0.1:"), "{log}");
        assert!(
            log.contains(&format!("done: {} bytes", data.len())),
            "{log}"
        );
    }

    #[test]
    fn a_taken_port_is_logged_as_address_already_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let taken = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = receive(&ReceiveOptions {
            port,
            log: dir.path().join("log"),
            output: Output::File(dir.path().join("out")),
            sha256: false,
        })
        .unwrap_err();
        assert!(matches!(err, ReceiveError::Listen { .. }), "{err:?}");
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(
            log.contains(&format!(
                "E cannot listen on port {port}: Address already in use"
            )),
            "{log}"
        );
        assert!(
            !dir.path().join("out").exists(),
            "no output before listening"
        );
    }

    #[test]
    fn a_reset_connection_is_an_error_not_a_short_success() {
        let dir = tempfile::tempdir().unwrap();
        let (port, thread) = start(dir.path(), Output::File(dir.path().join("out")));
        let conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        (&conn).write_all(&[7u8; 10_000]).unwrap();
        // Linger 0: close sends a reset instead of a clean end.
        let sock = socket2::SockRef::from(&conn);
        sock.set_linger(Some(Duration::ZERO)).unwrap();
        drop(conn);
        let err = thread.join().unwrap().unwrap_err();
        assert!(matches!(err, ReceiveError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("Connection reset"), "{err}");
    }
}
