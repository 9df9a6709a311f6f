//! [`MappedFile`]: a file mapped shared and read-write, written by appending only.
//!
//! This is the one place in Aeon with `unsafe`: turning the mapping into slices.
//! The invariant that makes it sound: bytes below `len` (the committed length) are
//! never written again while the mapping lives, and only bytes below `len` are ever
//! handed out as slices. Appends write above `len` under a lock and publish the new
//! length with release ordering afterwards. Shrinking (`cut`) needs `&mut self`, so no
//! slice and no other `Arc` can exist then. `trim` shortens the file (not the mapping)
//! to `len`, so no slice ever touches a page past the end of the file.//!
//! # A full disk
//!
//! The file is preallocated sparse, so a write into the mapping may need a new disk
//! block, and a store into a shared mapping that the filesystem cannot back is a
//! SIGBUS, which kills the whole broker. So no byte is copied into the mapping before
//! its blocks exist: [`MappedFile::reserve`] allocates them ahead (`fallocate`, or
//! zeros written with `pwrite` where the filesystem has no `fallocate`), in chunks,
//! and reports ENOSPC as [`Error::NoSpace`] with nothing written.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

use super::error::{io_err, Error, Result};

/// Appends of at least this many bytes use `pwrite` rather than a copy into the map.
pub(crate) const WRITE_SYSCALL_MIN: usize = 64 * 1024;

/// An append-only memory-mapped file, preallocated to its capacity.
#[derive(Debug)]
pub(crate) struct MappedFile {
    path: PathBuf,
    /// The descriptor, kept for a file that takes `pwrite`s (a log). Index files give
    /// theirs up once mapped ([`MappedFile::release_descriptor`], as Kafka's indexes
    /// do): their rare other calls (allocate, trim, fsync) open the file again, so a
    /// partition holds one descriptor, its active log's.
    file: Option<File>,
    map: MmapRaw,
    /// Length of the mapping and of the preallocated file.
    capacity: usize,
    /// Committed bytes: readable and immutable from now on.
    len: AtomicUsize,
    /// Set once the file takes no more appends.
    sealed: AtomicBool,
    /// Set once the file was cut to its committed length (a sealed file is trimmed
    /// by the sync that makes it durable, off the writer's thread).
    trimmed: AtomicBool,
    /// Bytes to allocate disk blocks for ahead of the write position, off the
    /// writer's thread (0: none).
    allocate_ahead: AtomicUsize,
    /// Held by writers; holds the end of the bytes known to have disk blocks (from
    /// `len` on, everything below it is allocated).
    write_lock: Mutex<usize>,
}

impl MappedFile {
    /// Creates a new file of `capacity` zero bytes (sparse) and maps it.
    pub(crate) fn create(path: &Path, capacity: usize) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io_err("create", path))?;
        Self::map(path.to_path_buf(), file, 0, capacity, 0)
    }

    /// Opens an existing file (creating it empty when missing). All its current bytes
    /// count as committed; the caller cuts them down after validating. The file is
    /// extended with zeros to `min_capacity` if shorter.
    pub(crate) fn open(path: &Path, min_capacity: usize) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("open", path))?;
        let file_len = file.metadata().map_err(io_err("stat", path))?.len();
        let file_len = usize::try_from(file_len).map_err(|_| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("file of {file_len} bytes is too large"),
        })?;
        let capacity = file_len.max(min_capacity);
        // Where the data ends: a file not trimmed by a clean shutdown is its capacity
        // long, mostly a hole (unwritten blocks count as one), which the recovery scan
        // must not read around in.
        let data_end = rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(0))
            .ok()
            .and_then(|end| usize::try_from(end).ok())
            .map_or(file_len, |end| end.min(file_len));
        Self::map(path.to_path_buf(), file, file_len, capacity, data_end)
    }

    /// Maps `capacity` bytes of `file`, `len` of them committed; no read-around from
    /// `data_end` on.
    fn map(
        path: PathBuf,
        file: File,
        len: usize,
        capacity: usize,
        data_end: usize,
    ) -> Result<Self> {
        // An empty mapping is not allowed; one page past an empty file is never read.
        let capacity = capacity.max(1);
        let file_len = file.metadata().map_err(io_err("stat", &path))?.len();
        if (file_len as usize) < capacity {
            file.set_len(capacity as u64)
                .map_err(io_err("preallocate", &path))?;
        }
        let map = MmapOptions::new()
            .len(capacity)
            .map_raw(&file)
            .map_err(io_err("mmap", &path))?;
        advise_no_readaround(&map, data_end, capacity);
        Ok(Self {
            path,
            file: Some(file),
            map,
            capacity,
            len: AtomicUsize::new(len),
            sealed: AtomicBool::new(false),
            trimmed: AtomicBool::new(false),
            allocate_ahead: AtomicUsize::new(0),
            write_lock: Mutex::new(len),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the descriptor: the mapping is all that reads and writes the bytes.
    pub(crate) fn release_descriptor(&mut self) {
        self.file = None;
    }

    /// The held descriptor, or the file opened again by its path.
    fn descriptor(&self) -> Result<Descriptor<'_>> {
        match &self.file {
            Some(file) => Ok(Descriptor::Held(file)),
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map(Descriptor::Opened)
                .map_err(io_err("reopen", &self.path)),
        }
    }

    /// Has up to `bytes` of disk blocks allocated ahead of the write position (by
    /// [`MappedFile::fill_ahead`] on another thread), so that an append seldom waits
    /// for a `fallocate`. The distance grows with the data: never more ahead than the
    /// file already holds, so a partition that sees little traffic does not hold 4 MiB
    /// of disk for it. Pages are not prefaulted: measured, prefaulting them cost
    /// 0.3-0.4 CPU-s per GB produced (each page read in as zeros, then overwritten) and
    /// bought no latency.
    pub(crate) fn set_allocate_ahead(&self, bytes: usize) {
        self.allocate_ahead.store(bytes, Ordering::Relaxed);
    }

    /// Where the writer's blocks should reach, once less than half of the distance
    /// kept ahead of the writes is left (see [`MappedFile::set_allocate_ahead`]);
    /// `None` when nothing is due.
    pub(crate) fn ahead_due(&self) -> Option<usize> {
        let ahead = self.allocate_ahead.load(Ordering::Relaxed);
        if ahead == 0 || self.sealed.load(Ordering::Acquire) {
            return None;
        }
        let len = self.len();
        let distance = ahead.min(len);
        let target = (len + distance).min(self.capacity);
        let allocated = *self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (allocated < len + distance / 2 && target > allocated).then_some(target)
    }

    /// Allocates blocks up to `target` on the calling thread, so that the writer, on
    /// its own thread, finds them ready: a `fallocate` can wait on the filesystem's
    /// journal for milliseconds. The write lock is held only to read and raise the
    /// allocated end, never across the system call, so the writer never waits for it.
    pub(crate) fn fill_ahead(&self, target: usize) -> Result<()> {
        let target = target.min(self.capacity);
        let from = *self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if target > from && !self.sealed.load(Ordering::Acquire) {
            // Above the allocated end nothing is written or read; a writer that
            // outruns this allocates the same blocks itself, which is harmless.
            self.allocate_range(from, target)?;
            let mut allocated = self
                .write_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *allocated = (*allocated).max(target);
        }
        Ok(())
    }

    /// Committed bytes.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Bytes that an append may still add.
    pub(crate) fn remaining(&self) -> usize {
        if self.sealed.load(Ordering::Acquire) {
            0
        } else {
            self.capacity - self.len()
        }
    }

    /// The committed bytes.
    pub(crate) fn contents(&self) -> &[u8] {
        let len = self.len();
        // SAFETY: the mapping is `capacity >= len` bytes long and lives as long as
        // `self`; bytes below the committed length are never written again (see the
        // module doc), so a shared slice of them cannot alias a write.
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts(self.map.as_ptr(), len)
        }
    }

    /// Copies `data` after the committed bytes, lets `patch` rewrite the copy in
    /// place, then commits it. Returns the position it was written at, or `None` when
    /// it does not fit (or the file is sealed).
    pub(crate) fn append<E>(
        &self,
        data: &[u8],
        patch: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Option<usize>, E>
    where
        E: From<Error>,
    {
        let mut allocated = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let start = self.len.load(Ordering::Acquire);
        if self.sealed.load(Ordering::Acquire) || data.len() > self.capacity - start {
            return Ok(None);
        }
        self.allocate(&mut allocated, start, data.len())
            .map_err(E::from)?;
        // SAFETY: `start..start + data.len()` lies inside the mapping (checked above)
        // and above the committed length, so no slice handed out covers it, and the
        // write lock excludes any other writer. It becomes visible to readers only by
        // the release store below, after the copy and the patch are done.
        #[allow(unsafe_code)]
        let dst =
            unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(start), data.len()) };
        dst.copy_from_slice(data);
        patch(dst)?;
        self.len.store(start + data.len(), Ordering::Release);
        Ok(Some(start))
    }

    /// Writes `data` after the committed bytes with its first `head.len()` bytes
    /// replaced by `head`, and commits it; returns the position, or `None` when it
    /// does not fit (or the file is sealed).
    ///
    /// Below [`WRITE_SYSCALL_MIN`] bytes the parts are copied into the mapping (no
    /// system call). Larger appends go through one `pwritev` of `head` and the rest of
    /// `data` into the same page cache, which the shared mapping sees at once: for big
    /// copies the kernel's write path beats faulting fresh pages of a sparse file into
    /// the mapping one by one (figures in STORAGE_BENCH.md).
    pub(crate) fn append_with_head(&self, data: &[u8], head: &[u8]) -> Result<Option<usize>> {
        let total = data.len();
        let Some(body) = data.get(head.len()..) else {
            return Ok(None);
        };
        let mut allocated = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let start = self.len.load(Ordering::Acquire);
        if self.sealed.load(Ordering::Acquire) || total > self.capacity - start {
            return Ok(None);
        }
        // Blocks first, for both paths: a copy into the mapping must never fault on a
        // full disk, and a failed `pwrite` must leave nothing half-allocated behind.
        self.allocate(&mut allocated, start, total)?;
        if total < WRITE_SYSCALL_MIN {
            // SAFETY: as in `append`: inside the mapping, above the committed length,
            // under the write lock, published only by the release store below.
            #[allow(unsafe_code)]
            let dst =
                unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(start), total) };
            dst[..head.len()].copy_from_slice(head);
            dst[head.len()..].copy_from_slice(body);
        } else {
            pwrite_all(&*self.descriptor()?, head, body, start as u64)
                .map_err(io_err("write", &self.path))?;
        }
        self.len.store(start + total, Ordering::Release);
        Ok(Some(start))
    }

    /// Makes sure the next `additional` bytes after the committed ones (up to the
    /// capacity) have disk blocks, so that writing them into the mapping cannot fault.
    /// [`Error::NoSpace`] when the filesystem is full; nothing is written then.
    pub(crate) fn reserve(&self, additional: usize) -> Result<()> {
        let mut allocated = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let start = self.len.load(Ordering::Acquire);
        if self.sealed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.allocate(&mut allocated, start, additional)
    }

    /// Allocates blocks for `start..start + n` (clamped to the capacity) if
    /// `allocated` does not reach there yet, a chunk ahead so that small appends
    /// rarely pay a system call. Called with the write lock held.
    fn allocate(&self, allocated: &mut usize, start: usize, n: usize) -> Result<()> {
        #[cfg(test)]
        if fault::take(&self.path) {
            return Err(Error::NoSpace {
                path: self.path.clone(),
            });
        }
        let need = start.saturating_add(n).min(self.capacity);
        let from = (*allocated).max(start);
        if need <= from {
            return Ok(());
        }
        let chunk = (self.capacity / 64).clamp(4096, 1 << 20);
        let to = need.max(from.saturating_add(chunk)).min(self.capacity);
        self.allocate_range(from, to)?;
        *allocated = to;
        Ok(())
    }

    /// Gives `from..to` of the file its disk blocks.
    fn allocate_range(&self, from: usize, to: usize) -> Result<()> {
        let no_space = |source: std::io::Error| {
            if source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
                || source.kind() == std::io::ErrorKind::StorageFull
            {
                Error::NoSpace {
                    path: self.path.clone(),
                }
            } else {
                Error::Io {
                    op: "allocate",
                    path: self.path.clone(),
                    source,
                }
            }
        };
        // KEEP_SIZE: allocating never changes the file's length. The background
        // allocation ahead of the writer may run after a roll trimmed the file; without
        // it that trimmed segment grew back to its capacity, zeros after its batches.
        let file = self.descriptor()?;
        match rustix::fs::fallocate(
            &*file,
            rustix::fs::FallocateFlags::KEEP_SIZE,
            from as u64,
            (to - from) as u64,
        ) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
                // No fallocate here: zeros written through the file allocate as well.
                // Nothing else reads or writes above the committed length.
                use std::os::unix::fs::FileExt;
                let zeros = vec![0u8; (to - from).min(1 << 20)];
                let mut at = from;
                // A trimmed (sealed) file must not grow back: stop once it is sealed.
                while at < to && !self.sealed.load(Ordering::Acquire) {
                    let n = zeros.len().min(to - at);
                    file.write_all_at(&zeros[..n], at as u64)
                        .map_err(no_space)?;
                    at += n;
                }
            }
            Err(e) => return Err(no_space(e.into())),
        }
        Ok(())
    }

    /// Committed bytes `start..end` as `Bytes` that keep the mapping alive (zero copy).
    pub(crate) fn slice(self: &Arc<Self>, start: usize, end: usize) -> Bytes {
        let end = end.min(self.len());
        let start = start.min(end);
        Bytes::from_owner(MapSlice {
            file: Arc::clone(self),
            start,
            len: end - start,
        })
    }

    /// Forgets everything from `len` on and makes the file read as zeros there again
    /// (truncate, then extend back to the capacity).
    pub(crate) fn cut(&mut self, len: usize) -> Result<()> {
        let len = len.min(self.len());
        // The cut-off tail becomes a hole again.
        let allocated = self
            .write_lock
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        *allocated = (*allocated).min(len);
        // Nothing written from `len` on (a crash's untrimmed preallocation): it reads as
        // zeros already, and truncating would only free the blocks allocated ahead
        // (with a discard per file on some filesystems) for the next appends to
        // allocate again.
        // (Holes are whole blocks: the rest of the block holding `len` is zeroed by hand.)
        const BLOCK: usize = 4096;
        let block_end = len.next_multiple_of(BLOCK).min(self.capacity);
        let file = self.descriptor()?;
        if has_data_from(&file, block_end) {
            file.set_len(len as u64)
                .map_err(io_err("truncate", &self.path))?;
            file.set_len(self.capacity as u64)
                .map_err(io_err("preallocate", &self.path))?;
        } else if block_end > len {
            use std::os::unix::fs::FileExt;
            file.write_all_at(&[0u8; BLOCK][..block_end - len], len as u64)
                .map_err(io_err("zero", &self.path))?;
        }
        self.len.store(len, Ordering::Release);
        advise_no_readaround(&self.map, len, self.capacity);
        Ok(())
    }

    /// Shortens the file to its committed length and takes no more appends. The
    /// mapping keeps its length; nothing reads past the committed bytes.
    pub(crate) fn trim(&self) -> Result<()> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.sealed.store(true, Ordering::Release);
        self.descriptor()?
            .set_len(self.len() as u64)
            .map_err(io_err("trim", &self.path))?;
        self.trimmed.store(true, Ordering::Release);
        Ok(())
    }

    /// Takes no more appends, without a system call: the file is trimmed to its
    /// committed length by the next [`MappedFile::sync_all`] (a roll's background flush).
    pub(crate) fn seal(&self) {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.sealed.store(true, Ordering::Release);
    }

    /// Writes the bytes `start..end` of the mapping to disk and waits (msync).
    pub(crate) fn sync_range(&self, start: usize, end: usize) -> Result<()> {
        let end = end.min(self.capacity);
        if start >= end {
            return Ok(());
        }
        self.map
            .flush_range(start, end - start)
            .map_err(io_err("msync", &self.path))
    }

    /// fsync: data and metadata (the length after a trim).
    ///
    /// A file without its descriptor that is gone from its path was renamed for
    /// deletion (or moved by the cleaner's swap, which syncs every file before
    /// renaming it): there is nothing left to make durable under that name.
    pub(crate) fn sync_all(&self) -> Result<()> {
        if self.file.is_none() && !self.path.exists() {
            return Ok(());
        }
        if self.sealed.load(Ordering::Acquire) && !self.trimmed.load(Ordering::Acquire) {
            self.trim()?;
        }
        self.map
            .flush_range(0, self.len().clamp(1, self.capacity))
            .map_err(io_err("msync", &self.path))?;
        self.descriptor()?
            .sync_all()
            .map_err(io_err("fsync", &self.path))
    }
}

/// Whether any byte of `file` from `from` on was written (`SEEK_DATA`: holes and
/// allocated, never written blocks read as zeros and do not count; pages in the page
/// cache do). True when the filesystem cannot tell.
fn has_data_from(file: &File, from: usize) -> bool {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(from as u64)) {
        Ok(_) => true,
        Err(e) => e != rustix::io::Errno::NXIO,
    }
}

/// A [`MappedFile`]'s descriptor for one call.
enum Descriptor<'a> {
    Held(&'a File),
    Opened(File),
}

impl std::ops::Deref for Descriptor<'_> {
    type Target = File;

    fn deref(&self) -> &File {
        match self {
            Self::Held(file) => file,
            Self::Opened(file) => file,
        }
    }
}

/// No read-around for faults above `from` (to the end of the mapping): the sparse,
/// not yet written part of a file. A page fault in a shared file mapping reads the
/// pages around it (as far as the device's read-ahead, 8 MiB on some machines), and
/// in a hole that is pages of zeros put in the page cache: 8 MiB per file for the first
/// small append of every partition, most never to be written. Below `from` (data
/// written before, maybe cold) reads keep the kernel's read-ahead.
fn advise_no_readaround(map: &MmapRaw, from: usize, capacity: usize) {
    const PAGE: usize = 4096;
    let from = from.div_ceil(PAGE) * PAGE;
    if from < capacity {
        // Best effort: only the cost of faults depends on it.
        #[cfg(target_os = "linux")]
        let _ = map.advise_range(memmap2::Advice::Random, from, capacity - from);
    }
}

impl MappedFile {
    /// Renames the file; the mapping stays valid. Needs `&mut`: not yet shared.
    pub(crate) fn rename(&mut self, to: &Path) -> Result<()> {
        std::fs::rename(&self.path, to).map_err(io_err("rename", &self.path))?;
        self.path = to.to_path_buf();
        Ok(())
    }
}

/// Writes `head` then `body` at `offset` with `pwritev`: one system call, no copy to
/// join them, whole pages for the kernel.
fn pwrite_all(
    file: &File,
    mut head: &[u8],
    mut body: &[u8],
    mut offset: u64,
) -> std::io::Result<()> {
    use std::io::IoSlice;
    while !head.is_empty() || !body.is_empty() {
        let written =
            match rustix::io::pwritev(file, &[IoSlice::new(head), IoSlice::new(body)], offset) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
        offset += written as u64;
        let from_head = written.min(head.len());
        head = &head[from_head..];
        body = &body[written - from_head..];
    }
    Ok(())
}

/// Test-only fault injection: the next allocation for a file whose path ends with a
/// registered suffix fails as a full disk would.
#[cfg(test)]
pub(crate) mod fault {
    use std::path::Path;
    use std::sync::Mutex;

    static NO_SPACE: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// The next allocation for a path ending in `suffix` fails with ENOSPC.
    pub(crate) fn no_space_once(suffix: &str) {
        NO_SPACE.lock().unwrap().push(suffix.to_string());
    }

    pub(super) fn take(path: &Path) -> bool {
        let mut pending = NO_SPACE.lock().unwrap();
        let path = path.to_string_lossy();
        match pending.iter().position(|s| path.ends_with(s.as_str())) {
            Some(i) => {
                pending.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The owner behind a `Bytes` read from a [`MappedFile`].
struct MapSlice {
    file: Arc<MappedFile>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        &self.file.contents()[self.start..self.start + self.len]
    }
}

/// fsyncs a directory, so that files created, renamed or deleted in it stay so.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Replaces the small file `path` with `bytes` so that a crash leaves the old or the
/// new content, never a mix: `<path>.tmp` written and fsynced, renamed over `path`,
/// the directory fsynced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(bytes).map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err("rename", path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_allocated_ahead_of_the_writer_from_another_thread() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(MappedFile::create(&dir.path().join("f"), 1 << 20).unwrap());
        assert_eq!(file.ahead_due(), None, "nothing ahead without a distance");
        file.set_allocate_ahead(64 * 1024);
        file.append(&[1u8; 40_000], |_| Ok::<(), Error>(()))
            .unwrap();
        file.append(&[2u8; 30_000], |_| Ok::<(), Error>(()))
            .unwrap();
        let target = file
            .ahead_due()
            .expect("less than half the distance is left");
        assert_eq!(target, 70_000 + 64 * 1024);
        let worker = Arc::clone(&file);
        std::thread::spawn(move || worker.fill_ahead(target))
            .join()
            .unwrap()
            .unwrap();
        assert!(
            *file.write_lock.lock().unwrap() >= target,
            "blocks allocated"
        );
        assert_eq!(file.ahead_due(), None, "nothing due right after");
        // The writer now finds its blocks allocated and only copies.
        file.append(&[3u8; 1000], |_| Ok::<(), Error>(())).unwrap();
        assert_eq!(*file.write_lock.lock().unwrap(), target);
        assert_eq!(&file.contents()[69_999..70_001], &[2, 3]);
        file.trim().unwrap();
        assert_eq!(file.ahead_due(), None, "a sealed file needs nothing ahead");
    }

    #[test]
    fn appended_bytes_are_readable_and_survive_reopen_after_trim() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = Arc::new(MappedFile::create(&path, 4096).unwrap());
        let at = file
            .append(b"hello", |b| {
                b[0] = b'j';
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(at, Some(0));
        let slice = file.slice(0, 5);
        assert_eq!(&slice[..], b"jello");
        file.trim().unwrap();
        assert_eq!(file.append(b"x", |_| Ok::<(), Error>(())).unwrap(), None);
        drop(file);
        assert_eq!(&slice[..], b"jello", "slice keeps the mapping alive");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5);
        let reopened = MappedFile::open(&path, 0).unwrap();
        assert_eq!(reopened.contents(), b"jello");
    }

    #[test]
    fn small_copies_and_large_writes_both_land_in_the_mapping_with_their_new_head() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(MappedFile::create(&dir.path().join("f"), 1 << 20).unwrap());
        file.set_allocate_ahead(64 * 1024);
        let big = vec![9u8; WRITE_SYSCALL_MIN * 2];
        assert_eq!(file.append_with_head(b"headsmall", b"HE").unwrap(), Some(0));
        assert_eq!(file.append_with_head(&big, b"HEAD").unwrap(), Some(9));
        assert_eq!(
            file.append_with_head(b"xy", b"").unwrap(),
            Some(9 + big.len())
        );
        let all = file.slice(0, file.len());
        assert_eq!(&all[..9], b"HEadsmall");
        assert_eq!(&all[9..13], b"HEAD");
        assert_eq!(&all[13..9 + big.len()], &big[4..]);
        assert_eq!(&all[9 + big.len()..], b"xy");
        assert_eq!(file.append_with_head(&vec![0; 1 << 20], b"").unwrap(), None);
    }

    #[test]
    fn cut_makes_the_tail_read_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = MappedFile::create(&path, 64).unwrap();
        file.append(b"abcdef", |_| Ok::<(), Error>(())).unwrap();
        file.cut(2).unwrap();
        assert_eq!(file.contents(), b"ab");
        drop(file);
        let reopened = MappedFile::open(&path, 0).unwrap();
        assert_eq!(&reopened.contents()[..8], b"ab\0\0\0\0\0\0");
    }

    #[test]
    fn cut_keeps_the_blocks_allocated_ahead_when_nothing_was_written_past_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = MappedFile::create(&path, 1 << 20).unwrap();
        file.reserve(256 * 1024).unwrap();
        let blocks = || std::fs::metadata(&path).unwrap().blocks();
        let allocated = blocks();
        assert!(allocated * 512 >= 256 * 1024, "{allocated} blocks reserved");
        file.append(b"abcdef", |_| Ok::<(), Error>(())).unwrap();
        // Appends through the mapping are data to the filesystem only once synced.
        file.sync_all().unwrap();
        file.cut(6).unwrap();
        assert_eq!(
            blocks(),
            allocated,
            "a tail that reads as zeros is not truncated"
        );
        assert_eq!(file.contents(), b"abcdef");
        // A written tail is cut: it must read as zeros again.
        file.cut(2).unwrap();
        drop(file);
        let reopened = MappedFile::open(&path, 0).unwrap();
        assert_eq!(&reopened.contents()[..8], b"ab\0\0\0\0\0\0");
    }

    #[test]
    fn append_that_does_not_fit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = MappedFile::create(&dir.path().join("f"), 4).unwrap();
        assert_eq!(
            file.append(b"12345", |_| Ok::<(), Error>(())).unwrap(),
            None
        );
        assert_eq!(file.len(), 0);
    }
}
