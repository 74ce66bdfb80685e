//! Which Rust code is test code, never reported: files of test modules, and items under
//! `#[cfg(test)]` or a test attribute.
use proc_macro2::{TokenStream, TokenTree};
use syn::{Attribute, Item};

/// Module names that are test code even under `src/` (`#[cfg(test)] mod tests;` in a file of
/// its own): the walker cannot see the parent's attribute.
const TEST_MODULES: [&str; 6] = [
    "tests",
    "test",
    "testing",
    "test_utils",
    "test_util",
    "test_helpers",
];

/// True for a file in a test module (by a module name on its path, `src/test_helpers/x.rs`
/// included, or `#![cfg(test)]` at its top).
pub fn is_test_file(module: &str, file: &syn::File) -> bool {
    module.split("::").any(|m| TEST_MODULES.contains(&m)) || is_test(&file.attrs)
}

/// True when the attributes mark test code: `#[cfg(test)]` (also inside `all`/`any`, never
/// under `not`), or a test attribute (`#[test]`, `#[tokio::test]`, `#[rstest]`...).
pub fn is_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        let last = path.segments.last().map(|s| s.ident.to_string());
        if path.is_ident("cfg") {
            match &attr.meta {
                syn::Meta::List(list) => cfg_implies_test(&list.tokens),
                _ => false,
            }
        } else {
            last.is_some_and(|name| name.ends_with("test"))
        }
    })
}

/// Whether a cfg predicate's tokens require (or, for `any`, allow) `test`: code under
/// `any(test, feature = "testing")` is test support, not production.
fn cfg_implies_test(tokens: &TokenStream) -> bool {
    let tokens: Vec<TokenTree> = tokens.clone().into_iter().collect();
    tokens.split(is_comma).any(|part| match part {
        [TokenTree::Ident(id)] => id == "test",
        [TokenTree::Ident(id), TokenTree::Group(group)] if id == "all" || id == "any" => {
            cfg_implies_test(&group.stream())
        }
        _ => false,
    })
}

fn is_comma(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Punct(p) if p.as_char() == ',')
}

/// An item's attributes (none for tokens syn could not read as an item).
pub fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}
