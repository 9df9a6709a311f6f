//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`, shared with
//! `tests/fuzz_corpus_test.rs`, which replays every file of `fuzz/corpus/<target>/`
//! through them in a normal `cargo test`: a regression the fuzzer once found fails CI
//! without running the fuzzer.
//!
//! Each function takes arbitrary bytes and panics only when Aeon breaks a promise
//! (a decoder panics, a decoded value does not encode again, recovery loses or
//! invents data). Not part of Aeon's API.

use crate::protocol::frame::{decode_request, encode_request};
use crate::protocol::records::{BatchIter, RecordBatch, RecordBatchBuilder, RecordSpec};
use crate::storage::{Log, LogConfig};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Any bytes as a request frame (header and body, after the size prefix): an error
/// or a request, never a panic; a decoded request encodes again.
pub fn request_frame(data: &[u8]) {
    if let Ok(frame) = decode_request(Bytes::copy_from_slice(data)) {
        encode_request(&frame.header, &frame.body).expect("a decoded request encodes again");
    }
}

/// Any bytes as back-to-back RecordBatches: the view, the CRC check, the header
/// checks and the record decoder return errors, never panic; a batch that parses
/// reports a size within the bytes.
pub fn record_batch(data: &[u8]) {
    let _ = RecordBatch::peek_total_size(data, 1 << 20);
    let _ = RecordBatch::parse_with_max(data, 1 << 20);
    let mut iter = BatchIter::new(data);
    let mut seen = 0usize;
    for batch in iter.by_ref() {
        assert!(batch.total_size() <= data.len() - seen);
        seen += batch.total_size();
        inspect_batch(batch);
    }
    assert_eq!(iter.valid_bytes(), seen);
    // The same bytes from every offset: a batch found after garbage is still a view.
    if let Some(rest) = data.get(1..) {
        if let Ok(batch) = RecordBatch::parse(rest) {
            inspect_batch(batch);
        }
    }
}

fn inspect_batch(batch: RecordBatch<'_>) {
    let _ = batch.verify_crc();
    let _ = batch.validate_header();
    let _ = (
        batch.last_offset(),
        batch.next_offset(),
        batch.timestamp_type(),
        batch.is_control(),
        batch.is_transactional(),
        batch.max_timestamp(),
    );
    if let Ok(records) = batch.records() {
        for record in records.take(10_000) {
            let Ok(record) = record else { break };
            let _ = (record.key, record.value, record.headers.len());
        }
    }
}

/// The template that [`storage_recovery`] damages: a log of small segments written
/// through the storage API and left as a crash leaves it (no clean-shutdown marker).
struct Template {
    /// Every file of the partition directory: name and bytes.
    files: Vec<(String, Vec<u8>)>,
    /// The batches as stored, in order.
    stored: Vec<Vec<u8>>,
    /// The last segment's `.log` name and the position in it of each of its batches.
    last_log: String,
    last_positions: Vec<(usize, usize)>,
}

const T0: i64 = 1_700_000_000_000;

/// Small files, so that damage lands on something that matters.
pub fn recovery_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        segment_index_bytes: 256,
        index_interval_bytes: 128,
        retention_ms: None,
        ..LogConfig::default()
    }
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("aeon-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let scratch = Scratch::new();
        let mut log = Log::open(&scratch.0, recovery_config(), T0).expect("open template");
        let mut stored = Vec::new();
        for i in 0..24usize {
            let value = vec![b'a' + (i % 26) as u8; 20 + (i * 37) % 200];
            let mut b = RecordBatchBuilder::new(0, T0 + i as i64);
            for r in 0..1 + i % 3 {
                b = b.record(RecordSpec::new(
                    Some(format!("k{i}-{r}").as_bytes()),
                    Some(&value),
                ));
            }
            let mut batch = b.build();
            let info = log.append(&batch, T0).expect("append template");
            crate::protocol::records::set_base_offset(&mut batch, info.base_offset)
                .expect("base offset");
            stored.push(batch);
        }
        let last_base = *log.segment_base_offsets().last().expect("a segment");
        drop(log); // a crash: no trim, no marker
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&scratch.0).expect("list template") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).expect("read template");
            files.push((name, bytes));
        }
        files.sort();
        let mut last_positions = Vec::new();
        let mut position = 0;
        for b in &stored {
            if RecordBatch::parse(b).expect("stored").base_offset() >= last_base {
                last_positions.push((position, position + b.len()));
                position += b.len();
            }
        }
        Template {
            files,
            stored,
            last_log: format!("{last_base:020}.log"),
            last_positions,
        }
    })
}

/// One damage the fuzzer chose: which file, what to do, where.
#[derive(Debug)]
enum Damage<'a> {
    Overwrite {
        file: usize,
        at: usize,
        bytes: &'a [u8],
    },
    Truncate {
        file: usize,
        len: usize,
    },
    Remove {
        file: usize,
    },
}

/// Reads damages from the fuzzer's bytes: `[file, op, at_hi, at_lo, n, bytes...]`.
fn damages(mut data: &[u8], files: usize) -> Vec<Damage<'_>> {
    let mut out = Vec::new();
    while data.len() >= 5 && out.len() < 16 {
        let file = data[0] as usize % files;
        let at = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let n = usize::from(data[4]).min(data.len() - 5);
        let op = data[1] % 8;
        let bytes = &data[5..5 + n];
        data = &data[5 + n..];
        out.push(match op {
            0..=5 => Damage::Overwrite { file, at, bytes },
            6 => Damage::Truncate { file, len: at },
            _ => Damage::Remove { file },
        });
    }
    out
}

fn apply(dir: &Path, names: &[&str], damage: &Damage<'_>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    match *damage {
        Damage::Overwrite { file, at, bytes } => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(names[file]))?;
            f.write_all_at(bytes, at as u64)
        }
        Damage::Truncate { file, len } => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(names[file]))?
            .set_len(len as u64),
        Damage::Remove { file } => match std::fs::remove_file(dir.join(names[file])) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// A log left by a crash, then damaged as the fuzzer says (bytes overwritten,
/// files truncated or removed, in any segment and index). Opening it must return a
/// log or a typed error, never panic. When only the last segment's `.log` was
/// damaged, the recovered log must hold, byte for byte, every batch that ends before
/// the first damaged byte; a recovered log must take an append and reopen to the
/// same end.
pub fn storage_recovery(data: &[u8]) {
    let template = template();
    let names: Vec<&str> = template.files.iter().map(|(n, _)| n.as_str()).collect();
    let scratch = Scratch::new();
    let dir = scratch.0.join("t-0");
    std::fs::create_dir_all(&dir).expect("partition dir");
    for (name, bytes) in &template.files {
        std::fs::write(dir.join(name), bytes).expect("write template file");
    }
    let damages = damages(data, names.len());
    for d in &damages {
        apply(&dir, &names, d).expect("damage");
    }
    let only_last_log = damages.iter().all(|d| match *d {
        Damage::Overwrite { file, .. } | Damage::Truncate { file, .. } => {
            names[file] == template.last_log
        }
        Damage::Remove { .. } => false,
    });
    let first_damaged = damages
        .iter()
        .map(|d| match *d {
            Damage::Overwrite { bytes: [], .. } => usize::MAX,
            Damage::Overwrite { at, .. } => at,
            Damage::Truncate { len, .. } => len,
            Damage::Remove { .. } => 0,
        })
        .min()
        .unwrap_or(usize::MAX);

    let Ok(mut log) = Log::open(&dir, recovery_config(), T0) else {
        return;
    };
    let got = read_all(&log);
    if only_last_log {
        let before_last = template.stored.len() - template.last_positions.len();
        let intact = before_last
            + template
                .last_positions
                .iter()
                .take_while(|(_, end)| *end <= first_damaged)
                .count();
        assert!(
            got.len() >= intact,
            "recovery lost undamaged batches: kept {} of {intact}",
            got.len()
        );
        assert_eq!(
            &got[..intact],
            &template.stored[..intact],
            "recovery changed undamaged batches"
        );
        // Batches after the first damaged byte may be kept: recovery CRC-checks only
        // from the last sound offset-index entry on (see `storage::recovery`), so
        // damage before that entry is not detected. A crash does not write there.
        for b in &got[intact..] {
            RecordBatch::parse(b).expect("recovered batch parses");
        }
    }
    let end = log.log_end_offset();
    let batch = RecordBatchBuilder::new(0, T0)
        .record(RecordSpec::new(Some(b"after"), Some(b"recovery")))
        .build();
    if log.append(&batch, T0).is_err() {
        return;
    }
    drop(log);
    if let Ok(log) = Log::open(&dir, recovery_config(), T0) {
        if only_last_log {
            assert_eq!(log.log_end_offset(), end + 1, "an append survives reopen");
        }
    }
}

/// Every batch from the log start to the log end, through the read path. Stops at a
/// read error or a gap rather than looping.
fn read_all(log: &Log) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let Ok(bytes) = log.read(offset, 1 << 16) else {
            break;
        };
        let before = offset;
        for b in BatchIter::new(&bytes) {
            if b.next_offset() <= offset {
                break;
            }
            offset = b.next_offset();
            out.push(b.bytes().to_vec());
        }
        if offset == before {
            break;
        }
    }
    out
}
