//! The swap protocol that replaces old segments with a cleaned one, and its recovery.
//!
//! # Files
//!
//! A cleaned segment with base offset `B` (the base of the first old segment it
//! replaces) is written as `B.log.cleaned`, `B.index.cleaned`, `B.timeindex.cleaned`,
//! `B.txnindex.cleaned`: the same formats as a rolled segment (batches trimmed to their
//! end, sealed indexes; the txn index holds the entries of every segment it replaces).
//! Then, each step made durable by an fsync of the directory:
//!
//! 1. the four files are fsynced, and renamed to `*.swap` (indexes first, the `.log`
//!    last: `B.log.swap` existing is the commit point);
//! 2. every old segment's files are renamed to `*.deleted` (oldest first);
//! 3. the `.swap` files are renamed to their final names (indexes first, `.log` last).
//!
//! # Recovery ([`recover`], run first when a log opens; Kafka's `LogLoader`)
//!
//! - `*.cleaned` files are deleted, and so are index `.swap` files without a
//!   `.log.swap`: that cleaning never committed; the old segments are intact.
//! - For each `B.log.swap`: its batches are walked to find its last offset `L`; every
//!   segment `X.log` with `B <= X <= L` is an old segment it replaces and is renamed
//!   to `*.deleted` (for `X == B`, an index is replaced only if its `.swap` exists:
//!   without one, step 3 already renamed the new index in place); then the `.swap`
//!   files take their final names. Old segments wholly above `L` (whose records were
//!   all removed) stay as they were: an uncleaned suffix of the group, still a correct
//!   log, which the next cleaning compacts.
//! - `*.deleted` files are deleted by the segment listing that follows.

use std::path::{Path, PathBuf};

use crate::protocol::records::BatchIter;
use crate::storage::error::{io_err, Error, Result};
use crate::storage::mmap::{sync_dir, MappedFile};
use crate::storage::segment::LogSegment;
use crate::storage::txn_index::TxnIndex;

pub(crate) const CLEANED_SUFFIX: &str = "cleaned";
pub(crate) const SWAP_SUFFIX: &str = "swap";
const DELETED_SUFFIX: &str = "deleted";

/// Where a test stops the protocol, to leave what a crash there would leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SwapStep {
    /// The `.cleaned` files are written and synced.
    Cleaned,
    /// Renamed to `.swap` (committed).
    Swapped,
    /// The old segments are renamed to `.deleted`.
    OldDeleted,
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// The `.txnindex` path of segment `base` with a suffix.
pub(crate) fn txn_path_with_suffix(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    suffixed(&TxnIndex::path(dir, base), suffix)
}

/// The `.log`, `.index`, `.timeindex` paths of segment `base` with a suffix.
pub(crate) fn paths_with_suffix(dir: &Path, base: i64, suffix: &str) -> [PathBuf; 3] {
    LogSegment::paths(dir, base).map(|p| suffixed(&p, suffix))
}

fn rename(from: &Path, to: &Path, op: &'static str) -> Result<()> {
    std::fs::rename(from, to).map_err(io_err(op, from))
}

/// Renames if `from` exists; `Ok(false)` if it does not.
fn rename_if_exists(from: &Path, to: &Path, op: &'static str) -> Result<bool> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io {
            op,
            path: from.to_path_buf(),
            source,
        }),
    }
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            op: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Renames an old segment's files to `*.deleted`; returns the new paths.
pub(crate) fn retire_segment(dir: &Path, base: i64) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(4);
    let [log, index, time] = LogSegment::paths(dir, base);
    for path in [log, index, time, TxnIndex::path(dir, base)] {
        let to = suffixed(&path, DELETED_SUFFIX);
        if rename_if_exists(&path, &to, "rename for deletion")? {
            out.push(to);
        }
    }
    Ok(out)
}

/// Steps 1-3 of the protocol for a synced cleaned segment at `base` replacing the
/// segments `old_bases` (oldest first). Returns the `*.deleted` paths of the old files.
pub(crate) fn commit(
    dir: &Path,
    base: i64,
    old_bases: &[i64],
    stop_after: Option<SwapStep>,
) -> Result<Vec<PathBuf>> {
    let stop = |step| stop_after.is_some_and(|s| s <= step);
    if stop(SwapStep::Cleaned) {
        return Ok(Vec::new());
    }
    let cleaned = paths_with_suffix(dir, base, CLEANED_SUFFIX);
    let swap = paths_with_suffix(dir, base, SWAP_SUFFIX);
    let txn_swap = txn_path_with_suffix(dir, base, SWAP_SUFFIX);
    rename_if_exists(
        &txn_path_with_suffix(dir, base, CLEANED_SUFFIX),
        &txn_swap,
        "rename cleaned to swap",
    )?;
    for i in [1, 2, 0] {
        rename(&cleaned[i], &swap[i], "rename cleaned to swap")?;
    }
    sync_dir(dir)?;
    if stop(SwapStep::Swapped) {
        return Ok(Vec::new());
    }
    let mut deleted = Vec::new();
    for &old in old_bases {
        deleted.extend(retire_segment(dir, old)?);
    }
    sync_dir(dir)?;
    if stop(SwapStep::OldDeleted) {
        return Ok(deleted);
    }
    let finals = LogSegment::paths(dir, base);
    rename_if_exists(
        &txn_swap,
        &TxnIndex::path(dir, base),
        "rename swap into place",
    )?;
    for i in [1, 2, 0] {
        rename(&swap[i], &finals[i], "rename swap into place")?;
    }
    sync_dir(dir)?;
    Ok(deleted)
}

/// Base offsets of the files in `dir` whose name is `<20 digits>.<ext>.<suffix>`.
fn bases_with(dir: &Path, ext: &str, suffix: &str) -> Result<Vec<i64>> {
    let tail = format!(".{ext}.{suffix}");
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(&tail)) else {
            continue;
        };
        if let (20, Ok(base)) = (stem.len(), stem.parse::<i64>()) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Finishes or rolls back interrupted swaps in `dir` (see the module doc). Returns the
/// number of swaps finished.
pub(crate) fn recover(dir: &Path) -> Result<usize> {
    if !dir.exists() {
        return Ok(0);
    }
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let cleaned = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(&format!(".{CLEANED_SUFFIX}")));
        if cleaned {
            remove_if_exists(&entry.path())?;
        }
    }
    let swaps = bases_with(dir, "log", SWAP_SUFFIX)?;
    // Index `.swap` files without their `.log.swap`: a crash inside step 1, before the
    // commit point; the old segment is intact.
    for ext in ["index", "timeindex", "txnindex"] {
        for base in bases_with(dir, ext, SWAP_SUFFIX)? {
            if !swaps.contains(&base) {
                let [_, index, time] = paths_with_suffix(dir, base, SWAP_SUFFIX);
                let txn = txn_path_with_suffix(dir, base, SWAP_SUFFIX);
                remove_if_exists(match ext {
                    "index" => &index,
                    "timeindex" => &time,
                    _ => &txn,
                })?;
            }
        }
    }
    let segments = bases_with_plain_log(dir)?;
    for &base in &swaps {
        let swap = paths_with_suffix(dir, base, SWAP_SUFFIX);
        let Some(last) = last_offset(&swap[0])? else {
            // Never written by the cleaner (it swaps only non-empty segments).
            for p in &swap {
                remove_if_exists(p)?;
            }
            remove_if_exists(&txn_path_with_suffix(dir, base, SWAP_SUFFIX))?;
            continue;
        };
        let finals = LogSegment::paths(dir, base);
        let (txn_swap, txn_final) = (
            txn_path_with_suffix(dir, base, SWAP_SUFFIX),
            TxnIndex::path(dir, base),
        );
        for &old in segments.iter().filter(|&&x| x >= base && x <= last) {
            if old == base {
                remove_if_exists(&finals[0])?;
                for i in [1, 2] {
                    if swap[i].exists() {
                        remove_if_exists(&finals[i])?;
                    }
                }
                if txn_swap.exists() {
                    remove_if_exists(&txn_final)?;
                }
            } else {
                retire_segment(dir, old)?;
            }
        }
        rename_if_exists(&txn_swap, &txn_final, "rename swap into place")?;
        for i in [1, 2, 0] {
            rename_if_exists(&swap[i], &finals[i], "rename swap into place")?;
        }
        tracing::info!(dir = %dir.display(), base, "finished an interrupted cleaner swap");
    }
    sync_dir(dir)?;
    Ok(swaps.len())
}

fn bases_with_plain_log(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if let (20, Ok(base)) = (stem.len(), stem.parse::<i64>()) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// The last offset of the last whole batch in a segment file, if any.
fn last_offset(path: &Path) -> Result<Option<i64>> {
    let file = MappedFile::open(path, 0)?;
    Ok(BatchIter::new(file.contents())
        .last()
        .map(|b| b.last_offset()))
}
