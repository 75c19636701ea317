//! SecureStore and ProviderKeyStorage against a real Secret Service, and item
//! interop with `secret-tool` (libsecret), which finds items the way
//! llxprt-code's keyring-rs does.
//!
//! Run under `scripts/ci-keyring.sh cargo test --test real_keyring`, which
//! starts a private, unlocked gnome-keyring and sets `KEYSHELL_REAL_KEYRING=1`.
//! With that variable set, a keyring that cannot be reached FAILS the tests;
//! without it, each test says so and returns.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use keyshell::keys::ProviderKeyStorage;
use keyshell::store::{
    FallbackPolicy, KeyringLoader, OsKeyring, SecureStore, SecureStoreOptions, StoredIn,
};
use tempfile::TempDir;

/// The real keyring, when this run is meant to use one.
async fn real_keyring(test: &str) -> Option<Arc<OsKeyring>> {
    if std::env::var("KEYSHELL_REAL_KEYRING").as_deref() != Ok("1") {
        println!(
            "{test}: skipped: KEYSHELL_REAL_KEYRING is not 1 \
             (run under scripts/ci-keyring.sh for a real Secret Service)"
        );
        return None;
    }
    let keyring = tokio::task::spawn_blocking(OsKeyring::connect)
        .await
        .unwrap();
    match keyring {
        Some(keyring) => Some(Arc::new(keyring)),
        None => panic!(
            "{test}: KEYSHELL_REAL_KEYRING=1 but OsKeyring::connect() reached no Secret Service \
             (DBUS_SESSION_BUS_ADDRESS={:?})",
            std::env::var("DBUS_SESSION_BUS_ADDRESS").ok()
        ),
    }
}

/// A service name no other test (or person) uses; every item of it is
/// cleared when the guard drops, even after a failed assertion.
struct TestService(String);

impl TestService {
    fn new() -> Self {
        let mut bytes = [0u8; 6];
        rand::fill(&mut bytes);
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        TestService(format!("keyshell-test-{suffix}"))
    }

    fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        let _ = Command::new("secret-tool")
            .args(["clear", "service", &self.0])
            .output();
    }
}

fn secret_tool(args: &[&str]) -> Output {
    Command::new("secret-tool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("secret-tool {args:?} could not run ({e}); install libsecret-tools")
        })
}

fn secret_tool_store(service: &str, account: &str, value: &str) {
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=x",
            "service",
            service,
            "username",
            account,
        ])
        .args(["target", "default", "application", "rust-keyring"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("secret-tool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "secret-tool store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn secret_tool_lookup(service: &str, account: &str) -> Option<String> {
    let out = secret_tool(&["lookup", "service", service, "username", account]);
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// Every item of `service` as `secret-tool search --all` prints it (the
/// attributes go to stderr, the rest to stdout).
fn secret_tool_search(service: &str) -> String {
    let out = secret_tool(&["search", "--all", "service", service]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn store_on(keyring: &Arc<OsKeyring>, service: &str, root: &Path) -> SecureStore {
    let mut opts = SecureStoreOptions::new(root);
    opts.fallback_dir = Some(root.join("fallback"));
    opts.fallback_policy = FallbackPolicy::Allow;
    opts.keyring = KeyringLoader::with_adapter(keyring.clone());
    SecureStore::new(service, opts)
}

#[tokio::test]
async fn secure_store_round_trip_on_the_secret_service() {
    let Some(keyring) = real_keyring("secure_store_round_trip_on_the_secret_service").await else {
        return;
    };
    let service = TestService::new();
    let root = TempDir::new().unwrap();
    let store = store_on(&keyring, service.name(), root.path());

    assert!(store.is_keychain_available().await);
    assert_eq!(
        store.set("alpha", "sk-alpha").await.unwrap(),
        StoredIn::Keyring
    );
    assert_eq!(
        store.set("beta", "ключ 🔑").await.unwrap(),
        StoredIn::Keyring
    );
    assert_eq!(
        store.set("alpha", "sk-alpha-2").await.unwrap(),
        StoredIn::Keyring
    );

    assert_eq!(
        store.get("alpha").await.unwrap().unwrap().expose(),
        "sk-alpha-2"
    );
    assert_eq!(
        store.get("beta").await.unwrap().unwrap().expose(),
        "ключ 🔑"
    );
    assert_eq!(store.get("gamma").await.unwrap(), None);
    assert!(store.has("alpha").await.unwrap());
    assert!(!store.has("gamma").await.unwrap());
    assert_eq!(store.list().await.unwrap(), ["alpha", "beta"]);

    assert!(store.delete("alpha").await.unwrap());
    assert!(!store.delete("alpha").await.unwrap());
    assert_eq!(store.get("alpha").await.unwrap(), None);
    assert_eq!(store.list().await.unwrap(), ["beta"]);
    assert!(
        !root.path().join("fallback").exists(),
        "nothing went to a file"
    );
    assert!(!root.path().join("machine_secret").exists());
}

#[tokio::test]
async fn provider_key_storage_on_the_secret_service() {
    let Some(keyring) = real_keyring("provider_key_storage_on_the_secret_service").await else {
        return;
    };
    let service = TestService::new();
    let root = TempDir::new().unwrap();
    let storage = ProviderKeyStorage::with_store(store_on(&keyring, service.name(), root.path()));

    assert_eq!(
        storage
            .save_key("openai-work", "  sk-work\r\n")
            .await
            .unwrap(),
        StoredIn::Keyring
    );
    storage.save_key("anthropic", "sk-ant").await.unwrap();

    assert_eq!(
        storage.list_keys().await.unwrap(),
        ["anthropic", "openai-work"]
    );
    assert_eq!(
        storage
            .get_key("openai-work")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "sk-work"
    );
    assert!(storage.has_key("anthropic").await.unwrap());
    let both = storage
        .get_keys(&["anthropic".to_string(), "openai-work".to_string()])
        .await;
    assert_eq!(
        both[0].1.as_ref().unwrap().as_ref().unwrap().expose(),
        "sk-ant"
    );
    assert_eq!(
        both[1].1.as_ref().unwrap().as_ref().unwrap().expose(),
        "sk-work"
    );
    assert!(storage.delete_key("anthropic").await.unwrap());
    assert!(!storage.has_key("anthropic").await.unwrap());
    assert_eq!(storage.list_keys().await.unwrap(), ["openai-work"]);
}

#[tokio::test]
async fn items_keyshell_writes_are_found_by_secret_tool_with_llxprts_attributes() {
    let Some(keyring) = real_keyring("items_keyshell_writes_are_found_by_secret_tool").await else {
        return;
    };
    let service = TestService::new();
    let root = TempDir::new().unwrap();
    let store = store_on(&keyring, service.name(), root.path());

    store.set("acct", "sk-from-keyshell").await.unwrap();
    store.set("acct", "sk-from-keyshell-2").await.unwrap();

    assert_eq!(
        secret_tool_lookup(service.name(), "acct").as_deref(),
        Some("sk-from-keyshell-2")
    );
    let found = secret_tool_search(service.name());
    assert_eq!(
        found.matches("attribute.username = acct").count(),
        1,
        "one item:\n{found}"
    );
    for attribute in [
        format!("attribute.service = {}", service.name()),
        "attribute.target = default".to_string(),
        "attribute.application = rust-keyring".to_string(),
    ] {
        assert!(
            found.contains(&attribute),
            "missing {attribute:?} in:\n{found}"
        );
    }
    assert!(
        !found.contains("__securestore_probe__"),
        "probe items are removed:\n{found}"
    );
}

#[tokio::test]
async fn items_secret_tool_stores_llxprt_style_are_read_by_keyshell() {
    let Some(keyring) = real_keyring("items_secret_tool_stores_are_read_by_keyshell").await else {
        return;
    };
    let service = TestService::new();
    let root = TempDir::new().unwrap();
    secret_tool_store(service.name(), "acct", "sk-from-llxprt");
    let store = store_on(&keyring, service.name(), root.path());

    assert_eq!(
        store.get("acct").await.unwrap().unwrap().expose(),
        "sk-from-llxprt"
    );
    assert!(store.has("acct").await.unwrap());
    assert_eq!(store.list().await.unwrap(), ["acct"]);

    store.set("acct", "sk-updated").await.unwrap();
    assert_eq!(
        secret_tool_lookup(service.name(), "acct").as_deref(),
        Some("sk-updated")
    );
    let found = secret_tool_search(service.name());
    assert_eq!(
        found.matches("attribute.username = acct").count(),
        1,
        "updated in place:\n{found}"
    );

    assert!(store.delete("acct").await.unwrap());
    assert_eq!(secret_tool_lookup(service.name(), "acct"), None);
}

#[tokio::test]
async fn the_default_loader_reaches_the_secret_service() {
    if real_keyring("the_default_loader_reaches_the_secret_service")
        .await
        .is_none()
    {
        return;
    }
    if keyshell::store::os_keyring_disabled() {
        panic!("KEYSHELL_REAL_KEYRING=1 but LLXPRT_DISABLE_OS_KEYRING turns the keyring off");
    }
    let service = TestService::new();
    let root = TempDir::new().unwrap();
    let mut opts = SecureStoreOptions::new(root.path());
    opts.fallback_dir = Some(root.path().join("fallback"));
    let store = SecureStore::new(service.name(), opts);

    assert!(store.is_keychain_available().await);
    assert_eq!(store.set("k", "v").await.unwrap(), StoredIn::Keyring);
    assert_eq!(
        secret_tool_lookup(service.name(), "k").as_deref(),
        Some("v")
    );
    assert_eq!(
        store.keyring_description().await.as_deref(),
        Some("Secret Service (D-Bus)")
    );
}
