//! Any bytes as a request frame (header and body, after the size prefix). The decoder
//! must return an error or a request, never panic or allocate past what the bytes
//! justify; a decoded request must encode again.
#![no_main]

use aeon::protocol::frame::{decode_request, encode_request};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_request(Bytes::copy_from_slice(data)) {
        // Whatever decoded is a valid value of its version.
        encode_request(&frame.header, &frame.body).expect("a decoded request encodes again");
    }
});
