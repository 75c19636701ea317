//! The line editor's helper: completion from the command registry and saved
//! key names, and masking of the secret part of a line as it is typed.

use std::borrow::Cow;
use std::sync::Arc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::command::mask::mask_for_display;
use crate::command::parse::partial_tokens;
use crate::command::registry::{ArgCompletion, COMMANDS, KEY_NAME_SUBCOMMANDS, find};
use crate::keys::KeyNameCache;
use crate::runtime::providers;

pub struct ShellHelper {
    key_names: Arc<KeyNameCache>,
    runtime: tokio::runtime::Handle,
    files: FilenameCompleter,
}

impl ShellHelper {
    pub fn new(key_names: Arc<KeyNameCache>, runtime: tokio::runtime::Handle) -> Self {
        ShellHelper {
            key_names,
            runtime,
            files: FilenameCompleter::new(),
        }
    }

    /// Candidates for the word being typed at `pos`: (start of the word, words).
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let tokens = partial_tokens(before);
        let at_new_word = before.is_empty() || before.ends_with(char::is_whitespace);
        let (start, word, index) = match tokens.last() {
            Some(last) if !at_new_word => (last.start, last.text.as_str(), tokens.len() - 1),
            _ => (pos, "", tokens.len()),
        };
        let options: Vec<String> = if index == 0 {
            COMMANDS.iter().map(|c| format!("/{}", c.name)).collect()
        } else {
            let Some(spec) = find(tokens[0].text.trim_start_matches('/')) else {
                return (pos, Vec::new());
            };
            match (spec.completion, index) {
                (ArgCompletion::KeySubcommands, 1) => words(spec.subcommands),
                (ArgCompletion::KeySubcommands, 2)
                    if KEY_NAME_SUBCOMMANDS.contains(&tokens[1].text.as_str()) =>
                {
                    self.runtime.block_on(self.key_names.names())
                }
                (ArgCompletion::Providers, 1) => providers::names().map(String::from).collect(),
                (ArgCompletion::Commands, 1) => {
                    COMMANDS.iter().map(|c| c.name.to_string()).collect()
                }
                (ArgCompletion::Paths, 1) => {
                    let mut found = words(spec.subcommands);
                    if let Ok((_, pairs)) = self.files.complete_path(line, pos) {
                        found.extend(pairs.into_iter().map(|p| p.replacement));
                    }
                    return (start, found);
                }
                _ => Vec::new(),
            }
        };
        let matching = options
            .into_iter()
            .filter(|o| o.starts_with(word))
            .collect();
        (start, matching)
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = self.candidates(line, pos);
        Ok((
            start,
            found
                .into_iter()
                .map(|word| Pair {
                    display: word.clone(),
                    replacement: word,
                })
                .collect(),
        ))
    }
}

impl Highlighter for ShellHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        mask_for_display(line)
    }

    /// Every keystroke redraws the line, so no secret character is ever echoed raw.
    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        true
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}
