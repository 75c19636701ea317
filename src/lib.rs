//! keyshell: an interactive shell for the credentials an LLM command-line user
//! keeps — named provider API keys, tool keys, tokens and the profiles that
//! refer to keys by name — on the OS keyring with an llxprt-compatible
//! encrypted fallback.

pub mod keys;
pub mod paths;
pub mod store;
