//! Saved key names for completion: listed (never decrypted), cached for 5 s,
//! invalidated by save and delete. Errors give no names, never a message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ProviderKeyStorage;

const TTL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct KeyNameCache {
    keys: ProviderKeyStorage,
    cached: Mutex<Option<(Instant, Vec<String>)>>,
}

impl KeyNameCache {
    pub fn new(keys: ProviderKeyStorage) -> Self {
        KeyNameCache {
            keys,
            cached: Mutex::new(None),
        }
    }

    pub async fn names(&self) -> Vec<String> {
        if let Some((at, names)) = &*self.lock()
            && at.elapsed() < TTL
        {
            return names.clone();
        }
        match self.keys.list_keys().await {
            Ok(names) => {
                *self.lock() = Some((Instant::now(), names.clone()));
                names
            }
            Err(_) => Vec::new(),
        }
    }

    pub fn invalidate(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Vec<String>)>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
