//! What the `BrokerActor` keeps on disk, in the data directory: `meta.properties`
//! (Kafka's file: the cluster id and node id) and `aeon-topics.json` (every topic's
//! name, id, partition count and config overrides). Both are replaced atomically:
//! written to a temp file, fsynced, renamed, and the directory fsynced.

use super::{AdminError, BrokerActor};
use crate::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

pub(super) const TOPICS_FILE: &str = "aeon-topics.json";
const META_FILE: &str = "meta.properties";

#[derive(Serialize, Deserialize)]
pub(super) struct TopicsFile {
    pub(super) version: u32,
    pub(super) topics: Vec<TopicRecord>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct TopicRecord {
    pub(super) name: String,
    pub(super) id: Uuid,
    pub(super) partitions: i32,
    #[serde(default)]
    pub(super) configs: BTreeMap<String, String>,
}

impl BrokerActor {
    pub(super) fn persist(&self) -> Result<(), AdminError> {
        let file = TopicsFile {
            version: 1,
            topics: self
                .topics
                .iter()
                .map(|(name, t)| TopicRecord {
                    name: name.clone(),
                    id: t.id,
                    partitions: t.partitions.len() as i32,
                    configs: t.configs.overrides().clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
        write_atomically(&self.data_dir.join(TOPICS_FILE), &json).map_err(|e| {
            (
                ErrorCode::KafkaStorageError,
                format!("persisting topic metadata: {e}"),
            )
        })
    }
}

pub(super) fn load_or_create_meta(dir: &Path, node_id: i32) -> anyhow::Result<String> {
    let path = dir.join(META_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let props: HashMap<&str, &str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        if let Some(stored) = props.get("node.id").and_then(|n| n.parse::<i32>().ok()) {
            anyhow::ensure!(
                stored == node_id,
                "{} has node.id={stored} but the config says node.id={node_id}",
                path.display()
            );
        }
        let id = props
            .get("cluster.id")
            .ok_or_else(|| anyhow::anyhow!("{} has no cluster.id", path.display()))?;
        return Ok(id.to_string());
    }
    let id = new_cluster_id();
    let text =
        format!("#Written by Aeon at first start\nversion=1\ncluster.id={id}\nnode.id={node_id}\n");
    write_atomically(&path, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    tracing::info!(cluster_id = %id, "new cluster id generated");
    Ok(id)
}

/// Kafka's cluster id form: a random UUID in URL-safe base64, 22 characters.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

/// Replaces `path` with `data`: a temp file, fsync, rename, fsync of the directory.
pub(super) fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
