//! The token layer of the command language (see `GRAMMAR.md`), written with nom.
//!
//! ```text
//! line   = blank* (token (blank+ token)*)? blank*
//! token  = piece+
//! piece  = dquote | squote | bare
//! dquote = '"' ( '\' any | [^"\\] )* '"'
//! squote = "'" [^']* "'"
//! bare   = [^ blank " ']+
//! ```
//!
//! Lexing never touches storage. Positions are byte offsets into the line;
//! errors report 1-based character columns.

use nom::branch::alt;
use nom::bytes::complete::{take_till, take_while1};
use nom::character::complete::{anychar, char, none_of};
use nom::combinator::{map, recognize};
use nom::multi::{many0, many1};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// One token: its unquoted text and where it stands in the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// Byte offset of the token's first character.
    pub start: usize,
    /// Byte offset just past the token.
    pub end: usize,
}

/// A lexing failure at a 1-based character column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub column: usize,
    pub message: String,
}

fn is_blank(c: char) -> bool {
    c.is_whitespace()
}

fn bare(input: &str) -> IResult<&str, String> {
    map(
        take_while1(|c: char| !is_blank(c) && c != '"' && c != '\''),
        String::from,
    )
    .parse(input)
}

fn squote(input: &str) -> IResult<&str, String> {
    map(
        delimited(char('\''), take_till(|c| c == '\''), char('\'')),
        String::from,
    )
    .parse(input)
}

fn dquote(input: &str) -> IResult<&str, String> {
    let escaped = preceded(char('\\'), anychar);
    let plain = none_of("\"\\");
    map(
        delimited(char('"'), many0(alt((escaped, plain))), char('"')),
        |chars: Vec<char>| chars.into_iter().collect(),
    )
    .parse(input)
}

fn token(input: &str) -> IResult<&str, String> {
    map(many1(alt((dquote, squote, bare))), |pieces| pieces.concat()).parse(input)
}

fn blanks(input: &str) -> IResult<&str, &str> {
    recognize(many0(nom::character::complete::satisfy(is_blank))).parse(input)
}

/// Splits a line into tokens, or says where and why it cannot.
pub fn tokenize(line: &str) -> Result<Vec<Token>, LexError> {
    let mut tokens = Vec::new();
    let mut rest = line;
    loop {
        rest = blanks(rest).map(|(r, _)| r).unwrap_or(rest);
        if rest.is_empty() {
            return Ok(tokens);
        }
        let start = line.len() - rest.len();
        match token(rest) {
            Ok((after, text)) => {
                tokens.push(Token {
                    text,
                    start,
                    end: line.len() - after.len(),
                });
                rest = after;
            }
            Err(_) => return Err(unterminated_quote(line, rest)),
        }
    }
}

/// `token` only fails on an opening quote with no closing one: find it.
fn unterminated_quote(line: &str, rest: &str) -> LexError {
    let mut offset = line.len() - rest.len();
    let mut remaining = rest;
    // Skip the pieces that did parse, up to the quote that did not.
    while let Ok((after, _)) = alt((dquote, squote, bare)).parse(remaining) {
        offset += remaining.len() - after.len();
        remaining = after;
    }
    let quote = remaining.chars().next().unwrap_or('"');
    let kind = if quote == '\'' { "single" } else { "double" };
    LexError {
        column: line[..offset].chars().count() + 1,
        message: format!("unterminated {kind} quote"),
    }
}

/// Like [`tokenize`], but never fails: an unterminated quote runs to the end
/// of the line. Used while a line is still being typed (masking, completion).
pub fn tokenize_lenient(line: &str) -> Vec<Token> {
    match tokenize(line) {
        Ok(tokens) => tokens,
        Err(err) => {
            let cut = line
                .char_indices()
                .nth(err.column - 1)
                .map_or(line.len(), |(i, _)| i);
            let mut tokens = tokenize(&line[..cut]).unwrap_or_default();
            // The quote may be glued to the previous token (`ab"cd`).
            let start = match tokens.last() {
                Some(last) if last.end == cut => tokens.pop().map_or(cut, |t| t.start),
                _ => cut,
            };
            let text: String = line[start..]
                .chars()
                .filter(|c| *c != '"' && *c != '\'')
                .collect();
            tokens.push(Token {
                text,
                start,
                end: line.len(),
            });
            tokens
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   ", &[]),
            ("/key", &["/key"]),
            ("  /key   save  a  b ", &["/key", "save", "a", "b"]),
            (r#"/key save "my key" x"#, &["/key", "save", "my key", "x"]),
            (r#"/x 'a "b" c'"#, &["/x", r#"a "b" c"#]),
            (r#"/x "a\"b\\c""#, &["/x", r#"a"b\c"#]),
            (r#"/x ab"cd"'ef'"#, &["/x", "abcdef"]),
            (r#"/x """#, &["/x", ""]),
            ("/x\ttab", &["/x", "tab"]),
        ];
        for (line, expected) in cases {
            assert_eq!(texts(line), *expected, "line {line:?}");
        }
    }

    #[test]
    fn spans_point_into_the_line() {
        let tokens = tokenize(r#"/key save "a b""#).unwrap();
        assert_eq!((tokens[2].start, tokens[2].end), (10, 15));
    }

    #[test]
    fn unterminated_quotes_name_their_column() {
        let err = tokenize(r#"/key save "abc"#).unwrap_err();
        assert_eq!(err.column, 11);
        assert_eq!(err.message, "unterminated double quote");
        let err = tokenize("/x ab'cd").unwrap_err();
        assert_eq!(
            (err.column, err.message.as_str()),
            (6, "unterminated single quote")
        );
    }

    #[test]
    fn lenient_runs_an_open_quote_to_the_end() {
        let tokens = tokenize_lenient(r#"/key save k "sk-abc def"#);
        assert_eq!(tokens.len(), 4);
        assert_eq!(tokens[3].text, "sk-abc def");
        assert_eq!(tokens[3].end, 23);
    }
}
