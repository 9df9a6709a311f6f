//! A crashed log whose segment and index files the fuzzer damages: `Log::open` must
//! recover to a prefix (keeping every undamaged batch) or return a typed error, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aeon::fuzzing::storage_recovery(data));
