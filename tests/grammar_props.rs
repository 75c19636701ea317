//! Properties of the command language (`GRAMMAR.md`): the lexer, the parser
//! and the two maskers never panic on any input, errors say something and
//! point into the line, quoting round-trips, and a secret never reaches
//! history or the screen.
//!
//! Cases: `KEYSHELL_PROPTEST_CASES` (default 1000; `scripts/test.sh` sets
//! 100000). The no-panic property over arbitrary lines runs that many cases;
//! the structured properties run a tenth of it (at least 100), and very long
//! lines a hundredth. See `GRAMMAR.md` for a longer run.

use keyshell::command::ast::ExtensionsCommand;
use keyshell::command::lexer::{Token, tokenize, tokenize_lenient};
use keyshell::command::mask::{history_entry, mask_for_display};
use keyshell::command::{Clearable, Command, KeyCommand, ParseError, SetCommand, parse_line};
use keyshell::keys::mask;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// The number of cases for the main property; others take a share of it.
fn cases() -> u32 {
    std::env::var("KEYSHELL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1000)
}

fn config(share: u32, floor: u32) -> Config {
    Config {
        cases: (cases() / share).max(floor),
        ..Config::default()
    }
}

/// Characters that matter to the grammar, well above their share of Unicode.
const SPECIAL: &[char] = &[
    ' ', '\t', '"', '\'', '\\', '/', '\n', '\r', '\0', '\x07', '\x1b', '\x7f', '\u{a0}',
    '\u{2028}', '\u{3000}', '\u{feff}', '*', '-',
];

/// One random word → one character: 3/8 a special one, 3/8 printable ASCII,
/// 2/8 any scalar value. (Mapping plain integers keeps generation cheap
/// enough for 100k cases in a debug build; it shrinks towards `' '`.)
fn to_char(word: u32) -> char {
    let pick = word >> 3;
    match word & 7 {
        0..=2 => SPECIAL[pick as usize % SPECIAL.len()],
        3..=5 => char::from(b'!' + (pick % 94) as u8),
        _ => char::from_u32(pick % 0x11_0000).unwrap_or('\u{fffd}'),
    }
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u32>(), 0..max)
        .prop_map(|words| words.into_iter().map(to_char).collect())
}

/// Arbitrary lines, often starting like a real command so the parser's
/// deeper paths are reached.
fn line() -> impl Strategy<Value = String> {
    let head = prop::sample::select(vec![
        "",
        "/",
        "/key",
        "/key save",
        "/key save k",
        "/key load",
        "/key none",
        "/key NONE",
        "/key SAVE",
        "/keyfile",
        "/provider",
        "/model",
        "/baseurl",
        "/profile",
        "/profile set-default",
        "/set",
        "/set auth-key",
        "/set unset",
        "/toolkey exa",
        "/help",
        "/quit",
        "  /key ",
        "\"/key\"",
    ]);
    prop_oneof![
        1 => text(80),
        3 => (head.clone(), text(80)).prop_map(|(head, tail)| format!("{head}{tail}")),
        1 => (head, text(4), text(80)).prop_map(|(head, sep, tail)| format!("{head} {sep}{tail}")),
    ]
}

/// Everything a line can go through on its way in: none of it may panic.
fn exercise(line: &str) -> Result<(), TestCaseError> {
    let chars = line.chars().count();
    let strict = tokenize(line);
    let lenient = tokenize_lenient(line);
    check_spans(line, &lenient)?;
    match &strict {
        Ok(tokens) => {
            check_spans(line, tokens)?;
            prop_assert_eq!(
                tokens,
                &lenient,
                "lenient differs from strict on a good line"
            );
        }
        Err(err) => {
            prop_assert!(
                (1..=chars + 1).contains(&err.column),
                "column {}",
                err.column
            );
            prop_assert!(!err.message.is_empty());
        }
    }

    match parse_line(line) {
        Ok(_) => {}
        Err(err) => {
            prop_assert!(!err.to_string().is_empty(), "empty message for {err:?}");
            if let ParseError::Syntax { column, .. } = err {
                prop_assert!((1..=chars + 1).contains(&column), "column {column}");
                // The column is the opening quote that is never closed.
                let first = line.split(['\r', '\n']).next().unwrap_or("");
                let at = first.chars().nth(column - 1);
                prop_assert!(matches!(at, Some('"' | '\'')), "column {column} is {at:?}");
            }
        }
    }

    let shown = mask_for_display(line);
    prop_assert_eq!(shown.chars().count(), chars, "display changed the length");
    // Masking only ever replaces characters with `*`.
    for (was, now) in line.chars().zip(shown.chars()) {
        prop_assert!(was == now || now == '*', "{was:?} drawn as {now:?}");
    }
    let entry = history_entry(line);
    prop_assert!(!entry.contains(['\r', '\n']), "history entry spans lines");
    Ok(())
}

/// Spans are in order, do not overlap, lie inside the line and on character boundaries.
fn check_spans(line: &str, tokens: &[Token]) -> Result<(), TestCaseError> {
    let mut last_end = 0;
    for token in tokens {
        prop_assert!(last_end <= token.start && token.start < token.end);
        prop_assert!(token.end <= line.len());
        prop_assert!(line.is_char_boundary(token.start) && line.is_char_boundary(token.end));
        last_end = token.end;
    }
    Ok(())
}

/// How a token has to be typed, in one of three styles.
fn quote(text: &str, style: u8) -> String {
    let bare_ok =
        !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'');
    match style % 3 {
        0 if bare_ok => text.to_string(),
        1 if !text.contains('\'') => format!("'{text}'"),
        _ => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

fn blanks() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![' ', '\t', '\n', '\u{3000}']),
        1..3,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// A `/key save`-style line around a secret, with the ways people type it.
fn secret_line() -> impl Strategy<Value = (String, String)> {
    let secret = "[A-Za-z0-9_-]{9,40}";
    // Shorter than any secret, so the name cannot contain it.
    let name = "[A-Za-z0-9._-]{1,8}";
    let form = prop::sample::select(vec![
        "/key save {name} {secret}",
        "/key {secret}",
        "/set auth-key {secret}",
        "/toolkey exa {secret}",
        "/extensions set ext API_TOKEN {secret}",
    ]);
    (form, name, secret, blanks(), any::<u8>(), text(20)).prop_map(
        |(form, name, secret, sep, style, second_line)| {
            let quoted = quote(&secret, style);
            let line = form
                .replace(' ', &sep.replace('\n', " "))
                .replace("{name}", &name)
                .replace("{secret}", &quoted);
            (format!("  {line}\n{second_line}"), secret)
        },
    )
}

/// A line that reaches a secret through unusual spellings of the command
/// word: whatever the parser accepts, the maskers must recognise too.
fn spelled_secret_line() -> impl Strategy<Value = (String, String)> {
    let head = prop::sample::select(vec![
        "/key",
        "//key",
        "///key",
        "/k\"ey\"",
        "/key''",
        "'/key'",
        "\"/key\"",
        "/KEY",
        "/key\u{3000}",
        "/set auth-key",
        "//set auth-key",
        "/set 'auth-key'",
        "/toolkey exa",
        "//toolkey exa",
        "/toolkey EXA",
        "/extensions set ext VAR",
        "//extensions set ext VAR",
    ]);
    let middle = prop::sample::select(vec!["", " save", " save name", " SAVE name", " none"]);
    (head, middle, "[A-Za-z0-9_-]{9,40}", blanks()).prop_map(|(head, middle, secret, sep)| {
        let middle = if head.starts_with("/key") || head.contains("key\"") {
            middle
        } else {
            ""
        };
        (format!("{head}{middle}{sep}{secret}"), secret)
    })
}

/// The secret a parsed command carries, if any.
fn secret_of(command: &Command) -> Option<&str> {
    match command {
        Command::Key(KeyCommand::Save { value: Some(v), .. })
        | Command::Key(KeyCommand::Raw(v)) => Some(v.expose()),
        Command::Set(SetCommand::Set { setting, value }) if setting == "auth-key" => {
            Some(value.expose())
        }
        Command::ToolKey {
            key: Some(Clearable::Set(v)),
            ..
        } => Some(v.expose()),
        Command::Extensions(ExtensionsCommand::Set { value, .. }) => Some(value.expose()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(config(1, 1))]

    /// The main property: any line, through every entry point, never panics.
    #[test]
    fn no_line_makes_anything_panic(line in line()) {
        exercise(&line)?;
    }
}

proptest! {
    #![proptest_config(config(100, 10))]

    /// Very long lines (up to ~20k characters) are handled the same way.
    #[test]
    fn very_long_lines_are_fine(
        unit in text(40),
        head in prop::sample::select(vec!["", "/key save k ", "/key ", "/set auth-key "]),
        repeat in 100usize..500,
    ) {
        exercise(&format!("{head}{}", unit.repeat(repeat)))?;
    }
}

proptest! {
    #![proptest_config(config(10, 100))]

    /// Token texts, each quoted in some style and separated by blanks, lex back to themselves.
    #[test]
    fn quoted_tokens_lex_back(
        texts in prop::collection::vec(text(12), 0..8),
        styles in prop::collection::vec(any::<u8>(), 8),
        seps in prop::collection::vec(blanks(), 9),
    ) {
        let mut line = seps[0].clone();
        for (i, text) in texts.iter().enumerate() {
            line.push_str(&quote(text, styles[i]));
            line.push_str(&seps[i + 1]);
        }
        let lexed: Vec<String> = tokenize(&line)
            .map_err(|e| TestCaseError::fail(format!("{line:?}: {e:?}")))?
            .into_iter()
            .map(|t| t.text)
            .collect();
        prop_assert_eq!(lexed, texts, "line {:?}", line);
    }

    /// Any line that lexes: re-quoting its token texts gives the same texts,
    /// and each token's span alone lexes to that token.
    #[test]
    fn lexing_then_requoting_round_trips(line in line(), style in any::<u8>()) {
        if let Ok(tokens) = tokenize(&line) {
            let texts: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
            let requoted: Vec<String> = texts.iter().map(|t| quote(t, style)).collect();
            let again = tokenize(&requoted.join(" "))
                .map_err(|e| TestCaseError::fail(format!("{requoted:?}: {e:?}")))?;
            let again: Vec<&str> = again.iter().map(|t| t.text.as_str()).collect();
            prop_assert_eq!(&again, &texts);
            for token in &tokens {
                let alone = tokenize(&line[token.start..token.end])
                    .map_err(|e| TestCaseError::fail(format!("{token:?}: {e:?}")))?;
                prop_assert_eq!(alone.len(), 1);
                prop_assert_eq!(&alone[0].text, &token.text);
            }
        }
    }

    /// Whatever spelling the parser accepts as a command that carries a
    /// secret, the secret reaches neither history nor the screen.
    #[test]
    fn parsed_secrets_never_reach_history_or_the_screen((line, secret) in spelled_secret_line()) {
        if let Ok(Some(command)) = parse_line(&line)
            && secret_of(&command).is_some_and(|v| v.contains(&secret))
        {
            let entry = history_entry(&line);
            prop_assert!(!entry.contains(&secret), "history {:?} of {:?}", entry, line);
            let shown = mask_for_display(&line);
            prop_assert!(!shown.contains(&secret), "screen {:?} of {:?}", shown, line);
        }
    }

    /// History keeps the line with the secret masked by the one mask function,
    /// and the screen draws it as stars: neither ever holds the secret.
    #[test]
    fn secrets_never_reach_history_or_the_screen((line, secret) in secret_line()) {
        let entry = history_entry(&line);
        prop_assert!(!entry.contains(&secret), "history {:?} holds the secret", entry);
        prop_assert!(entry.ends_with(&format!(" {}", mask(&secret))), "history {:?}", entry);
        let shown = mask_for_display(&line);
        let first_shown = shown.split('\n').next().unwrap_or("");
        prop_assert!(!first_shown.contains(&secret), "screen {:?}", first_shown);
        prop_assert!(first_shown.trim_end().ends_with(&"*".repeat(secret.len())));
    }
}
