//! The line grammar of Dockerfiles: instructions with their continuation lines joined,
//! comments and blank lines dropped, heredoc bodies skipped, and the `escape` parser
//! directive obeyed.

/// One instruction, its continuation lines joined.
#[derive(Debug, PartialEq)]
pub struct Instruction {
    /// The line of its first word.
    pub line: usize,
    /// Upper case.
    pub keyword: String,
    pub args: String,
}

/// The instructions of `text`.
pub fn instructions(text: &str) -> Vec<Instruction> {
    let escape = escape_char(text);
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    let mut heredocs: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if let Some(end) = heredocs.first() {
            if trimmed == end {
                heredocs.remove(0);
            }
            continue;
        }
        // Comment and blank lines end nothing: Docker drops them even inside continuations.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix(escape) {
            Some(body) => (body.trim_end(), true),
            None => (trimmed, false),
        };
        match &mut pending {
            Some((_, joined)) => {
                joined.push(' ');
                joined.push_str(body);
            }
            None => pending = Some((i + 1, body.to_owned())),
        }
        if !continues && let Some((line, joined)) = pending.take() {
            let instruction = parse(line, &joined);
            heredocs.extend(heredoc_ends(&instruction));
            out.push(instruction);
        }
    }
    out.extend(pending.map(|(line, joined)| parse(line, &joined)));
    out
}

/// The escape character: `\` unless a parser directive at the top says `# escape=``.
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") && value.trim() == "`" {
            return '`';
        }
    }
    '\\'
}

fn parse(line: usize, joined: &str) -> Instruction {
    let (keyword, args) = joined
        .split_once(char::is_whitespace)
        .unwrap_or((joined, ""));
    Instruction {
        line,
        keyword: keyword.to_ascii_uppercase(),
        args: args.trim().to_owned(),
    }
}

/// The words ending the heredocs (`<<EOF`, `<<-"EOF"`) an instruction opens, in order.
fn heredoc_ends(instruction: &Instruction) -> Vec<String> {
    if !matches!(instruction.keyword.as_str(), "RUN" | "COPY" | "ADD") {
        return Vec::new();
    }
    instruction
        .args
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("<<"))
        .map(|word| word.trim_start_matches('-').trim_matches(['"', '\'']))
        .filter(|word| {
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::instructions;

    fn read(text: &str) -> Vec<(usize, String, String)> {
        instructions(text)
            .into_iter()
            .map(|i| (i.line, i.keyword, i.args))
            .collect()
    }

    fn want(list: &[(usize, &str, &str)]) -> Vec<(usize, String, String)> {
        list.iter()
            .map(|(l, k, a)| (*l, (*k).to_owned(), (*a).to_owned()))
            .collect()
    }

    #[test]
    fn continuations_comments_and_heredocs() {
        let text = "FROM a\nrun make \\\n  # inside\n\n  install\nRUN <<-\"END\" cat\nUSER x\n\tEND\nuser y\n";
        let found = read(text);
        let expected = [
            (1, "FROM", "a"),
            (2, "RUN", "make install"),
            (6, "RUN", "<<-\"END\" cat"),
            (9, "USER", "y"),
        ];
        assert_eq!(found, want(&expected));
    }

    #[test]
    fn the_escape_directive() {
        let text = "# escape=`\nFROM windows `\n  AS base\nRUN dir \\\nUSER admin\n";
        let expected = [
            (2, "FROM", "windows AS base"),
            (4, "RUN", "dir \\"),
            (5, "USER", "admin"),
        ];
        assert_eq!(read(text), want(&expected));
    }
}
