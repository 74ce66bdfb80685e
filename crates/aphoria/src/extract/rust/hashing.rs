//! `hashing`: which password hashes (argon2, bcrypt, scrypt, pbkdf2) and which digests (md5,
//! sha1, sha256, sha512, blake3) each fn uses, read from the paths it names.
use syn::Expr;

use super::syntax::idents;
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const PASSWORD: &str = "crypto.password_hash";
const HASH: &str = "crypto.hash";

/// Crate names (here and `md5`, `sha1` below): they count as a module segment (`bcrypt::hash`), never as the last
/// segment, so a local fn `bcrypt()` is not a password hash.
const PASSWORD_MODULES: [&str; 4] = ["argon2", "bcrypt", "scrypt", "pbkdf2"];
const BLAKE3_FNS: [&str; 4] = ["hash", "Hasher", "keyed_hash", "derive_key"];

/// Lists password hashes and digests used per fn outside tests.
pub struct Hashing;

/// The (predicate, algorithm) pairs a path names.
fn algorithms(names: &[String]) -> Vec<(&'static str, &'static str)> {
    let modules = names.split_last().map_or(&[][..], |(_, init)| init);
    let module = |m: &str| modules.iter().any(|s| s == m);
    let any = |n: &str| names.iter().any(|s| s == n);
    let mut found = Vec::new();
    for m in PASSWORD_MODULES {
        if module(m) {
            found.push((PASSWORD, m));
        }
    }
    if any("Argon2") && !module("argon2") {
        found.push((PASSWORD, "argon2"));
    }
    if any("pbkdf2_hmac") && !module("pbkdf2") {
        found.push((PASSWORD, "pbkdf2"));
    }
    let hashes = [
        ("md5", module("md5") || any("Md5")),
        ("sha1", module("sha1") || any("Sha1")),
        ("sha256", any("Sha256") || any("SHA256")),
        ("sha512", any("Sha512") || any("SHA512")),
        (
            "blake3",
            names
                .windows(2)
                .any(|w| w[0] == "blake3" && BLAKE3_FNS.contains(&w[1].as_str())),
        ),
    ];
    found.extend(
        hashes
            .into_iter()
            .filter(|(_, hit)| *hit)
            .map(|(alg, _)| (HASH, alg)),
    );
    found
}

#[derive(Default)]
struct Finder {
    tally: Tally,
}

/// A path and the type paths in its generic arguments (`Hmac::<Sha256>::new`,
/// `pbkdf2_hmac::<Sha1>`): a digest is often named only as a type parameter.
fn with_type_args(path: &syn::Path) -> Vec<&syn::Path> {
    let mut paths = vec![path];
    for segment in &path.segments {
        let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
            continue;
        };
        for arg in &args.args {
            if let syn::GenericArgument::Type(syn::Type::Path(t)) = arg {
                paths.extend(with_type_args(&t.path));
            }
        }
    }
    paths
}

impl Hook for Finder {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        let Expr::Path(p) = expr else { return };
        let line = p
            .path
            .segments
            .first()
            .map_or(1, |s| line_of(s.ident.span()));
        for path in with_type_args(&p.path) {
            for (pred, alg) in algorithms(&idents(path)) {
                self.tally.list(cx.item, pred, line, alg);
            }
        }
    }
}

impl Extractor for Hashing {
    fn name(&self) -> &'static str {
        "hashing"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[PASSWORD, HASH]
    }

    fn describe(&self) -> &'static str {
        "Lists the password hashes (argon2, bcrypt, scrypt, pbkdf2) and digests (md5, sha1, sha256, sha512, blake3) each fn outside tests uses."
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

    use super::Hashing;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn store(pw: &[u8]) -> String {
            let salt = SaltString::generate(&mut OsRng);
            let h = Argon2::default().hash_password(pw, &salt);
            let b = bcrypt::hash(pw, bcrypt::DEFAULT_COST);
            h.to_string()
        }
        pub fn derive(pw: &[u8], out: &mut [u8]) {
            pbkdf2_hmac::<Sha256>(pw, b"salt", 600_000, out);
            scrypt::scrypt(pw, b"s", &params, out);
        }
        pub fn digest(data: &[u8]) {
            let a = Sha256::digest(data);
            let b = sha2::Sha512::digest(data);
            let c = blake3::hash(data);
            let d = md5::compute(data);
            let e = Sha1::new();
            let f = ring::digest::digest(&ring::digest::SHA256, data);
        }
        pub fn mac(key: &[u8]) { let m = Hmac::<sha1::Sha1>::new_from_slice(key); }
        pub fn lookalikes(h: Hasher) {
            let a = hash(b"x");
            let b = bcrypt();
            let c = h.sha256_hex();
            let d = my::blake3();
            let name = "argon2";
        }
        #[cfg(test)]
        mod tests {
            fn f() { md5::compute(b"x"); }
        }
    "#;

    #[test]
    fn lists_hashes_per_fn() {
        let e = Hashing;
        let list = |l: &[&str]| json!(l);
        check(
            &e,
            "src/auth.rs",
            CODE,
            &[
                (
                    "repo/demo/auth::store",
                    "crypto.password_hash",
                    list(&["argon2", "bcrypt"]),
                ),
                (
                    "repo/demo/auth::derive",
                    "crypto.password_hash",
                    list(&["pbkdf2", "scrypt"]),
                ),
                ("repo/demo/auth::derive", "crypto.hash", list(&["sha256"])),
                ("repo/demo/auth::mac", "crypto.hash", list(&["sha1"])),
                (
                    "repo/demo/auth::digest",
                    "crypto.hash",
                    list(&["blake3", "md5", "sha1", "sha256", "sha512"]),
                ),
            ],
        );
        check(&e, "tests/auth.rs", CODE, &[]);
    }
}
