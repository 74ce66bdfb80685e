//! The curve arithmetic signature checks run on. `.cargo/config.toml` compiles
//! curve25519-dalek's AVX-512 IFMA code in, and the library picks it at run time on a CPU that
//! has it: a batch of 16 then costs about 0.7x what it costs on AVX2, a strict check about 0.6x
//! (docs/benchmarks.md, "Twenty-first session"). A `RUSTFLAGS` variable (or target rustflags of
//! higher precedence) replaces that file's list and builds without it, without a word: this
//! test is where that shows. (Whether the arithmetic gives the right answers is `vectors.rs`,
//! `wycheproof.rs` and `mixed_order.rs`, on whichever code this CPU gets; CI runs them again on
//! the AVX2 code.)
use stemedb_core::{SIGNATURE_IFMA_COMPILED_IN, signature_arithmetic};

/// Says that a check could not run where it cannot be missed: written to the process's stderr
/// directly, which the test harness does not capture (`eprintln!` in a passing test is hidden).
fn not_checked(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOT CHECKED (arithmetic.rs): {why}");
}

const LOST: &str = "built without curve25519-dalek's IFMA code: .cargo/config.toml's rustflags \
                    were replaced (a RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS variable, or target \
                    rustflags in another cargo config)";

#[test]
#[allow(
    clippy::assertions_on_constants,
    reason = "the constant is what the build decided, which is what this test checks"
)]
fn an_x86_64_build_compiles_the_ifma_arithmetic_in() {
    if !cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
        not_checked("no IFMA code exists for this target");
        return;
    }
    assert!(SIGNATURE_IFMA_COMPILED_IN, "{LOST}");
}

#[test]
fn a_cpu_with_ifma_checks_signatures_on_it() {
    #[cfg(target_arch = "x86_64")]
    let has_ifma =
        std::is_x86_feature_detected!("avx512ifma") && std::is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    let has_ifma = false;
    if !has_ifma {
        not_checked(&format!(
            "this CPU has no AVX-512 IFMA, so whether checks would run on it is not tested; \
             signature checks use {}",
            signature_arithmetic()
        ));
        return;
    }
    assert_eq!(signature_arithmetic(), "AVX-512 IFMA", "{LOST}");
}
