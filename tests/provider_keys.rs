//! ProviderKeyStorage (SPEC §4): llxprt's name rule and value normalisation,
//! sorted listing and bulk reads, over an injected keyring or real files.

mod support;

use std::path::Path;
use std::sync::Arc;

use keyshell::keys::{PROVIDER_SERVICE, ProviderKeyError, ProviderKeyStorage};
use keyshell::paths::Layout;
use keyshell::store::{ErrorCode, KeyringLoader, MemoryKeyring, StoredIn};
use tempfile::TempDir;

fn invalid_name_message(name: &str) -> String {
    format!(
        "Key name '{name}' is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars)."
    )
}

fn keyring_storage(root: &Path) -> (ProviderKeyStorage, Arc<MemoryKeyring>) {
    let keyring = Arc::new(MemoryKeyring::new());
    let storage = ProviderKeyStorage::new(
        &Layout::new(root),
        KeyringLoader::with_adapter(keyring.clone()),
    );
    (storage, keyring)
}

fn file_storage(root: &Path) -> ProviderKeyStorage {
    ProviderKeyStorage::new(&Layout::new(root), KeyringLoader::none())
}

async fn value(storage: &ProviderKeyStorage, name: &str) -> Option<String> {
    storage
        .get_key(name)
        .await
        .unwrap()
        .map(|s| s.expose().to_string())
}

#[tokio::test]
async fn a_64_character_name_is_valid_and_65_is_not() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    let longest = "a".repeat(64);
    let too_long = "a".repeat(65);

    assert_eq!(
        storage.save_key(&longest, "sk-1").await.unwrap(),
        StoredIn::Keyring
    );
    assert_eq!(
        keyring.peek(PROVIDER_SERVICE, &longest).as_deref(),
        Some("sk-1")
    );

    let err = storage.save_key(&too_long, "sk-1").await.unwrap_err();
    assert_eq!(err, ProviderKeyError::InvalidName(too_long.clone()));
    assert_eq!(err.to_string(), invalid_name_message(&too_long));
}

#[tokio::test]
async fn names_outside_the_rule_are_refused_by_every_operation_before_storage() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    for name in [
        "",
        "a b",
        "ä",
        "key!",
        "a/b",
        "a:b",
        "tab\tname",
        "new\nline",
        "ключ",
    ] {
        let message = invalid_name_message(name);
        let errors = [
            storage
                .save_key(name, "sk-1")
                .await
                .map(|_| ())
                .unwrap_err(),
            storage.get_key(name).await.map(|_| ()).unwrap_err(),
            storage.delete_key(name).await.map(|_| ()).unwrap_err(),
            storage.has_key(name).await.map(|_| ()).unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.to_string(), message, "{name:?}");
        }
    }
    assert_eq!(keyring.calls(), 0);
    assert!(support::dir_names(root.path()).is_empty());
}

#[tokio::test]
async fn every_allowed_character_is_accepted_and_names_are_case_sensitive() {
    let root = TempDir::new().unwrap();
    let (storage, _keyring) = keyring_storage(root.path());
    let all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    let (first, second) = all.split_at(32);

    storage.save_key(first, "upper").await.unwrap();
    storage.save_key(second, "lower").await.unwrap();
    storage.save_key("Work", "capital").await.unwrap();
    storage.save_key("work", "small").await.unwrap();

    assert_eq!(value(&storage, first).await.as_deref(), Some("upper"));
    assert_eq!(value(&storage, second).await.as_deref(), Some("lower"));
    assert_eq!(value(&storage, "Work").await.as_deref(), Some("capital"));
    assert_eq!(value(&storage, "work").await.as_deref(), Some("small"));
    assert_eq!(value(&storage, "WORK").await, None);
}

#[tokio::test]
async fn dot_names_are_refused_as_names() {
    let root = TempDir::new().unwrap();
    let storage = file_storage(root.path());
    for name in [".", ".."] {
        let err = storage.save_key(name, "sk-1").await.unwrap_err();
        assert_eq!(err, ProviderKeyError::InvalidName(name.into()));
        assert_eq!(
            err.to_string(),
            format!(
                "Key name '{name}' is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars)."
            )
        );
    }
    // Other names made of dots are ordinary names.
    storage.save_key("...", "sk-1").await.unwrap();
}

#[tokio::test]
async fn values_are_trimmed_and_trailing_line_ends_stripped() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    let cases = [
        ("plain", "sk-plain", "sk-plain"),
        ("spaces", "  sk-spaces  ", "sk-spaces"),
        ("crlf", "sk-crlf\r\n", "sk-crlf"),
        ("newlines", "sk-newlines\n\n", "sk-newlines"),
        ("tabs", "\tsk-tabs\r", "sk-tabs"),
        ("inner-space", "sk inner space", "sk inner space"),
    ];
    for (name, input, stored) in cases {
        storage.save_key(name, input).await.unwrap();
        assert_eq!(
            keyring.peek(PROVIDER_SERVICE, name).as_deref(),
            Some(stored),
            "{name}"
        );
        assert_eq!(
            value(&storage, name).await.as_deref(),
            Some(stored),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_empty_value_is_refused_with_llxprts_message() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    for input in ["", "   ", "\r\n", "\n", " \t\r\n "] {
        let err = storage.save_key("name", input).await.unwrap_err();
        assert_eq!(err, ProviderKeyError::EmptyValue, "{input:?}");
        assert_eq!(err.to_string(), "API key value cannot be empty.");
    }
    assert_eq!(keyring.calls(), 0, "nothing reached the keyring");
    assert!(!storage.has_key("name").await.unwrap());
}

#[tokio::test]
async fn list_keys_is_sorted_deduplicated_and_drops_foreign_names() {
    let root = TempDir::new().unwrap();
    let files = file_storage(root.path());
    files.save_key("zeta", "1").await.unwrap();
    files.save_key("both", "2").await.unwrap();
    // A file another tool left that is not a valid key name.
    std::fs::write(
        Layout::new(root.path())
            .provider_keys()
            .join("has space.enc"),
        "x",
    )
    .unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    for name in ["beta", "Alpha", "both", "a.1", "_under", "9lives", "-dash"] {
        storage.save_key(name, "v").await.unwrap();
    }
    keyring.insert(PROVIDER_SERVICE, "not valid!", "v");

    let names = storage.list_keys().await.unwrap();

    assert_eq!(
        names,
        [
            "-dash", "9lives", "Alpha", "_under", "a.1", "beta", "both", "zeta"
        ]
    );
}

#[tokio::test]
async fn list_keys_is_empty_when_nothing_is_saved() {
    let root = TempDir::new().unwrap();
    assert!(
        file_storage(root.path())
            .list_keys()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn get_keys_reads_many_keys_in_order_from_the_keyring() {
    let root = TempDir::new().unwrap();
    let (storage, _keyring) = keyring_storage(root.path());
    let mut names: Vec<String> = (0..60).map(|i| format!("key-{i:02}")).collect();
    for name in &names {
        storage.save_key(name, &format!("sk-{name}")).await.unwrap();
    }
    names.reverse();
    names.insert(7, "never-saved".to_string());

    let found = storage.get_keys(&names).await;

    assert_eq!(found.len(), names.len());
    for ((name, secret), asked) in found.iter().zip(&names) {
        assert_eq!(name, asked);
        let expected = (asked != "never-saved").then(|| format!("sk-{asked}"));
        let secret = secret.as_ref().unwrap();
        assert_eq!(secret.as_ref().map(|s| s.expose().to_string()), expected);
    }
}

#[tokio::test]
async fn get_keys_reads_many_keys_from_fallback_files() {
    let root = TempDir::new().unwrap();
    let storage = file_storage(root.path());
    let names: Vec<String> = (0..30).map(|i| format!("file-key-{i}")).collect();
    for name in &names {
        assert_eq!(
            storage.save_key(name, &format!("v-{name}")).await.unwrap(),
            StoredIn::File
        );
    }
    // A second instance, as a later run of keyshell would be.
    let reader = file_storage(root.path());

    let found = reader.get_keys(&names).await;

    let values: Vec<Option<String>> = found
        .iter()
        .map(|(_, s)| s.as_ref().unwrap().as_ref().map(|s| s.expose().to_string()))
        .collect();
    let expected: Vec<Option<String>> = names.iter().map(|n| Some(format!("v-{n}"))).collect();
    assert_eq!(values, expected);
}

#[tokio::test]
async fn get_keys_reports_an_unreadable_key_without_hiding_the_others() {
    let root = TempDir::new().unwrap();
    let storage = file_storage(root.path());
    storage.save_key("good", "v").await.unwrap();
    let dir = Layout::new(root.path()).provider_keys();
    std::fs::write(dir.join("broken.enc"), "garbage").unwrap();

    let mut found = storage
        .get_keys(&["good".to_string(), "broken".to_string()])
        .await;

    assert_eq!(found[0].1.as_ref().unwrap().as_ref().unwrap().expose(), "v");
    let err = found.remove(1).1.unwrap_err();
    let ProviderKeyError::Store(err) = err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(err.code, ErrorCode::Corrupt);
}

#[tokio::test]
async fn without_a_keyring_keys_live_in_provider_keys_files() {
    let root = TempDir::new().unwrap();
    let storage = file_storage(root.path());

    assert_eq!(
        storage.save_key("openai-work", "sk-1").await.unwrap(),
        StoredIn::File
    );

    let dir = root.path().join("provider-keys");
    assert_eq!(support::dir_names(&dir), ["openai-work.enc"]);
    assert!(storage.has_key("openai-work").await.unwrap());
    assert!(storage.delete_key("openai-work").await.unwrap());
    assert!(!storage.has_key("openai-work").await.unwrap());
    assert!(!storage.delete_key("openai-work").await.unwrap());
    assert_eq!(value(&storage, "openai-work").await, None);
}

#[tokio::test]
async fn storage_errors_pass_through_with_their_code() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    keyring.fail_next_with(1, ErrorCode::Locked, "The collection is locked");

    let err = storage.save_key("name", "sk-secret").await.unwrap_err();

    let ProviderKeyError::Store(store_err) = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(store_err.code, ErrorCode::Locked);
    assert_eq!(err.to_string(), "The collection is locked");
    assert!(!format!("{err:?}").contains("sk-secret"));
}

#[tokio::test]
async fn values_that_cannot_be_keys_are_refused_before_storage() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    let long = "k".repeat(4097);
    let cases: [(&str, &str); 4] = [
        (
            &long,
            "API key value is too long (4097 bytes; the limit is 4096).",
        ),
        (
            "sk-with\0nul",
            "API key value contains a control character (a NUL, tab or line break inside it); paste the key on its own.",
        ),
        (
            "line-one\nline-two",
            "API key value contains a control character (a NUL, tab or line break inside it); paste the key on its own.",
        ),
        (
            "tab\tinside",
            "API key value contains a control character (a NUL, tab or line break inside it); paste the key on its own.",
        ),
    ];
    for (value, message) in cases {
        let err = storage.save_key("refused", value).await.unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    assert!(keyring.peek(PROVIDER_SERVICE, "refused").is_none());
    // Exactly the limit is fine.
    storage.save_key("limit", &"k".repeat(4096)).await.unwrap();
}
