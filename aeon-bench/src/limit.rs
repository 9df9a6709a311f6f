//! What the machine allows, measured in the same run as a benchmark: the same bytes
//! (a) over a loopback TCP socket to an in-process sink that discards them, (b) written
//! sequentially to a file without fsync, (c) the same with an fsync per MiB. It never
//! talks to a broker; the file is removed afterwards.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

/// Bytes are moved in chunks of this size (messages back to back), like the batches a
/// broker receives, so the figure is a bandwidth ceiling rather than a syscall rate.
const CHUNK: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitReport {
    pub message_size: usize,
    pub messages: u64,
    pub bytes: u64,
    /// Where the files were written.
    pub dir: PathBuf,
    /// MB = 10^6 bytes.
    pub loopback_mb_per_sec: f64,
    pub disk_no_fsync_mb_per_sec: f64,
    pub disk_fsync_1mib_mb_per_sec: f64,
}

impl LimitReport {
    pub fn text(&self) -> String {
        format!(
            "limits for {} bytes ({} x {} B), MB = 10^6 bytes:\n  loopback TCP: {:.1} MB/s\n  disk, no fsync: {:.1} MB/s\n  disk, fsync per MiB: {:.1} MB/s  (in {})\n",
            self.bytes,
            self.messages,
            self.message_size,
            self.loopback_mb_per_sec,
            self.disk_no_fsync_mb_per_sec,
            self.disk_fsync_1mib_mb_per_sec,
            self.dir.display()
        )
    }
}

/// Runs the three measurements on `messages * size` bytes. Without `dir` the files go to
/// a fresh temporary directory (which may be tmpfs; pass the broker's data dir).
pub fn measure(size: usize, messages: u64, dir: Option<&Path>) -> anyhow::Result<LimitReport> {
    let bytes = size as u64 * messages;
    let chunk = payload_chunk(size);
    let temp;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let loopback = loopback(bytes, &chunk)?;
    let no_fsync = disk(bytes, &chunk, &dir, false)?;
    let fsync = disk(bytes, &chunk, &dir, true)?;
    Ok(LimitReport {
        message_size: size,
        messages,
        bytes,
        dir,
        loopback_mb_per_sec: mb_per_sec(bytes, loopback),
        disk_no_fsync_mb_per_sec: mb_per_sec(bytes, no_fsync),
        disk_fsync_1mib_mb_per_sec: mb_per_sec(bytes, fsync),
    })
}

fn mb_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        bytes as f64 / s / 1e6
    } else {
        0.0
    }
}

/// One MiB of messages of `size` bytes each (the last one cut short), filled with the
/// same pseudo-random payload the producer sends.
fn payload_chunk(size: usize) -> Vec<u8> {
    let message = crate::produce::payload(size.max(1));
    message.iter().copied().cycle().take(CHUNK).collect()
}

/// Calls `write` with chunks adding up to exactly `bytes`.
fn in_chunks(
    bytes: u64,
    chunk: &[u8],
    mut write: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        write(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Time until an in-process sink thread has read all the bytes from a loopback socket.
fn loopback(bytes: u64, chunk: &[u8]) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback listener")?;
    let addr = listener.local_addr()?;
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            match socket.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    });
    let mut socket = TcpStream::connect(addr).context("connecting to the loopback sink")?;
    socket.set_nodelay(true)?;
    let start = Instant::now();
    in_chunks(bytes, chunk, |c| socket.write_all(c)).context("writing to the loopback sink")?;
    drop(socket);
    let received = sink
        .join()
        .map_err(|_| anyhow::anyhow!("the loopback sink panicked"))??;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        received == bytes,
        "the sink read {received} of {bytes} bytes"
    );
    Ok(elapsed)
}

/// Time to write the bytes sequentially to a new file in `dir`, with `fsync` after each
/// chunk or not at all.
fn disk(bytes: u64, chunk: &[u8], dir: &Path, fsync: bool) -> anyhow::Result<Duration> {
    let path = dir.join(format!("aeon-bench-limit-{}.tmp", std::process::id()));
    let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let start = Instant::now();
    let written = in_chunks(bytes, chunk, |c| {
        file.write_all(c)?;
        if fsync {
            file.sync_data()?;
        }
        Ok(())
    });
    let elapsed = start.elapsed();
    drop(file);
    let removed = std::fs::remove_file(&path);
    written.with_context(|| format!("writing {}", path.display()))?;
    removed.with_context(|| format!("removing {}", path.display()))?;
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_all_three_limits_on_a_small_size() {
        let dir = tempfile::tempdir().unwrap();
        let r = measure(100, 30_000, Some(dir.path())).unwrap();
        assert_eq!(r.bytes, 3_000_000);
        assert!(r.loopback_mb_per_sec > 0.0, "{r:?}");
        assert!(r.disk_no_fsync_mb_per_sec > 0.0, "{r:?}");
        assert!(r.disk_fsync_1mib_mb_per_sec > 0.0, "{r:?}");
        // The files are gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(r.text().contains("loopback TCP"));
    }

    #[test]
    fn chunks_add_up_to_the_exact_byte_count() {
        let chunk = payload_chunk(100);
        assert_eq!(chunk.len(), CHUNK);
        let mut total = 0u64;
        let mut calls = 0;
        in_chunks(2 * CHUNK as u64 + 7, &chunk, |c| {
            total += c.len() as u64;
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((total, calls), (2 * CHUNK as u64 + 7, 3));
    }

    #[test]
    fn without_a_dir_uses_a_temporary_one() {
        let r = measure(1000, 100, None).unwrap();
        assert_eq!(r.bytes, 100_000);
        assert!(!r.dir.exists());
    }
}
