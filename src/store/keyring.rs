//! The keyring boundary: a small blocking trait that the OS keyring, the
//! in-memory test keyring and (later) remote stores implement.
//!
//! Adapters report failures as [`KeyringError`]s; [`SecureStore`](super::SecureStore)
//! decides what they mean for the user (fallback, error, retry).

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::error::ErrorCode;
use super::secret::Secret;

/// A failure reported by a keyring backend.
///
/// `kind` is the backend's own classification when it has one; `None` means
/// "classify me from my message" (llxprt's rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringError {
    pub kind: Option<ErrorCode>,
    pub message: String,
}

impl KeyringError {
    pub fn new(kind: ErrorCode, message: impl Into<String>) -> Self {
        KeyringError {
            kind: Some(kind),
            message: message.into(),
        }
    }

    pub fn unclassified(message: impl Into<String>) -> Self {
        KeyringError {
            kind: None,
            message: message.into(),
        }
    }

    /// The error code: the backend's kind first, the lower-cased message second.
    pub fn code(&self) -> ErrorCode {
        self.kind
            .unwrap_or_else(|| ErrorCode::classify_message(&self.message))
    }
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A credential `(account, password)` pair returned by enumeration.
pub type Credential = (String, Secret);

/// A keyring backend. Calls block; SecureStore runs each one on a blocking
/// thread under the keyring timeout, so an implementation may hang without
/// hanging keyshell.
pub trait KeyringAdapter: Send + Sync {
    /// A short description for `/status`, e.g. "Secret Service (D-Bus)".
    fn describe(&self) -> String;
    fn get_password(&self, service: &str, account: &str) -> Result<Option<String>, KeyringError>;
    fn set_password(
        &self,
        service: &str,
        account: &str,
        password: &str,
    ) -> Result<(), KeyringError>;
    /// `Ok(true)` when an entry was removed, `Ok(false)` when there was none.
    fn delete_password(&self, service: &str, account: &str) -> Result<bool, KeyringError>;
    /// `None` when the backend cannot enumerate.
    fn find_credentials(&self, service: &str) -> Option<Result<Vec<Credential>, KeyringError>>;
    /// The accounts of `service`, without reading their secrets. Backends that
    /// can enumerate cheaply override this; the default reads and drops them.
    fn list_accounts(&self, service: &str) -> Option<Result<Vec<String>, KeyringError>> {
        self.find_credentials(service)
            .map(|found| found.map(|creds| creds.into_iter().map(|(account, _)| account).collect()))
    }
}

/// Builds the keyring adapter on first use; `None` means "no keyring here".
///
/// Loaders are cheap to clone and memoize their result, so every store built
/// from one loader shares one connection.
#[derive(Clone)]
pub struct KeyringLoader(Arc<LoaderInner>);

struct LoaderInner {
    build: Box<dyn Fn() -> Option<Arc<dyn KeyringAdapter>> + Send + Sync>,
    built: OnceLock<Option<Arc<dyn KeyringAdapter>>>,
    timeout: Option<std::time::Duration>,
    /// A shared remote store (the team vault): files never stand in for it.
    remote: bool,
}

impl KeyringLoader {
    /// A loader that runs `build` once, on first use.
    pub fn new(
        build: impl Fn() -> Option<Arc<dyn KeyringAdapter>> + Send + Sync + 'static,
    ) -> Self {
        KeyringLoader(Arc::new(LoaderInner {
            build: Box::new(build),
            built: OnceLock::new(),
            timeout: None,
            remote: false,
        }))
    }

    /// A remote store (the team vault). Stores built from it never read or
    /// write fallback files: a failure is reported with the server's reason.
    pub fn remote(adapter: Arc<dyn KeyringAdapter>) -> Self {
        KeyringLoader(Arc::new(LoaderInner {
            build: Box::new(move || Some(adapter.clone())),
            built: OnceLock::new(),
            timeout: None,
            remote: true,
        }))
    }

    /// Is this a remote store that files must never replace?
    pub fn is_remote(&self) -> bool {
        self.0.remote
    }

    /// The same keyring with a call timeout of its own (`keyring-timeout-ms`
    /// in settings.toml); stores built from it use this instead of the default.
    pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
        let remote = self.is_remote();
        let inner = self;
        KeyringLoader(Arc::new(LoaderInner {
            build: Box::new(move || inner.load()),
            built: OnceLock::new(),
            timeout: Some(timeout),
            remote,
        }))
    }

    /// The timeout this keyring asked for, if any.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.0.timeout
    }

    /// A loader that always hands out this adapter (tests inject keyrings this way).
    pub fn with_adapter(adapter: Arc<dyn KeyringAdapter>) -> Self {
        Self::new(move || Some(adapter.clone()))
    }

    /// A loader for "no keyring at all": fallback files only.
    pub fn none() -> Self {
        Self::new(|| None)
    }

    /// The real OS keyring, unless `LLXPRT_DISABLE_OS_KEYRING=1`.
    pub fn os() -> Self {
        if os_keyring_disabled() {
            return Self::none();
        }
        Self::new(|| {
            super::os::OsKeyring::connect().map(|k| Arc::new(k) as Arc<dyn KeyringAdapter>)
        })
    }

    /// The adapter, building it on the first call. This call may block (the OS
    /// keyring connects to D-Bus); SecureStore calls it on a blocking thread.
    pub fn load(&self) -> Option<Arc<dyn KeyringAdapter>> {
        self.0.built.get_or_init(|| (self.0.build)()).clone()
    }

    /// The adapter if it was already built, without building it.
    pub fn loaded(&self) -> Option<Option<Arc<dyn KeyringAdapter>>> {
        self.0.built.get().cloned()
    }
}

impl fmt::Debug for KeyringLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringLoader").finish_non_exhaustive()
    }
}

/// `LLXPRT_DISABLE_OS_KEYRING=1` (or `true`) turns the OS keyring off entirely.
pub fn os_keyring_disabled() -> bool {
    std::env::var("LLXPRT_DISABLE_OS_KEYRING")
        .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes"))
        .unwrap_or(false)
}
