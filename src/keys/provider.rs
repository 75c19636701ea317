//! [`ProviderKeyStorage`]: named provider API keys (`/key save openai-work …`),
//! stored under the service llxprt-code uses so both tools share them.

use std::sync::Arc;

use crate::paths::Layout;
use crate::store::{
    FallbackPolicy, KeyringLoader, Secret, SecureStore, SecureStoreError, SecureStoreOptions,
    StoredIn,
};

pub const SERVICE: &str = "llxprt-code-provider-keys";
pub const KEY_NAME_MAX: usize = 64;
/// No provider key comes near this; a longer value is a paste gone wrong.
pub const KEY_VALUE_MAX: usize = 4096;

/// Why a provider key operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderKeyError {
    /// The name does not match `^[a-zA-Z0-9._-]{1,64}$` (llxprt's text).
    #[error(
        "Key name '{0}' is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars)."
    )]
    InvalidName(String),
    #[error("API key value cannot be empty.")]
    EmptyValue,
    #[error("API key value is too long ({0} bytes; the limit is {KEY_VALUE_MAX}).")]
    TooLong(usize),
    #[error(
        "API key value contains a control character (a NUL, tab or line break inside it); paste the key on its own."
    )]
    ControlCharacter,
    #[error(transparent)]
    Store(#[from] SecureStoreError),
}

/// Named provider keys on one [`SecureStore`].
#[derive(Clone, Debug)]
pub struct ProviderKeyStorage {
    store: Arc<SecureStore>,
}

impl ProviderKeyStorage {
    /// The standard storage under a data root: service
    /// `llxprt-code-provider-keys`, fallback `ROOT/provider-keys`, policy Allow.
    pub fn new(layout: &Layout, keyring: KeyringLoader) -> Self {
        let mut opts = SecureStoreOptions::new(&layout.root);
        opts.fallback_dir = Some(layout.provider_keys());
        opts.fallback_policy = FallbackPolicy::Allow;
        opts.keyring = keyring;
        Self::with_store(SecureStore::new(SERVICE, opts))
    }

    pub fn with_store(store: SecureStore) -> Self {
        ProviderKeyStorage {
            store: Arc::new(store),
        }
    }

    pub fn store(&self) -> &SecureStore {
        &self.store
    }

    pub async fn save_key(&self, name: &str, api_key: &str) -> Result<StoredIn, ProviderKeyError> {
        validate_key_name(name)?;
        let value = normalize_value(api_key)?;
        Ok(self.store.set(name, value).await?)
    }

    pub async fn get_key(&self, name: &str) -> Result<Option<Secret>, ProviderKeyError> {
        validate_key_name(name)?;
        Ok(self.store.get(name).await?)
    }

    pub async fn delete_key(&self, name: &str) -> Result<bool, ProviderKeyError> {
        validate_key_name(name)?;
        Ok(self.store.delete(name).await?)
    }

    pub async fn has_key(&self, name: &str) -> Result<bool, ProviderKeyError> {
        validate_key_name(name)?;
        Ok(self.store.has(name).await?)
    }

    /// Saved key names, sorted. Names that are not valid key names (written by
    /// another tool) are left out.
    pub async fn list_keys(&self) -> Result<Vec<String>, ProviderKeyError> {
        let mut names = self.store.list().await?;
        names.retain(|n| validate_key_name(n).is_ok());
        Ok(names)
    }

    /// Values of several keys at once; key derivations run in parallel (one
    /// per core at most). Each key has its own outcome, so one unreadable file
    /// does not hide the others; a key that vanished meanwhile is `Ok(None)`.
    pub async fn get_keys(&self, names: &[String]) -> Vec<(String, KeyRead)> {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, name) in names.iter().enumerate() {
            let storage = self.clone();
            let name = name.clone();
            tasks.spawn(async move { (index, storage.get_key(&name).await) });
        }
        let mut found: Vec<Option<KeyRead>> = (0..names.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (index, value) = joined.expect("a key read does not panic");
            found[index] = Some(value);
        }
        names
            .iter()
            .cloned()
            .zip(found.into_iter().map(|v| v.expect("every task reports")))
            .collect()
    }
}

/// The outcome of reading one key.
pub type KeyRead = Result<Option<Secret>, ProviderKeyError>;

/// `^[a-zA-Z0-9._-]{1,64}$`, case-sensitive, and not `.` or `..` (they match
/// the pattern but name no file). Key and profile names follow this rule.
pub fn is_valid_name(name: &str) -> bool {
    (1..=KEY_NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && name != "."
        && name != ".."
}

pub fn validate_key_name(name: &str) -> Result<(), ProviderKeyError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ProviderKeyError::InvalidName(name.to_string()))
    }
}

/// Trim, strip trailing CR/LF; empty → llxprt's error. Values with control
/// characters inside or longer than [`KEY_VALUE_MAX`] bytes are refused.
pub fn normalize_value(api_key: &str) -> Result<&str, ProviderKeyError> {
    let value = api_key.trim().trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        Err(ProviderKeyError::EmptyValue)
    } else if value.len() > KEY_VALUE_MAX {
        Err(ProviderKeyError::TooLong(value.len()))
    } else if value.chars().any(char::is_control) {
        Err(ProviderKeyError::ControlCharacter)
    } else {
        Ok(value)
    }
}
