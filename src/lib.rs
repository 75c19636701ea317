//! keyshell: an interactive shell for the credentials an LLM command-line user
//! keeps — named provider API keys, tool keys, tokens and the profiles that
//! refer to keys by name — on the OS keyring with an llxprt-compatible
//! encrypted fallback.

pub mod app;
pub mod cli;
pub mod command;
pub mod keys;
pub mod legacy;
pub mod output;
pub mod paths;
pub mod profile;
pub mod prompt;
pub mod repl;
pub mod runtime;
pub mod script;
pub mod settings;
pub mod store;
