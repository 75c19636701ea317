//! The machine secret that keys v2 envelopes: looked up in the keyring, then
//! `ROOT/machine_secret`; created once, under a lock, by the first write.

use super::*;

impl SecureStore {
    /// Keyring first, then `ROOT/machine_secret`; never creates one.
    pub(super) async fn machine_secret_for_read(&self) -> Option<MachineSecret> {
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
    pub(super) async fn lookup_machine_secret(&self) -> (Lookup, bool) {
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

    pub(super) fn lookup_machine_secret_file(&self) -> Lookup {
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
    pub(super) async fn machine_secret_for_write(&self) -> Result<MachineSecret, SecureStoreError> {
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
    pub(super) async fn create_machine_secret(
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

    pub(super) fn has_v2_files(&self) -> bool {
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
