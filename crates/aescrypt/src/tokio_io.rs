//! Encryption and decryption over tokio's `AsyncRead` / `AsyncWrite`.
//!
//! The crypto is CPU-bound and must not run on the async worker threads, so
//! the synchronous engine runs on tokio's blocking pool while this task
//! moves bytes between the async reader/writer and the engine through two
//! bounded channels. Memory stays bounded (two chunks queued each way on
//! top of the engine's buffers) and the I/O overlaps the crypto.

use std::io::{self, Read, Write};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::{Decrypted, Error, Options, Password, Result, decrypt, encrypt};

/// Chunks queued in each direction between the async side and the engine.
const QUEUED: usize = 2;

/// Async version of [`encrypt`]; same output, same errors.
///
/// Needs a tokio runtime with the blocking pool (any runtime has one).
///
/// # Errors
/// As [`encrypt`].
pub async fn encrypt_async<R, W>(
    input: R,
    output: W,
    password: &Password,
    options: &Options,
) -> Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let password = password.clone();
    let options = *options;
    bridged(input, output, options, move |r, w| {
        encrypt(r, w, &password, &options)
    })
    .await
}

/// Async version of [`decrypt`], with the same guarantee: `output` gets all
/// plaintext but the last block (1–16 bytes) before the final HMAC check,
/// and the caller must discard it on error.
///
/// # Errors
/// As [`decrypt`].
pub async fn decrypt_async<R, W>(
    input: R,
    output: W,
    password: &Password,
    options: &Options,
) -> Result<Decrypted>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let password = password.clone();
    let options = *options;
    bridged(input, output, options, move |r, w| {
        decrypt(r, w, &password, &options)
    })
    .await
}

async fn bridged<R, W, T>(
    mut input: R,
    mut output: W,
    options: Options,
    engine: impl FnOnce(ChannelReader, ChannelWriter) -> Result<T> + Send + 'static,
) -> Result<T>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    T: Send + 'static,
{
    options.checked_buffer_size()?;
    let chunk = options.buffer_size;
    let (in_tx, in_rx) = mpsc::channel::<io::Result<Vec<u8>>>(QUEUED);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(QUEUED);
    let engine = tokio::task::spawn_blocking(move || {
        engine(
            ChannelReader {
                rx: in_rx,
                current: Vec::new(),
                pos: 0,
            },
            ChannelWriter { tx: out_tx },
        )
    });

    let input = &mut input;
    let output = &mut output;
    // `move`: the sender must drop when this pump ends, or the engine never
    // sees the end of the input.
    let pump_in = async move {
        loop {
            let mut buf = Vec::with_capacity(chunk);
            let read = tokio::select! {
                read = read_chunk(input, &mut buf) => read,
                // The engine stopped (error): don't wait on the input.
                () = in_tx.closed() => return Ok(()),
            };
            match read {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    if in_tx.send(Ok(buf)).await.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => {
                    // Tell the engine the input failed (rather than ended),
                    // and keep the original error for the caller.
                    let _ = in_tx
                        .send(Err(io::Error::new(e.kind(), "input failed")))
                        .await;
                    return Err(e);
                }
            }
        }
    };
    let pump_out = async move {
        while let Some(buf) = out_rx.recv().await {
            output.write_all(&buf).await?;
        }
        output.flush().await
    };
    let (in_result, out_result, engine_result) = tokio::join!(pump_in, pump_out, engine);

    let engine_result = match engine_result {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => return Err(Error::Write(io::Error::other(join))),
    };
    match engine_result {
        // The pumps hold the real I/O errors; the engine only saw echoes.
        Err(Error::Read(_)) | Err(Error::Write(_)) | Ok(_) => {
            in_result.map_err(Error::Read)?;
            out_result.map_err(Error::Write)?;
            engine_result
        }
        Err(other) => Err(other),
    }
}

/// Reads until `buf` is at capacity or the input ends.
async fn read_chunk<R: AsyncRead + Unpin>(input: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    while buf.len() < buf.capacity() {
        if input.read_buf(buf).await? == 0 {
            break;
        }
    }
    Ok(buf.len())
}

struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "output closed"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
