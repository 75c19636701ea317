//! The command registry: one table that drives parsing, `/help` and completion.
//! A command's name is written here and nowhere else.

use super::ast::{
    Clearable, Command, ExtensionsCommand, KeyCommand, McpCommand, ProfileCommand, SetCommand,
};
use super::lexer::Token;
use super::parse::ParseError;
use crate::store::Secret;

/// What the arguments of a command complete to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgCompletion {
    None,
    /// Subcommand words, then saved key names after these subcommands.
    KeySubcommands,
    Providers,
    Commands,
    Paths,
    /// Subcommand words, then profile names after these subcommands.
    ProfileSubcommands,
    /// Setting names (also after `unset`).
    Settings,
    /// Tool names, then `none`.
    Tools,
    /// Subcommand words, then MCP server names after `logout`.
    McpSubcommands,
    /// Subcommand words, extension names, then the extension's env vars.
    Extensions,
}

/// One command: its name, what it says about itself, and how it parses.
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    /// Longer help for `/help <name>`: one line per form.
    pub details: &'static [&'static str],
    pub subcommands: &'static [&'static str],
    pub completion: ArgCompletion,
    pub parse: fn(&[Token]) -> Result<Command, ParseError>,
}

/// `/key` subcommands that take a saved key name.
pub const KEY_NAME_SUBCOMMANDS: &[&str] = &["save", "load", "show", "delete"];

/// `/profile` subcommands that take a saved profile name.
pub const PROFILE_NAME_SUBCOMMANDS: &[&str] = &["load", "show", "delete", "set-default"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "key",
        usage: "/key [save|load|show|list|delete|none|<raw-key>]",
        summary: "save, load, show, list and delete named API keys",
        details: &[
            "/key                          show the active key and where it came from",
            "/key save <name> [<api-key>]  save a named key (asks for it, hidden, if omitted)",
            "/key load <name>              make a saved key the session key",
            "/key show <name>              show a saved key, masked",
            "/key list                     list saved keys, masked",
            "/key delete <name>            delete a saved key (asks first)",
            "/key <raw-key>                use a key for this session only",
            "/key none                     remove the session key",
        ],
        subcommands: &["save", "load", "show", "list", "delete", "none"],
        completion: ArgCompletion::KeySubcommands,
        parse: parse_key,
    },
    CommandSpec {
        name: "keyfile",
        usage: "/keyfile [<path>|none]",
        summary: "use the key in a file for the active provider",
        details: &[
            "/keyfile            show the key file in use",
            "/keyfile <path>     read the key from <path> (first line; ~ expanded)",
            "/keyfile none       stop using a key file",
        ],
        subcommands: &["none"],
        completion: ArgCompletion::Paths,
        parse: parse_keyfile,
    },
    CommandSpec {
        name: "provider",
        usage: "/provider [<name>]",
        summary: "show or switch the active provider",
        details: &[
            "/provider           show the active provider and the known ones",
            "/provider <name>    switch provider (the active key is cleared)",
        ],
        subcommands: &[],
        completion: ArgCompletion::Providers,
        parse: parse_provider,
    },
    CommandSpec {
        name: "model",
        usage: "/model [<name>]",
        summary: "show or set the model",
        details: &[
            "/model              show the model",
            "/model <name>       set the model",
        ],
        subcommands: &[],
        completion: ArgCompletion::None,
        parse: parse_model,
    },
    CommandSpec {
        name: "baseurl",
        usage: "/baseurl [<url>|none]",
        summary: "show or set the provider's base URL",
        details: &[
            "/baseurl            show the base URL",
            "/baseurl <url>      set the base URL",
            "/baseurl none       go back to the provider's default",
        ],
        subcommands: &["none"],
        completion: ArgCompletion::None,
        parse: parse_baseurl,
    },
    CommandSpec {
        name: "profile",
        usage: "/profile save|load|show|list|delete|set-default [<name>]",
        summary: "save and load profiles that refer to keys by name",
        details: &[
            "/profile save <name>         save the session (provider, model, settings, key name)",
            "/profile load <name>         load a profile (its named key is resolved first)",
            "/profile show <name>         show a profile",
            "/profile list                list profiles",
            "/profile delete <name>       delete a profile",
            "/profile set-default <name>  load this profile at start-up (none to clear)",
        ],
        subcommands: &["save", "load", "show", "list", "delete", "set-default"],
        completion: ArgCompletion::ProfileSubcommands,
        parse: parse_profile,
    },
    CommandSpec {
        name: "set",
        usage: "/set [<setting> <value>|unset <setting>]",
        summary: "show or change ephemeral settings",
        details: &[
            "/set                      show the settings",
            "/set <setting> <value>    set one (auth-key-name resolves a saved key)",
            "/set unset <setting>      remove one",
        ],
        subcommands: &["unset"],
        completion: ArgCompletion::Settings,
        parse: parse_set,
    },
    CommandSpec {
        name: "toolkey",
        usage: "/toolkey <tool> [<key>|none]",
        summary: "show, set or clear a tool's API key",
        details: &[
            "/toolkey <tool>          show the tool's key, masked",
            "/toolkey <tool> <key>    save the tool's key",
            "/toolkey <tool> none     delete the tool's key",
        ],
        subcommands: &[],
        completion: ArgCompletion::Tools,
        parse: parse_toolkey,
    },
    CommandSpec {
        name: "toolkeyfile",
        usage: "/toolkeyfile <tool> [<path>|none]",
        summary: "show, set or clear the file a tool's key is read from",
        details: &[
            "/toolkeyfile <tool>          show the key file",
            "/toolkeyfile <tool> <path>   read the key from <path> (first line; ~ expanded)",
            "/toolkeyfile <tool> none     stop using a key file",
        ],
        subcommands: &[],
        completion: ArgCompletion::Tools,
        parse: parse_toolkeyfile,
    },
    CommandSpec {
        name: "mcp",
        usage: "/mcp tokens|logout <server>",
        summary: "list stored MCP OAuth tokens (never the tokens themselves), or remove one",
        details: &[
            "/mcp tokens             list servers with token type and expiry state",
            "/mcp logout <server>    remove a server's stored credentials",
        ],
        subcommands: &["tokens", "logout"],
        completion: ArgCompletion::McpSubcommands,
        parse: parse_mcp,
    },
    CommandSpec {
        name: "extensions",
        usage: "/extensions settings|set|unset <ext> …",
        summary: "show and change extension settings (sensitive ones in the keyring)",
        details: &[
            "/extensions settings <ext>                show an extension's settings, sensitive ones masked",
            "/extensions set <ext> <ENV_VAR> <value>   set one (sensitive: keyring; others: .env)",
            "/extensions unset <ext> <ENV_VAR>         remove one",
        ],
        subcommands: &["settings", "set", "unset"],
        completion: ArgCompletion::Extensions,
        parse: parse_extensions,
    },
    CommandSpec {
        name: "status",
        usage: "/status",
        summary: "show the session, masked, and where things are stored",
        details: &[],
        subcommands: &[],
        completion: ArgCompletion::None,
        parse: |_| Ok(Command::Status),
    },
    CommandSpec {
        name: "help",
        usage: "/help [<command>]",
        summary: "list commands, or explain one",
        details: &[],
        subcommands: &[],
        completion: ArgCompletion::Commands,
        parse: |args| {
            Ok(Command::Help(
                first(args).map(|n| n.trim_start_matches('/').to_string()),
            ))
        },
    },
    CommandSpec {
        name: "quit",
        usage: "/quit",
        summary: "leave keyshell",
        details: &[],
        subcommands: &[],
        completion: ArgCompletion::None,
        parse: |_| Ok(Command::Quit),
    },
    CommandSpec {
        name: "exit",
        usage: "/exit",
        summary: "leave keyshell",
        details: &[],
        subcommands: &[],
        completion: ArgCompletion::None,
        parse: |_| Ok(Command::Quit),
    },
];

/// The spec of a command name (without the `/`).
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.name == name)
}

fn first(args: &[Token]) -> Option<&str> {
    args.first().map(|t| t.text.as_str())
}

fn joined(args: &[Token]) -> String {
    args.iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn usage(text: &str) -> ParseError {
    ParseError::Usage(text.to_string())
}

/// `/key` (llxprt's rules): the first word is matched case-sensitively against
/// the subcommands; anything else is a raw session key, `none` in any case clears.
fn parse_key(args: &[Token]) -> Result<Command, ParseError> {
    let Some(word) = first(args) else {
        return Ok(Command::Key(KeyCommand::Status));
    };
    let name = || args.get(1).map(|t| t.text.clone());
    let key = match word {
        "save" => {
            let name = name().ok_or_else(|| usage("Usage: /key save <name> <api-key>"))?;
            let value = (args.len() > 2).then(|| Secret::new(joined(&args[2..])));
            KeyCommand::Save { name, value }
        }
        "load" => KeyCommand::Load {
            name: name().ok_or_else(|| usage("Usage: /key load <name>"))?,
        },
        "show" => KeyCommand::Show {
            name: name().ok_or_else(|| usage("Usage: /key show <name>"))?,
        },
        "delete" => KeyCommand::Delete {
            name: name().ok_or_else(|| usage("Usage: /key delete <name>"))?,
        },
        "list" => KeyCommand::List,
        none if none.eq_ignore_ascii_case("none") && args.len() == 1 => KeyCommand::Clear,
        _ => KeyCommand::Raw(Secret::new(joined(args))),
    };
    Ok(Command::Key(key))
}

fn clearable(args: &[Token]) -> Option<Clearable<String>> {
    first(args).map(|word| {
        if word.eq_ignore_ascii_case("none") {
            Clearable::None
        } else {
            Clearable::Set(joined(args))
        }
    })
}

fn parse_keyfile(args: &[Token]) -> Result<Command, ParseError> {
    Ok(Command::Keyfile(clearable(args)))
}

fn parse_baseurl(args: &[Token]) -> Result<Command, ParseError> {
    Ok(Command::BaseUrl(clearable(args)))
}

fn parse_provider(args: &[Token]) -> Result<Command, ParseError> {
    match args {
        [] => Ok(Command::Provider(None)),
        [name] => Ok(Command::Provider(Some(name.text.clone()))),
        _ => Err(usage("Usage: /provider [<name>]")),
    }
}

fn parse_model(args: &[Token]) -> Result<Command, ParseError> {
    match args {
        [] => Ok(Command::Model(None)),
        [name] => Ok(Command::Model(Some(name.text.clone()))),
        _ => Err(usage("Usage: /model [<name>]")),
    }
}

fn parse_profile(args: &[Token]) -> Result<Command, ParseError> {
    const USAGE: &str = "Usage: /profile save|load|show|list|delete|set-default <name>";
    let Some(word) = first(args) else {
        return Err(usage(USAGE));
    };
    let name = |sub: &str| {
        args.get(1)
            .map(|t| t.text.clone())
            .ok_or_else(|| usage(&format!("Usage: /profile {sub} <name>")))
    };
    let command = match word {
        "save" => ProfileCommand::Save {
            name: name("save")?,
        },
        "load" => ProfileCommand::Load {
            name: name("load")?,
        },
        "show" => ProfileCommand::Show {
            name: name("show")?,
        },
        "delete" => ProfileCommand::Delete {
            name: name("delete")?,
        },
        "list" => ProfileCommand::List,
        "set-default" => {
            let target = args
                .get(1)
                .map(|t| t.text.clone())
                .ok_or_else(|| usage("Usage: /profile set-default <name>|none"))?;
            if target.eq_ignore_ascii_case("none") {
                ProfileCommand::SetDefault(Clearable::None)
            } else {
                ProfileCommand::SetDefault(Clearable::Set(target))
            }
        }
        _ => return Err(usage(USAGE)),
    };
    Ok(Command::Profile(command))
}

fn parse_set(args: &[Token]) -> Result<Command, ParseError> {
    match args {
        [] => Ok(Command::Set(SetCommand::Show)),
        [unset, setting] if unset.text == "unset" => Ok(Command::Set(SetCommand::Unset {
            setting: setting.text.clone(),
        })),
        [unset] if unset.text == "unset" => Err(usage("Usage: /set unset <setting>")),
        [_] => Err(usage("Usage: /set <setting> <value>")),
        [setting, value @ ..] => Ok(Command::Set(SetCommand::Set {
            setting: setting.text.clone(),
            value: Secret::new(joined(value)),
        })),
    }
}

fn tool_usage(command: &str, value: &str) -> ParseError {
    usage(&format!(
        "Usage: /{command} <tool> [<{value}>|none]\nSupported tools: {}",
        crate::keys::tools::tool_names()
    ))
}

fn parse_toolkey(args: &[Token]) -> Result<Command, ParseError> {
    let tool = first(args).ok_or_else(|| tool_usage("toolkey", "key"))?;
    // llxprt splits into at most two words: anything after the key is ignored.
    let key = args.get(1).map(|t| {
        if t.text.eq_ignore_ascii_case("none") {
            Clearable::None
        } else {
            Clearable::Set(Secret::new(t.text.clone()))
        }
    });
    Ok(Command::ToolKey {
        tool: tool.to_lowercase(),
        key,
    })
}

fn parse_toolkeyfile(args: &[Token]) -> Result<Command, ParseError> {
    let tool = first(args).ok_or_else(|| tool_usage("toolkeyfile", "filepath"))?;
    Ok(Command::ToolKeyfile {
        tool: tool.to_lowercase(),
        path: clearable(&args[1..]),
    })
}

fn parse_mcp(args: &[Token]) -> Result<Command, ParseError> {
    match args {
        [tokens] if tokens.text == "tokens" => Ok(Command::Mcp(McpCommand::Tokens)),
        [logout, server, ..] if logout.text == "logout" => Ok(Command::Mcp(McpCommand::Logout {
            server: server.text.clone(),
        })),
        [logout] if logout.text == "logout" => Err(usage("Usage: /mcp logout <server>")),
        _ => Err(usage("Usage: /mcp tokens | /mcp logout <server>")),
    }
}

fn parse_extensions(args: &[Token]) -> Result<Command, ParseError> {
    let text = |i: usize| args.get(i).map(|t| t.text.clone());
    let command = match (first(args), text(1), text(2)) {
        (Some("settings"), Some(extension), _) => ExtensionsCommand::Settings { extension },
        (Some("set"), Some(extension), Some(env_var)) if args.len() > 3 => ExtensionsCommand::Set {
            extension,
            env_var,
            value: Secret::new(joined(&args[3..])),
        },
        (Some("set"), ..) => return Err(usage("Usage: /extensions set <ext> <ENV_VAR> <value>")),
        (Some("unset"), Some(extension), Some(env_var)) => {
            ExtensionsCommand::Unset { extension, env_var }
        }
        (Some("unset"), ..) => return Err(usage("Usage: /extensions unset <ext> <ENV_VAR>")),
        (Some("settings"), ..) => return Err(usage("Usage: /extensions settings <ext>")),
        _ => {
            return Err(usage(
                "Usage: /extensions settings <ext> | set <ext> <ENV_VAR> <value> | unset <ext> <ENV_VAR>",
            ));
        }
    };
    Ok(Command::Extensions(command))
}
