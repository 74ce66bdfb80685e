//! Every extractor, and the registry the scanner runs. Rust source is read with `syn`
//! (`rust/`), configuration with real parsers or line grammars (`config/`); each extractor
//! declares the predicates it can verify.
pub mod config;
pub mod rust;
#[cfg(test)]
pub(crate) mod testing;

use crate::observe::Extractor;

/// Every extractor, in a stable order (names unique; checked by a test).
pub fn all() -> Vec<Box<dyn Extractor>> {
    let mut list = rust::all();
    list.extend(config::all());
    list
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_every_extractor_declares_predicates() {
        let list = super::all();
        let names: HashSet<&str> = list.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), list.len(), "two extractors share a name");
        for e in &list {
            assert!(
                !e.predicates().is_empty(),
                "{} declares no predicate",
                e.name()
            );
            assert!(!e.describe().is_empty(), "{} has no description", e.name());
        }
    }
}
