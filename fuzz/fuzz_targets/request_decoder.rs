//! Any bytes as a request frame (header and body, after the size prefix), with any API
//! key and version. The decoder must return an error or a request, never panic or
//! allocate past what the bytes justify; a decoded request must encode again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aeon::fuzzing::request_frame(data));
