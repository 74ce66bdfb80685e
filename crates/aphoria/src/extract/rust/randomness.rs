//! `randomness`: which random number generators each fn uses — the OS's, a thread-local
//! CSPRNG, a seeded (reproducible) one, or a small non-cryptographic one.
use syn::Expr;

use super::syntax::idents;
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const RNG: &str = "crypto.rng";

/// Lists the kinds of RNG used per fn outside tests.
pub struct Randomness;

/// The kind of generator a path in an expression names, if any. Names that are common words
/// (`random`, `rng`) count only under `rand::`.
fn kind_of(names: &[String]) -> Option<&'static str> {
    let has = |n: &str| names.iter().any(|s| s == n);
    let first = names.first().map(String::as_str);
    let last = names.last().map(String::as_str);
    let under_rand = names.len() >= 2 && names[names.len() - 2] == "rand";
    if has("OsRng") || first == Some("getrandom") {
        Some("os")
    } else if last == Some("thread_rng") || (under_rand && matches!(last, Some("random" | "rng"))) {
        Some("thread")
    } else if last == Some("seed_from_u64") || (last == Some("from_seed") && rng_type(names)) {
        Some("seeded")
    } else if has("SmallRng") || (first == Some("fastrand") && names.len() >= 2) {
        Some("small")
    } else {
        None
    }
}

/// Generator type-name prefixes of the rand ecosystem (`ChaCha20Rng`, `Pcg64`, `Xoshiro256`).
const RNG_PREFIXES: [&str; 7] = [
    "ChaCha", "Pcg", "Xoshiro", "Xorshift", "Isaac", "Hc128", "SplitMix",
];

/// True when the segment before `from_seed` names a generator type: `from_seed` is also how
/// keys are made from seed bytes (`SigningKey::from_seed`), which is no RNG.
fn rng_type(names: &[String]) -> bool {
    let Some([ty, _]) = names.get(names.len().saturating_sub(2)..) else {
        return false;
    };
    ty.ends_with("Rng") || RNG_PREFIXES.iter().any(|p| ty.starts_with(p))
}

#[derive(Default)]
struct Finder {
    tally: Tally,
}

impl Hook for Finder {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        let Expr::Path(p) = expr else { return };
        if let Some(kind) = kind_of(&idents(&p.path)) {
            let line = p
                .path
                .segments
                .first()
                .map_or(1, |s| line_of(s.ident.span()));
            self.tally.list(cx.item, RNG, line, kind);
        }
    }
}

impl Extractor for Randomness {
    fn name(&self) -> &'static str {
        "randomness"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[RNG]
    }

    fn describe(&self) -> &'static str {
        "Lists the random number generators (os, thread, seeded, small) each fn outside tests uses."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut finder = Finder::default();
        if walk_input(input, &mut finder) {
            finder.tally.emit(input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Randomness;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn key() -> [u8; 32] {
            let mut k = [0u8; 32];
            OsRng.fill_bytes(&mut k);
            getrandom::fill(&mut k).ok();
            k
        }
        pub fn nonce() -> u64 { rand::random::<u64>() ^ rand::thread_rng().next_u64() }
        pub fn modern() -> u64 { rand::rng().random() }
        pub fn sim() -> u64 {
            let mut a = StdRng::seed_from_u64(42);
            let b = ChaCha8Rng::from_seed([0; 32]);
            let c = Pcg64::from_seed([0; 32]);
            let c = SmallRng::from_entropy();
            a.next_u64() + fastrand::u64(..)
        }
        pub fn lookalikes() -> u64 {
            let r = random();
            let s = util::random(3);
            let t = my::rng();
            let thread_rng_count = 3;
            let key = SigningKey::from_seed(&[0; 32]);
            let other = from_seed(1);
            let os = "OsRng";
            r + s
        }
        mod util { pub fn random(n: u64) -> u64 { n } }
        #[cfg(test)]
        mod tests {
            fn f() { let r = StdRng::seed_from_u64(1); rand::random::<u8>(); }
        }
    "#;

    #[test]
    fn lists_rng_kinds_per_fn() {
        let e = Randomness;
        let list = |l: &[&str]| json!(l);
        check(
            &e,
            "src/keys.rs",
            CODE,
            &[
                ("repo/demo/keys::key", "crypto.rng", list(&["os"])),
                ("repo/demo/keys::nonce", "crypto.rng", list(&["thread"])),
                ("repo/demo/keys::modern", "crypto.rng", list(&["thread"])),
                (
                    "repo/demo/keys::sim",
                    "crypto.rng",
                    list(&["seeded", "small"]),
                ),
            ],
        );
        check(&e, "tests/keys.rs", CODE, &[]);
    }
}
