//! With no D-Bus session bus to reach, the OS keyring is simply absent: it is
//! found out quickly and values go to the encrypted file (policy Allow).
//!
//! The bus address is process-wide state, so this binary holds a single test
//! that points it at a socket that does not exist before anything else runs.
#![allow(unsafe_code)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyshell::store::{
    FallbackPolicy, KeyringAdapter, KeyringLoader, OsKeyring, SecureStore, SecureStoreOptions,
    StoredIn,
};
use tempfile::TempDir;

const NO_BUS: &str = "unix:path=/nonexistent/keyshell-no-bus";
// An upper bound on a hang, not a performance target.
const BOUND: Duration = Duration::from_secs(2);

#[tokio::test]
async fn without_a_session_bus_the_keyring_is_absent_and_values_go_to_files() {
    // SAFETY: the only test of this binary, and it sets the variable before
    // any code of its own reads the environment or starts a thread.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", NO_BUS) };

    let started = Instant::now();
    let keyring = tokio::task::spawn_blocking(OsKeyring::connect)
        .await
        .unwrap();
    let connected_in = started.elapsed();
    assert!(connected_in < BOUND, "connect took {connected_in:?}");
    if let Some(keyring) = keyring {
        // A store that connects lazily may only fail on first use: then the
        // probe must say "unavailable", quickly.
        let root = TempDir::new().unwrap();
        let mut opts = support::options(
            root.path(),
            KeyringLoader::with_adapter(Arc::new(keyring) as Arc<dyn KeyringAdapter>),
            FallbackPolicy::Allow,
        );
        opts.keyring_timeout = Duration::from_secs(1);
        let store = SecureStore::new("keyshell-no-bus", opts);
        let started = Instant::now();
        assert!(!store.is_keychain_available().await);
        assert!(
            started.elapsed() < BOUND,
            "probe took {:?}",
            started.elapsed()
        );
    }

    // The loader the application uses, with the real connect behind it.
    let root = TempDir::new().unwrap();
    let loader =
        KeyringLoader::new(|| OsKeyring::connect().map(|k| Arc::new(k) as Arc<dyn KeyringAdapter>));
    let store = SecureStore::new(
        "keyshell-no-bus",
        support::options(root.path(), loader, FallbackPolicy::Allow),
    );
    let started = Instant::now();
    assert_eq!(store.set("k", "sk-no-bus").await.unwrap(), StoredIn::File);
    assert_eq!(store.get("k").await.unwrap().unwrap().expose(), "sk-no-bus");
    assert!(store.has("k").await.unwrap());
    assert_eq!(store.list().await.unwrap(), ["k"]);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert_eq!(
        support::dir_names(&support::fallback_dir(root.path())),
        ["k.enc"]
    );
    assert!(root.path().join("machine_secret").exists());

    // And the defaults (`SecureStoreOptions::new`: the OS loader).
    let root = TempDir::new().unwrap();
    let store = SecureStore::new("keyshell-no-bus", SecureStoreOptions::new(root.path()));
    assert_eq!(store.set("k", "v").await.unwrap(), StoredIn::File);
    assert!(!store.is_keychain_available().await);
    assert!(
        root.path()
            .join("secure-store/keyshell-no-bus/k.enc")
            .is_file()
    );
}
