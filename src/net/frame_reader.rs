//! Reading request frames off a socket within the broker-wide [`RequestMemory`]
//! (`queued.max.request.bytes`): the size prefix is checked against
//! `socket.request.max.bytes`, and the frame's buffer grows as its bytes arrive, never
//! reserved ahead from what the prefix claims.

use bytes::{BufMut, BytesMut};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much a frame's buffer grows by at a time while its bytes arrive (and the read
/// buffer of a connection).
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// The broker-wide memory for requests read and not yet answered
/// (`queued.max.request.bytes`). Large requests take it as their bytes arrive, so a
/// client that announces a large request and sends it slowly holds only what it sent.
/// An eighth is kept for requests of at most [`SMALL_FRAME`] bytes: however much the
/// large ones hold, ordinary requests (metadata, fetches, heartbeats, most produces)
/// still get read.
pub struct RequestMemory {
    shared: Arc<Semaphore>,
    small_only: Arc<Semaphore>,
}

/// The largest request that may use the reserve for small requests.
pub const SMALL_FRAME: usize = 1 << 20;

impl RequestMemory {
    /// Splits `bytes` into the shared part and the reserve for small requests.
    pub fn new(bytes: usize) -> Self {
        let reserve = bytes / 8;
        RequestMemory {
            shared: Arc::new(Semaphore::new(bytes - reserve)),
            small_only: Arc::new(Semaphore::new(reserve)),
        }
    }

    /// Permits for a whole small frame: from the shared part if it has room now, else
    /// from the reserve (waiting for it).
    async fn small(&self, size: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(size.max(1)).ok()?;
        if let Ok(p) = self.shared.clone().try_acquire_many_owned(n) {
            return Some(p);
        }
        self.small_only.clone().acquire_many_owned(n).await.ok()
    }

    /// Permits for `n` more bytes of a large frame, from the shared part.
    async fn large(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n.max(1)).ok()?;
        self.shared.clone().acquire_many_owned(n).await.ok()
    }
}

/// Reads one size-prefixed frame. `Ok(None)` when the client closed the connection
/// between frames. A prefix over `max` is an error before anything is allocated; the
/// frame's buffer grows as its bytes arrive, each chunk read only once `memory` has
/// room for it (a small frame takes its room at once).
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
    memory: &RequestMemory,
) -> std::io::Result<Option<(BytesMut, OwnedSemaphorePermit)>> {
    use std::io::{Error, ErrorKind};
    let stopping = || Error::other("the broker is stopping");
    let mut prefix = [0u8; 4];
    if r.read(&mut prefix[..1]).await? == 0 {
        return Ok(None);
    }
    r.read_exact(&mut prefix[1..]).await?;
    let size = u32::from_be_bytes(prefix) as usize;
    if size > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("a frame of {size} bytes is over socket.request.max.bytes ({max})"),
        ));
    }
    // A small frame's memory is taken at once; a large one's a step at a time, as its
    // bytes arrive.
    let mut granted = if size <= SMALL_FRAME {
        size
    } else {
        READ_CHUNK
    };
    let mut held = if size <= SMALL_FRAME {
        memory.small(size).await
    } else {
        memory.large(granted).await
    }
    .ok_or_else(stopping)?;
    let mut buf = BytesMut::new();
    while buf.len() < size {
        if buf.len() == granted {
            let grow = (size - granted).min(granted);
            held.merge(memory.large(grow).await.ok_or_else(stopping)?);
            granted += grow;
        }
        // The buffer grows with the bytes that came: by at least a chunk, at most by
        // what the memory taken covers.
        let step = (granted - buf.len()).min(buf.len().max(READ_CHUNK));
        buf.reserve(step);
        let mut limited = (&mut buf).limit(step);
        if r.read_buf(&mut limited).await? == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the frame ended early",
            ));
        }
    }
    Ok(Some((buf, held)))
}
