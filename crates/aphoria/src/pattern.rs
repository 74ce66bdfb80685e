//! Subject patterns of claims: `*` matches any run of characters without `/`, `**` any run
//! at all (so `repo/**` covers every subject of the repository, `repo/server/*::bind` one
//! item name in every module file directly under `server`).

/// True when `subject` matches `pattern` whole.
pub fn matches(pattern: &str, subject: &str) -> bool {
    match_from(pattern.as_bytes(), subject.as_bytes())
}

/// Iterative glob match with backtracking to the last star (linear in practice, never
/// exponential: a `**` resets the saved position, as in the classic wildcard algorithm).
fn match_from(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    // The last star seen: (pattern index after it, subject index it stands at, crosses '/').
    let mut star: Option<(usize, usize, bool)> = None;
    while s < subject.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            let double = pattern.get(p + 1) == Some(&b'*');
            let after = if double { p + 2 } else { p + 1 };
            star = Some((after, s, double));
            p = after;
            continue;
        }
        if p < pattern.len() && pattern[p] == subject[s] {
            p += 1;
            s += 1;
            continue;
        }
        match star {
            // Let the last star eat one more character, if it may.
            Some((after, at, crosses)) if crosses || subject[at] != b'/' => {
                star = Some((after, at + 1, crosses));
                p = after;
                s = at + 1;
            }
            _ => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// True when some subject could match both patterns, judged conservatively: equal patterns,
/// or one matching the other read as a subject (`repo/**` overlaps `repo/a/*`).
pub fn overlaps(a: &str, b: &str) -> bool {
    a == b || matches(a, b) || matches(b, a)
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

    #[test]
    fn overlap_is_symmetric_containment() {
        assert!(overlaps("repo/**", "repo/a/*"));
        assert!(overlaps("repo/a/*", "repo/**"));
        assert!(!overlaps("repo/a/**", "repo/b/**"));
    }
}
