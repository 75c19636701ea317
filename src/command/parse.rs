//! Line → [`Command`]: lex, find the command in the registry, let it parse its
//! arguments. Parsing never touches storage.

use std::fmt;

use super::ast::Command;
use super::lexer::{self, Token};
use super::registry;

/// Why a line is not a command keyshell can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Bad syntax (an unterminated quote) at a 1-based column.
    Syntax {
        column: usize,
        message: String,
    },
    /// The line does not start with `/`.
    NotACommand,
    Unknown(String),
    /// A known command used wrongly; the text is the usage message.
    Usage(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax { column, message } => {
                write!(f, "Parse error at column {column}: {message}")
            }
            ParseError::NotACommand => {
                f.write_str("keyshell only runs slash commands; type /help.")
            }
            ParseError::Unknown(name) => {
                write!(f, "Unknown command: /{name}. Type /help for the list.")
            }
            ParseError::Usage(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one line. `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Command>, ParseError> {
    // Only the first line of pasted text is a command.
    let line = first_line(line);
    let trimmed = line.trim_start();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !trimmed.starts_with('/') {
        return Err(ParseError::NotACommand);
    }
    let tokens = lexer::tokenize(line).map_err(|e| ParseError::Syntax {
        column: e.column,
        message: e.message,
    })?;
    let (head, args) = tokens.split_first().expect("a non-blank line has a token");
    // Exactly one `/`: the maskers recognise `/key` by its exact text, so
    // `//key <secret>` must not run as `/key` (it would reach history unmasked).
    let name = command_name(&head.text);
    let spec = registry::find(name).ok_or_else(|| ParseError::Unknown(name.to_string()))?;
    (spec.parse)(args).map(Some)
}

/// The registry name of a line's first token: the token without its one leading `/`.
pub fn command_name(head: &str) -> &str {
    head.strip_prefix('/').unwrap_or(head)
}

/// The text before the first CR or LF.
pub fn first_line(line: &str) -> &str {
    line.split(['\r', '\n']).next().unwrap_or("")
}

/// The tokens of a line as typed so far (never fails), for completion and masking.
pub fn partial_tokens(line: &str) -> Vec<Token> {
    lexer::tokenize_lenient(first_line(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ast::{Clearable, KeyCommand};
    use crate::store::Secret;

    fn parse(line: &str) -> Result<Option<Command>, ParseError> {
        parse_line(line)
    }

    #[test]
    fn key_forms() {
        use KeyCommand::*;
        let cases: Vec<(&str, KeyCommand)> = vec![
            ("/key", Status),
            ("/key list", List),
            ("/key none", Clear),
            ("/key NONE", Clear),
            ("/key load a", Load { name: "a".into() }),
            ("/key show a extra", Show { name: "a".into() }),
            ("/key delete a", Delete { name: "a".into() }),
            (
                "/key save a",
                Save {
                    name: "a".into(),
                    value: None,
                },
            ),
            (
                "/key save a sk-1  two",
                Save {
                    name: "a".into(),
                    value: Some(Secret::new("sk-1 two")),
                },
            ),
            ("/key sk-raw", Raw(Secret::new("sk-raw"))),
            ("/key SAVE x y", Raw(Secret::new("SAVE x y"))),
        ];
        for (line, expected) in cases {
            assert_eq!(
                parse(line),
                Ok(Some(Command::Key(expected))),
                "line {line:?}"
            );
        }
    }

    #[test]
    fn usage_errors() {
        for (line, usage) in [
            ("/key save", "Usage: /key save <name> <api-key>"),
            ("/key load", "Usage: /key load <name>"),
            ("/key show", "Usage: /key show <name>"),
            ("/key delete", "Usage: /key delete <name>"),
        ] {
            assert_eq!(parse(line), Err(ParseError::Usage(usage.into())));
        }
    }

    #[test]
    fn other_lines() {
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(
            parse("hello").unwrap_err().to_string(),
            "keyshell only runs slash commands; type /help."
        );
        assert_eq!(
            parse("/nope x").unwrap_err().to_string(),
            "Unknown command: /nope. Type /help for the list."
        );
        assert_eq!(
            parse("//key sk-abcdef123456").unwrap_err().to_string(),
            "Unknown command: //key. Type /help for the list."
        );
        assert_eq!(
            parse(r#"/key save "x"#).unwrap_err().to_string(),
            "Parse error at column 11: unterminated double quote"
        );
        assert_eq!(
            parse("/keyfile none"),
            Ok(Some(Command::Keyfile(Some(Clearable::None))))
        );
        assert_eq!(
            parse("/key list\n/key delete x"),
            Ok(Some(Command::Key(KeyCommand::List)))
        );
    }
}
