//! SecureStore's rules (SPEC §3), one test per rule, against real files in a
//! temp data root and an injected in-memory keyring.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyshell::store::machine::current_machine_id;
use keyshell::store::{
    ErrorCode, FallbackPolicy, KeyringAdapter, KeyringError, KeyringLoader, MemoryKeyring,
    SecureStore, SecureStoreError, StoredIn,
};
use serde_json::{Value, json};
use support::{
    MACHINE_SECRET_ACCOUNT, MACHINE_SECRET_SERVICE, SERVICE, dir_names, fallback_dir, file_store,
    install_machine_secret_file, memory_store, python_encrypt, python_ready, random_secret_b64,
    store,
};
use tempfile::TempDir;

use FallbackPolicy::{Allow, Deny};

const MSG_NOT_JSON: &str = "Fallback file is corrupt or uses an unrecognized format";
const MSG_MALFORMED: &str = "Fallback file envelope is malformed";
const MSG_DECRYPT: &str = "Failed to decrypt fallback file";
const MSG_NO_SECRET: &str = "v:2 fallback file cannot be decrypted: no machine secret is available. The OS keyring may be disabled or unavailable and no machine-secret file exists on disk.";
const MSG_REFUSE_SECRET: &str = "Refusing to generate a replacement machine secret while the OS keyring is disabled and v:2 fallback files exist: doing so would permanently orphan them.";

fn enc_path(root: &Path, key: &str) -> std::path::PathBuf {
    fallback_dir(root).join(format!("{key}.enc"))
}

fn value_of(secret: Option<keyshell::store::Secret>) -> Option<String> {
    secret.map(|s| s.expose().to_string())
}

fn assert_error(err: &SecureStoreError, code: ErrorCode, message: &str) {
    assert_eq!(
        (err.code, err.message.as_str()),
        (code, message),
        "unexpected error: {err:?}"
    );
}

/// The `.enc` files of the fallback dir (no temp files, no other names).
fn enc_files(root: &Path) -> Vec<String> {
    dir_names(&fallback_dir(root))
        .into_iter()
        .filter(|n| n.ends_with(".enc"))
        .collect()
}

// ---- where values go and come from ----------------------------------------------

#[tokio::test]
async fn the_keyring_value_wins_over_the_file_value() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "from-file").await.unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(SERVICE, "k", "from-keyring");

    assert_eq!(
        value_of(store.get("k").await.unwrap()).as_deref(),
        Some("from-keyring")
    );
}

#[tokio::test]
async fn set_with_a_working_keyring_goes_to_the_keyring_and_removes_a_stale_file() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "old").await.unwrap();
    assert_eq!(enc_files(root.path()), ["k.enc"]);
    let (store, keyring) = memory_store(root.path(), Allow);

    assert_eq!(store.set("k", "new").await.unwrap(), StoredIn::Keyring);

    assert_eq!(keyring.peek(SERVICE, "k").as_deref(), Some("new"));
    assert!(
        enc_files(root.path()).is_empty(),
        "the stale .enc must be deleted"
    );
    assert_eq!(
        value_of(store.get("k").await.unwrap()).as_deref(),
        Some("new")
    );
}

#[tokio::test]
async fn deny_policy_without_a_keyring_is_unavailable_and_writes_nothing() {
    let root = TempDir::new().unwrap();
    let store = store(root.path(), KeyringLoader::none(), Deny);

    let err = store.set("k", "v").await.unwrap_err();

    assert_error(
        &err,
        ErrorCode::Unavailable,
        "Keyring is unavailable and fallback is denied",
    );
    assert_eq!(
        err.remediation,
        "Use --key, install a keyring backend, or change fallbackPolicy to allow"
    );
    assert!(
        dir_names(root.path()).is_empty(),
        "{:?}",
        dir_names(root.path())
    );
}

#[tokio::test]
async fn allow_policy_without_a_keyring_writes_the_file() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());

    assert_eq!(store.set("k", "v").await.unwrap(), StoredIn::File);
    assert!(!store.is_keychain_available().await);
    assert_eq!(enc_files(root.path()), ["k.enc"]);
    assert_eq!(
        value_of(store.get("k").await.unwrap()).as_deref(),
        Some("v")
    );
    assert_eq!(store.get("missing").await.unwrap(), None);
}

// ---- the availability probe ---------------------------------------------------

#[tokio::test]
async fn a_second_set_within_the_probe_ttl_does_not_reprobe() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);

    assert_eq!(store.set("a", "1").await.unwrap(), StoredIn::Keyring);
    assert_eq!(keyring.calls(), 4, "probe (set, get, delete) + set");
    assert_eq!(store.set("b", "2").await.unwrap(), StoredIn::Keyring);
    assert_eq!(keyring.calls(), 5, "only the set itself");
    assert!(store.is_keychain_available().await);
    assert_eq!(keyring.calls(), 5, "the cached probe answers");

    let accounts: Vec<String> = keyring
        .find_credentials(SERVICE)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|(account, _)| account)
        .collect();
    assert_eq!(accounts, ["a", "b"], "the probe account is cleaned up");
}

#[tokio::test]
async fn an_unavailable_probe_result_is_cached_too() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.fail_next_with(1, ErrorCode::Unavailable, "no provider");

    assert!(!store.is_keychain_available().await);
    assert_eq!(keyring.calls(), 1);
    assert!(!store.is_keychain_available().await);
    assert_eq!(store.set("k", "v").await.unwrap(), StoredIn::File);
    assert_eq!(
        keyring.calls(),
        1,
        "a cached 'unavailable' keeps every call off the keyring"
    );
}

#[tokio::test]
async fn a_timed_out_probe_is_not_cached() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.fail_next_with(1, ErrorCode::Timeout, "the keyring timed out");

    assert!(!store.is_keychain_available().await);
    assert_eq!(keyring.calls(), 1);
    assert!(
        store.is_keychain_available().await,
        "the next call probes again"
    );
    assert_eq!(keyring.calls(), 4);
}

#[tokio::test]
async fn a_probe_that_hits_the_keyring_timeout_is_not_cached() {
    let root = TempDir::new().unwrap();
    let keyring = Arc::new(MemoryKeyring::new());
    let mut opts = support::options(
        root.path(),
        KeyringLoader::with_adapter(keyring.clone()),
        Allow,
    );
    opts.keyring_timeout = Duration::from_millis(200);
    let store = SecureStore::new(SERVICE, opts);
    keyring.stall(Some(Duration::from_secs(2)));

    assert!(!store.is_keychain_available().await);
    keyring.stall(None);
    assert!(store.is_keychain_available().await);
}

#[tokio::test]
async fn three_consecutive_keyring_failures_clear_the_probe_cache() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    store.set("a", "1").await.unwrap();
    assert_eq!(keyring.calls(), 4);

    keyring.fail_next_with(3, ErrorCode::Unavailable, "connection reset");
    for _ in 0..3 {
        assert_eq!(store.get("missing").await.unwrap(), None);
    }
    assert_eq!(keyring.calls(), 7);

    assert_eq!(store.set("b", "2").await.unwrap(), StoredIn::Keyring);
    assert_eq!(keyring.calls(), 11, "probe (3) + set (1) again");
}

#[tokio::test]
async fn two_failures_or_a_success_in_between_keep_the_probe_cache() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    store.set("a", "1").await.unwrap();

    keyring.fail_next_with(2, ErrorCode::Unavailable, "connection reset");
    store.get("a").await.unwrap();
    store.get("a").await.unwrap();
    assert_eq!(store.get("a").await.unwrap().unwrap().expose(), "1");
    keyring.fail_next_with(1, ErrorCode::Unavailable, "connection reset");
    store.get("a").await.unwrap();
    assert_eq!(keyring.calls(), 8);

    store.set("b", "2").await.unwrap();
    assert_eq!(
        keyring.calls(),
        9,
        "the success reset the count: no re-probe"
    );
}

// ---- failure classification and what each failure means -------------------------

#[tokio::test]
async fn keyring_errors_without_a_kind_are_classified_from_their_message() {
    let table = [
        ("Collection is locked", ErrorCode::Locked),
        ("UNLOCK FAILED: Keyring LOCKED", ErrorCode::Locked),
        ("Access denied by policy", ErrorCode::Denied),
        ("no permission to read item", ErrorCode::Denied),
        ("operation timeout", ErrorCode::Timeout),
        ("D-Bus call timed out", ErrorCode::Timeout),
        ("item not found", ErrorCode::NotFound),
        (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            ErrorCode::Unavailable,
        ),
        ("locked; permission denied", ErrorCode::Locked),
    ];
    for (message, code) in table {
        assert_eq!(
            KeyringError::unclassified(message).code(),
            code,
            "{message}"
        );
    }
    // A backend's own kind wins over its message.
    assert_eq!(
        KeyringError::new(ErrorCode::Unavailable, "the keyring is locked").code(),
        ErrorCode::Unavailable
    );
}

#[tokio::test]
async fn get_reports_locked_and_denied_but_falls_back_on_other_failures() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "from-file").await.unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);

    for message in [
        "Collection is locked",
        "Access denied",
        "permission refused",
    ] {
        keyring.fail_next(1, KeyringError::unclassified(message));
        let err = store.get("k").await.unwrap_err();
        let expected = KeyringError::unclassified(message).code();
        assert_error(&err, expected, message);
        assert_eq!(err.remediation, expected.remediation());
    }
    for message in ["call timed out", "item not found", "bus went away"] {
        keyring.fail_next(1, KeyringError::unclassified(message));
        let got = store
            .get("k")
            .await
            .unwrap_or_else(|e| panic!("{message}: {e:?}"));
        assert_eq!(value_of(got).as_deref(), Some("from-file"), "{message}");
    }
}

#[tokio::test]
async fn get_with_a_locked_keyring_fails_even_though_a_file_exists() {
    let root = TempDir::new().unwrap();
    file_store(root.path())
        .set("k", "possibly-stale")
        .await
        .unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.fail_next_with(1, ErrorCode::Locked, "The default collection is locked");

    let err = store.get("k").await.unwrap_err();

    assert_error(&err, ErrorCode::Locked, "The default collection is locked");
    assert_eq!(err.remediation, "Unlock your keyring");
}

#[tokio::test]
async fn get_with_an_unavailable_keyring_serves_the_file() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "from-file").await.unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.fail_next_with(10, ErrorCode::Unavailable, "no secret service");

    assert_eq!(
        value_of(store.get("k").await.unwrap()).as_deref(),
        Some("from-file")
    );
}

#[tokio::test]
async fn set_with_a_locked_keyring_reports_it_and_writes_no_file() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.fail_next(
        1,
        KeyringError::unclassified("Cannot create an item in a locked collection"),
    );

    let err = store.set("k", "sk-never-shown").await.unwrap_err();

    assert_error(
        &err,
        ErrorCode::Locked,
        "Cannot create an item in a locked collection",
    );
    assert!(!format!("{err:?}{err}").contains("sk-never-shown"));
    assert!(
        !fallback_dir(root.path()).exists(),
        "{:?}",
        dir_names(root.path())
    );
    assert!(!root.path().join("machine_secret").exists());
}

#[tokio::test]
async fn set_with_a_denying_keyring_reports_it_and_writes_no_file() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    store.set("first", "1").await.unwrap();
    keyring.fail_next_with(1, ErrorCode::Denied, "access denied by the user");

    let err = store.set("k", "sk-never-shown").await.unwrap_err();

    assert_error(&err, ErrorCode::Denied, "access denied by the user");
    assert!(enc_files(root.path()).is_empty());
    assert!(!root.path().join("machine_secret").exists());
}

#[tokio::test]
async fn set_falls_back_to_the_file_when_the_keyring_write_is_unavailable() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    store.set("first", "1").await.unwrap();
    keyring.fail_next_with(1, ErrorCode::Unavailable, "bus closed");

    assert_eq!(store.set("k", "v").await.unwrap(), StoredIn::File);
    assert_eq!(enc_files(root.path()), ["k.enc"]);
}

#[tokio::test]
async fn set_with_deny_policy_refuses_when_the_keyring_write_times_out() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Deny);
    store.set("first", "1").await.unwrap();
    keyring.fail_next_with(1, ErrorCode::Timeout, "timed out");

    let err = store.set("k", "v").await.unwrap_err();

    assert_error(
        &err,
        ErrorCode::Unavailable,
        "Keyring is unavailable and fallback is denied",
    );
    assert!(enc_files(root.path()).is_empty());
}

// ---- delete ----------------------------------------------------------------------

#[tokio::test]
async fn delete_removes_both_copies_and_says_whether_any_existed() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "file").await.unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(SERVICE, "k", "keyring");

    assert!(store.delete("k").await.unwrap());

    assert_eq!(keyring.peek(SERVICE, "k"), None);
    assert!(enc_files(root.path()).is_empty());
    assert_eq!(store.get("k").await.unwrap(), None);
    assert!(!store.delete("k").await.unwrap(), "nothing left to delete");
}

#[tokio::test]
async fn delete_of_a_file_only_key_returns_true() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    store.set("k", "v").await.unwrap();

    assert!(store.delete("k").await.unwrap());
    assert!(enc_files(root.path()).is_empty());
}

#[tokio::test]
async fn delete_reports_a_keyring_copy_it_could_not_remove() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "file").await.unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(SERVICE, "k", "keyring");
    keyring.fail_next_with(1, ErrorCode::Locked, "collection is locked");

    let err = store.delete("k").await.unwrap_err();

    assert_eq!(err.code, ErrorCode::Locked);
    assert!(err.message.contains("OS keyring"), "{}", err.message);
    assert!(err.message.contains("'k'"), "{}", err.message);
    assert!(
        err.message.contains("collection is locked"),
        "{}",
        err.message
    );
    assert_eq!(keyring.peek(SERVICE, "k").as_deref(), Some("keyring"));
    // A keyring that refuses (LOCKED, DENIED) refuses the whole delete:
    // nothing is half-applied (SPEC §8), so the file copy stays too.
    assert_eq!(enc_files(root.path()), ["k.enc"], "the file copy is kept");
}

#[tokio::test]
async fn delete_reports_a_file_copy_it_could_not_remove() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(SERVICE, "k", "keyring");
    // Something at `k.enc` that unlink(2) refuses even for root: a directory.
    let path = enc_path(root.path(), "k");
    std::fs::create_dir_all(&path).unwrap();

    let err = store.delete("k").await.unwrap_err();

    assert!(
        err.message.contains(&path.display().to_string()),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("could not be removed"),
        "{}",
        err.message
    );
    assert_eq!(
        keyring.peek(SERVICE, "k"),
        None,
        "the keyring copy is still removed"
    );
    assert!(path.exists());
}

#[tokio::test]
async fn delete_reports_a_file_in_a_read_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    if support::is_root() {
        // Root ignores directory modes (CAP_DAC_OVERRIDE), so a 0500 directory
        // cannot make unlink fail; the directory-at-`k.enc` test covers the
        // same report for root.
        println!("skipped: running as root, a read-only directory does not stop unlink");
        return;
    }
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    store.set("k", "v").await.unwrap();
    let dir = fallback_dir(root.path());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();

    let err = store.delete("k").await;

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = err.unwrap_err();
    let path = enc_path(root.path(), "k");
    assert!(
        err.message.contains(&path.display().to_string()),
        "{}",
        err.message
    );
    assert!(path.exists());
}

// ---- list and has ---------------------------------------------------------------

#[tokio::test]
async fn list_merges_keyring_and_files_without_decrypting() {
    let root = TempDir::new().unwrap();
    let files = file_store(root.path());
    files.set("file-only", "1").await.unwrap();
    files.set("both", "2").await.unwrap();
    files.set("a:b", "3").await.unwrap();
    let dir = fallback_dir(root.path());
    std::fs::write(dir.join("garbage.enc"), "this is not an envelope").unwrap();
    std::fs::write(dir.join("left.enc.tmp.ab12cd34"), "temp").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a key").unwrap();
    std::fs::write(dir.join("..enc"), "key '.'").unwrap();
    std::fs::write(dir.join("...enc"), "key '..'").unwrap();
    std::fs::write(dir.join(".enc"), "empty key").unwrap();
    std::fs::create_dir(dir.join("subdir.enc")).unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(SERVICE, "keyring-only", "4");
    keyring.insert(SERVICE, "both", "5");
    keyring.insert(SERVICE, "__securestore_probe__abcd1234", "probe-1");
    keyring.insert("another-service", "elsewhere", "6");

    let names = store.list().await.unwrap();

    assert_eq!(
        names,
        ["a:b", "both", "file-only", "garbage", "keyring-only"]
    );
}

#[tokio::test]
async fn list_without_a_keyring_or_a_directory_is_empty() {
    let root = TempDir::new().unwrap();
    assert!(file_store(root.path()).list().await.unwrap().is_empty());
}

#[tokio::test]
async fn has_checks_keyring_then_file_existence_without_decrypting() {
    let root = TempDir::new().unwrap();
    let dir = fallback_dir(root.path());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("garbage.enc"), "not an envelope").unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(SERVICE, "in-keyring", "v");

    assert!(store.has("in-keyring").await.unwrap());
    assert!(store.has("garbage").await.unwrap());
    assert!(!store.has("absent").await.unwrap());
    keyring.fail_next_with(1, ErrorCode::Locked, "locked");
    assert_eq!(
        store.has("absent").await.unwrap_err().code,
        ErrorCode::Locked
    );
}

// ---- keys ------------------------------------------------------------------------

#[tokio::test]
async fn invalid_keys_are_corrupt_with_llxprts_messages() {
    let root = TempDir::new().unwrap();
    let (store, keyring) = memory_store(root.path(), Allow);
    let cases = [
        ("", "Key must not be empty"),
        ("a/b", "Key contains path separator: a/b"),
        ("a\\b", "Key contains path separator: a\\b"),
        ("a\0b", "Key contains null byte"),
        (".", "Key contains relative-path component: ."),
        ("..", "Key contains relative-path component: .."),
        // `./x` and `../x` hold a `/`: llxprt's first matching rule (the
        // separator) names them, so the relative-path message is reached by
        // `.` and `..` alone.
        ("./x", "Key contains path separator: ./x"),
        ("../x", "Key contains path separator: ../x"),
    ];
    for (key, message) in cases {
        let errors = [
            store.set(key, "v").await.map(|_| ()).unwrap_err(),
            store.get(key).await.map(|_| ()).unwrap_err(),
            store.delete(key).await.map(|_| ()).unwrap_err(),
            store.has(key).await.map(|_| ()).unwrap_err(),
        ];
        for err in errors {
            assert_error(&err, ErrorCode::Corrupt, message);
            assert_eq!(err.remediation, "Re-save the key or re-authenticate");
        }
    }
    assert_eq!(
        keyring.calls(),
        0,
        "validation comes before any keyring call"
    );
    assert!(dir_names(root.path()).is_empty());
}

#[tokio::test]
async fn keys_that_only_look_relative_are_accepted() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    for key in [".hidden", "..x", "a..b", "...", "x."] {
        assert_eq!(store.set(key, key).await.unwrap(), StoredIn::File, "{key}");
        assert_eq!(
            value_of(store.get(key).await.unwrap()).as_deref(),
            Some(key)
        );
    }
}

#[tokio::test]
async fn file_names_percent_encode_reserved_characters() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    let key = "a*b<c>d:e\"f|g?h";

    store.set(key, "v").await.unwrap();

    assert_eq!(
        enc_files(root.path()),
        ["a%2Ab%3Cc%3Ed%3Ae%22f%7Cg%3Fh.enc"]
    );
    assert_eq!(store.list().await.unwrap(), [key]);
    assert_eq!(
        value_of(store.get(key).await.unwrap()).as_deref(),
        Some("v")
    );
}

// ---- the envelope on disk ----------------------------------------------------------

#[tokio::test]
async fn a_v1_file_from_an_independent_writer_is_read() {
    if !python_ready("a_v1_file_from_an_independent_writer_is_read") {
        return;
    }
    let root = TempDir::new().unwrap();
    std::fs::create_dir_all(fallback_dir(root.path())).unwrap();
    let id = current_machine_id();
    python_encrypt(
        &enc_path(root.path(), "v1key"),
        SERVICE,
        &id,
        None,
        "sk-v1-value",
        None,
    );

    let store = file_store(root.path());

    assert_eq!(
        value_of(store.get("v1key").await.unwrap()).as_deref(),
        Some("sk-v1-value")
    );
}

#[tokio::test]
async fn a_v2_file_is_read_with_the_machine_secret_file() {
    if !python_ready("a_v2_file_is_read_with_the_machine_secret_file") {
        return;
    }
    let root = TempDir::new().unwrap();
    std::fs::create_dir_all(fallback_dir(root.path())).unwrap();
    let secret = random_secret_b64();
    install_machine_secret_file(root.path(), &secret);
    let id = current_machine_id();
    python_encrypt(
        &enc_path(root.path(), "v2key"),
        SERVICE,
        &id,
        Some(&secret),
        "sk-v2",
        None,
    );

    let store = file_store(root.path());

    assert_eq!(
        value_of(store.get("v2key").await.unwrap()).as_deref(),
        Some("sk-v2")
    );
}

#[tokio::test]
async fn a_v2_file_is_read_with_the_keyring_machine_secret_which_wins_over_the_file() {
    if !python_ready("a_v2_file_is_read_with_the_keyring_machine_secret") {
        return;
    }
    let root = TempDir::new().unwrap();
    std::fs::create_dir_all(fallback_dir(root.path())).unwrap();
    let secret = random_secret_b64();
    install_machine_secret_file(root.path(), &random_secret_b64());
    let id = current_machine_id();
    python_encrypt(
        &enc_path(root.path(), "v2key"),
        SERVICE,
        &id,
        Some(&secret),
        "sk-kr",
        None,
    );
    let (store, keyring) = memory_store(root.path(), Allow);
    keyring.insert(MACHINE_SECRET_SERVICE, MACHINE_SECRET_ACCOUNT, &secret);

    assert_eq!(
        value_of(store.get("v2key").await.unwrap()).as_deref(),
        Some("sk-kr")
    );
}

#[tokio::test]
async fn writes_are_compact_v2_envelopes_without_a_trailing_newline() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    store.set("k", "sk-0123456789").await.unwrap();
    let first = std::fs::read_to_string(enc_path(root.path(), "k")).unwrap();
    store.set("k", "sk-0123456789").await.unwrap();
    let second = std::fs::read_to_string(enc_path(root.path(), "k")).unwrap();

    for text in [&first, &second] {
        let prefix = r#"{"v":2,"crypto":{"alg":"aes-256-gcm","kdf":"scrypt","N":16384,"r":8,"p":1,"saltLen":16},"data":""#;
        let data = text
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("\"}"))
            .unwrap_or_else(|| panic!("not the canonical envelope: {text:?}"));
        let raw = STANDARD.decode(data).expect("standard padded base64");
        assert_eq!(STANDARD.encode(&raw), data, "canonical padding");
        assert_eq!(raw.len(), 16 + 12 + 16 + "sk-0123456789".len());
    }
    let iv = |text: &str| {
        let data = text
            .rsplit_once("\"data\":\"")
            .unwrap()
            .1
            .trim_end_matches("\"}");
        STANDARD.decode(data).unwrap()[16..28].to_vec()
    };
    assert_ne!(iv(&first), iv(&second), "every write has a fresh IV");
}

/// A valid v2 file for `k` written by keyshell, and its JSON.
async fn valid_envelope(root: &Path) -> (SecureStore, Value) {
    let store = file_store(root);
    store.set("k", "sk-secret-value").await.unwrap();
    let text = std::fs::read_to_string(enc_path(root, "k")).unwrap();
    (store, serde_json::from_str(&text).unwrap())
}

fn with_data(envelope: &Value, edit: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut raw = STANDARD.decode(envelope["data"].as_str().unwrap()).unwrap();
    edit(&mut raw);
    let mut out = envelope.clone();
    out["data"] = Value::from(STANDARD.encode(raw));
    out
}

fn with_field(envelope: &Value, pointer: &str, value: Value) -> Value {
    let mut out = envelope.clone();
    *out.pointer_mut(pointer).unwrap() = value;
    out
}

#[tokio::test]
async fn unknown_envelope_versions_are_corrupt_with_llxprts_message() {
    let root = TempDir::new().unwrap();
    let (store, envelope) = valid_envelope(root.path()).await;
    let cases = [
        (json!(3), "3"),
        (json!(0), "0"),
        (json!(-1), "-1"),
        (json!("2"), "2"),
        (json!(null), "null"),
        (json!(1.5), "1.5"),
    ];
    for (v, shown) in cases {
        std::fs::write(
            enc_path(root.path(), "k"),
            with_field(&envelope, "/v", v).to_string(),
        )
        .unwrap();
        let err = store.get("k").await.unwrap_err();
        assert_error(
            &err,
            ErrorCode::Corrupt,
            &format!(
                "Unrecognized envelope version: {shown}. This file may require a newer version."
            ),
        );
        assert_eq!(
            err.remediation,
            "upgrade to the latest version or re-save the key"
        );
    }
}

#[tokio::test]
async fn every_kind_of_tampering_is_corrupt_with_llxprts_messages() {
    let root = TempDir::new().unwrap();
    let (store, envelope) = valid_envelope(root.path()).await;
    let mut no_crypto = envelope.clone();
    no_crypto.as_object_mut().unwrap().remove("crypto");
    let mut no_data = envelope.clone();
    no_data.as_object_mut().unwrap().remove("data");
    let mut no_version = envelope.clone();
    no_version.as_object_mut().unwrap().remove("v");
    let last = |raw: &mut Vec<u8>| raw.len() - 1;

    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "garbage".into(), MSG_NOT_JSON),
        ("empty file", String::new(), MSG_NOT_JSON),
        ("a JSON array", "[1,2]".into(), MSG_NOT_JSON),
        ("a JSON string", "\"v\"".into(), MSG_NOT_JSON),
        (
            "truncated JSON",
            envelope.to_string()[..40].to_string(),
            MSG_NOT_JSON,
        ),
        (
            "other alg",
            with_field(&envelope, "/crypto/alg", json!("aes-128-gcm")).to_string(),
            MSG_MALFORMED,
        ),
        (
            "other kdf",
            with_field(&envelope, "/crypto/kdf", json!("pbkdf2")).to_string(),
            MSG_MALFORMED,
        ),
        (
            "other N",
            with_field(&envelope, "/crypto/N", json!(32768)).to_string(),
            MSG_MALFORMED,
        ),
        (
            "other r",
            with_field(&envelope, "/crypto/r", json!(16)).to_string(),
            MSG_MALFORMED,
        ),
        (
            "other p",
            with_field(&envelope, "/crypto/p", json!(2)).to_string(),
            MSG_MALFORMED,
        ),
        (
            "other saltLen",
            with_field(&envelope, "/crypto/saltLen", json!(32)).to_string(),
            MSG_MALFORMED,
        ),
        (
            "N as a string",
            with_field(&envelope, "/crypto/N", json!("16384")).to_string(),
            MSG_MALFORMED,
        ),
        ("no crypto", no_crypto.to_string(), MSG_MALFORMED),
        (
            "crypto not an object",
            with_field(&envelope, "/crypto", json!("aes")).to_string(),
            MSG_MALFORMED,
        ),
        ("no data", no_data.to_string(), MSG_MALFORMED),
        (
            "data a number",
            with_field(&envelope, "/data", json!(42)).to_string(),
            MSG_MALFORMED,
        ),
        (
            "data not base64",
            with_field(&envelope, "/data", json!("!!!not base64!!!")).to_string(),
            MSG_MALFORMED,
        ),
        (
            "data shorter than the header",
            with_field(&envelope, "/data", json!(STANDARD.encode([0u8; 43]))).to_string(),
            MSG_MALFORMED,
        ),
        (
            "a flipped salt bit",
            with_data(&envelope, |raw| raw[0] ^= 1).to_string(),
            MSG_DECRYPT,
        ),
        (
            "a flipped IV bit",
            with_data(&envelope, |raw| raw[16] ^= 0x80).to_string(),
            MSG_DECRYPT,
        ),
        (
            "a flipped tag bit",
            with_data(&envelope, |raw| raw[28] ^= 1).to_string(),
            MSG_DECRYPT,
        ),
        (
            "a flipped ciphertext bit",
            with_data(&envelope, |raw| {
                let i = last(raw);
                raw[i] ^= 1
            })
            .to_string(),
            MSG_DECRYPT,
        ),
        (
            "a dropped ciphertext byte",
            with_data(&envelope, |raw| {
                raw.pop();
            })
            .to_string(),
            MSG_DECRYPT,
        ),
        (
            "an appended byte",
            with_data(&envelope, |raw| raw.push(0)).to_string(),
            MSG_DECRYPT,
        ),
        (
            "relabelled as v1",
            with_field(&envelope, "/v", json!(1)).to_string(),
            MSG_DECRYPT,
        ),
    ];
    // A missing `v` is CORRUPT; llxprt's exact text for it is not recorded.
    std::fs::write(enc_path(root.path(), "k"), no_version.to_string()).unwrap();
    assert_eq!(store.get("k").await.unwrap_err().code, ErrorCode::Corrupt);
    for (what, contents, message) in cases {
        std::fs::write(enc_path(root.path(), "k"), &contents).unwrap();
        match store.get("k").await {
            Err(err) => {
                assert_eq!(
                    (err.code, err.message.as_str()),
                    (ErrorCode::Corrupt, message),
                    "{what}"
                );
                assert!(!format!("{err:?}").contains("sk-secret-value"), "{what}");
            }
            Ok(value) => panic!("{what}: read {:?} instead of failing", value_of(value)),
        }
    }
}

#[tokio::test]
async fn a_decryption_failure_suggests_another_machine() {
    let root = TempDir::new().unwrap();
    let (store, envelope) = valid_envelope(root.path()).await;
    let tampered = with_data(&envelope, |raw| raw[30] ^= 1);
    std::fs::write(enc_path(root.path(), "k"), tampered.to_string()).unwrap();

    let err = store.get("k").await.unwrap_err();

    assert_eq!(
        err.remediation,
        "Re-save the key or re-authenticate. The file may have been created on a different machine."
    );
}

#[tokio::test]
async fn lenient_but_equivalent_envelopes_are_read() {
    let root = TempDir::new().unwrap();
    let (store, envelope) = valid_envelope(root.path()).await;
    let data = envelope["data"].as_str().unwrap().to_string();
    let crypto = r#"{"saltLen":16,"p":1,"r":8,"N":16384,"kdf":"scrypt","alg":"aes-256-gcm"}"#;
    let variants = [
        format!("{envelope}\n"),
        format!("{{\n  \"data\": \"{data}\",\n  \"crypto\": {crypto},\n  \"v\": 2\n}}"),
        format!(r#"{{"v":2,"crypto":{crypto},"data":"{data}","note":"extra fields are ignored"}}"#),
        format!(
            r#"{{"v":2,"crypto":{crypto},"data":"{}"}}"#,
            data.replace('+', "-").replace('/', "_")
        ),
    ];
    for text in variants {
        std::fs::write(enc_path(root.path(), "k"), &text).unwrap();
        let got = store
            .get("k")
            .await
            .unwrap_or_else(|e| panic!("{text}: {e:?}"));
        assert_eq!(value_of(got).as_deref(), Some("sk-secret-value"), "{text}");
    }
}

#[tokio::test]
async fn a_file_of_another_service_or_machine_secret_does_not_decrypt() {
    let root = TempDir::new().unwrap();
    let other = TempDir::new().unwrap();
    let mut opts = support::options(root.path(), KeyringLoader::none(), Allow);
    opts.fallback_dir = Some(other.path().to_path_buf());
    SecureStore::new("another-service", opts)
        .set("k", "v")
        .await
        .unwrap();
    std::fs::create_dir_all(fallback_dir(root.path())).unwrap();
    std::fs::copy(other.path().join("k.enc"), enc_path(root.path(), "k")).unwrap();

    let err = file_store(root.path()).get("k").await.unwrap_err();
    assert_error(&err, ErrorCode::Corrupt, MSG_DECRYPT);

    install_machine_secret_file(root.path(), &random_secret_b64());
    file_store(root.path()).set("mine", "v").await.unwrap();
    install_machine_secret_file(root.path(), &random_secret_b64());
    let err = file_store(root.path()).get("mine").await.unwrap_err();
    assert_error(&err, ErrorCode::Corrupt, MSG_DECRYPT);
}

#[tokio::test]
async fn a_v2_file_without_any_machine_secret_is_corrupt() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "v").await.unwrap();
    std::fs::remove_file(root.path().join("machine_secret")).unwrap();

    let err = file_store(root.path()).get("k").await.unwrap_err();

    assert_error(&err, ErrorCode::Corrupt, MSG_NO_SECRET);
    assert!(
        !root.path().join("machine_secret").exists(),
        "reads never create a secret"
    );
}

// ---- no downgrade and the machine secret ---------------------------------------------

#[tokio::test]
async fn a_v1_file_is_rewritten_as_v2() {
    if !python_ready("a_v1_file_is_rewritten_as_v2") {
        return;
    }
    let root = TempDir::new().unwrap();
    std::fs::create_dir_all(fallback_dir(root.path())).unwrap();
    let id = current_machine_id();
    python_encrypt(&enc_path(root.path(), "k"), SERVICE, &id, None, "old", None);
    let before = std::fs::read_to_string(enc_path(root.path(), "k")).unwrap();
    assert!(before.starts_with(r#"{"v":1,"#));
    let store = file_store(root.path());

    store.set("k", "new").await.unwrap();

    let after = std::fs::read_to_string(enc_path(root.path(), "k")).unwrap();
    assert!(after.starts_with(r#"{"v":2,"#), "{after}");
    assert_eq!(
        value_of(file_store(root.path()).get("k").await.unwrap()).as_deref(),
        Some("new")
    );
}

#[tokio::test]
async fn a_v2_file_is_never_rewritten_without_a_usable_machine_secret() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "v2-value").await.unwrap();
    let before = std::fs::read(enc_path(root.path(), "k")).unwrap();
    std::fs::write(root.path().join("machine_secret"), "not a machine secret").unwrap();

    let err = file_store(root.path())
        .set("k", "replacement")
        .await
        .unwrap_err();

    assert_eq!(err.code, ErrorCode::Corrupt, "{err:?}");
    assert!(err.message.contains("machine secret"), "{}", err.message);
    assert_eq!(std::fs::read(enc_path(root.path(), "k")).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(root.path().join("machine_secret")).unwrap(),
        "not a machine secret"
    );
}

#[tokio::test]
async fn without_a_keyring_and_with_v2_files_set_refuses_to_make_a_new_secret() {
    let root = TempDir::new().unwrap();
    file_store(root.path()).set("k", "v2-value").await.unwrap();
    let before = std::fs::read(enc_path(root.path(), "k")).unwrap();
    std::fs::remove_file(root.path().join("machine_secret")).unwrap();

    let err = file_store(root.path()).set("other", "v").await.unwrap_err();

    assert_error(&err, ErrorCode::Unavailable, MSG_REFUSE_SECRET);
    assert!(!root.path().join("machine_secret").exists());
    assert_eq!(enc_files(root.path()), ["k.enc"]);
    assert_eq!(std::fs::read(enc_path(root.path(), "k")).unwrap(), before);
}

#[tokio::test]
async fn without_a_keyring_the_machine_secret_file_is_created_once_and_reused() {
    let root = TempDir::new().unwrap();
    let secret_path = root.path().join("machine_secret");
    let store = file_store(root.path());

    store.set("a", "1").await.unwrap();
    let secret = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(secret.len(), 44, "{secret:?}");
    assert!(!secret.ends_with('\n'));
    assert_eq!(STANDARD.decode(&secret).unwrap().len(), 32);

    store.set("b", "2").await.unwrap();
    store.set("a", "3").await.unwrap();
    let another = file_store(root.path());
    another.set("c", "4").await.unwrap();

    assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), secret);
    assert_eq!(
        value_of(another.get("a").await.unwrap()).as_deref(),
        Some("3")
    );
    assert_eq!(
        value_of(store.get("c").await.unwrap()).as_deref(),
        Some("4")
    );
}

#[tokio::test]
async fn with_a_keyring_the_machine_secret_lives_there_and_is_reused() {
    let root = TempDir::new().unwrap();
    let keyring = Arc::new(MemoryKeyring::new());
    let loader = || KeyringLoader::with_adapter(keyring.clone());
    let store = store(root.path(), loader(), Allow);

    assert_eq!(
        store.set("in-keyring", "1").await.unwrap(),
        StoredIn::Keyring
    );
    assert_eq!(
        keyring.peek(MACHINE_SECRET_SERVICE, MACHINE_SECRET_ACCOUNT),
        None
    );

    keyring.fail_next_with(1, ErrorCode::Unavailable, "bus hiccup");
    assert_eq!(store.set("b", "2").await.unwrap(), StoredIn::File);
    let secret = keyring
        .peek(MACHINE_SECRET_SERVICE, MACHINE_SECRET_ACCOUNT)
        .expect("the machine secret is created in the keyring");
    assert_eq!(STANDARD.decode(&secret).unwrap().len(), 32);
    assert!(!root.path().join("machine_secret").exists());

    keyring.fail_next_with(1, ErrorCode::Unavailable, "bus hiccup");
    assert_eq!(store.set("c", "3").await.unwrap(), StoredIn::File);
    let another = support::store(root.path(), loader(), Allow);
    another.set("d", "4").await.unwrap();
    keyring.fail_next_with(1, ErrorCode::Unavailable, "bus hiccup");
    assert_eq!(another.set("e", "5").await.unwrap(), StoredIn::File);

    assert_eq!(
        keyring.peek(MACHINE_SECRET_SERVICE, MACHINE_SECRET_ACCOUNT),
        Some(secret)
    );
    assert!(!root.path().join("machine_secret").exists());
    assert_eq!(
        value_of(another.get("b").await.unwrap()).as_deref(),
        Some("2")
    );
    assert_eq!(
        value_of(store.get("e").await.unwrap()).as_deref(),
        Some("5")
    );
}

// ---- atomicity and hangs ------------------------------------------------------------

#[tokio::test]
async fn writes_leave_no_temp_files_behind() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    for round in 0..3 {
        for key in ["a", "b", "c"] {
            store.set(key, &format!("{key}-{round}")).await.unwrap();
        }
    }
    store.delete("b").await.unwrap();

    assert_eq!(dir_names(&fallback_dir(root.path())), ["a.enc", "c.enc"]);
    let top: Vec<String> = dir_names(root.path());
    assert_eq!(top, ["fallback", "locks", "machine_secret"]);
    assert!(
        dir_names(&root.path().join("locks"))
            .iter()
            .all(|n| n.ends_with(".lock")),
        "{:?}",
        dir_names(&root.path().join("locks"))
    );
}

fn stalled_store(root: &Path, policy: FallbackPolicy) -> (SecureStore, Arc<MemoryKeyring>) {
    let keyring = Arc::new(MemoryKeyring::new());
    let mut opts = support::options(root, KeyringLoader::with_adapter(keyring.clone()), policy);
    opts.keyring_timeout = Duration::from_millis(200);
    keyring.stall(Some(Duration::from_secs(2)));
    (SecureStore::new(SERVICE, opts), keyring)
}

// The bound is on a hang (a 2 s stall per call), not on speed: it is generous.
const HANG_BOUND: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_stalled_keyring_times_out_and_set_and_get_fall_back_to_the_file() {
    let root = TempDir::new().unwrap();
    let (store, _keyring) = stalled_store(root.path(), Allow);

    let started = Instant::now();
    let stored = store.set("k", "v").await.unwrap();
    let set_took = started.elapsed();
    let started = Instant::now();
    let got = store.get("k").await.unwrap();
    let get_took = started.elapsed();

    assert_eq!(stored, StoredIn::File);
    assert_eq!(value_of(got).as_deref(), Some("v"));
    assert!(set_took < HANG_BOUND, "set took {set_took:?}");
    assert!(get_took < HANG_BOUND, "get took {get_took:?}");
}

#[tokio::test]
async fn a_stalled_keyring_with_deny_policy_is_unavailable_quickly() {
    let root = TempDir::new().unwrap();
    let (store, _keyring) = stalled_store(root.path(), Deny);

    let started = Instant::now();
    let err = store.set("k", "v").await.unwrap_err();
    let took = started.elapsed();

    assert_error(
        &err,
        ErrorCode::Unavailable,
        "Keyring is unavailable and fallback is denied",
    );
    assert!(took < HANG_BOUND, "set took {took:?}");
    assert!(enc_files(root.path()).is_empty());
}

#[tokio::test]
async fn keychain_availability_matches_the_loader() {
    let root = TempDir::new().unwrap();
    assert!(!file_store(root.path()).is_keychain_available().await);
    let (store, _keyring) = memory_store(root.path(), Allow);
    assert!(store.is_keychain_available().await);
}

#[tokio::test]
async fn a_machine_secret_the_keyring_fails_to_return_is_never_replaced() {
    let root = TempDir::new().unwrap();
    let keyring = Arc::new(MemoryKeyring::new());
    let loader = || KeyringLoader::with_adapter(keyring.clone());
    let first = store(root.path(), loader(), Allow);
    first.set("a", "1").await.unwrap();
    keyring.fail_next_with(1, ErrorCode::Unavailable, "bus hiccup");
    assert_eq!(
        first.set("b", "saved-in-a-file").await.unwrap(),
        StoredIn::File
    );
    let secret = keyring
        .peek(MACHINE_SECRET_SERVICE, MACHINE_SECRET_ACCOUNT)
        .unwrap();
    // A later run: the keyring is known to work (cached probe), then hiccups
    // on the key write and again on the machine-secret read.
    let later = store(root.path(), loader(), Allow);
    later.set("c", "3").await.unwrap();
    keyring.fail_next_with(2, ErrorCode::Unavailable, "bus hiccup");

    let result = later.set("d", "4").await;

    assert_eq!(
        keyring.peek(MACHINE_SECRET_SERVICE, MACHINE_SECRET_ACCOUNT),
        Some(secret),
        "the machine secret in the keyring was replaced (set returned {result:?})"
    );
    assert_error(
        &result.unwrap_err(),
        ErrorCode::Unavailable,
        "Refusing to generate a replacement machine secret while the OS keyring cannot be read and v:2 fallback files exist: doing so would permanently orphan them.",
    );
    assert!(!root.path().join("machine_secret").exists());
    let reader = store(root.path(), loader(), Allow);
    assert_eq!(
        value_of(reader.get("b").await.unwrap()).as_deref(),
        Some("saved-in-a-file"),
        "an existing file must stay readable"
    );
}

#[tokio::test]
async fn concurrent_first_writes_from_several_stores_share_one_machine_secret() {
    let root = TempDir::new().unwrap();
    let stores: Vec<Arc<SecureStore>> = (0..4).map(|_| Arc::new(file_store(root.path()))).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, store) in stores.iter().enumerate() {
        for j in 0..3 {
            let store = store.clone();
            tasks.spawn(async move {
                let key = format!("key-{i}-{j}");
                store
                    .set(&key, &format!("value-{i}-{j}"))
                    .await
                    .map(|_| key)
            });
        }
    }
    let mut written = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        written.push(joined.unwrap().unwrap());
    }

    let reader = file_store(root.path());
    for key in &written {
        let expected = key.replacen("key", "value", 1);
        assert_eq!(
            value_of(reader.get(key).await.unwrap()).as_deref(),
            Some(expected.as_str())
        );
    }
    assert_eq!(reader.list().await.unwrap().len(), 12);
    assert!(!dir_names(root.path()).iter().any(|n| n.contains(".tmp.")));
}

#[tokio::test]
async fn a_symlinked_fallback_file_is_refused() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    store.set("real", "v").await.unwrap();
    std::os::unix::fs::symlink(enc_path(root.path(), "real"), enc_path(root.path(), "link"))
        .unwrap();

    let err = store.get("link").await.unwrap_err();

    assert_eq!(err.code, ErrorCode::Corrupt);
    assert!(err.message.contains("symbolic link"), "{}", err.message);
}

#[tokio::test]
async fn stale_temp_files_are_removed_by_the_next_stores_first_write_and_fresh_ones_kept() {
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    store.set("a", "1").await.unwrap();
    let dir = fallback_dir(root.path());
    let stale = dir.join("a.enc.tmp.old00000");
    let fresh = dir.join("a.enc.tmp.new00000");
    std::fs::write(&stale, "left by a crash").unwrap();
    std::fs::write(&fresh, "a writer still at work").unwrap();
    let two_minutes_ago = std::time::SystemTime::now() - Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_minutes_ago)
        .unwrap();

    // One sweep per store instance (a script of n saves must not read the
    // directory n times): the next process's first write does it.
    let next = file_store(root.path());
    assert_eq!(next.list().await.unwrap(), ["a"]);
    next.set("b", "2").await.unwrap();

    assert!(!stale.exists());
    assert!(fresh.exists());
}
