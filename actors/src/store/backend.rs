//! The file under the database: redb's own `FileBackend`, wrapped so a
//! test can make the store's writes fail as a full or failing disk would;
//! and [`Overlay`], a read-only view of the file that takes redb's writes
//! in memory, so its integrity check (which repairs, and commits) can run
//! before anything is written to a file that may be damaged.
//!
//! Injected failures go through redb exactly as a real `ENOSPC` does: the
//! write or fsync of a commit fails, redb rolls the commit back and latches
//! (`PreviousIo`: every later operation of that database handle fails), so
//! what a test sees is what production sees, reopen path included.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// The store's fault switch: commits to fail (`Fault::FailCommits`), shared
/// by the fault plan, the writer and every backend the writer opens.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch {
    // Fast path: the writer checks this flag and skips the lock when no
    // failure is pending.
    armed: AtomicBool,
    /// Per injected fault, the commits it still fails.
    pending: Mutex<VecDeque<u32>>,
    /// Set for the commit being made: its next write or fsync fails.
    fail_io: AtomicBool,
    /// Injected faults whose commits have all failed.
    fired: AtomicU64,
}

impl FaultSwitch {
    /// Fail the next `n` commits (after those already pending).
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) fn fail_commits(&self, n: u32) {
        self.pending.lock().push_back(n);
        self.armed.store(true, Ordering::Release);
    }

    /// Whether the commit about to be made is to fail; if so, its first
    /// write or fsync will.
    pub(super) fn arm_for_commit(&self) -> bool {
        if !self.armed.load(Ordering::Acquire) {
            return false;
        }
        let mut pending = self.pending.lock();
        let Some(left) = pending.front_mut() else {
            self.armed.store(false, Ordering::Release);
            return false;
        };
        *left = left.saturating_sub(1);
        if *left == 0 {
            pending.pop_front();
            self.fired.fetch_add(1, Ordering::Relaxed);
        }
        if pending.is_empty() {
            self.armed.store(false, Ordering::Release);
        }
        self.fail_io.store(true, Ordering::Release);
        true
    }

    /// Disarm a failure the commit never reached (it failed before any
    /// write, or wrote nothing).
    pub(super) fn disarm(&self) {
        self.fail_io.store(false, Ordering::Release);
    }

    /// Faults fired, and faults still pending.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) fn stats(&self) -> (u64, usize) {
        (
            self.fired.load(Ordering::Relaxed),
            self.pending.lock().len(),
        )
    }

    /// Drop every pending failure; returns how many faults there were.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) fn clear(&self) -> usize {
        let mut pending = self.pending.lock();
        let n = pending.len();
        pending.clear();
        self.armed.store(false, Ordering::Release);
        n
    }

    fn io_fails(&self) -> std::io::Result<()> {
        if self.fail_io.load(Ordering::Acquire) && self.fail_io.swap(false, Ordering::AcqRel) {
            // ENOSPC: the failure the issue names, and what a full disk gives.
            return Err(std::io::Error::from_raw_os_error(28));
        }
        Ok(())
    }
}

/// redb's file backend with the [`FaultSwitch`] in front of its writes.
#[derive(Debug)]
pub(super) struct Backend {
    file: FileBackend,
    faults: Arc<FaultSwitch>,
}

impl Backend {
    pub(super) fn new(file: File, faults: Arc<FaultSwitch>) -> std::io::Result<Self> {
        let file = FileBackend::new(file).map_err(std::io::Error::other)?;
        Ok(Backend { file, faults })
    }
}

impl StorageBackend for Backend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.faults.io_fails()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.faults.io_fails()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.faults.io_fails()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

/// Bytes per page of the overlay (redb's page size; any size works).
const CHUNK: u64 = 4096;

/// The file, read-only, with every write kept in memory (see the module
/// docs). Its locks are the file's, taken shared: a writer elsewhere keeps
/// it out, and it keeps no reader out.
#[derive(Debug)]
pub(super) struct Overlay {
    file: FileBackend,
    state: Mutex<OverlayState>,
}

#[derive(Debug)]
struct OverlayState {
    /// The length redb sees.
    len: u64,
    /// The file's bytes from here on read as zero (after a shrink).
    file_valid: u64,
    /// Written pages, by index.
    pages: HashMap<u64, Box<[u8]>>,
}

impl Overlay {
    pub(super) fn new(file: File) -> std::io::Result<Self> {
        let file = FileBackend::new(file).map_err(std::io::Error::other)?;
        let len = file.len()?;
        Ok(Overlay {
            file,
            state: Mutex::new(OverlayState {
                len,
                file_valid: len,
                pages: HashMap::new(),
            }),
        })
    }

    /// Page `index` as the file has it (zeros past its valid bytes).
    fn base_page(&self, file_valid: u64, index: u64) -> std::io::Result<Box<[u8]>> {
        let mut page = vec![0; CHUNK as usize].into_boxed_slice();
        let start = index * CHUNK;
        if start < file_valid {
            let n = (file_valid - start).min(CHUNK) as usize;
            self.file.read(start, &mut page[..n])?;
        }
        Ok(page)
    }
}

impl StorageBackend for Overlay {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.state.lock().len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let state = self.state.lock();
        let end = offset.checked_add(out.len() as u64);
        if end.is_none_or(|end| end > state.len) {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut done = 0;
        while done < out.len() {
            let at = offset + done as u64;
            let (index, within) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - within).min(out.len() - done);
            let target = &mut out[done..done + n];
            if let Some(page) = state.pages.get(&index) {
                target.copy_from_slice(&page[within..within + n]);
            } else {
                target.fill(0);
                let valid = state.file_valid.saturating_sub(at).min(n as u64) as usize;
                if valid > 0 {
                    self.file.read(at, &mut target[..valid])?;
                }
            }
            done += n;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let mut state = self.state.lock();
        if len < state.len {
            state.pages.retain(|index, _| index * CHUNK < len);
            if let Some(page) = state.pages.get_mut(&(len / CHUNK)) {
                page[(len % CHUNK) as usize..].fill(0);
            }
            state.file_valid = state.file_valid.min(len);
        }
        state.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut state = self.state.lock();
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(std::io::ErrorKind::InvalidInput)?;
        let mut done = 0;
        while done < data.len() {
            let at = offset + done as u64;
            let (index, within) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - within).min(data.len() - done);
            if !state.pages.contains_key(&index) {
                let page = self.base_page(state.file_valid, index)?;
                state.pages.insert(index, page);
            }
            if let Some(page) = state.pages.get_mut(&index) {
                page[within..within + n].copy_from_slice(&data[done..done + n]);
            }
            done += n;
        }
        state.len = state.len.max(end);
        Ok(())
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
