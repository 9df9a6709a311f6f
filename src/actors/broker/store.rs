//! What the `BrokerActor` keeps on disk, in the data directory: `meta.properties`
//! (Kafka's file: the cluster id and node id), `aeon-topics.json` (every topic's name,
//! id, partition count and config overrides) and `aeon-topics.journal`, the changes since
//! that snapshot. The two snapshots are replaced atomically (a temp file, fsync, rename,
//! fsync of the directory). A topic change appends one line to the journal and fsyncs
//! it, so creating a topic costs the same with ten topics or a hundred thousand; the
//! journal is folded into the snapshot at every start and whenever it outgrows the
//! topics it describes. A torn last line (a crash mid-append) is ignored: its change
//! was never acknowledged.

use super::{AdminError, BrokerActor};
use crate::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

pub(super) const TOPICS_FILE: &str = "aeon-topics.json";
pub(super) const TOPICS_JOURNAL: &str = "aeon-topics.journal";
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

/// One line of the journal.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum TopicChange {
    Put(TopicRecord),
    Delete(String),
}

/// The topics of the snapshot with the journal applied, in order; the journal's lines.
pub(super) fn read_topics(dir: &Path) -> anyhow::Result<(Vec<TopicRecord>, usize)> {
    let path = dir.join(TOPICS_FILE);
    let mut topics: BTreeMap<String, TopicRecord> = BTreeMap::new();
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let file: TopicsFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        topics.extend(file.topics.into_iter().map(|t| (t.name.clone(), t)));
    }
    let journal = dir.join(TOPICS_JOURNAL);
    let mut lines = 0;
    if journal.exists() {
        let text = std::fs::read_to_string(&journal)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", journal.display()))?;
        for line in text.lines() {
            match serde_json::from_str::<TopicChange>(line) {
                Ok(TopicChange::Put(t)) => {
                    topics.insert(t.name.clone(), t);
                }
                Ok(TopicChange::Delete(name)) => {
                    topics.remove(&name);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring a torn last line of the topics journal");
                    break;
                }
            }
            lines += 1;
        }
    }
    Ok((topics.into_values().collect(), lines))
}

impl BrokerActor {
    fn topic_record(&self, name: &str) -> Option<TopicRecord> {
        self.topics.get(name).map(|t| TopicRecord {
            name: name.to_string(),
            id: t.id,
            partitions: t.partitions.len() as i32,
            configs: t.configs.overrides().clone(),
        })
    }

    /// Makes the change of topic `name` durable: one journal line (its record, or its
    /// deletion when it no longer exists), folded into the snapshot once the journal
    /// is larger than the topics.
    pub(super) fn persist_topic(&mut self, name: &str) -> Result<(), AdminError> {
        let storage = |e: std::io::Error| {
            (
                ErrorCode::KafkaStorageError,
                format!("persisting topic metadata: {e}"),
            )
        };
        let change = match self.topic_record(name) {
            Some(record) => TopicChange::Put(record),
            None => TopicChange::Delete(name.to_string()),
        };
        let mut line = serde_json::to_vec(&change)
            .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
        line.push(b'\n');
        let path = self.data_dir.join(TOPICS_JOURNAL);
        let mut journal = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(storage)?;
        journal.write_all(&line).map_err(storage)?;
        journal.sync_data().map_err(storage)?;
        if self.journal_lines == 0 {
            // A new journal file: its directory entry must be durable too.
            std::fs::File::open(&self.data_dir)
                .and_then(|d| d.sync_all())
                .map_err(storage)?;
        }
        self.journal_lines += 1;
        if self.journal_lines > 1024 && self.journal_lines > 2 * self.topics.len() {
            self.write_topics_snapshot().map_err(storage)?;
        }
        Ok(())
    }

    /// Writes every topic into the snapshot and empties the journal.
    pub(super) fn write_topics_snapshot(&mut self) -> std::io::Result<()> {
        let file = TopicsFile {
            version: 1,
            topics: self
                .topics
                .keys()
                .filter_map(|name| self.topic_record(name))
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        write_atomically(&self.data_dir.join(TOPICS_FILE), &json)?;
        match std::fs::remove_file(self.data_dir.join(TOPICS_JOURNAL)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::File::open(&self.data_dir)?.sync_all()?;
        self.journal_lines = 0;
        Ok(())
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
    let id = crate::cluster::new_cluster_id();
    let text =
        format!("#Written by Aeon at first start\nversion=1\ncluster.id={id}\nnode.id={node_id}\n");
    write_atomically(&path, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    tracing::info!(cluster_id = %id, "new cluster id generated");
    Ok(id)
}

/// Replaces `path` with `data`: a temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
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
