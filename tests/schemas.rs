//! Our schema files against Kafka's: the parser reads every reference file, and every
//! file in `protocol-json/` states the same facts as its reference (field by field,
//! leaving out only the `about` prose), so a wrong version range cannot slip in.
//!
//! The reference lives in `../shared`; without it these tests say so and pass, unless
//! `AEON_REQUIRE_SHARED=1`.

#[path = "../build/schema.rs"]
#[allow(dead_code)]
mod schema;

use aeon::protocol::ApiKey;
use schema::{parse_schema, Field, Schema};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared(sub: &str) -> Option<PathBuf> {
    let dir = root().join("..").join("shared").join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("AEON_REQUIRE_SHARED").as_deref() != Ok("1"),
        "AEON_REQUIRE_SHARED=1 but {} is missing",
        dir.display()
    );
    eprintln!("note: {} is absent; skipping", dir.display());
    None
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Schema {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_schema(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_parser_reads_every_reference_schema() {
    for (sub, expected) in [
        ("kafka-protocol-json/message", 201),
        ("kafka-protocol-json-3.9/message", 186),
    ] {
        let Some(dir) = shared(sub) else { return };
        let files = json_files(&dir);
        let mut failures = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read schema");
            if let Err(e) = parse_schema(&text) {
                failures.push(format!("{}: {e}", f.display()));
            }
        }
        println!("{sub}: {} files parsed", files.len() - failures.len());
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(files.len(), expected, "{sub}");
    }
}

fn strip_about(fields: &mut [Field]) {
    for f in fields {
        f.about = None;
        strip_about(&mut f.fields);
    }
}

#[test]
fn every_schema_of_ours_states_the_reference_facts() {
    let Some(reference) = shared("kafka-protocol-json/message") else {
        return;
    };
    let ours = json_files(&root().join("protocol-json"));
    assert_eq!(
        ours.len(),
        2 * ApiKey::ALL.len() + 4,
        "one request and response per API, the headers, the consumer protocol's data"
    );
    for path in ours {
        let name = path.file_name().expect("file name");
        let mine = load(&path);
        let mut theirs = load(&reference.join(name));
        strip_about(&mut theirs.fields);
        for cs in &mut theirs.common_structs {
            strip_about(&mut cs.fields);
        }
        assert_eq!(
            mine,
            theirs,
            "{} differs from the reference",
            path.display()
        );
    }
}

#[test]
fn the_served_apis_are_the_ones_aeon_promises() {
    let names: Vec<&str> = ApiKey::ALL.iter().map(|k| k.name()).collect();
    let promised = [
        "Produce",
        "Fetch",
        "ListOffsets",
        "Metadata",
        "OffsetCommit",
        "OffsetFetch",
        "FindCoordinator",
        "JoinGroup",
        "Heartbeat",
        "LeaveGroup",
        "SyncGroup",
        "DescribeGroups",
        "ListGroups",
        "SaslHandshake",
        "ApiVersions",
        "CreateTopics",
        "DeleteTopics",
        "DeleteRecords",
        "InitProducerId",
        "OffsetForLeaderEpoch",
        "AddPartitionsToTxn",
        "AddOffsetsToTxn",
        "EndTxn",
        "WriteTxnMarkers",
        "TxnOffsetCommit",
        "DescribeConfigs",
        "AlterConfigs",
        "SaslAuthenticate",
        "CreatePartitions",
        "DeleteGroups",
        "ElectLeaders",
        "IncrementalAlterConfigs",
        "AlterPartitionReassignments",
        "ListPartitionReassignments",
        "OffsetDelete",
        "DescribeCluster",
        "DescribeQuorum",
        "DescribeProducers",
        "DescribeTransactions",
        "ListTransactions",
        "ConsumerGroupHeartbeat",
        "ConsumerGroupDescribe",
        "DescribeUserScramCredentials",
        "AlterUserScramCredentials",
        "DescribeAcls",
        "CreateAcls",
        "DeleteAcls",
    ];
    let mut a = names.clone();
    a.sort();
    let mut b = promised.to_vec();
    b.sort();
    assert_eq!(a, b);
}

/// The README's table of served APIs is the code's, row for row.
#[test]
fn the_readme_api_table_matches_the_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("<!-- api-table -->")
        .expect("README has an api-table marker");
    let end = readme
        .find("<!-- /api-table -->")
        .expect("README has an /api-table marker");
    let rows: Vec<Vec<String>> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let expected: Vec<Vec<String>> = ApiKey::ALL
        .iter()
        .map(|k| {
            let adv = k.advertised_versions();
            let served = k.versions();
            vec![
                k.name().to_string(),
                k.code().to_string(),
                format!("{}-{}", adv.min, adv.max),
                format!("{}-{}", served.min, served.max),
                k.first_flexible_version()
                    .map_or("none".to_string(), |v| format!("{v}+")),
                if aeon::handlers::HANDLED.contains(k) {
                    "yes"
                } else {
                    "codec only"
                }
                .to_string(),
            ]
        })
        .collect();
    assert_eq!(
        rows, expected,
        "README api table (name | key | advertised | decoded | flexible | broker)"
    );
}
