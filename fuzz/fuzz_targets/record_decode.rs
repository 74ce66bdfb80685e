//! Fuzz target: any bytes read back from the log as a stored record are decoded or refused as
//! corrupt (naming the sequence), never a panic. Half the inputs are given a valid envelope
//! checksum first, so the fuzzer also reaches the body parser behind it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stemedb_core::{Signature, Timestamp};
use stemedb_store::{decode_record, encode_record};

const SEQUENCE: u64 = 7;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let bytes = if first % 2 == 0 {
        rest.to_vec()
    } else {
        encode_record(SEQUENCE, Timestamp::from_micros(1), &Signature([3; 64]), rest)
    };
    match decode_record(SEQUENCE, &bytes) {
        Ok(record) => {
            if let Ok(assertion) = record.parse() {
                let _ = assertion.verify();
            }
        }
        Err(e) => {
            // A freshly encoded envelope decodes unless its body is shorter than the smallest
            // JSON object (`{}`), which the decoder refuses by length.
            assert!(first % 2 == 0 || rest.len() < 2, "a freshly encoded envelope decodes: {e}");
            assert!(e.to_string().contains("sequence 7"), "the error names the sequence: {e}");
        }
    }
});
