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

/// A record to produce.
#[derive(Debug, Default, PartialEq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    /// The partition the line names (`--input json`).
    partition: Option<i32>,
}

/// A line of stdin as a record.
fn parse_line(line: String, input: Input, key_separator: Option<&str>) -> anyhow::Result<Rec> {
    if input == Input::Lines {
        let (key, value) = match key_separator.and_then(|sep| line.split_once(sep)) {
            Some((k, v)) => (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()),
            None => (None, line.into_bytes()),
        };
        return Ok(Rec {
            key,
            value: Some(value),
            ..Rec::default()
        });
    }
    let v: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| anyhow!("a line is not JSON ({e}): {line}"))?;
    let bytes = |field: &serde_json::Value, what: &str| match field {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
        other => Err(anyhow!("{what} must be a string or null, got {other}")),
    };
    let headers = match &v["headers"] {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(hs) => hs
            .iter()
            .map(|h| {
                let key = h["key"]
                    .as_str()
                    .ok_or_else(|| anyhow!("a header wants a string key, got {h}"))?;
                Ok((key.to_string(), bytes(&h["value"], "a header value")?))
            })
            .collect::<anyhow::Result<_>>()?,
        serde_json::Value::Object(hs) => hs
            .iter()
            .map(|(k, v)| Ok((k.clone(), bytes(v, "a header value")?)))
            .collect::<anyhow::Result<_>>()?,
        other => bail!("headers must be a list or an object, got {other}"),
    };
    let partition = match &v["partition"] {
        serde_json::Value::Null => None,
        p => Some(
            p.as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .ok_or_else(|| anyhow!("partition must be a number, got {p}"))?,
        ),
    };
    Ok(Rec {
        key: bytes(&v["key"], "key")?,
        value: bytes(&v["value"], "value")?,
        headers,
        partition,
    })
}

/// Records per produce request and partition.
const PRODUCE_BATCH: usize = 1000;

pub(super) fn produce(
    topic: &str,
    partition: Option<i32>,
    key_separator: Option<&str>,
    headers: &[String],
    input: Input,
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
    let t = topic_metadata(&mut client, topic)?;
    let count = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1);
    if let Some(p) = partition.filter(|p| !(0..count).contains(p)) {
        bail!("topic {topic} has no partition {p} (it has {count})");
    }
    let mut pending: std::collections::BTreeMap<i32, Vec<Rec>> = std::collections::BTreeMap::new();
    let mut round_robin = 0;
    let mut produced = 0usize;
    let mut send = |client: &mut Client, p: i32, records: Vec<Rec>| -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut b = RecordBatchBuilder::new(0, now);
        for r in &records {
            let mut spec = RecordSpec::new(r.key.as_deref(), r.value.as_deref());
            for (k, v) in &r.headers {
                spec = spec.header(k, v.as_deref());
            }
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
        let record = parse_line(line?, input, key_separator)?;
        let p = match (record.partition.or(partition), &record.key) {
            (Some(p), _) if !(0..count).contains(&p) => {
                bail!("topic {topic} has no partition {p} (it has {count})")
            }
            (Some(p), _) => p,
            (None, Some(k)) => (murmur2(k) & 0x7fff_ffff) % count,
            (None, None) => round_robin,
        };
        let batch = pending.entry(p).or_default();
        batch.push(record);
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
    record_format: Option<&str>,
    c: &Connection,
) -> anyhow::Result<()> {
    use aeon::protocol::records::compression::records_of;
    let record_format = record_format.map(parse_record_format).transpose()?;
    if record_format.is_some() && c.format == Format::Json {
        bail!("--record-format prints text; it does not go with --format json");
    }
    use aeon::protocol::records::BatchIter;
    let mut client = Client::connect(&c.bootstrap)?;
    let t = topic_metadata(&mut client, topic)?;
    let mut partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
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
                    if let Some(pieces) = &record_format {
                        let view = RecordView {
                            topic,
                            partition: p,
                            offset,
                            timestamp: batch.base_timestamp() + record.timestamp_delta,
                            key: record.key,
                            value: record.value,
                            headers: &record.headers,
                        };
                        write_formatted(&mut out, pieces, &view)?;
                        printed += 1;
                        continue;
                    }
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

/// A piece of a `--record-format`: text, or a field of the record.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Value,
    KeyLength,
    ValueLength,
    Headers,
}

/// Parses kcat's format string once, so each record is printed without parsing it.
fn parse_record_format(fmt: &str) -> anyhow::Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        let field = match c {
            '%' => match chars.next() {
                Some('%') => {
                    text.push('%');
                    None
                }
                Some('t') => Some(Piece::Topic),
                Some('p') => Some(Piece::Partition),
                Some('o') => Some(Piece::Offset),
                Some('T') => Some(Piece::Timestamp),
                Some('k') => Some(Piece::Key),
                Some('v') => Some(Piece::Value),
                Some('K') => Some(Piece::KeyLength),
                Some('S') => Some(Piece::ValueLength),
                Some('h') => Some(Piece::Headers),
                Some(other) => bail!("--record-format: unknown field %{other}"),
                None => bail!("--record-format: a % at the end"),
            },
            '\\' => {
                match chars.next() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('\\') => text.push('\\'),
                    Some(other) => bail!("--record-format: unknown escape \\{other}"),
                    None => bail!("--record-format: a \\ at the end"),
                }
                None
            }
            c => {
                text.push(c);
                None
            }
        };
        if let Some(field) = field {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(field);
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// What a `--record-format` can print of one record.
struct RecordView<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [aeon::protocol::records::Header<'a>],
}

fn write_formatted(
    out: &mut impl Write,
    pieces: &[Piece],
    r: &RecordView<'_>,
) -> std::io::Result<()> {
    let length = |b: Option<&[u8]>| b.map_or(-1, |b| b.len() as i64);
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.write_all(t.as_bytes())?,
            Piece::Topic => out.write_all(r.topic.as_bytes())?,
            Piece::Partition => write!(out, "{}", r.partition)?,
            Piece::Offset => write!(out, "{}", r.offset)?,
            Piece::Timestamp => write!(out, "{}", r.timestamp)?,
            Piece::Key => out.write_all(r.key.unwrap_or_default())?,
            Piece::Value => out.write_all(r.value.unwrap_or_default())?,
            Piece::KeyLength => write!(out, "{}", length(r.key))?,
            Piece::ValueLength => write!(out, "{}", length(r.value))?,
            Piece::Headers => {
                for (i, h) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    out.write_all(h.key.as_bytes())?;
                    out.write_all(b"=")?;
                    out.write_all(h.value.unwrap_or_default())?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_formats_parse_into_fields_and_text() {
        let pieces = parse_record_format("%t/%p@%o %k=%v (%K,%S) [%h] 100%%\\n").expect("parses");
        assert_eq!(pieces.first(), Some(&Piece::Topic));
        assert_eq!(pieces.last(), Some(&Piece::Text("] 100%\n".to_string())));
        let headers = [];
        let view = RecordView {
            topic: "t",
            partition: 2,
            offset: 7,
            timestamp: 5,
            key: None,
            value: Some(b"v"),
            headers: &headers,
        };
        let mut out = Vec::new();
        write_formatted(&mut out, &pieces, &view).expect("writes");
        assert_eq!(String::from_utf8_lossy(&out), "t/2@7 =v (-1,1) [] 100%\n");
        for bad in ["%x", "abc%", "\\q", "x\\"] {
            assert!(parse_record_format(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_lines_parse_into_records() {
        let r = parse_line(
            r#"{"key":"k","value":null,"headers":[{"key":"h","value":"1"}],"partition":3}"#
                .to_string(),
            Input::Json,
            None,
        )
        .expect("parses");
        assert_eq!(
            r,
            Rec {
                key: Some(b"k".to_vec()),
                value: None,
                headers: vec![("h".to_string(), Some(b"1".to_vec()))],
                partition: Some(3),
            }
        );
        for bad in [
            "not json",
            r#"{"key":1}"#,
            r#"{"partition":"x"}"#,
            r#"{"headers":3}"#,
        ] {
            assert!(
                parse_line(bad.to_string(), Input::Json, None).is_err(),
                "{bad}"
            );
        }
    }

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
