//! [`SecureStore`]: one service's secrets, in the OS keyring when it is there
//! and in llxprt-compatible encrypted files when it is not.
//!
//! The rules (SPEC §3): the keyring wins; a keyring that is there but LOCKED or
//! DENIED is reported, never silently replaced by a file; every keyring call
//! runs on a blocking thread under a timeout; file writes are atomic and locked.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::envelope::{self, DerivedKey, SALT_LEN, Version};
use super::error::{ErrorCode, SecureStoreError};
use super::files::{self, FileLock};
use super::keyring::{KeyringAdapter, KeyringError, KeyringLoader};
use super::machine::{self, Lookup, MachineSecret};
use super::secret::Secret;
use crate::paths::Layout;

mod fallback;
mod keyring_side;
mod machine_secret;
mod remote;

/// Prefix of the throw-away accounts the availability probe writes.
pub const PROBE_PREFIX: &str = "__securestore_probe__";
const PROBE_TTL: Duration = Duration::from_secs(60);
const FAILURES_BEFORE_REPROBE: u32 = 3;
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// `KEYSHELL_KEYRING_TIMEOUT_MS` when unset.
pub const DEFAULT_KEYRING_TIMEOUT: Duration = Duration::from_millis(5000);

/// What to do when the keyring cannot take a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackPolicy {
    /// Write the encrypted fallback file.
    Allow,
    /// Refuse with UNAVAILABLE.
    Deny,
}

/// What the availability probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyringState {
    Available,
    Unavailable,
    /// There, but LOCKED or DENIED: `set` reports this and writes no file.
    Refused(SecureStoreError),
    /// It did not answer within the keyring timeout (files are used meanwhile).
    NotAnswering,
}

/// Where `set` put a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredIn {
    Keyring,
    File,
    /// The team store (a vault shared across machines).
    Remote,
}

/// How a store is built. [`SecureStoreOptions::new`] gives the defaults for a data root.
#[derive(Clone, Debug)]
pub struct SecureStoreOptions {
    /// Where `<key>.enc` files go; default `ROOT/secure-store/<service>`.
    pub fallback_dir: Option<PathBuf>,
    pub fallback_policy: FallbackPolicy,
    pub keyring: KeyringLoader,
    /// The data root: the machine secret and the lock files live here.
    pub root: PathBuf,
    pub keyring_timeout: Duration,
}

impl SecureStoreOptions {
    /// Defaults: OS keyring (unless disabled), policy Allow, timeout from
    /// `KEYSHELL_KEYRING_TIMEOUT_MS`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SecureStoreOptions {
            fallback_dir: None,
            fallback_policy: FallbackPolicy::Allow,
            keyring: KeyringLoader::os(),
            root: root.into(),
            keyring_timeout: keyring_timeout_from_env(),
        }
    }
}

/// `KEYSHELL_KEYRING_TIMEOUT_MS`, or 5000 ms.
pub fn keyring_timeout_from_env() -> Duration {
    std::env::var("KEYSHELL_KEYRING_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_KEYRING_TIMEOUT)
}

/// The availability probe's answer.
#[derive(Clone, Debug)]
enum Probe {
    Available,
    Unavailable,
    /// The keyring is there but said no (LOCKED, DENIED): report, never downgrade.
    Refused(SecureStoreError),
    /// No answer within the timeout: used like `Unavailable`, never cached.
    TimedOut,
}

#[derive(Default)]
struct KeyringHealth {
    probe: Option<(Probe, Instant)>,
    failures: u32,
}

/// One service's secrets.
pub struct SecureStore {
    service: String,
    fallback_dir: PathBuf,
    policy: FallbackPolicy,
    /// A remote store (the team vault): never a file, never a probe entry.
    remote: bool,
    loader: KeyringLoader,
    /// Set while a keyring connect that overran the timeout is still running.
    load_stalled: Arc<AtomicBool>,
    layout: Layout,
    timeout: Duration,
    machine_id: String,
    health: Mutex<KeyringHealth>,
    /// The last call failure that kept a value out of reach, until the keyring answers again.
    lost: Mutex<Option<SecureStoreError>>,
    machine_secret: Mutex<Option<MachineSecret>>,
    /// One random salt for all of this instance's writes (a fresh IV each time).
    write_salt: std::sync::OnceLock<[u8; SALT_LEN]>,
    /// Whether this instance has swept the fallback dir for stale temp files.
    swept_temp_files: AtomicBool,
    derived: Mutex<HashMap<[u8; 32], Arc<OnceCell<DerivedKey>>>>,
    notices: Mutex<Vec<String>>,
}

impl std::fmt::Debug for SecureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureStore")
            .field("service", &self.service)
            .field("fallback_dir", &self.fallback_dir)
            .finish_non_exhaustive()
    }
}

impl SecureStore {
    pub fn new(service: &str, opts: SecureStoreOptions) -> SecureStore {
        let timeout = opts.keyring.timeout().unwrap_or(opts.keyring_timeout);
        let layout = Layout::new(opts.root);
        let fallback_dir = opts
            .fallback_dir
            .unwrap_or_else(|| layout.secure_store(service));
        SecureStore {
            service: service.to_string(),
            fallback_dir,
            policy: opts.fallback_policy,
            remote: opts.keyring.is_remote(),
            loader: opts.keyring,
            load_stalled: Arc::default(),
            layout,
            timeout,
            machine_id: machine::current_machine_id(),
            health: Mutex::default(),
            lost: Mutex::default(),
            machine_secret: Mutex::new(None),
            write_salt: std::sync::OnceLock::new(),
            swept_temp_files: AtomicBool::new(false),
            derived: Mutex::default(),
            notices: Mutex::default(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn fallback_dir(&self) -> &Path {
        &self.fallback_dir
    }

    pub fn fallback_policy(&self) -> FallbackPolicy {
        self.policy
    }

    /// How long one keyring call may take before it counts as a TIMEOUT.
    pub fn keyring_timeout(&self) -> Duration {
        self.timeout
    }

    /// Warnings gathered since the last call (permissions tightened, …), for
    /// the command layer to show.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.notices))
    }

    // ---- public operations -------------------------------------------------

    /// Stores `value` under `key`: the keyring when available, else (policy
    /// Allow) the encrypted file. Returns where it went.
    pub async fn set(&self, key: &str, value: &str) -> Result<StoredIn, SecureStoreError> {
        validate_key(key)?;
        if self.remote {
            return self.remote_set(key, value).await;
        }
        match self.probe().await {
            Probe::Available => {
                let adapter = self.adapter().await;
                if let Some(adapter) = adapter {
                    let (service, account, password) =
                        (self.service.clone(), key.to_string(), Secret::new(value));
                    let result = self
                        .call(&adapter, move |k| {
                            k.set_password(&service, &account, password.expose())
                        })
                        .await;
                    match result {
                        Ok(()) => {
                            self.record_success();
                            self.remove_stale_file(key).await;
                            return Ok(StoredIn::Keyring);
                        }
                        Err(err) => {
                            self.record_failure();
                            // Only an unreachable or slow keyring falls back to a
                            // file; a keyring that said no is reported.
                            if !matches!(err.code, ErrorCode::Unavailable | ErrorCode::Timeout) {
                                return Err(err);
                            }
                            self.record_lost(&err);
                        }
                    }
                }
            }
            Probe::Refused(err) => return Err(err),
            Probe::Unavailable | Probe::TimedOut => {}
        }
        if self.policy == FallbackPolicy::Deny {
            return Err(SecureStoreError::new(
                ErrorCode::Unavailable,
                "Keyring is unavailable and fallback is denied",
            ));
        }
        self.write_file(key, value).await?;
        Ok(StoredIn::File)
    }

    /// The value of `key`: the keyring's when it has one, else the file's.
    pub async fn get(&self, key: &str) -> Result<Option<Secret>, SecureStoreError> {
        validate_key(key)?;
        if self.remote {
            return self.remote_get(key).await;
        }
        if let Some(adapter) = self.usable_adapter().await {
            let (service, account) = (self.service.clone(), key.to_string());
            let result = self
                .call(&adapter, move |k| k.get_password(&service, &account))
                .await;
            match result {
                Ok(Some(value)) => {
                    self.record_success();
                    return Ok(Some(Secret::new(value)));
                }
                Ok(None) => self.record_answer(),
                Err(err) => {
                    self.record_failure();
                    if matches!(
                        err.code,
                        ErrorCode::Locked | ErrorCode::Denied | ErrorCode::Corrupt
                    ) {
                        return Err(err);
                    }
                    self.record_lost(&err);
                }
            }
        }
        let found = self.read_file(key).await?;
        if found.is_none()
            && let Some(why) = self.keyring_unreachable()
        {
            // Absent from the files, but the keyring that could not be asked
            // may hold it: the caller's "not found" gets the reason beside it.
            self.note(Some(format!(
                "Key '{key}' could not be looked up in the OS keyring: {} — {}",
                why.message, why.remediation
            )));
        }
        Ok(found)
    }

    /// Removes both copies. `Ok(true)` if either existed; an error names any
    /// copy that could not be removed. A LOCKED or DENIED keyring refuses the
    /// whole delete: the file copy is left too.
    pub async fn delete(&self, key: &str) -> Result<bool, SecureStoreError> {
        validate_key(key)?;
        if self.remote {
            return self.remote_delete(key).await;
        }
        let mut deleted = false;
        let mut remains: Vec<SecureStoreError> = Vec::new();
        if let Some(adapter) = self.usable_adapter().await {
            let (service, account) = (self.service.clone(), key.to_string());
            match self
                .call(&adapter, move |k| k.delete_password(&service, &account))
                .await
            {
                Ok(existed) => deleted |= existed,
                // An unreachable keyring holds nothing we could reach either.
                Err(err) if err.code == ErrorCode::Unavailable => {}
                // A keyring that said no: the whole delete is refused, so the
                // file copy stays too (nothing is half-applied).
                Err(err) if matches!(err.code, ErrorCode::Locked | ErrorCode::Denied) => {
                    return Err(SecureStoreError::with_remediation(
                        err.code,
                        format!(
                            "Key '{key}' was not deleted: the OS keyring ({}) refused: {}",
                            adapter.describe(),
                            err.message
                        ),
                        err.remediation,
                    ));
                }
                Err(err) => remains.push(SecureStoreError::with_remediation(
                    err.code,
                    format!(
                        "Key '{key}' may remain in the OS keyring ({}): {}",
                        adapter.describe(),
                        err.message
                    ),
                    err.remediation,
                )),
            }
        }
        match self.remove_file(key).await {
            Ok(existed) => deleted |= existed,
            Err(err) => remains.push(err),
        }
        match remains.into_iter().next() {
            Some(err) => Err(err),
            None => Ok(deleted),
        }
    }

    /// Every key of this service, from the keyring and the fallback files,
    /// deduplicated and sorted. Nothing is decrypted.
    pub async fn list(&self) -> Result<Vec<String>, SecureStoreError> {
        if self.remote {
            return self.remote_list().await;
        }
        let mut names = BTreeSet::new();
        if let Some(adapter) = self.usable_adapter().await {
            let service = self.service.clone();
            let found = self
                .call(&adapter, move |k| k.list_accounts(&service).transpose())
                .await;
            match found {
                Ok(Some(accounts)) => {
                    self.record_answer();
                    names.extend(
                        accounts
                            .into_iter()
                            .filter(|a| !a.starts_with(PROBE_PREFIX)),
                    );
                }
                Ok(None) => {}
                Err(err) if matches!(err.code, ErrorCode::Locked | ErrorCode::Denied) => {
                    return Err(err);
                }
                Err(err) => {
                    self.record_lost(&err);
                    self.note_unlisted();
                }
            }
        } else {
            self.note_unlisted();
        }
        names.extend(self.file_keys());
        Ok(names.into_iter().collect())
    }

    /// Whether `key` has a value, without decrypting anything.
    pub async fn has(&self, key: &str) -> Result<bool, SecureStoreError> {
        validate_key(key)?;
        if self.remote {
            return self.remote_has(key).await;
        }
        if let Some(adapter) = self.usable_adapter().await {
            let (service, account) = (self.service.clone(), key.to_string());
            match self
                .call(&adapter, move |k| {
                    k.get_password(&service, &account).map(|v| v.is_some())
                })
                .await
            {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(err) if matches!(err.code, ErrorCode::Locked | ErrorCode::Denied) => {
                    return Err(err);
                }
                Err(_) => {}
            }
        }
        Ok(files::fallback_path(&self.fallback_dir, key).is_file())
    }

    /// Whether the keyring works right now (set → get → delete of a probe
    /// account). Cached for 60 s; a timeout is not cached.
    pub async fn is_keychain_available(&self) -> bool {
        matches!(self.probe().await, Probe::Available)
    }

    /// The keyring as `/status` should describe it: working, not there, or
    /// there but refusing (LOCKED, DENIED) — in which case nothing goes to a
    /// file either. Probes like [`is_keychain_available`](Self::is_keychain_available).
    pub async fn keyring_state(&self) -> KeyringState {
        match self.probe().await {
            Probe::Available => KeyringState::Available,
            Probe::Unavailable => KeyringState::Unavailable,
            Probe::Refused(err) => KeyringState::Refused(err),
            Probe::TimedOut => KeyringState::NotAnswering,
        }
    }

    /// A description of the keyring for `/status`, without probing it.
    /// For a remote store, whether it answers now (`None` for the OS keyring).
    pub async fn team_store_status(&self) -> Option<Result<(), SecureStoreError>> {
        if !self.remote {
            return None;
        }
        Some(self.remote_available().await)
    }

    pub async fn keyring_description(&self) -> Option<String> {
        self.adapter().await.map(|a| a.describe())
    }
}

/// Key validation (llxprt's rules and strings; all CORRUPT).
pub fn validate_key(key: &str) -> Result<(), SecureStoreError> {
    let message = if key.is_empty() {
        "Key must not be empty".to_string()
    } else if key.contains('/') || key.contains('\\') {
        format!("Key contains path separator: {key}")
    } else if key.contains('\0') {
        "Key contains null byte".to_string()
    } else if key == "." || key == ".." || key.starts_with("./") || key.starts_with("../") {
        format!("Key contains relative-path component: {key}")
    } else {
        return Ok(());
    };
    Err(SecureStoreError::corrupt(message))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn run_blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, SecureStoreError> + Send + 'static,
) -> Result<T, SecureStoreError> {
    tokio::task::spawn_blocking(op).await.unwrap_or_else(|_| {
        Err(SecureStoreError::new(
            ErrorCode::Unavailable,
            "A file operation failed unexpectedly",
        ))
    })
}
