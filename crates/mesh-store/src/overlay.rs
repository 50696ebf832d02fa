//! [`Overlay`]: a copy-on-write view of a store's bytes, so that a file can be opened, recovered
//! and checked by the database engine without a single byte of it being written.
//!
//! Reads come from the base (a file, or any other backend) unless the range was written through
//! the overlay; writes, length changes and syncs stay in memory and vanish with it. Opening a
//! damaged or crash-left file through an overlay shows what the engine would do to it, and the
//! file is still exactly what it was whatever the outcome.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{BackendError, StorageBackend};

/// Bytes per chunk of the in-memory layer; a write copies the chunks it touches.
const CHUNK: u64 = 4096;

/// A storage backend whose writes never reach its base.
pub(crate) struct Overlay {
    base: Arc<dyn StorageBackend>,
    /// Whether locks are taken on the base (a file: so that a store open elsewhere is refused as
    /// locked rather than read while it changes).
    locks: bool,
    layer: Mutex<Layer>,
}

/// What was written through the overlay.
struct Layer {
    /// The length seen through the overlay.
    len: u64,
    /// Bytes of the base below this offset show through where no chunk was written; above it the
    /// overlay reads zeros (the base was shortened through the overlay, then grown again).
    base_visible: u64,
    /// Written chunks, by index.
    chunks: BTreeMap<u64, Box<[u8]>>,
}

impl Overlay {
    /// An overlay on `base`, taking locks on it when `locks` is set.
    pub(crate) fn new(base: Arc<dyn StorageBackend>, locks: bool) -> io::Result<Self> {
        let len = base.len()?;
        Ok(Overlay {
            base,
            locks,
            layer: Mutex::new(Layer {
                len,
                base_visible: len,
                chunks: BTreeMap::new(),
            }),
        })
    }

    fn layer(&self) -> io::Result<MutexGuard<'_, Layer>> {
        self.layer
            .lock()
            .map_err(|_| io::Error::other("the overlay's lock was poisoned by a panic"))
    }

    /// Fills `out` with the bytes of the base at `offset`, zeros where the base is not visible.
    fn read_base(&self, layer: &Layer, offset: u64, out: &mut [u8]) -> io::Result<()> {
        out.fill(0);
        if offset >= layer.base_visible {
            return Ok(());
        }
        let visible = usize::try_from(layer.base_visible - offset).unwrap_or(usize::MAX);
        let n = out.len().min(visible);
        self.base.read(offset, &mut out[..n])
    }

    fn locking<T>(
        &self,
        take: impl FnOnce(&dyn StorageBackend) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        if self.locks {
            take(self.base.as_ref())
        } else {
            Err(BackendError::Unsupported)
        }
    }
}

impl fmt::Debug for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overlay")
            .field("base", &self.base)
            .field("locks", &self.locks)
            .finish_non_exhaustive()
    }
}

impl StorageBackend for Overlay {
    fn len(&self) -> io::Result<u64> {
        Ok(self.layer()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let layer = self.layer()?;
        let end = offset
            .checked_add(out.len() as u64)
            .filter(|end| *end <= layer.len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the file",
                )
            })?;
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK;
            let chunk_end = ((index + 1) * CHUNK).min(end);
            let (from, to) = ((pos - offset) as usize, (chunk_end - offset) as usize);
            match layer.chunks.get(&index) {
                Some(chunk) => {
                    let at = (pos - index * CHUNK) as usize;
                    out[from..to].copy_from_slice(&chunk[at..at + (to - from)]);
                }
                None => self.read_base(&layer, pos, &mut out[from..to])?,
            }
            pos = chunk_end;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut layer = self.layer()?;
        if len < layer.len {
            layer.base_visible = layer.base_visible.min(len);
            // Bytes past the new end read as zeros if the overlay grows again.
            let first_gone = len.div_ceil(CHUNK);
            layer.chunks.split_off(&first_gone);
            if !len.is_multiple_of(CHUNK)
                && let Some(chunk) = layer.chunks.get_mut(&(len / CHUNK))
            {
                chunk[(len % CHUNK) as usize..].fill(0);
            }
        }
        layer.len = len;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut layer = self.layer()?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past u64::MAX"))?;
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK;
            let chunk_end = ((index + 1) * CHUNK).min(end);
            if !layer.chunks.contains_key(&index) {
                let mut chunk = vec![0u8; CHUNK as usize].into_boxed_slice();
                self.read_base(&layer, index * CHUNK, &mut chunk)?;
                layer.chunks.insert(index, chunk);
            }
            let at = (pos - index * CHUNK) as usize;
            let (from, to) = ((pos - offset) as usize, (chunk_end - offset) as usize);
            if let Some(chunk) = layer.chunks.get_mut(&index) {
                chunk[at..at + (to - from)].copy_from_slice(&data[from..to]);
            }
            pos = chunk_end;
        }
        layer.len = layer.len.max(end);
        Ok(())
    }

    fn close(&self) -> io::Result<()> {
        if self.locks {
            self.base.close()
        } else {
            Ok(())
        }
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.locking(|base| base.try_lock_range(start, end))
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.locking(|base| base.try_lock_shared_range(start, end))
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.locking(|base| base.lock_range(start, end))
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.locking(|base| base.lock_shared_range(start, end))
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.locking(|base| base.unlock_range(start, end))
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.locking(|base| base.query_lock_range(start, end))
    }
}

/// A backend shared through an `Arc`, so that the same base can serve an [`Overlay`] and then
/// the store itself.
#[derive(Debug)]
pub(crate) struct Shared(pub(crate) Arc<dyn StorageBackend>);

impl StorageBackend for Shared {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.0.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::backends::InMemoryBackend;

    fn base(bytes: &[u8]) -> Arc<dyn StorageBackend> {
        let base = InMemoryBackend::new();
        base.set_len(bytes.len() as u64).unwrap();
        base.write(0, bytes).unwrap();
        Arc::new(base)
    }

    fn read_all(backend: &dyn StorageBackend) -> Vec<u8> {
        let mut out = vec![0; backend.len().unwrap() as usize];
        backend.read(0, &mut out).unwrap();
        out
    }

    #[test]
    fn writes_stay_in_the_overlay() {
        let original: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let base = base(&original);
        let overlay = Overlay::new(Arc::clone(&base), false).unwrap();
        overlay.write(4090, &[0xff; 20]).unwrap();
        overlay.write(12_000, &[7; 10]).unwrap();
        let seen = read_all(&overlay);
        assert_eq!(seen.len(), 12_010);
        assert_eq!(&seen[..4090], &original[..4090]);
        assert_eq!(&seen[4090..4110], &[0xff; 20]);
        assert_eq!(&seen[4110..10_000], &original[4110..]);
        assert!(seen[10_000..12_000].iter().all(|b| *b == 0));
        assert_eq!(read_all(base.as_ref()), original, "the base was written");
    }

    #[test]
    fn a_shortened_overlay_reads_zeros_when_grown_again() {
        let base = base(&[9; 9000]);
        let overlay = Overlay::new(base, false).unwrap();
        overlay.set_len(5000).unwrap();
        overlay.set_len(9000).unwrap();
        let seen = read_all(&overlay);
        assert!(seen[..5000].iter().all(|b| *b == 9));
        assert!(seen[5000..].iter().all(|b| *b == 0));
        let mut past = [0u8; 1];
        assert!(overlay.read(9000, &mut past).is_err());
    }
}
