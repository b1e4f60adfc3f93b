//! Streaming request bodies. A local blob is read on a blocking thread into a small bounded channel
//! (at most [`CHANNEL_CHUNKS`] × [`CHUNK_SIZE`] in flight) and counted into the caller's progress:
//! a blob is never held whole in memory. Every chunk handed to the connection also marks the
//! upload's [`Activity`], which the idle watchdog reads.
//!
//! The bytes are not hashed again on the way out: the digest was computed when the image was
//! planned, and the registry verifies it against what it receives (the upload names the digest),
//! refusing a blob whose content changed since. Only the length is checked here, which names a
//! changed blob before the registry has to.

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::http::Activity;
use common::progress::Meter;
use futures_util::{Stream, StreamExt};

use crate::blob::LocalBlob;

pub(crate) const CHUNK_SIZE: usize = 256 * 1024;
pub(crate) const CHANNEL_CHUNKS: usize = 4;

/// What the reader thread found wrong, for a clear error instead of a broken-pipe one.
#[derive(Debug, Default)]
pub(crate) struct ReadOutcome {
    pub(crate) io_error: Option<std::io::Error>,
    /// The size actually read, when it differs from the descriptor's.
    pub(crate) changed_size: Option<u64>,
}

pub(crate) type Outcome = Arc<Mutex<ReadOutcome>>;

/// A body streaming `blob`, which must be `size` bytes long (and hash to the digest the upload
/// names, which the registry checks).
pub(crate) fn local_blob_body(
    blob: Arc<dyn LocalBlob>,
    size: u64,
    progress: Option<Meter>,
    activity: Arc<Activity>,
) -> (reqwest::Body, Outcome) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let outcome: Outcome = Arc::default();
    let report = outcome.clone();
    tokio::task::spawn_blocking(move || {
        let fail = |error: std::io::Error| {
            let message = error.to_string();
            crate::registry::body::lock(&report).io_error = Some(error);
            let _ = tx.blocking_send(Err(std::io::Error::other(message)));
        };
        let mut reader = match blob.open() {
            Ok(reader) => reader,
            Err(error) => return fail(error),
        };
        let mut read = 0u64;
        loop {
            let mut chunk = vec![0u8; CHUNK_SIZE];
            let n = match read_full(&mut reader, &mut chunk) {
                Ok(n) => n,
                Err(error) => return fail(error),
            };
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            read += n as u64;
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return; // The request was dropped (failed or cancelled).
            }
        }
        if read != size {
            lock(&report).changed_size = Some(read);
            let _ = tx.blocking_send(Err(std::io::Error::other("the blob changed while read")));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (counted_body(stream, progress, activity), outcome)
}

/// A body from a stream of chunks, counting them into `progress` and marking `activity` as they
/// go out.
pub(crate) fn counted_body<S, E>(
    stream: S,
    progress: Option<Meter>,
    activity: Arc<Activity>,
) -> reqwest::Body
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    reqwest::Body::wrap_stream(stream.map(move |item| {
        activity.touch();
        if let (Ok(chunk), Some(progress)) = (&item, &progress) {
            progress.inc(chunk.len() as u64);
        }
        item
    }))
}

/// Reads until `buf` is full or the reader ends: fewer, larger chunks for the channel.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
