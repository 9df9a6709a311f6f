//! Producer ids: unique across restarts. Ids are reserved in blocks; the end of the
//! reserved block is persisted (`aeon-producer-ids`, one decimal number, replaced
//! atomically) before any id of the block is handed out, so a crash skips the rest of a
//! block and never hands out an id twice. In a cluster the blocks are the metadata
//! log's (committed before any id of one is handed out), so ids are unique across
//! brokers too.

use super::{write_atomically, AdminError, BrokerActor};
use crate::protocol::ErrorCode;
use actix::prelude::*;
use std::path::Path;
use std::sync::Arc;

const FILE: &str = "aeon-producer-ids";
const BLOCK: i64 = 1000;

/// Hands out producer ids.
#[derive(Debug, Default)]
pub struct ProducerIds {
    next: i64,
    reserved_until: i64,
}

impl ProducerIds {
    /// Reads the reserved end; the next id starts there.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(FILE);
        let reserved_until = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        Ok(ProducerIds {
            next: reserved_until,
            reserved_until,
        })
    }

    fn allocate(&mut self, dir: &Path) -> std::io::Result<i64> {
        if self.next >= self.reserved_until {
            let until = self.next + BLOCK;
            write_atomically(&dir.join(FILE), until.to_string().as_bytes())?;
            self.reserved_until = until;
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

/// A new producer id (InitProducerId of an idempotent producer).
#[derive(Message, Debug)]
#[rtype(result = "Result<i64, AdminError>")]
pub struct AllocateProducerId;

impl ProducerIds {
    /// The next id of the block the cluster handed this broker, if any is left.
    fn take_from_block(&mut self) -> Option<i64> {
        (self.next < self.reserved_until).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

impl Handler<AllocateProducerId> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<i64, AdminError>>;

    fn handle(&mut self, _: AllocateProducerId, _: &mut Context<Self>) -> Self::Result {
        let Some(link) = &self.cluster else {
            let dir = self.data_dir.clone();
            return Box::pin(actix::fut::ready(self.producer_ids.allocate(&dir).map_err(
                |e| {
                    (
                        ErrorCode::KafkaStorageError,
                        format!("persisting producer ids: {e}"),
                    )
                },
            )));
        };
        if let Some(id) = self.producer_ids.take_from_block() {
            return Box::pin(actix::fut::ready(Ok(id)));
        }
        // In a cluster, blocks come from the metadata log (KRaft's ProducerIdsRecord):
        // a block is this broker's once its record is committed, so no two brokers
        // ever hand out one id. A block another broker took first is retried.
        let cluster = Arc::clone(&link.cluster);
        let broker_id = self.config.node_id;
        Box::pin(
            async move {
                let mut last = None;
                for _ in 0..10 {
                    let next = cluster.image().next_producer_id + BLOCK;
                    let record = crate::cluster::MetadataRecord::ProducerIds { broker_id, next };
                    match cluster.propose(vec![record]).await {
                        Ok(_) => return Ok(next),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.map_or_else(
                    || (ErrorCode::UnknownServerError, "no producer id block".into()),
                    super::cluster::admin_error,
                ))
            }
            .into_actor(self)
            .map(|block_end, act, _| {
                let end = block_end?;
                act.producer_ids.next = end - BLOCK;
                act.producer_ids.reserved_until = end;
                act.producer_ids.take_from_block().ok_or((
                    ErrorCode::UnknownServerError,
                    "an empty producer id block".to_string(),
                ))
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut ids = ProducerIds::load(dir.path()).expect("load");
        let first: Vec<i64> = (0..3)
            .map(|_| ids.allocate(dir.path()).expect("id"))
            .collect();
        assert_eq!(first, vec![0, 1, 2]);
        // A restart (or a crash) continues after the reserved block.
        let mut again = ProducerIds::load(dir.path()).expect("load");
        let next = again.allocate(dir.path()).expect("id");
        assert_eq!(next, BLOCK);
    }
}
