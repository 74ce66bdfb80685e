//! The curve arithmetic signature checks run on. `.cargo/config.toml` compiles
//! curve25519-dalek's AVX-512 IFMA backend in, and the library picks it at run time on a CPU
//! that has it: a check then costs about 0.6x what it costs with AVX2 (docs/benchmarks.md,
//! "Twenty-first session"). A `RUSTFLAGS` variable replaces that file's list, which builds
//! without the backend and without a word; this test is where that shows. (Whether the
//! arithmetic gives the right answers is `vectors.rs`, `wycheproof.rs` and `mixed_order.rs`,
//! which run on whichever backend this CPU gets.)
use stemedb_core::signature_arithmetic;

#[test]
fn a_cpu_with_ifma_checks_signatures_on_it() {
    #[cfg(target_arch = "x86_64")]
    let has_ifma =
        std::is_x86_feature_detected!("avx512ifma") && std::is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    let has_ifma = false;
    if !has_ifma {
        eprintln!(
            "NOT CHECKED: this CPU has no AVX-512 IFMA; signature checks use {}",
            signature_arithmetic()
        );
        return;
    }
    assert_eq!(
        signature_arithmetic(),
        "AVX-512 IFMA",
        "built without --cfg curve25519_dalek_backend=\"avx512\" (.cargo/config.toml; a \
         RUSTFLAGS variable in the environment replaces its rustflags)"
    );
}
