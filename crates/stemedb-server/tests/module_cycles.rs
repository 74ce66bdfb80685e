//! The server's modules import each other in no circle: shared helpers live in modules of
//! their own, not in handler files (issue 11). Fails naming the cycle.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../../../tests/support/module_cycles.rs"]
mod module_cycles;

#[test]
fn the_server_modules_form_no_cycle() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    module_cycles::assert_no_cycle(&src, 10);
}
