//! Helpers shared by the configuration extractors: finding the line of a TOML or JSON key
//! (the parsers keep no spans), and turning TOML values into JSON.
use std::collections::HashMap;

use serde_json::Value;

use crate::observe::line_at;

/// Separates path segments in the index keys: a TOML key may itself hold a dot.
const SEP: &str = "\u{0}";

/// The line on which each TOML key path is first written, read with a line grammar: table
/// headers (arrays of tables numbered as the parser numbers them) and `key = value` lines.
pub struct TomlLines {
    /// Every prefix of every written path → the first line writing under it.
    under: HashMap<String, usize>,
    /// Every written path (header or key) → the first line writing exactly it.
    exact: HashMap<String, usize>,
}

impl TomlLines {
    pub fn new(text: &str) -> Self {
        let mut index = TomlLines {
            under: HashMap::new(),
            exact: HashMap::new(),
        };
        let mut header: Vec<String> = Vec::new();
        let mut tables: HashMap<String, usize> = HashMap::new();
        let mut in_multiline = false;
        for (i, raw) in text.lines().enumerate() {
            // Lines inside a multi-line string are text, not keys.
            let was_inside = in_multiline;
            if raw.matches("\"\"\"").count() % 2 == 1 || raw.matches("'''").count() % 2 == 1 {
                in_multiline = !in_multiline;
            }
            if was_inside {
                continue;
            }
            let Some(path) = line_path(raw.trim_start(), &mut header, &mut tables) else {
                continue;
            };
            index.record(&path, i + 1);
        }
        index
    }

    fn record(&mut self, path: &[String], line: usize) {
        self.exact.entry(path.join(SEP)).or_insert(line);
        for end in 1..=path.len() {
            self.under.entry(path[..end].join(SEP)).or_insert(line);
        }
    }

    /// The first line writing `path` or a key under it; else the line writing its longest
    /// written prefix (a key inside an inline table); else 1.
    pub fn line<S: AsRef<str>>(&self, path: &[S]) -> usize {
        let parts: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
        if let Some(&line) = self.under.get(&parts.join(SEP)) {
            return line;
        }
        (1..parts.len())
            .rev()
            .find_map(|end| self.exact.get(&parts[..end].join(SEP)).copied())
            .unwrap_or(1)
    }
}

/// The full key path a line writes: a header's path (which becomes the current table), or
/// the current table plus a `key = value` line's key.
fn line_path(
    line: &str,
    header: &mut Vec<String>,
    tables: &mut HashMap<String, usize>,
) -> Option<Vec<String>> {
    if let Some(rest) = line.strip_prefix("[[") {
        let segments = split_key(until_outside_quotes(rest, ']')?)?;
        *header = resolve(&segments, true, tables);
        return Some(header.clone());
    }
    if let Some(rest) = line.strip_prefix('[') {
        let segments = split_key(until_outside_quotes(rest, ']')?)?;
        *header = resolve(&segments, false, tables);
        return Some(header.clone());
    }
    let mut path = header.clone();
    path.extend(split_key(until_outside_quotes(line, '=')?)?);
    Some(path)
}

/// A header's segments with the current index inserted after every array of tables, as the
/// parser nests them (`[[a]]` then `[a.b]` is `a.<last index>.b`).
fn resolve(segments: &[String], array: bool, tables: &mut HashMap<String, usize>) -> Vec<String> {
    let mut resolved: Vec<String> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        resolved.push(segment.clone());
        let key = resolved.join(SEP);
        if array && i + 1 == segments.len() {
            let index = tables.get(&key).map_or(0, |n| n + 1);
            tables.insert(key, index);
            resolved.push(index.to_string());
        } else if let Some(index) = tables.get(&key) {
            resolved.push(index.to_string());
        }
    }
    resolved
}

/// The part of `s` before the first `stop` outside quotes; `None` when there is none or a
/// comment starts first.
fn until_outside_quotes(s: &str, stop: char) -> Option<&str> {
    let mut quote: Option<char> = None;
    for (at, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return None,
            (None, _) if c == stop => return Some(&s[..at]),
            _ => {}
        }
    }
    None
}

/// A dotted TOML key's segments (`a."b.c".d` → `a`, `b.c`, `d`); `None` when it is not a
/// key (so a continuation line of an array is not mistaken for a header).
pub fn split_key(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    loop {
        let (segment, after) = match rest.chars().next()? {
            q @ ('"' | '\'') => {
                let end = rest[1..].find(q)? + 1;
                (rest[1..end].to_owned(), &rest[end + 1..])
            }
            _ => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return None;
                }
                (rest[..end].to_owned(), &rest[end..])
            }
        };
        out.push(segment);
        let after = after.trim_start();
        if after.is_empty() {
            return Some(out);
        }
        rest = after.strip_prefix('.')?.trim_start();
    }
}

/// A TOML scalar or array of scalars as JSON (datetimes as their TOML text); `None` for a
/// table, or a float JSON cannot hold (nan, inf).
pub fn toml_to_json(value: &toml::Value) -> Option<Value> {
    match value {
        toml::Value::String(s) => Some(Value::from(s.as_str())),
        toml::Value::Integer(n) => Some(Value::from(*n)),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number),
        toml::Value::Boolean(b) => Some(Value::Bool(*b)),
        toml::Value::Datetime(d) => Some(Value::from(d.to_string())),
        toml::Value::Array(items) => items.iter().map(toml_to_json).collect(),
        toml::Value::Table(_) => None,
    }
}

/// True for a TOML value that is neither a table nor an array.
pub fn is_scalar(value: &toml::Value) -> bool {
    !matches!(value, toml::Value::Table(_) | toml::Value::Array(_))
}

/// The 1-based line of the JSON key path `keys`, found by searching for each `"key":` in
/// turn after the previous one; the line of the last one found, or 1.
pub fn json_line(text: &str, keys: &[&str]) -> usize {
    let mut from = 0;
    let mut line = 1;
    for key in keys {
        let Some(at) = find_json_key(text, from, key) else {
            break;
        };
        line = line_at(text, at);
        from = at + key.len();
    }
    line
}

fn find_json_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let quoted = serde_json::to_string(key).ok()?;
    let mut start = from;
    while let Some(found) = text.get(start..)?.find(&quoted) {
        let at = start + found;
        let after = &text[at + quoted.len()..];
        if after.trim_start().starts_with(':') {
            return Some(at);
        }
        start = at + quoted.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_lines_find_keys_under_headers_dotted_keys_and_arrays_of_tables() {
        let text = "top = 1\n[a]\nx = 2\nb.c = 3\n[[s]]\nh = 1\n[[s]]\nh = 2\n[s.t]\nk = 1\n\
                    [d]\nin = { q = 1 }\n";
        let lines = TomlLines::new(text);
        assert_eq!(lines.line(&["top"]), 1);
        assert_eq!(lines.line(&["a"]), 2);
        assert_eq!(lines.line(&["a", "x"]), 3);
        assert_eq!(lines.line(&["a", "b", "c"]), 4);
        assert_eq!(lines.line(&["s", "0", "h"]), 6);
        assert_eq!(lines.line(&["s", "1", "h"]), 8);
        assert_eq!(lines.line(&["s", "1", "t", "k"]), 10);
        assert_eq!(lines.line(&["d", "in", "q"]), 12);
        assert_eq!(lines.line(&["nowhere"]), 1);
    }

    #[test]
    fn split_key_reads_quoted_segments_and_refuses_non_keys() {
        assert_eq!(
            split_key(" a.\"b.c\" . d "),
            Some(vec!["a".to_owned(), "b.c".to_owned(), "d".to_owned()])
        );
        assert_eq!(split_key("1, 2"), None);
        assert_eq!(split_key(""), None);
    }

    #[test]
    fn json_line_follows_the_key_path() {
        let text = "{\n  \"name\": \"x\",\n  \"deps\": {\n    \"name\": \"1\"\n  }\n}\n";
        assert_eq!(json_line(text, &["deps", "name"]), 4);
        assert_eq!(json_line(text, &["name"]), 2);
        assert_eq!(json_line(text, &["missing"]), 1);
    }
}
