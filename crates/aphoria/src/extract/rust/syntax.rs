//! Small readers of syn nodes the Rust extractors share: path names, literals, macro
//! names, literal integers and durations, clap field attributes.
use proc_macro2::{TokenStream, TokenTree};
use syn::{Attribute, Expr, Macro};

use super::visit::Node;

/// The identifiers of a path's segments (`std::env::var` → `["std", "env", "var"]`).
pub fn idents(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// The path of a call's function (`Command::new` in `Command::new("ls")`).
pub fn call_path(expr: &Expr) -> Option<&syn::Path> {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Path(p) => Some(&p.path),
            _ => None,
        },
        _ => None,
    }
}

/// The string literal `expr` is, looking through `&`, parentheses and invisible groups.
pub fn str_lit(expr: &Expr) -> Option<&syn::LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s),
        Expr::Reference(r) => str_lit(&r.expr),
        Expr::Paren(p) => str_lit(&p.expr),
        Expr::Group(g) => str_lit(&g.expr),
        _ => None,
    }
}

/// A string literal token, parsed (`None` for numbers, chars and byte strings).
pub fn token_str(token: &TokenTree) -> Option<syn::LitStr> {
    match token {
        TokenTree::Literal(lit) => syn::parse2(TokenTree::Literal(lit.clone()).into()).ok(),
        _ => None,
    }
}

/// The first top-level string literal among a macro's tokens: its format string.
pub fn first_str_token(tokens: &TokenStream) -> Option<syn::LitStr> {
    tokens.clone().into_iter().find_map(|t| token_str(&t))
}

/// The last segment of a macro's path (`tracing::info!` → `info`).
pub fn macro_name(mac: &Macro) -> String {
    mac.path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

/// An integer literal (`_` separators and suffixes allowed) or a product or shift of them
/// (`64 * 1024`, `1 << 20`); `None` for anything else or on overflow.
pub fn int_value(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse().ok(),
        Expr::Paren(p) => int_value(&p.expr),
        Expr::Group(g) => int_value(&g.expr),
        Expr::Binary(b) => {
            let (left, right) = (int_value(&b.left)?, int_value(&b.right)?);
            match b.op {
                syn::BinOp::Mul(_) => left.checked_mul(right),
                // `1 << 20`, when no bit is shifted out.
                syn::BinOp::Shl(_) => {
                    let shifted = left.checked_shl(u32::try_from(right).ok()?)?;
                    (shifted >> right == left).then_some(shifted)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `Duration::from_secs(60)` and its kin, in whole milliseconds; `None` for a non-literal
/// argument or a duration that is not a whole number of milliseconds.
pub fn duration_ms(expr: &Expr) -> Option<u64> {
    let Expr::Call(call) = expr else { return None };
    let path = call_path(expr)?;
    let names = idents(path);
    let [.., ty, ctor] = names.as_slice() else {
        return None;
    };
    if ty != "Duration" || call.args.len() != 1 {
        return None;
    }
    let n = int_value(call.args.first()?)?;
    match ctor.as_str() {
        "from_hours" => n.checked_mul(3_600_000),
        "from_mins" => n.checked_mul(60_000),
        "from_secs" => n.checked_mul(1000),
        "from_millis" => Some(n),
        "from_micros" => (n % 1000 == 0).then_some(n / 1000),
        "from_nanos" => (n % 1_000_000 == 0).then_some(n / 1_000_000),
        _ => None,
    }
}

/// The clap attributes (`#[arg(..)]`, `#[clap(..)]`) on the fields of a struct or of an
/// enum's variants, each with the field's name (`None` for a tuple field).
pub fn clap_field_attrs<'a>(node: &Node<'a>) -> Vec<(Option<&'a syn::Ident>, &'a Attribute)> {
    let fields: Vec<&'a syn::Field> = match node {
        Node::Struct(s) => s.fields.iter().collect(),
        Node::Enum(e) => e.variants.iter().flat_map(|v| v.fields.iter()).collect(),
        _ => Vec::new(),
    };
    let mut found = Vec::new();
    for field in fields {
        for attr in &field.attrs {
            if attr.path().is_ident("arg") || attr.path().is_ident("clap") {
                found.push((field.ident.as_ref(), attr));
            }
        }
    }
    found
}

/// The tokens inside an attribute's parentheses (empty for `#[x]` and `#[x = ..]`).
pub fn attr_tokens(attr: &Attribute) -> Vec<TokenTree> {
    match &attr.meta {
        syn::Meta::List(list) => list.tokens.clone().into_iter().collect(),
        _ => Vec::new(),
    }
}
