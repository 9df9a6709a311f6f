//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same code the fuzz
//! targets run (`aeon::fuzzing`), so an input the fuzzer once found keeps being checked
//! by a normal `cargo test`, without the fuzzer or nightly.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for path in corpus(target) {
        let data = std::fs::read(&path).expect("corpus file");
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{} fails {target}", path.display());
    }
}

#[test]
fn the_request_decoder_corpus_decodes_without_panics() {
    replay("request_decoder", aeon::fuzzing::request_frame);
}

#[test]
fn the_record_batch_corpus_parses_without_panics() {
    replay("record_batch", aeon::fuzzing::record_batch);
}

#[test]
fn the_storage_recovery_corpus_recovers_without_panics_or_lost_batches() {
    replay("storage_recovery", aeon::fuzzing::storage_recovery);
}
