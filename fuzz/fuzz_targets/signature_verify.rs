//! Fuzz target: Ed25519 verification of any key, signature and message never panics, and the
//! batch path ingest uses gives the same verdict as single verification.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stemedb_core::{PublicKey, Signature, verify_messages};

fuzz_target!(|data: &[u8]| {
    if data.len() < 96 {
        return;
    }
    let key: [u8; 32] = data[..32].try_into().expect("32 bytes");
    let sig: [u8; 64] = data[32..96].try_into().expect("64 bytes");
    let message = &data[96..];
    let Ok(key) = PublicKey::from_bytes(&key) else {
        return;
    };
    let sig = Signature(sig);
    let single = key.verify_message(message, &sig);
    let batch = verify_messages(&[(key, message, sig); 4]).iter().all(|v| *v);
    assert_eq!(single, batch, "the batch and single paths agree");
});
