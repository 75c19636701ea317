//! The line editor's helper: completion driven by the command registry (saved
//! key and profile names, settings, tools, MCP servers, extensions, paths),
//! and masking of the secret part of a line as it is typed.

use std::borrow::Cow;
use std::sync::Arc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::app::Shell;
use crate::command::mask::mask_for_display;
use crate::command::parse::{command_name, partial_tokens};
use crate::command::registry::{
    ArgCompletion, COMMANDS, KEY_NAME_SUBCOMMANDS, PROFILE_NAME_SUBCOMMANDS, find,
};
use crate::keys::tokens::TokenStorage;
use crate::keys::tools::TOOLS;
use crate::keys::{KeyNameCache, extensions};
use crate::paths::Layout;
use crate::profile::ProfileStore;
use crate::runtime::{VALID_SETTINGS, providers};

/// Completion reads names only (never decrypts); a storage error gives no
/// candidates, never a message on screen.
pub struct ShellHelper {
    key_names: Arc<KeyNameCache>,
    profiles: ProfileStore,
    tokens: TokenStorage,
    layout: Layout,
    runtime: tokio::runtime::Handle,
    files: FilenameCompleter,
}

impl ShellHelper {
    /// A helper over the same storages as the shell's handlers.
    pub fn new(shell: &Shell, runtime: tokio::runtime::Handle) -> Self {
        ShellHelper {
            key_names: shell.key_names.clone(),
            profiles: shell.profiles.clone(),
            tokens: shell.tokens.clone(),
            layout: shell.layout.clone(),
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
            let Some(spec) = find(command_name(&tokens[0].text)) else {
                return (pos, Vec::new());
            };
            match (spec.completion, index) {
                (ArgCompletion::KeySubcommands, 1) => words(spec.subcommands),
                (ArgCompletion::KeySubcommands, 2)
                    if KEY_NAME_SUBCOMMANDS.contains(&tokens[1].text.as_str()) =>
                {
                    self.runtime.block_on(self.key_names.names())
                }
                (ArgCompletion::ProfileSubcommands, 1) => words(spec.subcommands),
                (ArgCompletion::ProfileSubcommands, 2)
                    if PROFILE_NAME_SUBCOMMANDS.contains(&tokens[1].text.as_str()) =>
                {
                    let mut names = self.profiles.names();
                    if tokens[1].text == "set-default" {
                        names.push("none".to_string());
                    }
                    names
                }
                (ArgCompletion::Settings, 1) => {
                    let mut found = words(spec.subcommands);
                    found.extend(words(VALID_SETTINGS));
                    found
                }
                (ArgCompletion::Settings, 2) if tokens[1].text == "unset" => words(VALID_SETTINGS),
                (ArgCompletion::Tools, 1) => TOOLS.iter().map(|t| t.name.to_string()).collect(),
                (ArgCompletion::Tools, 2) => words(&["none"]),
                (ArgCompletion::McpSubcommands, 1) => words(spec.subcommands),
                (ArgCompletion::McpSubcommands, 2) if tokens[1].text == "logout" => self
                    .runtime
                    .block_on(self.tokens.list_servers())
                    .unwrap_or_default(),
                (ArgCompletion::Extensions, 1) => words(spec.subcommands),
                (ArgCompletion::Extensions, 2) => extensions::extension_names(&self.layout),
                (ArgCompletion::Extensions, 3)
                    if matches!(tokens[1].text.as_str(), "set" | "unset") =>
                {
                    extensions::declared_env_vars(&self.layout, &tokens[2].text)
                }
                (ArgCompletion::Providers, 1) => providers::names().map(String::from).collect(),
                (ArgCompletion::Commands, 1) => {
                    COMMANDS.iter().map(|c| c.name.to_string()).collect()
                }
                (ArgCompletion::Paths, 1) => {
                    // `none` only when it fits the word: an unfiltered `none`
                    // beside the file names leaves no common prefix to insert.
                    let mut found: Vec<String> = words(spec.subcommands)
                        .into_iter()
                        .filter(|w| w.starts_with(word))
                        .collect();
                    if let Ok((file_start, pairs)) = self.files.complete_path(line, pos)
                        && !pairs.is_empty()
                    {
                        let files = pairs.into_iter().map(|p| p.replacement);
                        // The file completer knows where a quoted path starts.
                        if file_start != start {
                            return (file_start, files.collect());
                        }
                        found.extend(files);
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
