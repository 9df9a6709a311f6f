//! Any bytes as back-to-back RecordBatches: `RecordBatch::parse`, the CRC and header
//! checks, record decoding and `BatchIter` return errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aeon::fuzzing::record_batch(data));
