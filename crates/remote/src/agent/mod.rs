//! The agent protocol, shared by the clients ([`crate::adm`],
//! [`crate::rabbit`]) and the host-side agents (the `agent` crate, run by
//! `dbagent`): requests, frames, and [`serve_request`], which runs one.
//!
//! A request ([`Request`]) names a command id, the command and its timeout.
//! The agent answers with a sequence of [`Frame`]s: `Started`, then stdout
//! and stderr chunks (at most [`CHUNK`] bytes each, never truncated), then
//! one `Exit` or `Error`. Over HTTP the frames are concatenated in the
//! response body; over AMQP each frame is one message. Encoding: one tag
//! byte, a 4-byte big-endian length, the payload.

pub use remote_config::auth;

use crate::command::Command;
use crate::error::{Error, Result, WireError};
use crate::local::Local;
use crate::transport::{CommandId, Running};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};

/// Paths of the adm-agent API: run a command.
pub const EXEC: &str = "/v1/exec";
/// Kill a running command.
pub const KILL: &str = "/v1/kill";
/// Liveness.
pub const PING: &str = "/v1/ping";

/// Largest stdout/stderr chunk in one frame.
pub const CHUNK: usize = 128 * 1024;

/// What a client asks an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Run a command.
    Exec {
        /// The client's id for it (kill uses it; a repeated id is refused).
        id: String,
        /// The command.
        command: Command,
        /// Timeout in milliseconds (none: runs until it exits or is killed).
        timeout_ms: Option<u64>,
    },
    /// Kill a running command.
    Kill {
        /// Its id.
        id: String,
    },
    /// Liveness: answered with `Started` + `Exit(0)`, runs nothing.
    Ping,
}

impl Request {
    /// The request that runs `command` under `id`.
    pub fn exec(id: &CommandId, command: &Command, timeout: Option<Duration>) -> Request {
        Request::Exec {
            id: id.0.clone(),
            command: command.clone(),
            timeout_ms: timeout.map(|t| t.as_millis() as u64),
        }
    }
}

/// One piece of an agent's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The agent accepted the request; payload: its identity.
    Started(String),
    /// A chunk of stdout.
    Stdout(Bytes),
    /// A chunk of stderr.
    Stderr(Bytes),
    /// The command exited with this status (`128 + N` for signal N).
    Exit(i32),
    /// The request failed.
    Error(WireError),
}

const TAG_STARTED: u8 = 0;
const TAG_STDOUT: u8 = 1;
const TAG_STDERR: u8 = 2;
const TAG_EXIT: u8 = 3;
const TAG_ERROR: u8 = 4;
const HEADER: usize = 5;

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Bytes {
        let (tag, payload): (u8, Bytes) = match self {
            Frame::Started(who) => (TAG_STARTED, Bytes::copy_from_slice(who.as_bytes())),
            Frame::Stdout(b) => (TAG_STDOUT, b.clone()),
            Frame::Stderr(b) => (TAG_STDERR, b.clone()),
            Frame::Exit(code) => (TAG_EXIT, Bytes::copy_from_slice(&code.to_be_bytes())),
            Frame::Error(e) => (
                TAG_ERROR,
                Bytes::from(serde_json::to_vec(e).unwrap_or_default()),
            ),
        };
        let mut out = BytesMut::with_capacity(HEADER + payload.len());
        out.put_u8(tag);
        out.put_u32(payload.len() as u32);
        out.extend_from_slice(&payload);
        out.freeze()
    }

    /// Decodes one whole frame (an AMQP message body).
    pub fn decode(bytes: Bytes) -> std::result::Result<Frame, String> {
        let mut d = FrameDecoder::default();
        d.push(&bytes);
        match d.next_frame()? {
            Some(f) if d.buf.is_empty() => Ok(f),
            Some(_) => Err("trailing bytes after a frame".into()),
            None => Err("truncated frame".into()),
        }
    }
}

/// Incremental decoder for a byte stream of frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> std::result::Result<Option<Frame>, String> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let tag = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > 16 * CHUNK {
            return Err(format!("frame of {len} bytes is too large"));
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        self.buf.advance(HEADER);
        let payload = self.buf.split_to(len).freeze();
        let frame = match tag {
            TAG_STARTED => Frame::Started(String::from_utf8_lossy(&payload).into_owned()),
            TAG_STDOUT => Frame::Stdout(payload),
            TAG_STDERR => Frame::Stderr(payload),
            TAG_EXIT => {
                let b: [u8; 4] = payload[..]
                    .try_into()
                    .map_err(|_| "bad exit frame".to_owned())?;
                Frame::Exit(i32::from_be_bytes(b))
            }
            TAG_ERROR => Frame::Error(
                serde_json::from_slice(&payload).map_err(|e| format!("bad error frame: {e}"))?,
            ),
            other => return Err(format!("unknown frame tag {other}")),
        };
        Ok(Some(frame))
    }

    /// Bytes received but not yet decoded.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Agent side: runs one request on `local` and sends its frames to `tx`.
/// When the client goes away (the receiver of `tx` dropped: the HTTP
/// connection closed, or the rabbit server found the client's reply queue
/// gone) a running command is killed (its whole process group), as if the
/// client had asked; its remaining output is drained and dropped.
pub async fn serve_request(local: &Local, identity: &str, req: Request, tx: mpsc::Sender<Frame>) {
    let _ = tx.send(Frame::Started(identity.to_owned())).await;
    match req {
        Request::Ping => {
            let _ = tx.send(Frame::Exit(0)).await;
        }
        Request::Kill { id } => {
            let result = CommandId::parse(&id).and_then(|id| local.kill_id(&id));
            let _ = tx
                .send(match result {
                    Ok(()) => Frame::Exit(0),
                    Err(e) => Frame::Error(e.to_wire()),
                })
                .await;
        }
        Request::Exec {
            id,
            command,
            timeout_ms,
        } => {
            let span = tracing::info_span!("agent.exec", %id, program = command.name(), exit_status = tracing::field::Empty);
            let timeout = timeout_ms.map(Duration::from_millis);
            let running = match CommandId::parse(&id) {
                Ok(id) => local.spawn_with_id(id, &command, timeout).await,
                Err(e) => Err(e),
            };
            let running = match running {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(parent: &span, error = %e, "not started");
                    let _ = tx.send(Frame::Error(e.to_wire())).await;
                    return;
                }
            };
            stream_running(local, running, &tx, &span).await;
        }
    }
}

/// Streams a running command's output as frames, then its end; kills it
/// when the client is gone first.
async fn stream_running(
    local: &Local,
    running: Running,
    tx: &mpsc::Sender<Frame>,
    span: &tracing::Span,
) {
    let id = running.id.clone();
    let (stdout, stderr, mut wait) = running.into_parts();
    let out = pump(stdout, tx.clone(), Frame::Stdout);
    let err = pump(stderr, tx.clone(), Frame::Stderr);
    let guarded = async {
        tokio::select! {
            status = &mut wait => status,
            () = tx.closed() => {
                tracing::info!(parent: span, "the client is gone; killing its command");
                // Only fails when the command has just ended by itself.
                let _ = local.kill_id(&id);
                wait.await
            }
        }
    };
    let (_, _, status) = tokio::join!(out, err, guarded);
    let frame = match status {
        Ok(code) => {
            span.record("exit_status", code);
            Frame::Exit(code)
        }
        Err(e) => {
            tracing::info!(parent: span, error = %e, "failed");
            Frame::Error(e.to_wire())
        }
    };
    let _ = tx.send(frame).await;
}

async fn pump(
    mut reader: crate::transport::Reader,
    tx: mpsc::Sender<Frame>,
    make: fn(Bytes) -> Frame,
) {
    let mut client_gone = false;
    loop {
        let mut buf = BytesMut::with_capacity(CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Fill the chunk a little more when data is already there.
        while buf.len() < CHUNK {
            match tokio::time::timeout(Duration::ZERO, reader.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
        if !client_gone && tx.send(make(buf.freeze())).await.is_err() {
            client_gone = true;
        }
    }
}

/// Client side: turns a stream of frames into a [`Running`] (stdout and
/// stderr as readers, exit status or error from the final frame).
pub struct Demux {
    /// Feed frames here, in order.
    pub frames: mpsc::Sender<Frame>,
    /// The command as the caller sees it.
    pub running: Running,
}

/// Where a demuxed command's end comes from.
pub type EndRx = oneshot::Receiver<std::result::Result<i32, WireError>>;

/// [`demux`] as both agent transports use it: the end releases `permit`
/// (the command's share of the host's concurrency) and turns the final
/// frame into the exit code, the agent's error (naming host, transport and
/// program), or [`ended_early`] when the frames stop without one.
pub fn client_demux<P: Send + 'static>(
    id: CommandId,
    host: &str,
    transport: &'static str,
    program: &str,
    timeout: Option<Duration>,
    permit: P,
) -> Demux {
    let host = host.to_owned();
    let program = program.to_owned();
    let id_text = id.0.clone();
    demux(id, move |last| {
        drop(permit);
        match last {
            Some(Ok(code)) => Ok(code),
            Some(Err(w)) => Err(Error::from_wire(
                w, &host, transport, &program, timeout, &id_text,
            )),
            None => Err(ended_early(&host, transport, &program)),
        }
    })
}

/// Builds the client-side plumbing for command `id`: frames pushed into
/// `Demux::frames` come out of `Demux::running`. `end` maps the final frame
/// (or the frame stream closing early) to the result the caller sees.
pub fn demux<F>(id: CommandId, end: F) -> Demux
where
    F: FnOnce(Option<std::result::Result<i32, WireError>>) -> Result<i32> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Frame>(64);
    let (mut out_w, out_r) = tokio::io::duplex(CHUNK * 2);
    let (mut err_w, err_r) = tokio::io::duplex(CHUNK);
    let task = tokio::spawn(async move {
        let mut last = None;
        while let Some(frame) = rx.recv().await {
            match frame {
                Frame::Started(_) => {}
                Frame::Stdout(b) => {
                    let _ = out_w.write_all(&b).await;
                }
                Frame::Stderr(b) => {
                    let _ = err_w.write_all(&b).await;
                }
                Frame::Exit(code) => {
                    last = Some(Ok(code));
                    break;
                }
                Frame::Error(e) => {
                    last = Some(Err(e));
                    break;
                }
            }
        }
        let _ = out_w.shutdown().await;
        let _ = err_w.shutdown().await;
        last
    });
    let wait = async move {
        let last = task.await.ok().flatten();
        end(last)
    };
    Demux {
        frames: tx,
        running: Running::new(id, Box::new(out_r), Box::new(err_r), Box::pin(wait)),
    }
}

/// Reads an HTTP-style byte stream of frames into `frames`.
pub async fn decode_stream<R: AsyncRead + Unpin>(
    mut reader: R,
    frames: mpsc::Sender<Frame>,
) -> std::result::Result<(), String> {
    let mut d = FrameDecoder::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        while let Some(f) = d.next_frame()? {
            let end = matches!(f, Frame::Exit(_) | Frame::Error(_));
            if frames.send(f).await.is_err() || end {
                return Ok(());
            }
        }
        let n = reader.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "the agent's answer ended early ({} bytes undecoded)",
                d.pending()
            ));
        }
        d.push(&buf[..n]);
    }
}

/// The error for a stream that ended without an exit frame.
pub fn ended_early(host: &str, transport: &'static str, program: &str) -> Error {
    Error::Transport {
        host: host.to_owned(),
        transport,
        program: program.to_owned(),
        detail: "the agent's answer ended before the command's exit status".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_split_anywhere() {
        let frames = vec![
            Frame::Started("dbagent/adm/127.0.0.1".into()),
            Frame::Stdout(Bytes::from_static(b"hello")),
            Frame::Stderr(Bytes::from(vec![0u8; 1000])),
            Frame::Exit(-3),
            Frame::Error(WireError {
                kind: crate::error::WireKind::Timeout,
                message: "x".into(),
            }),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode().to_vec()).collect();
        for split in [1, 3, 7, 100] {
            let mut d = FrameDecoder::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(split) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, frames);
        }
        assert_eq!(Frame::decode(frames[1].encode()).unwrap(), frames[1]);
        assert!(Frame::decode(Bytes::from_static(&[9, 0, 0, 0, 0])).is_err());
    }

    #[test]
    fn requests_serialize_with_an_op_tag() {
        let r = Request::Kill { id: "ab".into() };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"op":"kill","id":"ab"}"#
        );
    }
}
