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

    // ---- the keyring side ---------------------------------------------------

    /// The adapter, built on first use on a blocking thread under the timeout.
    /// A connect that overran the timeout is not waited for again: until it
    /// finishes, the keyring counts as not answering.
    async fn adapter(&self) -> Option<Arc<dyn KeyringAdapter>> {
        if let Some(loaded) = self.loader.loaded() {
            return loaded;
        }
        if self.load_stalled.load(Ordering::SeqCst) {
            return None;
        }
        let (loader, stalled) = (self.loader.clone(), self.load_stalled.clone());
        let task = tokio::task::spawn_blocking(move || {
            let built = loader.load();
            stalled.store(false, Ordering::SeqCst);
            built
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(joined) => joined.ok().flatten(),
            Err(_elapsed) => {
                self.load_stalled.store(true, Ordering::SeqCst);
                None
            }
        }
    }

    /// Whether connecting to the keyring overran the timeout and has not
    /// finished since: it may hold values we cannot see.
    fn keyring_stalled(&self) -> bool {
        self.loader.loaded().is_none() && self.load_stalled.load(Ordering::SeqCst)
    }

    /// Why the keyring, which may hold values, cannot be asked right now: a
    /// connect still running past the timeout, or calls that stopped getting
    /// through since it last answered. `None` when there is no keyring to ask
    /// (none found, or the probe found it unavailable and nothing was lost).
    fn keyring_unreachable(&self) -> Option<SecureStoreError> {
        if self.keyring_stalled() {
            return Some(SecureStoreError::new(
                ErrorCode::Timeout,
                format!(
                    "The OS keyring did not answer within {} ms",
                    self.timeout.as_millis()
                ),
            ));
        }
        lock(&self.lost).clone()
    }

    /// `list` could not ask the keyring: say so rather than list less in silence.
    fn note_unlisted(&self) {
        if let Some(why) = self.keyring_unreachable() {
            self.note(Some(format!(
                "Keys stored in the OS keyring are not listed: {}",
                why.message
            )));
        }
    }

    /// The adapter, unless the probe has recently found it unavailable.
    async fn usable_adapter(&self) -> Option<Arc<dyn KeyringAdapter>> {
        let known_unavailable = lock(&self.health)
            .probe
            .as_ref()
            .is_some_and(|(p, at)| matches!(p, Probe::Unavailable) && at.elapsed() < PROBE_TTL);
        if known_unavailable {
            return None;
        }
        self.adapter().await
    }

    /// Runs one adapter call on a blocking thread; past the timeout it is a
    /// TIMEOUT error and the call is abandoned.
    async fn call<T: Send + 'static>(
        &self,
        adapter: &Arc<dyn KeyringAdapter>,
        op: impl FnOnce(&dyn KeyringAdapter) -> Result<T, KeyringError> + Send + 'static,
    ) -> Result<T, SecureStoreError> {
        let adapter = adapter.clone();
        let task = tokio::task::spawn_blocking(move || op(adapter.as_ref()));
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(err))) => Err(SecureStoreError::new(err.code(), err.message)),
            Ok(Err(_panicked)) => Err(SecureStoreError::new(
                ErrorCode::Unavailable,
                "The OS keyring backend failed unexpectedly",
            )),
            Err(_elapsed) => Err(SecureStoreError::new(
                ErrorCode::Timeout,
                format!(
                    "The OS keyring did not answer within {} ms",
                    self.timeout.as_millis()
                ),
            )),
        }
    }

    async fn probe(&self) -> Probe {
        if let Some((probe, at)) = &lock(&self.health).probe
            && at.elapsed() < PROBE_TTL
        {
            return probe.clone();
        }
        let Some(adapter) = self.adapter().await else {
            // A connect that timed out is a TIMEOUT: not cached either.
            if self.keyring_stalled() {
                return Probe::TimedOut;
            }
            self.cache_probe(Probe::Unavailable);
            return Probe::Unavailable;
        };
        let (service, account) = (
            self.service.clone(),
            format!("{PROBE_PREFIX}{}", files::random_suffix()),
        );
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let value = format!("probe-{millis}");
        let result = self
            .call(&adapter, move |k| {
                k.set_password(&service, &account, &value)?;
                let read = k.get_password(&service, &account);
                let _ = k.delete_password(&service, &account);
                Ok(read? == Some(value))
            })
            .await;
        let probe = match result {
            Ok(true) => Probe::Available,
            Ok(false) => Probe::Unavailable,
            Err(err) if err.code == ErrorCode::Timeout => return Probe::TimedOut,
            // Not cached: the user may unlock the keyring and retry at once.
            Err(err) if matches!(err.code, ErrorCode::Locked | ErrorCode::Denied) => {
                return Probe::Refused(err);
            }
            Err(_) => Probe::Unavailable,
        };
        self.cache_probe(probe.clone());
        probe
    }

    fn cache_probe(&self, probe: Probe) {
        lock(&self.health).probe = Some((probe, Instant::now()));
    }

    fn record_success(&self) {
        lock(&self.health).failures = 0;
        self.record_answer();
    }

    /// The keyring answered (with or without a value): it is not lost.
    fn record_answer(&self) {
        *lock(&self.lost) = None;
    }

    /// A call that could not get through (UNAVAILABLE, TIMEOUT): until the
    /// keyring answers again, keys it may hold are reported, not "not found".
    fn record_lost(&self, err: &SecureStoreError) {
        if matches!(err.code, ErrorCode::Unavailable | ErrorCode::Timeout) {
            *lock(&self.lost) = Some(err.clone());
        }
    }

    fn record_failure(&self) {
        let mut health = lock(&self.health);
        health.failures += 1;
        if health.failures >= FAILURES_BEFORE_REPROBE {
            health.failures = 0;
            health.probe = None;
        }
    }

    // ---- the file side -------------------------------------------------------

    fn file_keys(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.fallback_dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().and_then(files::key_from_file_name))
            .filter(|k| validate_key(k).is_ok())
            .collect()
    }

    fn note(&self, warning: Option<String>) {
        if let Some(warning) = warning {
            lock(&self.notices).push(warning);
        }
    }

    fn note_all(&self, warnings: Vec<String>) {
        lock(&self.notices).extend(warnings);
    }

    async fn read_file(&self, key: &str) -> Result<Option<Secret>, SecureStoreError> {
        let path = files::fallback_path(&self.fallback_dir, key);
        let Some(bytes) = files::read_if_exists(&path)? else {
            return Ok(None);
        };
        let sealed = envelope::parse(&bytes)?;
        // Only a file we are about to use is ours to tighten (with the
        // directories that hold it); one we cannot read (a newer tool's) is
        // left exactly as it is.
        self.note(files::ensure_private_file(&path)?);
        self.note_all(files::tighten_dirs_up_to(
            &self.fallback_dir,
            &self.layout.root,
        )?);
        let secret = match sealed.version {
            Version::V1 => None,
            Version::V2 => self.machine_secret_for_read().await,
        };
        let password = envelope::password(
            sealed.version,
            &self.service,
            &self.machine_id,
            secret.as_deref(),
        )?;
        let key = self.derive(&password, &sealed.salt).await;
        let plaintext = envelope::open(&sealed, &key)?;
        let text = String::from_utf8(plaintext.to_vec())
            .map_err(|_| SecureStoreError::corrupt(envelope::MSG_DECRYPT))?;
        Ok(Some(Secret::new(text)))
    }

    async fn write_file(&self, key: &str, value: &str) -> Result<(), SecureStoreError> {
        self.note(files::ensure_private_dir(&self.fallback_dir)?);
        self.note_all(files::tighten_dirs_up_to(
            &self.fallback_dir,
            &self.layout.root,
        )?);
        let secret = self.machine_secret_for_write().await?;
        let password =
            envelope::password(Version::V2, &self.service, &self.machine_id, Some(&secret))?;
        let salt = self.write_salt();
        let derived = self.derive(&password, &salt).await;
        let mut iv = [0u8; envelope::IV_LEN];
        rand::fill(&mut iv);
        let text = envelope::seal(Version::V2, &derived, &salt, &iv, value.as_bytes());
        let path = files::fallback_path(&self.fallback_dir, key);
        let locks = self.layout.locks();
        let lock_name = format!("cred-{}@{key}", self.service);
        // A free lock (the usual case) is taken and the file written right
        // here: the hand-off to the blocking pool and back cost more than the
        // write itself (cross-core wake-ups: a 1000-save script took 1.29×
        // as long; docs/benchmarks.md). A lock someone holds is waited for on
        // the blocking pool.
        match FileLock::acquire(&locks, &lock_name, Duration::ZERO) {
            Ok(_lock) => files::write_atomic(&path, text.as_bytes())?,
            Err(err) if err.code == ErrorCode::Timeout => {
                run_blocking(move || {
                    let _lock = FileLock::acquire(&locks, &lock_name, LOCK_WAIT)?;
                    files::write_atomic(&path, text.as_bytes())
                })
                .await?
            }
            Err(err) => return Err(err),
        }
        // One sweep per store instance: a temp file is stale only a minute
        // after a writer crashed, and the next process's first write removes
        // it. Sweeping after every write read the whole directory each time,
        // O(n²) for a script of n saves (docs/benchmarks.md).
        if !self.swept_temp_files.swap(true, Ordering::Relaxed) {
            files::clean_stale_temp_files(&self.fallback_dir);
        }
        Ok(())
    }

    /// The salt of this instance's writes: that of an existing v2 file in the
    /// fallback directory when there is one, else a fresh random one. Keys
    /// saved by many separate runs then share one salt, and listing them
    /// derives one key instead of one per file (IVs stay random per write).
    fn write_salt(&self) -> [u8; SALT_LEN] {
        *self.write_salt.get_or_init(|| {
            adopted_salt(&self.fallback_dir).unwrap_or_else(|| {
                let mut salt = [0u8; SALT_LEN];
                rand::fill(&mut salt);
                salt
            })
        })
    }

    /// Removes the fallback file; `Ok(true)` if there was one.
    async fn remove_file(&self, key: &str) -> Result<bool, SecureStoreError> {
        let path = files::fallback_path(&self.fallback_dir, key);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(false);
        }
        let locks = self.layout.locks();
        let lock_name = format!("cred-{}@{key}", self.service);
        run_blocking(move || {
            let _lock = FileLock::acquire(&locks, &lock_name, LOCK_WAIT)?;
            match std::fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(err) => Err(SecureStoreError::with_remediation(
                    ErrorCode::Denied,
                    format!(
                        "The encrypted file {} could not be removed: {err}",
                        path.display()
                    ),
                    format!("Remove {} by hand", path.display()),
                )),
            }
        })
        .await
    }

    /// After a keyring write, an older file copy would only mislead: remove it.
    async fn remove_stale_file(&self, key: &str) {
        let _ = self.remove_file(key).await;
    }

    /// scrypt off the executor, on the process-wide [`KdfThreads`] (at most
    /// one derivation per core), each (password, salt) derived once per process.
    async fn derive(&self, password: &str, salt: &[u8; SALT_LEN]) -> DerivedKey {
        let cache_key = {
            use sha2::{Digest, Sha256};
            let mut hasher = Sha256::new();
            hasher.update(password.as_bytes());
            hasher.update([0]);
            hasher.update(salt);
            <[u8; 32]>::from(hasher.finalize())
        };
        let cell = lock(&self.derived).entry(cache_key).or_default().clone();
        let key = cell
            .get_or_init(|| async {
                let password = zeroize::Zeroizing::new(password.to_string());
                let salt = *salt;
                KdfThreads::run(move || envelope::derive_key(&password, &salt)).await
            })
            .await;
        key.clone()
    }

    // ---- the machine secret ---------------------------------------------------

    /// Keyring first, then `ROOT/machine_secret`; never creates one.
    async fn machine_secret_for_read(&self) -> Option<MachineSecret> {
        if let Some(secret) = lock(&self.machine_secret).as_ref() {
            return Some(secret.clone());
        }
        match self.lookup_machine_secret().await.0 {
            Lookup::Found(secret) => {
                *lock(&self.machine_secret) = Some(secret.clone());
                Some(secret)
            }
            _ => None,
        }
    }

    /// The second value is true when the keyring was asked and failed to
    /// answer: it may then hold a secret we could not see.
    async fn lookup_machine_secret(&self) -> (Lookup, bool) {
        let mut keyring_failed = false;
        if let Some(adapter) = self.usable_adapter().await {
            let found = self
                .call(&adapter, |k| {
                    k.get_password(machine::SECRET_SERVICE, machine::SECRET_ACCOUNT)
                })
                .await;
            match found {
                Ok(Some(text)) => {
                    let text = zeroize::Zeroizing::new(text);
                    return (machine::decode(&text), false);
                }
                Ok(None) => {}
                Err(_) => keyring_failed = true,
            }
        }
        (self.lookup_machine_secret_file(), keyring_failed)
    }

    fn lookup_machine_secret_file(&self) -> Lookup {
        let path = self.layout.machine_secret();
        match files::read_if_exists(&path) {
            Ok(Some(bytes)) => {
                if let Ok(warning) = files::ensure_private_file(&path) {
                    self.note(warning);
                }
                if let Ok(warnings) =
                    files::tighten_dirs_up_to(&self.layout.root, &self.layout.root)
                {
                    self.note_all(warnings);
                }
                let bytes = zeroize::Zeroizing::new(bytes);
                match std::str::from_utf8(&bytes) {
                    Ok(text) => machine::decode(text),
                    Err(_) => Lookup::Unusable,
                }
            }
            Ok(None) => Lookup::Missing,
            Err(_) => Lookup::Unusable,
        }
    }

    /// The machine secret, created on first write (keyring when available,
    /// else the file) under a cross-process lock.
    async fn machine_secret_for_write(&self) -> Result<MachineSecret, SecureStoreError> {
        if let Some(secret) = lock(&self.machine_secret).as_ref() {
            return Ok(secret.clone());
        }
        let locks = self.layout.locks();
        let guard = run_blocking(move || {
            FileLock::acquire(&locks, "cred-llxprt-code-machine-secret@default", LOCK_WAIT)
        })
        .await?;
        let (lookup, keyring_failed) = self.lookup_machine_secret().await;
        let secret = match lookup {
            Lookup::Found(secret) => secret,
            Lookup::Unusable => {
                return Err(SecureStoreError::with_remediation(
                    ErrorCode::Corrupt,
                    "The machine secret exists but is unusable (not 32 bytes of base64)",
                    format!(
                        "Restore {} (or the keyring entry {}/{}) from a backup",
                        self.layout.machine_secret().display(),
                        machine::SECRET_SERVICE,
                        machine::SECRET_ACCOUNT
                    ),
                ));
            }
            Lookup::Missing => self.create_machine_secret(keyring_failed).await?,
        };
        drop(guard);
        *lock(&self.machine_secret) = Some(secret.clone());
        Ok(secret)
    }

    /// `keyring_failed`: the keyring could not be read just now, so it may
    /// hold a secret; writing a new one there would orphan every v2 file.
    async fn create_machine_secret(
        &self,
        keyring_failed: bool,
    ) -> Result<MachineSecret, SecureStoreError> {
        let secret = machine::generate();
        let encoded = machine::encode(&secret);
        if !keyring_failed
            && matches!(self.probe().await, Probe::Available)
            && let Some(adapter) = self.adapter().await
        {
            let stored = encoded.clone();
            let written = self
                .call(&adapter, move |k| {
                    k.set_password(machine::SECRET_SERVICE, machine::SECRET_ACCOUNT, &stored)?;
                    k.get_password(machine::SECRET_SERVICE, machine::SECRET_ACCOUNT)
                })
                .await;
            if let Ok(Some(read_back)) = written {
                let read_back = zeroize::Zeroizing::new(read_back);
                if let Lookup::Found(adopted) = machine::decode(&read_back) {
                    return Ok(adopted);
                }
            }
        } else if self.has_v2_files() {
            let message = if keyring_failed {
                "Refusing to generate a replacement machine secret while the OS keyring cannot be read and v:2 fallback files exist: doing so would permanently orphan them."
            } else {
                "Refusing to generate a replacement machine secret while the OS keyring is disabled and v:2 fallback files exist: doing so would permanently orphan them."
            };
            return Err(SecureStoreError::with_remediation(
                ErrorCode::Unavailable,
                message,
                "Re-enable the OS keyring that holds the machine secret, or move the old .enc files aside",
            ));
        }
        let path = self.layout.machine_secret();
        self.note(files::ensure_private_dir(&self.layout.root)?);
        let contents = encoded.clone();
        run_blocking(move || files::write_atomic(&path, contents.as_bytes())).await?;
        Ok(secret)
    }

    fn has_v2_files(&self) -> bool {
        let Ok(entries) = std::fs::read_dir(&self.fallback_dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            e.file_name().to_str().is_some_and(|n| n.ends_with(".enc"))
                && std::fs::read(e.path())
                    .ok()
                    .and_then(|b| envelope::peek_version(&b))
                    .and_then(|v| v.as_u64())
                    == Some(2)
        })
    }
}

/// The salt of the first (by name) readable v2 envelope in `dir`, if any.
fn adopted_salt(dir: &Path) -> Option<[u8; SALT_LEN]> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "enc")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !files::is_temp_file(n))
        })
        .collect();
    names.sort();
    names.iter().take(8).find_map(|path| {
        let bytes = files::read_if_exists(path).ok()??;
        let sealed = envelope::parse(&bytes).ok()?;
        (sealed.version == Version::V2).then_some(sealed.salt)
    })
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

/// The threads that run scrypt: one per core, started on first use, shared by
/// every store in the process.
///
/// scrypt allocates 16 MiB per derivation. On tokio's blocking pool each
/// derivation could land on another short-lived thread, and every thread's
/// malloc arena kept its own 16 MiB buffer after the derivation: a `/key list`
/// over 100 one-salt-each files peaked at 102–137 MiB RSS on 2 cores
/// (docs/benchmarks.md). Here at most one derivation per core runs at once,
/// across all stores, and each thread reuses its buffer: the peak stays near
/// cores × 16 MiB.
struct KdfThreads {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl KdfThreads {
    /// Runs `derive` on a KDF thread (FIFO) and waits for it without blocking
    /// the executor. Without KDF threads it runs on tokio's blocking pool.
    async fn run(derive: impl FnOnce() -> DerivedKey + Send + 'static) -> DerivedKey {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = done.send(derive());
        });
        if let Err(std::sync::mpsc::SendError(job)) = Self::get().jobs.send(job) {
            drop(tokio::task::spawn_blocking(job));
        }
        result
            .await
            .expect("scrypt does not panic on valid parameters")
    }

    fn get() -> &'static KdfThreads {
        static THREADS: std::sync::OnceLock<KdfThreads> = std::sync::OnceLock::new();
        THREADS.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
            let queue = Arc::new(Mutex::new(queue));
            for i in 0..cores {
                let queue = queue.clone();
                // A thread that cannot be started leaves the others; with none,
                // the queue's receiver is dropped and `run` falls back.
                let _ = std::thread::Builder::new()
                    .name(format!("keyshell-kdf-{i}"))
                    .spawn(move || {
                        loop {
                            // The guard is dropped at the end of this statement,
                            // before the job runs.
                            let job = lock(&queue).recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => return,
                            }
                        }
                    });
            }
            KdfThreads { jobs }
        })
    }
}
