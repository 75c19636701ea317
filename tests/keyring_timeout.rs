//! A keyring's own timeout (settings.toml `keyring-timeout-ms`) bounds every
//! call: a stalled keyring is a TIMEOUT and the value goes to the fallback file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyshell::store::{KeyringLoader, MemoryKeyring, SecureStore, SecureStoreOptions, StoredIn};
use tempfile::TempDir;

#[tokio::test]
async fn the_loader_timeout_wins_over_the_default() {
    let dir = TempDir::new().unwrap();
    let keyring = Arc::new(MemoryKeyring::new());
    keyring.stall(Some(Duration::from_millis(900)));
    let mut opts = SecureStoreOptions::new(dir.path());
    opts.keyring_timeout = Duration::from_secs(30);
    opts.keyring = KeyringLoader::with_adapter(keyring).with_timeout(Duration::from_millis(200));
    let store = SecureStore::new("keyshell-timeout-test", opts);
    let started = Instant::now();
    assert_eq!(store.set("k", "v").await.unwrap(), StoredIn::File);
    // An upper bound on hanging (the probe timed out once), not a speed figure.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(store.get("k").await.unwrap().unwrap().expose(), "v");
    assert!(!store.is_keychain_available().await);
}
