//! Fuzz target: any bytes offered as a signed assertion's wire JSON are accepted or refused
//! with an error, never a panic; an accepted one verifies or not, and re-serializes to a wire
//! form that parses to the same id.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stemedb_core::{Limits, SignedAssertion};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(assertion) = SignedAssertion::from_wire_bytes(data, &limits) {
        let _ = assertion.verify();
        let wire = assertion.to_wire();
        let again = SignedAssertion::from_wire(wire, &limits).expect("a parsed record's wire form parses");
        assert_eq!(again.id, assertion.id, "the id survives a round trip");
    }
});
