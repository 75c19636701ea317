//! The storage layer: [`SecureStore`] over a [`KeyringAdapter`] (the OS
//! keyring, or the team store [`VaultStore`]) and the llxprt-compatible
//! encrypted fallback files.
//!
//! This layer never prints: failures are [`SecureStoreError`]s and warnings
//! are collected as notices for the command layer to show.

pub mod envelope;
mod error;
pub mod files;
mod keyring;
pub mod machine;
mod memory;
mod os;
mod secret;
mod secure_store;
pub mod vault;

pub use error::{ErrorCode, SecureStoreError};
pub use keyring::{Credential, KeyringAdapter, KeyringError, KeyringLoader, os_keyring_disabled};
pub use memory::MemoryKeyring;
pub use os::OsKeyring;
pub use secret::Secret;
pub use secure_store::{
    DEFAULT_KEYRING_TIMEOUT, FallbackPolicy, KeyringState, PROBE_PREFIX, SecureStore,
    SecureStoreOptions, StoredIn, keyring_timeout_from_env, validate_key,
};
pub use vault::{VaultConfig, VaultStore};
