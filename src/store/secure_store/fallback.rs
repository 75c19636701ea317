//! The file side of a [`SecureStore`]: reading, writing and removing the
//! llxprt envelopes, the write salt and key derivation.

use super::*;

impl SecureStore {
    pub(super) fn file_keys(&self) -> Vec<String> {
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

    pub(super) fn note(&self, warning: Option<String>) {
        if let Some(warning) = warning {
            lock(&self.notices).push(warning);
        }
    }

    pub(super) fn note_all(&self, warnings: Vec<String>) {
        lock(&self.notices).extend(warnings);
    }

    pub(super) async fn read_file(&self, key: &str) -> Result<Option<Secret>, SecureStoreError> {
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

    pub(super) async fn write_file(&self, key: &str, value: &str) -> Result<(), SecureStoreError> {
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
    pub(super) fn write_salt(&self) -> [u8; SALT_LEN] {
        *self.write_salt.get_or_init(|| {
            adopted_salt(&self.fallback_dir).unwrap_or_else(|| {
                let mut salt = [0u8; SALT_LEN];
                rand::fill(&mut salt);
                salt
            })
        })
    }

    /// Removes the fallback file; `Ok(true)` if there was one.
    pub(super) async fn remove_file(&self, key: &str) -> Result<bool, SecureStoreError> {
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
    pub(super) async fn remove_stale_file(&self, key: &str) {
        let _ = self.remove_file(key).await;
    }

    /// scrypt off the executor, on the process-wide [`KdfThreads`] (at most
    /// one derivation per core), each (password, salt) derived once per process.
    pub(super) async fn derive(&self, password: &str, salt: &[u8; SALT_LEN]) -> DerivedKey {
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
