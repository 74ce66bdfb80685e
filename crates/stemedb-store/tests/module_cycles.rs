//! The store's modules import each other in no circle: the layering stated in `src/lib.rs`
//! holds. Fails naming the cycle when a module starts to use one above it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/module_cycles.rs"]
mod module_cycles;

use std::path::Path;

use module_cycles::{assert_no_cycle, describe, find_cycle, module_graph};

#[test]
fn the_store_modules_form_no_cycle() {
    assert_no_cycle(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), 6);
}

/// The checker itself finds a cycle through a re-exported name, a grouped `use` and `super::`,
/// and none where there is none.
#[test]
fn the_checker_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("b")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(src.join(name), text).unwrap();
    write(
        "lib.rs",
        "mod a; mod b; mod c;\npub use a::{Thing, Other};\n",
    );
    write(
        "a.rs",
        "// crate::c is only a comment\npub struct Thing; pub struct Other;\n",
    );
    write("b/mod.rs", "mod inner;\n");
    write("b/inner.rs", "use super::super::a::Thing;\n");
    write("c.rs", "use crate::{b, Thing};\n");
    let graph = module_graph(src);
    assert_eq!(find_cycle(&graph), None, "{}", describe(&graph));
    write(
        "a.rs",
        "fn f() { crate::c::g() }\npub struct Thing; pub struct Other;\n",
    );
    let cycle = find_cycle(&module_graph(src)).expect("a -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"a".to_owned()) && cycle.contains(&"c".to_owned()));
    write("b/inner.rs", "fn f() -> crate::Other { todo!() }\n");
    write(
        "a.rs",
        "fn f() { crate::b::g() }\npub struct Thing; pub struct Other;\n",
    );
    write("c.rs", "\n");
    let cycle = find_cycle(&module_graph(src)).expect("a -> b -> a through a re-export");
    assert_eq!(cycle.len(), 3, "{cycle:?}");
}
