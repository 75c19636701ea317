//! An in-memory keyring for tests and demos: a map from (service, account)
//! to password that can be told to fail or to stall, so every SecureStore
//! rule can be exercised without an OS keyring.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::error::ErrorCode;
use super::keyring::{Credential, KeyringAdapter, KeyringError};
use super::secret::Secret;

#[derive(Default)]
struct State {
    entries: BTreeMap<(String, String), String>,
    fail_next: Option<(u32, KeyringError)>,
    stall: Option<Duration>,
    calls: u32,
}

/// A keyring that lives in memory.
#[derive(Default)]
pub struct MemoryKeyring {
    state: Mutex<State>,
    can_enumerate: bool,
}

impl MemoryKeyring {
    pub fn new() -> Self {
        MemoryKeyring {
            state: Mutex::default(),
            can_enumerate: true,
        }
    }

    /// A keyring that, like the kernel keyring, cannot list its entries.
    pub fn without_enumeration() -> Self {
        MemoryKeyring {
            state: Mutex::default(),
            can_enumerate: false,
        }
    }

    /// The next `count` calls fail with `error`.
    pub fn fail_next(&self, count: u32, error: KeyringError) {
        self.lock().fail_next = Some((count, error));
    }

    /// The next `count` calls fail with `code` and `message`.
    pub fn fail_next_with(&self, count: u32, code: ErrorCode, message: &str) {
        self.fail_next(count, KeyringError::new(code, message));
    }

    /// Every call sleeps this long before answering (`None` to stop stalling).
    pub fn stall(&self, duration: Option<Duration>) {
        self.lock().stall = duration;
    }

    /// How many adapter calls were made so far.
    pub fn calls(&self) -> u32 {
        self.lock().calls
    }

    /// Put a value in directly, as another program would.
    pub fn insert(&self, service: &str, account: &str, password: &str) {
        self.lock()
            .entries
            .insert((service.into(), account.into()), password.into());
    }

    /// Read a value directly, bypassing failure injection.
    pub fn peek(&self, service: &str, account: &str) -> Option<String> {
        self.lock()
            .entries
            .get(&(service.to_string(), account.to_string()))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call, stalls if told to, and returns an injected failure if any.
    fn begin(&self) -> Result<std::sync::MutexGuard<'_, State>, KeyringError> {
        let stall = {
            let mut state = self.lock();
            state.calls += 1;
            state.stall
        };
        if let Some(duration) = stall {
            std::thread::sleep(duration);
        }
        let mut state = self.lock();
        if let Some((count, error)) = state.fail_next.take() {
            if count > 1 {
                state.fail_next = Some((count - 1, error.clone()));
            }
            return Err(error);
        }
        Ok(state)
    }
}

impl KeyringAdapter for MemoryKeyring {
    fn describe(&self) -> String {
        "in-memory keyring".to_string()
    }

    fn get_password(&self, service: &str, account: &str) -> Result<Option<String>, KeyringError> {
        let state = self.begin()?;
        Ok(state
            .entries
            .get(&(service.to_string(), account.to_string()))
            .cloned())
    }

    fn set_password(
        &self,
        service: &str,
        account: &str,
        password: &str,
    ) -> Result<(), KeyringError> {
        let mut state = self.begin()?;
        state
            .entries
            .insert((service.into(), account.into()), password.into());
        Ok(())
    }

    fn delete_password(&self, service: &str, account: &str) -> Result<bool, KeyringError> {
        let mut state = self.begin()?;
        Ok(state
            .entries
            .remove(&(service.to_string(), account.to_string()))
            .is_some())
    }

    fn find_credentials(&self, service: &str) -> Option<Result<Vec<Credential>, KeyringError>> {
        if !self.can_enumerate {
            return None;
        }
        Some(self.begin().map(|state| {
            state
                .entries
                .iter()
                .filter(|((s, _), _)| s == service)
                .map(|((_, account), password)| (account.clone(), Secret::new(password.clone())))
                .collect()
        }))
    }
}
