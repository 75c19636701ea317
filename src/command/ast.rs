//! The typed commands a line parses to. Secret values are [`Secret`]s from the
//! moment they leave the lexer, so a `Debug` of a command never shows one.

use crate::store::Secret;

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Key(KeyCommand),
    /// `/keyfile` (show), `/keyfile none`, `/keyfile <path>`.
    Keyfile(Option<Clearable<String>>),
    Provider(Option<String>),
    Model(Option<String>),
    BaseUrl(Option<Clearable<String>>),
    Status,
    Help(Option<String>),
    Quit,
    Profile(ProfileCommand),
    Set(SetCommand),
    /// `/toolkey <tool> [<key>|none]` (tool lower-cased).
    ToolKey {
        tool: String,
        key: Option<Clearable<Secret>>,
    },
    /// `/extensions settings|set|unset …`.
    Extensions(ExtensionsCommand),
    /// `/mcp tokens`, `/mcp logout <server>`.
    Mcp(McpCommand),
    /// `/toolkeyfile <tool> [<path>|none]`.
    ToolKeyfile {
        tool: String,
        path: Option<Clearable<String>>,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum ProfileCommand {
    Save { name: String },
    Load { name: String },
    Show { name: String },
    List,
    Delete { name: String },
    SetDefault(Clearable<String>),
}

#[derive(Debug, PartialEq, Eq)]
pub enum SetCommand {
    /// Bare `/set`: show the settings.
    Show,
    /// `/set <setting> <value…>`; the value may be a key (`auth-key`).
    Set {
        setting: String,
        value: Secret,
    },
    Unset {
        setting: String,
    },
}

/// A value or the word `none`.
#[derive(Debug, PartialEq, Eq)]
pub enum Clearable<T> {
    Set(T),
    None,
}

#[derive(Debug, PartialEq, Eq)]
pub enum KeyCommand {
    /// Bare `/key`: where the active key comes from.
    Status,
    /// `/key save <name> [<value…>]`; without a value the shell asks for it.
    Save {
        name: String,
        value: Option<Secret>,
    },
    Load {
        name: String,
    },
    Show {
        name: String,
    },
    List,
    Delete {
        name: String,
    },
    /// `/key <raw-key>`: a session-only key.
    Raw(Secret),
    /// `/key none`.
    Clear,
}

#[derive(Debug, PartialEq, Eq)]
pub enum McpCommand {
    Tokens,
    Logout { server: String },
}

#[derive(Debug, PartialEq, Eq)]
pub enum ExtensionsCommand {
    Settings {
        extension: String,
    },
    /// The value may be a secret (a sensitive setting).
    Set {
        extension: String,
        env_var: String,
        value: Secret,
    },
    Unset {
        extension: String,
        env_var: String,
    },
}
