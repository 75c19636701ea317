//! Envelope interop with an independent implementation: the Python tools in
//! `tests/support/` (hashlib.scrypt + `cryptography`'s AESGCM), written from
//! the format description and not from keyshell's code.
//!
//! Needs `python3` with the `cryptography` module; without it these tests fail
//! unless `KEYSHELL_SKIP_PYTHON_INTEROP=1`.

mod support;

use std::path::Path;

use keyshell::keys::{PROVIDER_SERVICE, ProviderKeyStorage};
use keyshell::paths::Layout;
use keyshell::store::envelope::{self, Version};
use keyshell::store::machine::current_machine_id;
use keyshell::store::{KeyringLoader, StoredIn};
use support::{
    SERVICE, file_store, install_machine_secret_file, python_decrypt, python_encrypt, python_ready,
    random_secret_b64,
};
use tempfile::TempDir;

fn file_storage(root: &Path) -> ProviderKeyStorage {
    ProviderKeyStorage::new(&Layout::new(root), KeyringLoader::none())
}

fn machine_secret(root: &Path) -> String {
    std::fs::read_to_string(root.join("machine_secret")).expect("the first write creates it")
}

const VALUES: &[(&str, &str)] = &[
    ("openai", "sk-proj-0123456789abcdefghijklmnopqrstuvwxyz"),
    ("unicode", "ключ-🔑-clé"),
    ("quotes", r#"a "quoted" \ back\slash {json}"#),
    ("one-char", "x"),
];

#[tokio::test]
async fn files_keyshell_writes_decrypt_with_the_independent_reader() {
    if !python_ready("files_keyshell_writes_decrypt_with_the_independent_reader") {
        return;
    }
    let root = TempDir::new().unwrap();
    let storage = file_storage(root.path());
    let long = "k".repeat(4096);
    let mut values: Vec<(&str, &str)> = VALUES.to_vec();
    values.push(("long", &long));
    for (name, value) in &values {
        assert_eq!(storage.save_key(name, value).await.unwrap(), StoredIn::File);
    }
    let secret = machine_secret(root.path());
    let id = current_machine_id();

    for (name, value) in &values {
        let file = root
            .path()
            .join("provider-keys")
            .join(format!("{name}.enc"));
        let plain = python_decrypt(&file, PROVIDER_SERVICE, &id, Some(&secret), 2)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(String::from_utf8(plain).unwrap(), *value, "{name}");
    }
}

#[tokio::test]
async fn the_independent_reader_refuses_keyshell_files_under_the_wrong_identity() {
    if !python_ready("the_independent_reader_refuses_keyshell_files_under_the_wrong_identity") {
        return;
    }
    let root = TempDir::new().unwrap();
    file_storage(root.path())
        .save_key("k", "sk-1")
        .await
        .unwrap();
    let file = root.path().join("provider-keys/k.enc");
    let secret = machine_secret(root.path());
    let id = current_machine_id();
    let other_id = envelope::machine_id("another-host", "another-user");

    assert!(python_decrypt(&file, PROVIDER_SERVICE, &other_id, Some(&secret), 2).is_err());
    assert!(python_decrypt(&file, "another-service", &id, Some(&secret), 2).is_err());
    assert!(python_decrypt(&file, PROVIDER_SERVICE, &id, Some(&random_secret_b64()), 2).is_err());
    assert!(python_decrypt(&file, PROVIDER_SERVICE, &id, Some(&secret), 1).is_err());
}

#[tokio::test]
async fn percent_encoded_file_names_hold_the_same_envelope() {
    if !python_ready("percent_encoded_file_names_hold_the_same_envelope") {
        return;
    }
    let root = TempDir::new().unwrap();
    let store = file_store(root.path());
    store.set("mcp:server?x", "token-value").await.unwrap();
    let file = support::fallback_dir(root.path()).join("mcp%3Aserver%3Fx.enc");
    let secret = machine_secret(root.path());

    let plain = python_decrypt(&file, SERVICE, &current_machine_id(), Some(&secret), 2).unwrap();

    assert_eq!(plain, b"token-value");
}

#[tokio::test]
async fn v2_files_the_independent_writer_makes_are_read_by_keyshell() {
    if !python_ready("v2_files_the_independent_writer_makes_are_read_by_keyshell") {
        return;
    }
    let root = TempDir::new().unwrap();
    let dir = root.path().join("provider-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = random_secret_b64();
    install_machine_secret_file(root.path(), &secret);
    let id = current_machine_id();
    for (name, value) in VALUES {
        let out = dir.join(format!("{name}.enc"));
        python_encrypt(&out, PROVIDER_SERVICE, &id, Some(&secret), value, None);
    }
    let storage = file_storage(root.path());

    for (name, value) in VALUES {
        let got = storage.get_key(name).await.unwrap().expect("present");
        assert_eq!(got.expose(), *value, "{name}");
    }
    let mut names: Vec<&str> = VALUES.iter().map(|(n, _)| *n).collect();
    names.sort();
    assert_eq!(storage.list_keys().await.unwrap(), names);
}

#[tokio::test]
async fn v1_files_the_independent_writer_makes_are_read_by_keyshell() {
    if !python_ready("v1_files_the_independent_writer_makes_are_read_by_keyshell") {
        return;
    }
    let root = TempDir::new().unwrap();
    let dir = root.path().join("provider-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let id = current_machine_id();
    python_encrypt(
        &dir.join("legacy.enc"),
        PROVIDER_SERVICE,
        &id,
        None,
        "sk-legacy",
        None,
    );
    let storage = file_storage(root.path());

    let got = storage.get_key("legacy").await.unwrap().expect("present");

    assert_eq!(got.expose(), "sk-legacy");
    assert!(
        !root.path().join("machine_secret").exists(),
        "a v1 read needs no secret"
    );
}

#[tokio::test]
async fn both_writers_produce_the_reference_vectors_byte_for_byte() {
    if !python_ready("both_writers_produce_the_reference_vectors_byte_for_byte") {
        return;
    }
    // reference/llxprt-behaviour.md Part B §7.
    let id = envelope::machine_id("host", "user");
    assert_eq!(
        id,
        "8d0ac992bcd4ae1407f1bf92f5d62368438075e8a8bf06fbb4e20bff22fd250a"
    );
    let secret: [u8; 32] = std::array::from_fn(|i| i as u8);
    let secret_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
    let iv: [u8; 12] = std::array::from_fn(|i| 0x10 + i as u8);
    let pinned = Some((
        "000102030405060708090a0b0c0d0e0f",
        "101112131415161718191a1b",
    ));
    let expected = |v: u8, data: &str| {
        format!(
            r#"{{"v":{v},"crypto":{{"alg":"aes-256-gcm","kdf":"scrypt","N":16384,"r":8,"p":1,"saltLen":16}},"data":"{data}"}}"#
        )
    };
    let v1 = expected(
        1,
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGz1Of2rmBPhViT5ZYAa2IHf5zUL1zRWLL/kQTg==",
    );
    let v2 = expected(
        2,
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaG7uFUPhCPCYURdvOohqqLuv+f9pGrA0JKqTY4A==",
    );
    let dir = TempDir::new().unwrap();

    let py_v1 = dir.path().join("v1.enc");
    python_encrypt(&py_v1, PROVIDER_SERVICE, &id, None, "sk-test-123", pinned);
    let py_v2 = dir.path().join("v2.enc");
    python_encrypt(
        &py_v2,
        PROVIDER_SERVICE,
        &id,
        Some(secret_b64),
        "sk-test-123",
        pinned,
    );
    let password = envelope::password(Version::V2, PROVIDER_SERVICE, &id, Some(&secret)).unwrap();
    let key = envelope::derive_key(&password, &salt);
    let ours_v2 = envelope::seal(Version::V2, &key, &salt, &iv, b"sk-test-123");

    assert_eq!(std::fs::read_to_string(&py_v1).unwrap(), v1);
    assert_eq!(std::fs::read_to_string(&py_v2).unwrap(), v2);
    assert_eq!(ours_v2, v2);
}
