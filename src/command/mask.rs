//! Which part of a line is a secret, and the line with that part masked — for
//! the screen while it is typed and for history once it is entered.
//!
//! Masked (SPEC §6): the value of `/key save <n> <v>`; `/key <v>` (not the
//! subcommand words or `none`); `/toolkey <t> <v>` (not `none`);
//! `/set auth-key <v>`; `/extensions set <ext> <VAR> <v>` (every value: the
//! manifest that says which are sensitive is out of reach here). Only the
//! first line of pasted text counts.

use std::borrow::Cow;

use super::lexer::Token;
use super::parse::{first_line, partial_tokens};
use super::registry;
use crate::keys::mask;

/// The index of the first token that is secret, if any. `typing` allows a
/// half-typed subcommand word (`/key sa`) to stay visible.
fn secret_from(tokens: &[Token], typing: bool) -> Option<usize> {
    let word = |i: usize| tokens.get(i).map(|t| t.text.as_str());
    let is_last = |i: usize| i + 1 == tokens.len();
    match word(0)? {
        "/key" => {
            let sub = word(1)?;
            let spec = registry::find("key").expect("/key is registered");
            let visible_word = (spec.subcommands.contains(&sub) && sub != "none")
                || (sub.eq_ignore_ascii_case("none") && is_last(1))
                || (typing && is_last(1) && spec.subcommands.iter().any(|s| s.starts_with(sub)));
            if sub == "save" {
                (tokens.len() > 3).then_some(3)
            } else if visible_word {
                None
            } else {
                Some(1)
            }
        }
        "/toolkey" => match word(2)? {
            none if none.eq_ignore_ascii_case("none") && is_last(2) => None,
            _ => Some(2),
        },
        "/set" if word(1) == Some("auth-key") => (tokens.len() > 2).then_some(2),
        // Whether a setting is sensitive is in the extension's manifest, which
        // masking (no storage access) cannot read: every value is masked.
        "/extensions" if word(1) == Some("set") => (tokens.len() > 4).then_some(4),
        _ => None,
    }
}

/// The line as shown while typing: every character of the secret part drawn
/// as `*`, so the cursor stays where it is.
///
/// Not [`mask`]: the editor redraws the line at every keystroke, and a mask
/// that keeps the last two characters would show each character of the
/// value in turn as it is typed (`sk*****r0`, `sk******00`, …).
pub fn mask_for_display(line: &str) -> Cow<'_, str> {
    let first = first_line(line);
    let tokens = partial_tokens(first);
    let Some(index) = secret_from(&tokens, true) else {
        return Cow::Borrowed(line);
    };
    let start = tokens[index].start;
    let mut shown = String::with_capacity(line.len());
    shown.push_str(&line[..start]);
    shown.extend(line[start..first.len()].chars().map(|_| '*'));
    shown.push_str(&line[first.len()..]);
    Cow::Owned(shown)
}

/// The line as history records it: the first line only, the secret masked
/// and separators normalised to one space. `None` when the line holds no secret.
pub fn mask_for_history(line: &str) -> Option<String> {
    let tokens = partial_tokens(line);
    let index = secret_from(&tokens, false)?;
    let visible: Vec<String> = tokens[..index].iter().map(|t| quote(&t.text)).collect();
    let secret: Vec<&str> = tokens[index..].iter().map(|t| t.text.as_str()).collect();
    Some(format!("{} {}", visible.join(" "), mask(&secret.join(" "))))
}

/// A token as it would have to be typed (quoted when it holds blanks or quotes).
fn quote(text: &str) -> String {
    if text.is_empty()
        || text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        if text.contains('\'') {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            format!("'{text}'")
        }
    } else {
        text.to_string()
    }
}

/// Does this value look like a masked key (as recalled from history)?
pub fn looks_masked(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    let stars = chars.iter().filter(|c| **c == '*').count();
    stars >= 4 && chars.len() - stars <= 4 && value.contains("****")
}

/// What history keeps of an entered line.
pub fn history_entry(line: &str) -> String {
    mask_for_history(line).unwrap_or_else(|| first_line(line).trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_masks_only_the_secret() {
        let cases = [
            ("/key save k sk-abcdef123456", "/key save k sk***********56"),
            ("/key   sk-abcdef123456", "/key sk***********56"),
            ("/toolkey exa abcdefghijkl", "/toolkey exa ab********kl"),
            (
                "/set auth-key sk-abcdef123456",
                "/set auth-key sk***********56",
            ),
            (
                "/key save k sk-abcdef123456\n/second",
                "/key save k sk***********56",
            ),
            (
                "/extensions set ext API_TOKEN tok-abcdef123",
                "/extensions set ext API_TOKEN to*********23",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(history_entry(line), expected, "line {line:?}");
        }
        // Subcommand words are case-sensitive: `/key SAVE …` is a raw key, all masked.
        assert_eq!(
            history_entry("/key SAVE x sk-abcdef123456"),
            format!("/key SA{}56", "*".repeat(18))
        );
        for line in [
            "/key list",
            "/key load k",
            "/key none",
            "/key save k",
            "/toolkey exa none",
            "/keyfile /p",
            "/extensions set ext VAR",
        ] {
            assert_eq!(history_entry(line), line);
        }
    }

    #[test]
    fn display_keeps_the_length() {
        let line = "/key save k sk-abcdef123456";
        let shown = mask_for_display(line);
        assert_eq!(shown, "/key save k ***************");
        assert_eq!(shown.chars().count(), line.chars().count());
        assert_eq!(mask_for_display("/key sa"), "/key sa");
        assert_eq!(mask_for_display("/key sk-abcdef99"), "/key ***********");
        assert_eq!(
            mask_for_display(r#"/key save k "sk-a b"#),
            r#"/key save k *******"#
        );
    }
}
