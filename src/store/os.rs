//! The real OS keyring, through keyring-core: the Secret Service over D-Bus on
//! Linux (pure-Rust zbus store), the Keychain on macOS, the Credential
//! Manager on Windows.
//!
//! Items are written the way keyring-rs 3 (and so llxprt-code) writes them —
//! attributes `service`, `username`, `target=default`, `application=rust-keyring`
//! on the Secret Service — and looked up by `service` + `username` only, so
//! each tool finds the other's items.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error};

use super::error::ErrorCode;
use super::keyring::{Credential, KeyringAdapter, KeyringError};
use super::secret::Secret;

/// The OS keyring.
pub struct OsKeyring {
    store: Arc<CredentialStore>,
}

impl OsKeyring {
    /// Connects to the platform's store; `None` when there is none to reach.
    pub fn connect() -> Option<OsKeyring> {
        platform::build_store()
            .ok()
            .map(|store| OsKeyring { store })
    }

    fn entry(&self, service: &str, account: &str) -> Result<Entry, KeyringError> {
        Entry::new_in_store(&self.store, service, account).map_err(map_error)
    }

    /// The existing item for (service, account), if any. When several match
    /// (two tools wrote the same pair), the first one is used.
    fn existing(&self, service: &str, account: &str) -> Result<Option<Entry>, KeyringError> {
        let entry = self.entry(service, account)?;
        match entry.get_credential() {
            Ok(found) => Ok(Some(found)),
            Err(Error::NoEntry) => Ok(None),
            Err(Error::Ambiguous(mut entries)) if !entries.is_empty() => {
                Ok(Some(entries.swap_remove(0)))
            }
            Err(err) => Err(map_error(err)),
        }
    }
}

impl KeyringAdapter for OsKeyring {
    fn describe(&self) -> String {
        platform::DESCRIPTION.to_string()
    }

    fn get_password(&self, service: &str, account: &str) -> Result<Option<String>, KeyringError> {
        let Some(entry) = self.existing(service, account)? else {
            return Ok(None);
        };
        match entry.get_password() {
            Ok(password) => Ok(Some(password)),
            Err(Error::NoEntry) => Ok(None),
            Err(err) => Err(map_error(err)),
        }
    }

    fn set_password(
        &self,
        service: &str,
        account: &str,
        password: &str,
    ) -> Result<(), KeyringError> {
        if let Some(entry) = self.existing(service, account)? {
            return entry.set_password(password).map_err(map_error);
        }
        let modifiers: HashMap<&str, &str> = platform::WRITE_MODIFIERS.iter().copied().collect();
        let entry = Entry::new_in_store_with_modifiers(&self.store, service, account, &modifiers)
            .map_err(map_error)?;
        entry.set_password(password).map_err(map_error)?;
        platform::after_create(&entry);
        Ok(())
    }

    fn delete_password(&self, service: &str, account: &str) -> Result<bool, KeyringError> {
        let mut deleted = false;
        // Remove every item of this pair, so no stale duplicate is left behind.
        while let Some(entry) = self.existing(service, account)? {
            match entry.delete_credential() {
                Ok(()) => deleted = true,
                Err(Error::NoEntry) => break,
                Err(err) => return Err(map_error(err)),
            }
        }
        Ok(deleted)
    }

    fn find_credentials(&self, service: &str) -> Option<Result<Vec<Credential>, KeyringError>> {
        let entries = self.search(service)?;
        Some(entries.map(|entries| {
            entries
                .into_iter()
                .filter_map(|(account, entry)| {
                    entry
                        .get_password()
                        .ok()
                        .map(|password| (account, Secret::new(password)))
                })
                .collect()
        }))
    }

    fn list_accounts(&self, service: &str) -> Option<Result<Vec<String>, KeyringError>> {
        let entries = self.search(service)?;
        Some(entries.map(|entries| entries.into_iter().map(|(account, _)| account).collect()))
    }
}

impl OsKeyring {
    fn search(&self, service: &str) -> Option<Result<Vec<(String, Entry)>, KeyringError>> {
        let spec = platform::search_spec(service)?;
        let found = match self.store.search(&spec) {
            Ok(found) => found,
            Err(Error::NotSupportedByStore(_)) => return None,
            Err(err) => return Some(Err(map_error(err))),
        };
        Some(Ok(found
            .into_iter()
            .filter_map(|entry| {
                let (item_service, account) = entry.get_specifiers()?;
                (item_service == service).then_some((account, entry))
            })
            .collect()))
    }
}

/// Turns a keyring-core error into a [`KeyringError`] whose message never holds
/// secret bytes (`BadEncoding` and `BadDataFormat` carry them; we drop them).
fn map_error(err: Error) -> KeyringError {
    match err {
        Error::NoStorageAccess(ref inner) => {
            let text = inner.to_string().to_lowercase();
            // The Secret Service answers a locked collection with an unlock
            // prompt; headless, or dismissed, that prompt fails as no access.
            if text.contains("denied") || text.contains("permission") {
                KeyringError::new(
                    ErrorCode::Denied,
                    format!("The OS keyring refused access: {inner}"),
                )
            } else {
                KeyringError::new(
                    ErrorCode::Locked,
                    format!("The OS keyring is locked and was not unlocked ({inner})"),
                )
            }
        }
        Error::BadEncoding(_) | Error::BadDataFormat(..) => KeyringError::new(
            ErrorCode::Corrupt,
            "The OS keyring holds a value that is not valid UTF-8 text",
        ),
        Error::NoDefaultStore | Error::NotSupportedByStore(_) => {
            KeyringError::new(ErrorCode::Unavailable, err.to_string())
        }
        Error::Ambiguous(entries) => KeyringError::new(
            ErrorCode::Unavailable,
            format!("The OS keyring holds {} items for one key", entries.len()),
        ),
        other => KeyringError::unclassified(format!("OS keyring failure: {other}")),
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;

    pub const DESCRIPTION: &str = "Secret Service (D-Bus)";
    /// keyring-rs 3 writes `target=default`; llxprt-code looks items up with it.
    pub const WRITE_MODIFIERS: &[(&str, &str)] = &[("target", "default")];

    pub fn build_store() -> Result<Arc<CredentialStore>, Error> {
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        Ok(store)
    }

    pub fn search_spec(service: &str) -> Option<HashMap<&str, &str>> {
        Some(HashMap::from([("service", service)]))
    }

    /// keyring-rs 3 also tags its items `application=rust-keyring`.
    pub fn after_create(entry: &Entry) {
        let _ = entry.update_attributes(&HashMap::from([("application", "rust-keyring")]));
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use super::*;

    pub const DESCRIPTION: &str = "macOS Keychain";
    pub const WRITE_MODIFIERS: &[(&str, &str)] = &[];

    pub fn build_store() -> Result<Arc<CredentialStore>, Error> {
        let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
        Ok(store)
    }

    pub fn search_spec(service: &str) -> Option<HashMap<&str, &str>> {
        Some(HashMap::from([("service", service)]))
    }

    pub fn after_create(_entry: &Entry) {}
}

#[cfg(target_os = "windows")]
mod platform {
    use super::*;

    pub const DESCRIPTION: &str = "Windows Credential Manager";
    pub const WRITE_MODIFIERS: &[(&str, &str)] = &[];

    pub fn build_store() -> Result<Arc<CredentialStore>, Error> {
        let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
        Ok(store)
    }

    /// The Credential Manager store searches by target-name pattern only; keys
    /// saved there are listed from their fallback files.
    pub fn search_spec(_service: &str) -> Option<HashMap<&str, &str>> {
        None
    }

    pub fn after_create(_entry: &Entry) {}
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod platform {
    use super::*;

    pub const DESCRIPTION: &str = "none";
    pub const WRITE_MODIFIERS: &[(&str, &str)] = &[];

    pub fn build_store() -> Result<Arc<CredentialStore>, Error> {
        Err(Error::NotSupportedByStore(
            "no OS keyring on this platform".into(),
        ))
    }

    pub fn search_spec(_service: &str) -> Option<HashMap<&str, &str>> {
        None
    }

    pub fn after_create(_entry: &Entry) {}
}
