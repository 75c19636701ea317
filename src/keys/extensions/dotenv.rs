//! The extension `.env` file: `KEY=value` lines that llxprt-code and dotenv
//! readers understand, edited in place so that lines keyshell does not own
//! (comments, variables the manifest does not declare) survive byte for byte.
//!
//! Writing: a value with white space, `"`, `'`, `\` or `#` is double-quoted,
//! with `\`, `"`, newline and carriage return escaped. Reading undoes exactly
//! that, and also accepts what people and llxprt write by hand: `export `,
//! single quotes, multi-line double quotes, and ` # comments` after a value.
//! Nothing here touches the disk.

/// One logical line: its text as found (several physical lines for a
/// multi-line quoted value) and, when it assigns a variable, the assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    text: String,
    entry: Option<(String, String)>,
}

/// A parsed `.env`, ready to be edited and written back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvFile {
    lines: Vec<Line>,
    changed: bool,
}

impl EnvFile {
    pub fn parse(text: &str) -> EnvFile {
        let mut lines = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (line, consumed) = parse_line(rest);
            lines.push(line);
            rest = &rest[consumed..];
        }
        EnvFile {
            lines,
            changed: false,
        }
    }

    /// The value of `key`; the last assignment wins, as in dotenv.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .last()
    }

    /// Sets `key`, in place of its first assignment (later duplicates are
    /// dropped) or at the end.
    pub fn set(&mut self, key: &str, value: &str) {
        let text = format_line(key, value);
        let line = Line {
            text,
            entry: Some((key.to_string(), value.to_string())),
        };
        match self.lines.iter().position(|l| assigns(l, key)) {
            Some(first) => {
                self.lines[first] = line;
                let mut seen = 0;
                self.lines.retain(|l| {
                    if !assigns(l, key) {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => self.lines.push(line),
        }
        self.changed = true;
    }

    /// Removes every assignment of `key`; `true` if there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| !assigns(l, key));
        let removed = self.lines.len() != before;
        self.changed |= removed;
        removed
    }

    /// Whether `set` or `remove` changed anything since parsing.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// Whether any variable is assigned (comments alone do not count).
    pub fn has_entries(&self) -> bool {
        self.entries().next().is_some()
    }

    /// The file's text: every line, each ending in a newline.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.text);
            text.push('\n');
        }
        text
    }

    fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines
            .iter()
            .filter_map(|l| l.entry.as_ref())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn assigns(line: &Line, key: &str) -> bool {
    line.entry.as_ref().is_some_and(|(k, _)| k == key)
}

/// `KEY=value`, quoting and escaping the value when a reader could misread it.
pub fn format_line(key: &str, value: &str) -> String {
    let needs_quotes = value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'));
    if !needs_quotes {
        return format!("{key}={value}");
    }
    let mut line = String::with_capacity(key.len() + value.len() + 4);
    line.push_str(key);
    line.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '"' => line.push_str("\\\""),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.push('"');
    line
}

/// The logical line at the start of `text` and how many bytes it spans
/// (its newline included).
fn parse_line(text: &str) -> (Line, usize) {
    let end = text.find('\n').unwrap_or(text.len());
    let first = &text[..end];
    let consumed = (end + 1).min(text.len());
    let Some((key, raw_value)) = split_assignment(first) else {
        return (plain_line(first), consumed);
    };
    let value_start = first.len() - raw_value.len();
    if raw_value.starts_with('"')
        && let Some((value, closing)) = unescape_double_quoted(&text[value_start + 1..])
    {
        // The logical line runs to the end of the physical line holding the
        // closing quote; anything after the quote is a comment.
        let after = value_start + 1 + closing;
        let line_end = text[after..].find('\n').map_or(text.len(), |i| after + i);
        let line = Line {
            text: text[..line_end].to_string(),
            entry: Some((key.to_string(), value)),
        };
        return (line, (line_end + 1).min(text.len()));
    }
    let value = match raw_value.strip_prefix('\'') {
        Some(quoted) => match quoted.find('\'') {
            Some(close) => quoted[..close].to_string(),
            None => unquoted(raw_value),
        },
        None => unquoted(raw_value),
    };
    let line = Line {
        text: first.to_string(),
        entry: Some((key.to_string(), value)),
    };
    (line, consumed)
}

fn plain_line(text: &str) -> Line {
    Line {
        text: text.to_string(),
        entry: None,
    }
}

/// `KEY` and the text after `=` (leading blanks removed), for an assignment
/// line; `None` for blank lines, comments and anything else.
fn split_assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    if line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let (key, value) = line.split_once('=')?;
    let key = key.trim_end();
    let valid_key = !key.is_empty() && !key.chars().any(char::is_whitespace);
    valid_key.then(|| (key, value.trim_start()))
}

/// An unquoted value: up to a ` #` comment, without surrounding blanks.
fn unquoted(raw: &str) -> String {
    let mut end = raw.len();
    let mut previous_blank = false;
    for (i, c) in raw.char_indices() {
        if c == '#' && previous_blank {
            end = i;
            break;
        }
        previous_blank = c.is_whitespace();
    }
    raw[..end].trim().to_string()
}

/// The value of a double-quoted string whose opening quote has been consumed,
/// and the byte offset just past its closing quote; `None` if it never closes.
fn unescape_double_quoted(text: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, 't')) => value.push('\t'),
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                // An escape keyshell never writes: keep it as it stands.
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => return None,
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_a_line() {
        for value in [
            "",
            "plain",
            "two words",
            " padded ",
            "say \"hi\"",
            "it's",
            r"C:\dir\",
            "a=b=c",
            "a#b",
            "#start",
            "x # not a comment",
            "line\nbreak\r\n",
            "tab\there",
            r#"\n literally"#,
            "ünïcødé ✓",
        ] {
            let text = format_line("K", value);
            let env = EnvFile::parse(&format!("{text}\n"));
            assert_eq!(env.get("K"), Some(value), "line {text:?}");
        }
    }

    #[test]
    fn hand_written_forms_are_read() {
        let env = EnvFile::parse(concat!(
            "# a comment\n",
            "export EXPORTED=yes\n",
            "  SPACED = value # trailing comment\n",
            "SINGLE='a \"b\" c'\n",
            "MULTI=\"first\n",
            "second\" # after\n",
            "UNCLOSED=\"abc\n",
            "CRLF=value\r\n",
            "not an assignment\n",
            "HASH=a#b\n",
        ));
        assert_eq!(env.get("EXPORTED"), Some("yes"));
        assert_eq!(env.get("SPACED"), Some("value"));
        assert_eq!(env.get("SINGLE"), Some("a \"b\" c"));
        assert_eq!(env.get("MULTI"), Some("first\nsecond"));
        assert_eq!(env.get("UNCLOSED"), Some("\"abc"));
        assert_eq!(env.get("CRLF"), Some("value"));
        assert_eq!(env.get("HASH"), Some("a#b"));
    }

    #[test]
    fn editing_keeps_other_lines_byte_for_byte() {
        let original = "# keep\r\nOTHER = 'x'  # mine\nK=old\nMULTI=\"a\nb\"\nK=dup\n";
        let mut env = EnvFile::parse(original);
        assert_eq!(env.render(), original);
        assert!(!env.is_changed());

        env.set("K", "new value");
        assert_eq!(
            env.render(),
            "# keep\r\nOTHER = 'x'  # mine\nK=\"new value\"\nMULTI=\"a\nb\"\n"
        );
        assert!(env.remove("K"));
        assert!(!env.remove("K"));
        assert_eq!(
            env.render(),
            "# keep\r\nOTHER = 'x'  # mine\nMULTI=\"a\nb\"\n"
        );
        assert!(env.is_changed());
        assert!(env.has_entries());
    }

    #[test]
    fn comments_alone_are_no_entries() {
        assert!(!EnvFile::parse("# only\n\n").has_entries());
        assert!(!EnvFile::parse("").has_entries());
    }
}
