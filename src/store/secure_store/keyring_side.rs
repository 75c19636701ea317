//! The keyring side of a [`SecureStore`]: building the adapter, calling it
//! under the timeout, the availability probe and the failure counter.

use super::*;

impl SecureStore {
    /// The adapter, built on first use on a blocking thread under the timeout.
    /// A connect that overran the timeout is not waited for again: until it
    /// finishes, the keyring counts as not answering.
    pub(super) async fn adapter(&self) -> Option<Arc<dyn KeyringAdapter>> {
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
    pub(super) fn keyring_stalled(&self) -> bool {
        self.loader.loaded().is_none() && self.load_stalled.load(Ordering::SeqCst)
    }

    /// Why the keyring, which may hold values, cannot be asked right now: a
    /// connect still running past the timeout, or calls that stopped getting
    /// through since it last answered. `None` when there is no keyring to ask
    /// (none found, or the probe found it unavailable and nothing was lost).
    pub(super) fn keyring_unreachable(&self) -> Option<SecureStoreError> {
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
    pub(super) fn note_unlisted(&self) {
        if let Some(why) = self.keyring_unreachable() {
            self.note(Some(format!(
                "Keys stored in the OS keyring are not listed: {}",
                why.message
            )));
        }
    }

    /// The adapter, unless the probe has recently found it unavailable.
    pub(super) async fn usable_adapter(&self) -> Option<Arc<dyn KeyringAdapter>> {
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
    pub(super) async fn call<T: Send + 'static>(
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

    pub(super) async fn probe(&self) -> Probe {
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

    pub(super) fn cache_probe(&self, probe: Probe) {
        lock(&self.health).probe = Some((probe, Instant::now()));
    }

    pub(super) fn record_success(&self) {
        lock(&self.health).failures = 0;
        self.record_answer();
    }

    /// The keyring answered (with or without a value): it is not lost.
    pub(super) fn record_answer(&self) {
        *lock(&self.lost) = None;
    }

    /// A call that could not get through (UNAVAILABLE, TIMEOUT): until the
    /// keyring answers again, keys it may hold are reported, not "not found".
    pub(super) fn record_lost(&self, err: &SecureStoreError) {
        if matches!(err.code, ErrorCode::Unavailable | ErrorCode::Timeout) {
            *lock(&self.lost) = Some(err.clone());
        }
    }

    pub(super) fn record_failure(&self) {
        let mut health = lock(&self.health);
        health.failures += 1;
        if health.failures >= FAILURES_BEFORE_REPROBE {
            health.failures = 0;
            health.probe = None;
        }
    }
}
