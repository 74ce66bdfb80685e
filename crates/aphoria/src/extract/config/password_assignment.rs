//! The `password_assignment` kind of the `secrets` extractor: a literal credential assigned to
//! a credential's name (`name = "…"`, `name: "…"`, `"name": "…"`, `NAME="…"`), judged by the
//! name's segments and the literal's shape, since no format tells a password apart.

/// Name segments that make an assignment a credential.
const SECRET_WORDS: [&str; 5] = ["password", "passwd", "secret", "apikey", "token"];

/// A last name segment saying the value is about a credential, not the credential itself
/// (`token_url`, `password_file`, `secret_name`).
const QUALIFIERS: [&str; 18] = [
    "url", "uri", "endpoint", "file", "path", "dir", "name", "env", "var", "header", "type",
    "kind", "field", "label", "prompt", "id", "hash", "length",
];

/// Text in a literal marking it as a stand-in, not a real credential.
const PLACEHOLDERS: [&str; 8] = [
    "example",
    "changeme",
    "placeholder",
    "xxxx",
    "your",
    "dummy",
    "redacted",
    "test",
];

/// True when the line assigns a plausible literal credential to a credential's name:
/// `name = "…"`, `name: "…"`, `"name": "…"`, `NAME="…"`.
pub fn has_password_assignment(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let next = bytes.get(i + 1).copied();
        let assigns = match b {
            b'=' => {
                !matches!(before, Some(b'=' | b'!' | b'<' | b'>' | b':'))
                    && !matches!(next, Some(b'=' | b'>' | b'~'))
            }
            b':' => before != Some(b':') && !matches!(next, Some(b':' | b'=')),
            _ => false,
        };
        assigns
            && name_before(&line[..i]).is_some_and(is_secret_name)
            && literal_after(&line[i + 1..]).is_some_and(is_plausible_secret)
    })
}

/// The name assigned to: the key or identifier just before the `=` or `:`.
fn name_before(s: &str) -> Option<&str> {
    let s = s.trim_end();
    let s = match s.strip_suffix(['"', '\'']) {
        Some(inner) => inner,
        None => s,
    };
    // Past the last character that cannot be in a name (which may be several bytes long).
    let start = s
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(0, |(at, c)| at + c.len_utf8());
    let name = &s[start..];
    (!name.is_empty()).then_some(name)
}

/// The text of the quoted literal starting the rest of the line, if it does.
fn literal_after(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let quote = s.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let body = &s[1..];
    let mut escaped = false;
    for (at, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            _ if c == quote => return Some(&body[..at]),
            _ => {}
        }
    }
    None
}

/// A name's segments (split at `_`, `-` and camelCase humps, lower-cased) name a credential.
fn is_secret_name(name: &str) -> bool {
    let segments = segments(name);
    let Some(last) = segments.last() else {
        return false;
    };
    if QUALIFIERS.contains(&last.as_str()) {
        return false;
    }
    let api_key = segments.windows(2).any(|w| w[0] == "api" && w[1] == "key");
    api_key || segments.iter().any(|s| SECRET_WORDS.contains(&s.as_str()))
}

fn segments(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        let hump = c.is_ascii_uppercase() && previous_lower;
        if (c == '_' || c == '-' || hump) && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if c != '_' && c != '-' {
            current.push(c.to_ascii_lowercase());
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A literal that could be a real credential: long enough, one word, not interpolated, not a
/// placeholder, not a URL or path, not an identifier such as an environment variable's name.
fn is_plausible_secret(literal: &str) -> bool {
    let lower = literal.to_ascii_lowercase();
    let first = literal.chars().next();
    literal.chars().count() >= 8
        && !literal.contains(|c: char| c.is_whitespace() || matches!(c, '$' | '{' | '<' | '%'))
        && !PLACEHOLDERS.iter().any(|p| lower.contains(p))
        && !literal.contains("://")
        && !matches!(first, Some('/' | '.' | '~'))
        && !literal.chars().all(|c| Some(c) == first)
        && !is_identifier_like(literal)
}

/// Letters of one case with separators and no digit (`STEMEDB_TOKEN`, `x-api-token`): a
/// name, not a generated credential.
fn is_identifier_like(literal: &str) -> bool {
    let words = literal
        .chars()
        .all(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '-' | '.'));
    let one_case = !literal.chars().any(|c| c.is_ascii_uppercase())
        || !literal.chars().any(|c| c.is_ascii_lowercase());
    words && one_case
}

#[cfg(test)]
mod tests {
    //! The credential-shaped fixtures are assembled at run time, so that this file, scanned
    //! with the rest of the repository, holds none.
    use super::has_password_assignment;

    fn secret() -> String {
        format!("{}{}", "s3cr3t", "Pa55w0rd")
    }

    fn assign(name: &str, sep: &str, literal: &str) -> String {
        format!("{name}{sep}\"{literal}\"")
    }

    #[test]
    fn assignments_in_their_spellings() {
        let secret = secret();
        let lines = [
            assign("    let db_password", " = ", &secret),
            assign("  \"apiKey\"", ": ", &secret),
            assign("client-secret", ": ", &secret),
            assign("DB_PASSWORD", "=", &secret),
            format!("export API_TOKEN='{secret}'"),
            assign("config.auth.passwd", " = ", &secret),
            assign("\u{e9}t\u{e9}_password", " = ", &secret),
        ];
        for line in &lines {
            assert!(has_password_assignment(line), "missed: {line}");
        }
    }

    #[test]
    fn decoys() {
        let secret = secret();
        let lines = [
            // Placeholders, interpolation, short, spaced or one-character literals.
            "password = \"changeme\"".to_owned(),
            "db_password = \"<your password here>\"".to_owned(),
            "DB_PASSWORD=\"${DB_PASSWORD}\"".to_owned(),
            "api_key = \"xxxxxxxxxxxxxxxx\"".to_owned(),
            "password = \"Test1234567\"".to_owned(),
            "token = \"abc123\"".to_owned(),
            "secret: \"two words1\"".to_owned(),
            "password = \"********\"".to_owned(),
            // About a credential, not one: its URL, file, variable or header name.
            "token_url = \"https://auth.example.org/oauth2/token\"".to_owned(),
            "password_file = \"/run/secrets/db\"".to_owned(),
            "let token_env = \"STEMEDB_API_TOKEN\";".to_owned(),
            "token = \"STEMEDB_API_TOKEN\"".to_owned(),
            "header = \"x-stemedb-token\"".to_owned(),
            // A comparison, a name that only contains a credential word, no literal.
            assign("if password ", "==", &secret),
            assign("tokenizer", " = ", &secret),
            format!("password = {secret}"),
            "const ms = (s) => (s === null ? \"\u{2014}\" : s);".to_owned(),
        ];
        for line in &lines {
            assert!(!has_password_assignment(line), "flagged: {line}");
        }
    }
}
