//! Subject patterns of claims: `*` matches any run of characters without `/`, `**` any run
//! at all (so `repo/**` covers every subject of the repository, `repo/server/*::bind` one
//! item name in every module file directly under `server`).

/// True when `subject` matches `pattern` whole.
pub fn matches(pattern: &str, subject: &str) -> bool {
    match_from(pattern.as_bytes(), subject.as_bytes())
}

/// One piece of a pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    Byte(u8),
    /// `*`: any run without `/`.
    Star,
    /// `**`: any run.
    DoubleStar,
}

fn pieces(pattern: &[u8]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        match (pattern[i], pattern.get(i + 1)) {
            (b'*', Some(b'*')) => {
                out.push(Piece::DoubleStar);
                i += 2;
            }
            (b'*', _) => {
                out.push(Piece::Star);
                i += 1;
            }
            (b, _) => {
                out.push(Piece::Byte(b));
                i += 1;
            }
        }
    }
    out
}

/// Dynamic programming over (piece, byte): `can[j]` says whether the pieces seen so far can
/// match the subject's first `j` bytes. O(pattern × subject) time, O(subject) space, never
/// exponential and never wrong about which star eats what (a greedy matcher that backtracks
/// only to the last star misses `**/*::f` against `a/b::f`).
fn match_from(pattern: &[u8], subject: &[u8]) -> bool {
    let n = subject.len();
    let mut can = vec![false; n + 1];
    can[0] = true;
    for piece in pieces(pattern) {
        let mut next = vec![false; n + 1];
        match piece {
            Piece::Byte(b) => {
                for j in 0..n {
                    next[j + 1] = can[j] && subject[j] == b;
                }
            }
            Piece::Star | Piece::DoubleStar => {
                let crosses = piece == Piece::DoubleStar;
                next[0] = can[0];
                for j in 0..n {
                    // Either the star stops here, or it eats byte j as well.
                    next[j + 1] = can[j + 1] || (next[j] && (crosses || subject[j] != b'/'));
                }
            }
        }
        can = next;
    }
    can[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, subject: &str, want: bool) {
        assert_eq!(
            matches(pattern, subject),
            want,
            "{pattern} against {subject}"
        );
    }

    #[test]
    fn stars_and_double_stars() {
        check("repo/a::f", "repo/a::f", true);
        check("repo/a::f", "repo/a::g", false);
        check("repo/**", "repo/a/b::f", true);
        check("repo/**", "repo", false);
        check("**", "anything/at/all", true);
        check("repo/*::f", "repo/a::f", true);
        check("repo/*::f", "repo/a/b::f", false);
        check("repo/*/serve::*", "repo/server/serve::run", true);
        check("repo/**::bind", "repo/x/y::bind", true);
        check("repo/**::bind", "repo/x/y::bind_all", false);
        check("repo/a*", "repo/abc", true);
        check("repo/a*", "repo/a/b", false);
        check("*", "", true);
        check("", "x", false);
        check("a**b", "a/x/b", true);
        check("a*b", "a/b", false);
    }

    /// The matcher against a plain recursive reference over every short pattern and subject
    /// from a small alphabet (exhaustive, so a regression cannot hide behind a seed).
    #[test]
    fn agrees_with_a_recursive_reference() {
        fn reference(p: &[u8], s: &[u8]) -> bool {
            match p {
                [] => s.is_empty(),
                [b'*', b'*', rest @ ..] => (0..=s.len()).any(|k| reference(rest, &s[k..])),
                [b'*', rest @ ..] => (0..=s.len())
                    .take_while(|&k| k == 0 || s[k - 1] != b'/')
                    .any(|k| reference(rest, &s[k..])),
                [c, rest @ ..] => s.first() == Some(c) && reference(rest, &s[1..]),
            }
        }
        fn all(alphabet: &[u8], len_max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![vec![]];
            let mut last = vec![vec![]];
            for _ in 0..len_max {
                let grown: Vec<Vec<u8>> = last
                    .iter()
                    .flat_map(|w: &Vec<u8>| {
                        alphabet.iter().map(move |&c| [w.as_slice(), &[c]].concat())
                    })
                    .collect();
                out.extend(grown.iter().cloned());
                last = grown;
            }
            out
        }
        let patterns = all(b"a/*", 5);
        let subjects = all(b"a/", 5);
        for p in &patterns {
            for s in &subjects {
                assert_eq!(
                    match_from(p, s),
                    reference(p, s),
                    "{:?} against {:?}",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(s)
                );
            }
        }
    }

    #[test]
    fn stars_before_double_stars_and_after() {
        check("**/*::f", "repo/a/b::f", true);
        check("repo/**/*.rs", "repo/a/b/c.rs", true);
        check("demo/**/*.sh", "demo/deploy/a/b/bad.sh", true);
        check("demo/**/*.sh", "demo/deploy/a/b/bad.py", false);
    }
}
