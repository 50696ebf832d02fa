//! [`VolatileDisk`]: a disk that loses power, for tests of what survives it.
//!
//! Writes land in a volatile layer (a drive's cache) and become durable only at `sync_data`.
//! [`VolatileDisk::cut_power_after`] makes the disk fail every operation from the given one on,
//! as if the machine lost power there; [`VolatileDisk::after_power_loss`] is what a restart then
//! finds: the durable bytes, plus (if asked) a random part of the writes that were never synced,
//! since a real disk may have written some of its cache before the power went.
//!
//! Open a store on it with [`crate::Store::open_with_backend`] and a [`VolatileBackend`].

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redb::StorageBackend;

/// An operation on the disk since its last sync.
#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct State {
    /// What reads see.
    current: Vec<u8>,
    /// What survives a power loss.
    durable: Vec<u8>,
    /// Writes and length changes since the last sync, in order.
    pending: Vec<Pending>,
    /// Operations (writes, length changes, syncs) so far.
    operations: u64,
    /// Operations allowed before the power goes.
    power_for: Option<u64>,
    /// Whether the power went.
    off: bool,
    /// Each sync takes this long (to widen the window between a write and its durability).
    sync_delay: Duration,
}

/// A disk whose unsynced writes are lost with the power. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct VolatileDisk {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for VolatileDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VolatileDisk").finish_non_exhaustive()
    }
}

impl VolatileDisk {
    /// An empty disk.
    pub fn new() -> Self {
        VolatileDisk::default()
    }

    /// A disk holding `bytes`, all durable.
    pub fn with_bytes(bytes: Vec<u8>) -> Self {
        let disk = VolatileDisk::new();
        if let Ok(mut state) = disk.state.lock() {
            state.current = bytes.clone();
            state.durable = bytes;
        }
        disk
    }

    /// A backend on this disk for a store.
    pub fn backend(&self) -> VolatileBackend {
        VolatileBackend { disk: self.clone() }
    }

    /// Lets `operations` more writes, length changes and syncs happen, then fails every one
    /// after as if the power went.
    pub fn cut_power_after(&self, operations: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.power_for = Some(state.operations + operations);
        }
    }

    /// Makes every sync take `delay`.
    pub fn set_sync_delay(&self, delay: Duration) {
        if let Ok(mut state) = self.state.lock() {
            state.sync_delay = delay;
        }
    }

    /// Whether the power went.
    pub fn is_off(&self) -> bool {
        self.state.lock().map(|s| s.off).unwrap_or(true)
    }

    /// The bytes that are durable now.
    pub fn durable(&self) -> Vec<u8> {
        self.state
            .lock()
            .map(|s| s.durable.clone())
            .unwrap_or_default()
    }

    /// The disk a restart finds: the durable bytes, plus each write not synced kept with
    /// probability one half when `keep_some` is set (drawn from `seed`).
    pub fn after_power_loss(&self, keep_some: bool, seed: u64) -> VolatileDisk {
        let Ok(state) = self.state.lock() else {
            return VolatileDisk::new();
        };
        let mut bytes = state.durable.clone();
        let mut rng = seed | 1;
        for op in &state.pending {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if !keep_some || rng.is_multiple_of(2) {
                continue;
            }
            match op {
                Pending::Write { offset, data } => write_at(&mut bytes, *offset, data),
                Pending::SetLen(len) => bytes.resize(*len as usize, 0),
            }
        }
        VolatileDisk::with_bytes(bytes)
    }

    fn state(&self) -> io::Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| io::Error::other("the disk's lock was poisoned"))
    }

    /// Counts an operation; fails once the power is gone.
    fn operate(state: &mut State) -> io::Result<()> {
        if state.power_for.is_some_and(|n| state.operations >= n) {
            state.off = true;
        }
        if state.off {
            return Err(io::Error::other("power cut"));
        }
        state.operations += 1;
        Ok(())
    }
}

fn write_at(bytes: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let end = offset as usize + data.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[offset as usize..end].copy_from_slice(data);
}

/// The [`StorageBackend`] of a [`VolatileDisk`]. It takes no locks.
#[derive(Debug)]
pub struct VolatileBackend {
    disk: VolatileDisk,
}

impl StorageBackend for VolatileBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.disk.state()?.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let state = self.disk.state()?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let bytes = start
            .checked_add(out.len())
            .and_then(|end| state.current.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.disk.state()?;
        VolatileDisk::operate(&mut state)?;
        state.current.resize(len as usize, 0);
        state.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let delay = {
            let mut state = self.disk.state()?;
            VolatileDisk::operate(&mut state)?;
            state.sync_delay
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut state = self.disk.state()?;
        if state.off {
            return Err(io::Error::other("power cut"));
        }
        state.durable = state.current.clone();
        state.pending.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.disk.state()?;
        VolatileDisk::operate(&mut state)?;
        write_at(&mut state.current, offset, data);
        state.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}
