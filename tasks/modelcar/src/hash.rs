//! The hashing pass: each layer is streamed once to learn its digest, size and diff_id (for a
//! compressed layer, the digests of the compressed and of the uncompressed stream, in the same
//! pass). Layers are hashed in parallel, the largest first so the threads finish together.
//! `sha2` picks the SHA-NI instructions at run time where the CPU has them.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::progress::Meter;
use oci::Digest;
use sha2::{Digest as _, Sha256};

use crate::error::ModelCarError;
use crate::stream::{Compression, TarLayer};

/// What the manifest and config need to know about one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// Digest of the blob as stored (compressed if it is).
    pub digest: Digest,
    pub size: u64,
    /// Digest of the uncompressed tar stream (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

const BUFFER: usize = 1 << 20;

/// Counts (and, for compressed layers, hashes) the uncompressed bytes an encoder pulls.
struct Tap<R> {
    inner: R,
    hasher: Option<Arc<Mutex<Sha256>>>,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = &self.hasher {
            hasher
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(&buf[..n]);
        }
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Streams one layer once and returns its digests. `progress` counts uncompressed bytes.
pub fn measure_layer(layer: &TarLayer, progress: &Meter) -> io::Result<LayerDigests> {
    let compressed = layer.compression() != Compression::None;
    let inner_hasher = compressed.then(|| Arc::new(Mutex::new(Sha256::new())));
    let counted = Arc::new(AtomicU64::new(0));
    let mut reader = layer.encode(Tap {
        inner: layer.tar_stream(),
        hasher: inner_hasher.clone(),
        bytes: counted.clone(),
    })?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut reported = 0u64;
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
        let now = counted.load(Ordering::Relaxed);
        progress.inc(now - reported);
        reported = now;
    }
    drop(reader);
    let digest = Digest::from_hasher(hasher);
    let diff_id = match inner_hasher {
        Some(inner) => {
            let inner = Arc::try_unwrap(inner)
                .map_err(|_| io::Error::other("layer stream still in use"))?
                .into_inner()
                .unwrap_or_else(|e| e.into_inner());
            Digest::from_hasher(inner)
        }
        None => digest.clone(),
    };
    Ok(LayerDigests {
        digest,
        size,
        diff_id,
    })
}

/// Measures every layer with up to `jobs` threads. `names` label the layers in errors.
/// `sizes` (uncompressed tar sizes) order the work, largest first.
pub fn measure_layers(
    layers: &[TarLayer],
    names: &[String],
    sizes: &[u64],
    jobs: usize,
    progress: &Meter,
) -> Result<Vec<LayerDigests>, ModelCarError> {
    let mut order: Vec<usize> = (0..layers.len()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<LayerDigests>>>> =
        Mutex::new((0..layers.len()).map(|_| None).collect());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let threads = jobs.clamp(1, layers.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = order.get(slot) else {
                        return;
                    };
                    let outcome = measure_layer(&layers[index], progress);
                    if outcome.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(outcome);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut digests = Vec::with_capacity(layers.len());
    for (index, outcome) in results.into_iter().enumerate() {
        match outcome {
            Some(Ok(d)) => digests.push(d),
            Some(Err(source)) => {
                return Err(ModelCarError::Hashing {
                    index: index + 1,
                    first_path: names[index].clone(),
                    source,
                });
            }
            None => {}
        }
    }
    if digests.len() != layers.len() {
        // Another layer failed first; its error was returned above unless it was skipped,
        // which cannot happen: every started layer stores an outcome.
        return Err(ModelCarError::Hashing {
            index: 0,
            first_path: String::new(),
            source: io::Error::other("hashing stopped early"),
        });
    }
    Ok(digests)
}
