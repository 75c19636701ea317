//! The `Confirm` capability and hidden entry: how a handler asks the person
//! at the terminal, or learns that there is nobody to ask.

use std::io::{self, BufRead, Write};

use crate::store::Secret;

/// The answer to a yes/no question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    Yes,
    No,
    /// Nobody to ask (script mode without `--yes`).
    NotInteractive,
}

/// How handlers talk to the person, if there is one.
pub trait Prompter {
    fn is_interactive(&self) -> bool;
    /// Can a question be answered (a person at a terminal, or `--yes`)?
    fn can_confirm(&self) -> bool;
    /// Asks `question` (which ends in `[y/N]`); `--yes` answers Yes without asking.
    fn confirm(&mut self, question: &str) -> Confirmation;
    /// Reads a secret without echo; `None` if there is no terminal or input ended.
    fn read_secret(&mut self, prompt: &str) -> Option<Secret>;
}

/// Script mode: nobody to ask. `--yes` confirms; hidden entry is impossible.
#[derive(Debug, Clone, Copy)]
pub struct ScriptPrompter {
    pub assume_yes: bool,
}

impl Prompter for ScriptPrompter {
    fn is_interactive(&self) -> bool {
        false
    }

    fn can_confirm(&self) -> bool {
        self.assume_yes
    }

    fn confirm(&mut self, _question: &str) -> Confirmation {
        if self.assume_yes {
            Confirmation::Yes
        } else {
            Confirmation::NotInteractive
        }
    }

    fn read_secret(&mut self, _prompt: &str) -> Option<Secret> {
        None
    }
}

/// The interactive terminal (between two line-editor reads, so the terminal
/// is in its normal mode).
#[derive(Debug, Clone, Copy)]
pub struct TerminalPrompter {
    pub assume_yes: bool,
}

impl Prompter for TerminalPrompter {
    fn is_interactive(&self) -> bool {
        true
    }

    fn can_confirm(&self) -> bool {
        true
    }

    fn confirm(&mut self, question: &str) -> Confirmation {
        if self.assume_yes {
            return Confirmation::Yes;
        }
        let mut stdout = io::stdout();
        let _ = write!(stdout, "{question} ");
        let _ = stdout.flush();
        let mut answer = String::new();
        if io::stdin().lock().read_line(&mut answer).is_err() {
            return Confirmation::No;
        }
        if is_yes(&answer) {
            Confirmation::Yes
        } else {
            Confirmation::No
        }
    }

    fn read_secret(&mut self, prompt: &str) -> Option<Secret> {
        rpassword::prompt_password(prompt).ok().map(Secret::from)
    }
}

/// `y` or `yes`, any case, is yes; anything else is no.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
