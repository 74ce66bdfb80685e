//! The one walk every Rust extractor shares: which item encloses each node (its subject), and
//! which code is test code and so never reported. An extractor implements [`Hook`] and is
//! called for every item, expression and macro outside tests.
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{
    Attribute, Expr, ImplItem, Item, ItemEnum, ItemImpl, ItemStruct, ItemTrait, Macro, Signature,
    TraitItem, Type,
};

use super::testcode::{is_test, is_test_file, item_attrs};

/// Where a node lies: the item part of its subject (`fn_name`, `Type::method`, `m::CONST`, or
/// the inline module path — `""` at the file's top level).
pub struct Cx<'a> {
    pub item: &'a str,
    /// True when the node lies inside another named item (an item declared in a fn body):
    /// its subject is the outer item's.
    pub nested: bool,
}

/// An item as the hook sees it on entering it.
pub enum Node<'a> {
    Fn(&'a Signature),
    Impl(&'a ItemImpl),
    Trait(&'a ItemTrait),
    /// A `const` or `static`, at module level or in an impl.
    Const {
        ident: &'a syn::Ident,
        expr: &'a Expr,
    },
    Struct(&'a ItemStruct),
    Enum(&'a ItemEnum),
    Mod,
    Other,
}

/// What an extractor does at each node; every method defaults to nothing.
pub trait Hook {
    /// On entering an item, with its outer attributes (inner ones for a module are included).
    fn item(&mut self, _cx: &Cx<'_>, _attrs: &[Attribute], _node: Node<'_>) {}
    /// For every expression, outermost first.
    fn expr(&mut self, _cx: &Cx<'_>, _expr: &Expr) {}
    /// For every macro invocation (expression, statement or item position).
    fn mac(&mut self, _cx: &Cx<'_>, _mac: &Macro) {}
}

/// Walks `file` and calls `hook` for everything outside test code.
pub fn walk<H: Hook>(file: &syn::File, hook: &mut H) {
    let mut walker = Walker {
        hook,
        mods: Vec::new(),
        owner: None,
        current: String::new(),
        in_item: false,
    };
    walker.visit_file(file);
}

/// Walks the file of `input` with `hook`, unless it did not parse or is test code (then
/// returns false and `hook` saw nothing).
pub fn walk_input<H: Hook>(input: &crate::observe::Input<'_>, hook: &mut H) -> bool {
    match input.rust {
        Some(file) if !input.file.test_only && !is_test_file(&input.file.module, file) => {
            walk(file, hook);
            true
        }
        _ => false,
    }
}

/// The last segment of a type's path, looking through references (`impl X for &Foo<T>` →
/// `Foo`); `_` for a type with no name.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        Type::Reference(r) => Some(type_name(&r.elem)),
        Type::Paren(p) => Some(type_name(&p.elem)),
        Type::Group(g) => Some(type_name(&g.elem)),
        _ => None,
    }
    .unwrap_or_else(|| "_".to_owned())
}

struct Walker<'h, H> {
    hook: &'h mut H,
    /// Inline `mod m {}` names around the node.
    mods: Vec<String>,
    /// The type of the enclosing `impl`, or the enclosing trait.
    owner: Option<String>,
    /// The item part of the current subject.
    current: String,
    in_item: bool,
}

impl<H: Hook> Walker<'_, H> {
    fn qualify(&self, name: &str) -> String {
        let mut parts: Vec<&str> = self.mods.iter().map(String::as_str).collect();
        parts.extend(self.owner.as_deref());
        if !name.is_empty() {
            parts.push(name);
        }
        parts.join("::")
    }

    /// Tells the hook about an item whose subject is `item` (the current one when `None`).
    fn announce(&mut self, item: Option<&str>, attrs: &[Attribute], node: Node<'_>) {
        let cx = Cx {
            item: item.unwrap_or(&self.current),
            nested: self.in_item,
        };
        self.hook.item(&cx, attrs, node);
    }

    /// Runs `inside` within the named item `name`. An item nested in a fn body keeps the
    /// outer item's subject: it has no path of its own.
    fn named(
        &mut self,
        name: &str,
        attrs: &[Attribute],
        node: Node<'_>,
        inside: impl FnOnce(&mut Self),
    ) {
        let nested = self.in_item;
        let item = if nested {
            None
        } else {
            Some(self.qualify(name))
        };
        let saved = item.map(|item| std::mem::replace(&mut self.current, item));
        self.announce(None, attrs, node);
        self.in_item = true;
        inside(self);
        self.in_item = nested;
        if let Some(saved) = saved {
            self.current = saved;
        }
    }

    /// Runs `inside` with `owner` as the type of the methods inside (an impl or a trait).
    fn owned(
        &mut self,
        owner: String,
        attrs: &[Attribute],
        node: Node<'_>,
        inside: impl FnOnce(&mut Self),
    ) {
        if self.in_item {
            self.announce(None, attrs, node);
            return inside(self);
        }
        let saved = self.owner.replace(owner);
        let item = self.qualify("");
        self.announce(Some(&item), attrs, node);
        inside(self);
        self.owner = saved;
    }
}

impl<'ast, H: Hook> Visit<'ast> for Walker<'_, H> {
    // Attributes hold doc strings and tool arguments, not code: hooks read them from `item`.
    fn visit_attribute(&mut self, _: &'ast Attribute) {}

    fn visit_item(&mut self, item: &'ast Item) {
        if !is_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        let attrs = match item {
            ImplItem::Const(i) => &i.attrs,
            ImplItem::Fn(i) => &i.attrs,
            ImplItem::Type(i) => &i.attrs,
            ImplItem::Macro(i) => &i.attrs,
            _ => return,
        };
        if !is_test(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        let attrs = match item {
            TraitItem::Const(i) => &i.attrs,
            TraitItem::Fn(i) => &i.attrs,
            TraitItem::Type(i) => &i.attrs,
            TraitItem::Macro(i) => &i.attrs,
            _ => return,
        };
        if !is_test(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if self.in_item {
            self.announce(None, &m.attrs, Node::Mod);
            return visit::visit_item_mod(self, m);
        }
        self.mods.push(m.ident.to_string());
        let item = self.qualify("");
        let saved = std::mem::replace(&mut self.current, item);
        self.announce(None, &m.attrs, Node::Mod);
        visit::visit_item_mod(self, m);
        self.current = saved;
        self.mods.pop();
    }

    fn visit_item_impl(&mut self, i: &'ast ItemImpl) {
        self.owned(type_name(&i.self_ty), &i.attrs, Node::Impl(i), |w| {
            visit::visit_item_impl(w, i)
        });
    }

    fn visit_item_trait(&mut self, t: &'ast ItemTrait) {
        self.owned(t.ident.to_string(), &t.attrs, Node::Trait(t), |w| {
            visit::visit_item_trait(w, t)
        });
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        let name = f.sig.ident.to_string();
        self.named(&name, &f.attrs, Node::Fn(&f.sig), |w| {
            visit::visit_item_fn(w, f)
        });
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        let name = f.sig.ident.to_string();
        self.named(&name, &f.attrs, Node::Fn(&f.sig), |w| {
            visit::visit_impl_item_fn(w, f)
        });
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        let name = f.sig.ident.to_string();
        self.named(&name, &f.attrs, Node::Fn(&f.sig), |w| {
            visit::visit_trait_item_fn(w, f)
        });
    }

    fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
        let node = Node::Const {
            ident: &c.ident,
            expr: &c.expr,
        };
        self.named(&c.ident.to_string(), &c.attrs, node, |w| {
            visit::visit_item_const(w, c)
        });
    }

    fn visit_impl_item_const(&mut self, c: &'ast syn::ImplItemConst) {
        let node = Node::Const {
            ident: &c.ident,
            expr: &c.expr,
        };
        self.named(&c.ident.to_string(), &c.attrs, node, |w| {
            visit::visit_impl_item_const(w, c)
        });
    }

    fn visit_trait_item_const(&mut self, c: &'ast syn::TraitItemConst) {
        let node = match &c.default {
            Some((_, expr)) => Node::Const {
                ident: &c.ident,
                expr,
            },
            None => Node::Other,
        };
        self.named(&c.ident.to_string(), &c.attrs, node, |w| {
            visit::visit_trait_item_const(w, c)
        });
    }

    fn visit_item_static(&mut self, s: &'ast syn::ItemStatic) {
        let node = Node::Const {
            ident: &s.ident,
            expr: &s.expr,
        };
        self.named(&s.ident.to_string(), &s.attrs, node, |w| {
            visit::visit_item_static(w, s)
        });
    }

    fn visit_item_struct(&mut self, s: &'ast ItemStruct) {
        self.named(&s.ident.to_string(), &s.attrs, Node::Struct(s), |w| {
            visit::visit_item_struct(w, s)
        });
    }

    fn visit_item_enum(&mut self, e: &'ast ItemEnum) {
        self.named(&e.ident.to_string(), &e.attrs, Node::Enum(e), |w| {
            visit::visit_item_enum(w, e)
        });
    }

    fn visit_item_union(&mut self, u: &'ast syn::ItemUnion) {
        self.named(&u.ident.to_string(), &u.attrs, Node::Other, |w| {
            visit::visit_item_union(w, u)
        });
    }

    fn visit_item_type(&mut self, t: &'ast syn::ItemType) {
        self.named(&t.ident.to_string(), &t.attrs, Node::Other, |w| {
            visit::visit_item_type(w, t)
        });
    }

    fn visit_expr(&mut self, e: &'ast Expr) {
        let nested = self.in_item;
        self.hook.expr(
            &Cx {
                item: &self.current,
                nested,
            },
            e,
        );
        visit::visit_expr(self, e);
    }

    /// syn leaves macro bodies as tokens; a body that parses as comma-separated expressions
    /// (`format!`, `vec!`, `assert!`, `println!`...) is walked like code.
    fn visit_macro(&mut self, mac: &'ast Macro) {
        let nested = self.in_item;
        self.hook.mac(
            &Cx {
                item: &self.current,
                nested,
            },
            mac,
        );
        if mac.path.is_ident("macro_rules") {
            return;
        }
        let parser = Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        if let Ok(args) = mac.parse_body_with(parser) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use syn::{Attribute, Expr};

    use super::{Cx, Hook, Node, walk};

    /// Records the item of every method call (by method name) and of every item entered.
    #[derive(Default)]
    struct Record(Vec<String>);

    impl Hook for Record {
        fn item(&mut self, cx: &Cx<'_>, _attrs: &[Attribute], _node: Node<'_>) {
            self.0
                .push(format!("item {} nested={}", cx.item, cx.nested));
        }
        fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
            if let Expr::MethodCall(m) = expr {
                self.0.push(format!("{} in {}", m.method, cx.item));
            }
        }
    }

    fn record(code: &str) -> Vec<String> {
        let file = syn::parse_file(code).unwrap_or_else(|e| panic!("{e}"));
        let mut rec = Record::default();
        walk(&file, &mut rec);
        rec.0
    }

    #[test]
    fn subjects_follow_items_impls_and_inline_modules() {
        let got = record(
            r#"
            fn top() { a.one(); fn inner() { a.two(); } let f = || a.three(); }
            impl<T> Trait for &Store<T> { fn get(&self) { a.four(); } }
            trait Api { fn call(&self) { a.five(); } const N: u8 = a.six(); }
            mod m { pub mod n { impl S { fn go() { println!("{}", a.seven()); } } } }
            static S: u8 = a.eight();
            "#,
        );
        let want = [
            "item top nested=false",
            "one in top",
            "item top nested=true",
            "two in top",
            "three in top",
            "item Store nested=false",
            "item Store::get nested=false",
            "four in Store::get",
            "item Api nested=false",
            "item Api::call nested=false",
            "five in Api::call",
            "item Api::N nested=false",
            "six in Api::N",
            "item m nested=false",
            "item m::n nested=false",
            "item m::n::S nested=false",
            "item m::n::S::go nested=false",
            "seven in m::n::S::go",
            "item S nested=false",
            "eight in S",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn test_code_is_never_walked() {
        let got = record(
            r#"
            #[cfg(test)] mod tests { fn a() { x.no(); } }
            #[cfg(all(unix, test))] fn b() { x.no(); }
            #[cfg(any(test, feature = "testing"))] fn c() { x.no(); }
            #[test] fn d() { x.no(); }
            #[tokio::test] async fn e() { x.no(); }
            #[rstest] fn f() { x.no(); }
            impl S { #[test] fn g() { x.no(); } #[cfg(test)] const H: u8 = x.no(); }
            #[cfg(not(test))] fn kept() { x.yes(); }
            #[cfg(feature = "test-utils")] fn also_kept() { x.yes(); }
            "#,
        );
        let calls: Vec<&String> = got.iter().filter(|l| !l.starts_with("item ")).collect();
        assert_eq!(calls, ["yes in kept", "yes in also_kept"]);
    }
}
