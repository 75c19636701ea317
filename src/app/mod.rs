//! The shell's handlers: a typed [`Command`] and the session state in, lines
//! on an [`Output`] out. Handlers never parse text and never print.

mod extensions;
mod key;
mod mcp;
mod profile;
mod session;
mod tools;

pub use profile::{activate as activate_profile, check_provider};
pub use session::{env_key, expand_path, read_keyfile};

use std::sync::Arc;

use crate::command::Command;
use crate::keys::tokens::TokenStorage;
use crate::keys::tools::ToolKeyStorage;
use crate::keys::{KeyNameCache, ProviderKeyError, ProviderKeyStorage};
use crate::output::Output;
use crate::paths::Layout;
use crate::profile::ProfileStore;
use crate::prompt::Prompter;
use crate::runtime::Runtime;
use crate::store::{ErrorCode, KeyringLoader, SecureStoreError};

/// What the loop should do after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Everything the handlers share: built once at start-up.
pub struct Shell {
    pub runtime: Runtime,
    pub layout: Layout,
    pub keys: ProviderKeyStorage,
    pub key_names: Arc<KeyNameCache>,
    pub profiles: ProfileStore,
    pub tools: ToolKeyStorage,
    pub tokens: TokenStorage,
    /// The keyring every storage of this shell shares.
    pub keyring: KeyringLoader,
}

impl Shell {
    /// A shell on the data root `layout` with the given keyring.
    pub fn new(layout: Layout, keyring: KeyringLoader) -> Self {
        let keys = ProviderKeyStorage::new(&layout, keyring.clone());
        Self::with_keys(layout, keys, keyring)
    }

    /// A shell over a provider-key storage built elsewhere (tests use other policies).
    pub fn with_keys(layout: Layout, keys: ProviderKeyStorage, keyring: KeyringLoader) -> Self {
        let key_names = Arc::new(KeyNameCache::new(keys.clone()));
        Shell {
            runtime: Runtime::default(),
            profiles: ProfileStore::new(layout.profiles()),
            tools: ToolKeyStorage::new(&layout, keyring.clone()),
            tokens: TokenStorage::new(&layout, keyring.clone()),
            keyring,
            layout,
            keys,
            key_names,
        }
    }

    /// Runs one command. Failures are error lines on `out`.
    pub async fn execute(
        &mut self,
        command: Command,
        prompter: &mut dyn Prompter,
        out: &mut Output,
    ) -> Flow {
        let flow = match command {
            Command::Key(key) => {
                key::execute(self, key, prompter, out).await;
                Flow::Continue
            }
            Command::Keyfile(arg) => {
                session::keyfile(self, arg, out);
                Flow::Continue
            }
            Command::Provider(name) => {
                session::provider(self, name, out);
                Flow::Continue
            }
            Command::Model(name) => {
                session::model(self, name, out);
                Flow::Continue
            }
            Command::BaseUrl(url) => {
                session::base_url(self, url, out);
                Flow::Continue
            }
            Command::Status => {
                session::status(self, out).await;
                Flow::Continue
            }
            Command::Help(topic) => {
                session::help(topic.as_deref(), out);
                Flow::Continue
            }
            Command::Quit => Flow::Quit,
            Command::Profile(profile) => {
                profile::profile(self, profile, out).await;
                Flow::Continue
            }
            Command::Set(set) => {
                profile::set(self, set, out).await;
                Flow::Continue
            }
            Command::ToolKey { tool, key } => {
                tools::toolkey(self, &tool, key, out).await;
                Flow::Continue
            }
            Command::Extensions(command) => {
                extensions::execute(self, command, out).await;
                Flow::Continue
            }
            Command::Mcp(mcp) => {
                mcp::execute(self, mcp, out).await;
                Flow::Continue
            }
            Command::ToolKeyfile { tool, path } => {
                tools::toolkeyfile(self, &tool, path, out);
                Flow::Continue
            }
        };
        let stores = [self.keys.store(), self.tools.store(), self.tokens.store()];
        for notice in stores.iter().flat_map(|s| s.take_notices()) {
            out.warn(notice);
        }
        flow
    }
}

/// Refuses a value that is a mask (`sk****56`), as Up-arrow recalls from
/// history: storing or using stars instead of the key is never meant.
/// Returns true when it refused.
pub fn refuse_masked(value: &str, out: &mut Output) -> bool {
    let masked = crate::command::mask::looks_masked(value.trim());
    if masked {
        out.error(
            "That value is a masked key (recalled from history?); type or paste the key itself.",
        );
    }
    masked
}

/// The user's words for a storage failure (llxprt's rules).
pub fn describe_key_error(err: &ProviderKeyError) -> String {
    match err {
        ProviderKeyError::Store(store) => describe_store_error(store),
        other => other.to_string(),
    }
}

pub fn describe_store_error(err: &SecureStoreError) -> String {
    if err.code == ErrorCode::Unavailable
        && err.message == "Keyring is unavailable and fallback is denied"
    {
        "Cannot access keyring. Keys cannot be saved. Use '/key <raw-key>' for ephemeral session key."
            .to_string()
    } else {
        format!("{} — {}", err.message, err.remediation)
    }
}
