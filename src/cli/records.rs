//! `aeon produce` and `aeon consume`: stdin lines to records and records to stdout.

use super::*;

/// Kafka's murmur2 (`Utils.murmur2`), which its default partitioner hashes keys with.
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: i32 = 0x5bd1_e995;
    let length = data.len() as i32;
    let mut h: i32 = (SEED as i32) ^ length;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if !tail.is_empty() {
        if tail.len() >= 3 {
            h ^= i32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= i32::from(tail[1]) << 8;
        }
        h ^= i32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(M);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// A record to produce: its key, if any, and its value.
type KeyValue = (Option<Vec<u8>>, Vec<u8>);

/// Records per produce request and partition.
const PRODUCE_BATCH: usize = 1000;

pub(super) fn produce(
    topic: &str,
    partition: Option<i32>,
    key_separator: Option<&str>,
    headers: &[String],
    c: &Connection,
) -> anyhow::Result<()> {
    use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
    use std::io::BufRead;
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("--header wants KEY=VALUE, got {kv:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut client = Client::connect(&c.bootstrap)?;
    let m = metadata(&mut client, Some(vec![topic.to_string()]))?;
    let t = m
        .topics
        .first()
        .ok_or_else(|| anyhow!("no answer for topic {topic}"))?;
    check(t.error_code, None, &format!("topic {topic}"))?;
    let count = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1);
    if let Some(p) = partition.filter(|p| !(0..count).contains(p)) {
        bail!("topic {topic} has no partition {p} (it has {count})");
    }
    let mut pending: std::collections::BTreeMap<i32, Vec<KeyValue>> =
        std::collections::BTreeMap::new();
    let mut round_robin = 0;
    let mut produced = 0usize;
    let mut send = |client: &mut Client,
                    p: i32,
                    records: Vec<(Option<Vec<u8>>, Vec<u8>)>|
     -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut b = RecordBatchBuilder::new(0, now);
        for (key, value) in &records {
            let mut spec = RecordSpec::new(key.as_deref(), Some(value));
            for (k, v) in &headers {
                spec = spec.header(k, Some(v.as_bytes()));
            }
            b = b.record(spec);
        }
        use produce_request::*;
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: p,
                    records: Some(b.build().into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let Response::Produce(r) = client.call(9, req)? else {
            bail!("unexpected answer to Produce");
        };
        for t in &r.responses {
            for pr in &t.partition_responses {
                check(
                    pr.error_code,
                    pr.error_message.as_deref(),
                    &format!("producing to {topic}-{p}"),
                )?;
            }
        }
        produced += records.len();
        Ok(())
    };
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (key, value) = match key_separator.and_then(|sep| line.split_once(sep)) {
            Some((k, v)) => (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()),
            None => (None, line.into_bytes()),
        };
        let p = match (partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => (murmur2(k) & 0x7fff_ffff) % count,
            (None, None) => round_robin,
        };
        let batch = pending.entry(p).or_default();
        batch.push((key, value));
        if batch.len() >= PRODUCE_BATCH {
            let records = std::mem::take(batch);
            send(&mut client, p, records)?;
            if partition.is_none() {
                round_robin = (round_robin + 1) % count;
            }
        }
    }
    for (p, records) in std::mem::take(&mut pending) {
        if !records.is_empty() {
            send(&mut client, p, records)?;
        }
    }
    match c.format {
        Format::Json => println!("{}", json!({"topic": topic, "produced": produced})),
        Format::Table => eprintln!("produced {produced} records to {topic}"),
    }
    Ok(())
}

pub(super) fn consume(
    topic: &str,
    partition: Option<i32>,
    from: &str,
    max: Option<usize>,
    key_separator: Option<&str>,
    c: &Connection,
) -> anyhow::Result<()> {
    use aeon::protocol::records::compression::records_of;
    use aeon::protocol::records::BatchIter;
    let mut client = Client::connect(&c.bootstrap)?;
    let m = metadata(&mut client, Some(vec![topic.to_string()]))?;
    let t = m
        .topics
        .first()
        .ok_or_else(|| anyhow!("no answer for topic {topic}"))?;
    check(t.error_code, None, &format!("topic {topic}"))?;
    let mut partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    partitions.sort_unstable();
    if let Some(p) = partition {
        if !partitions.contains(&p) {
            bail!("topic {topic} has no partition {p}");
        }
        partitions = vec![p];
    }
    let ends = offsets(&mut client, topic, &partitions, -1)?;
    let starts = match from {
        "beginning" => offsets(&mut client, topic, &partitions, -2)?,
        "end" => ends.clone(),
        offset => {
            let o: i64 = offset
                .parse()
                .map_err(|_| anyhow!("--from wants beginning, end or an offset, got {offset:?}"))?;
            partitions.iter().map(|&p| (p, o)).collect()
        }
    };
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for &p in &partitions {
        let end = ends.iter().find(|(i, _)| *i == p).map_or(0, |(_, o)| *o);
        let mut next = starts.iter().find(|(i, _)| *i == p).map_or(0, |(_, o)| *o);
        while next < end && max.is_none_or(|m| printed < m) {
            use fetch_request::*;
            let req = FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 1,
                max_bytes: 8 << 20,
                isolation_level: 1,
                topics: vec![FetchTopic {
                    topic: topic.to_string(),
                    partitions: vec![FetchPartition {
                        partition: p,
                        fetch_offset: next,
                        partition_max_bytes: 4 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let Response::Fetch(r) = client.call(12, req)? else {
                bail!("unexpected answer to Fetch");
            };
            let data = r
                .responses
                .into_iter()
                .flat_map(|t| t.partitions)
                .next()
                .ok_or_else(|| anyhow!("no answer for {topic}-{p}"))?;
            check(data.error_code, None, &format!("fetching {topic}-{p}"))?;
            let records = data.records.unwrap_or_default();
            let before = next;
            for batch in BatchIter::new(&records) {
                let batch_next = batch.next_offset();
                if batch.is_control() {
                    next = next.max(batch_next);
                    continue;
                }
                let section = batch
                    .decompressed_records(64 << 20)
                    .map_err(|e| anyhow!("a batch of {topic}-{p}: {e}"))?;
                for record in records_of(&section, batch.record_count())? {
                    let record = record.map_err(|e| anyhow!("a record of {topic}-{p}: {e}"))?;
                    let offset = batch.base_offset() + i64::from(record.offset_delta);
                    if offset < next || offset >= end || max.is_some_and(|m| printed >= m) {
                        continue;
                    }
                    let text =
                        |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                    match c.format {
                        Format::Json => writeln!(
                            out,
                            "{}",
                            json!({
                                "partition": p,
                                "offset": offset,
                                "timestamp": batch.base_timestamp() + record.timestamp_delta,
                                "key": text(record.key),
                                "value": text(record.value),
                                "headers": record.headers.iter().map(|h| json!({"key": h.key, "value": text(h.value)})).collect::<Vec<_>>(),
                            })
                        )?,
                        Format::Table => match key_separator {
                            Some(sep) => writeln!(
                                out,
                                "{}{sep}{}",
                                text(record.key).unwrap_or_default(),
                                text(record.value).unwrap_or_default()
                            )?,
                            None => writeln!(out, "{}", text(record.value).unwrap_or_default())?,
                        },
                    }
                    printed += 1;
                }
                next = next.max(batch_next);
            }
            if next == before {
                // Nothing readable below the end (e.g. records above the last stable
                // offset): stop rather than spin.
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::murmur2;

    /// Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_is_kafkas() {
        for (key, hash) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }
}
