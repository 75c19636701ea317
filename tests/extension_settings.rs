//! ExtensionSettingsStorage (SPEC §4): manifests, the `.env` of plain values,
//! sensitive values in the keyring or an encrypted file (never in the `.env`),
//! and the service names llxprt-code uses. Real files in temp data roots;
//! keyrings are injected.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyshell::keys::extensions::{
    ExtensionError, ExtensionSettingsStorage, SERVICE_MAX, SettingStoredIn, sensitive_env_vars,
    service_name,
};
use keyshell::paths::Layout;
use keyshell::store::{KeyringAdapter, KeyringLoader, MemoryKeyring, OsKeyring, StoredIn};
use tempfile::TempDir;

const WEB_SEARCH: &str = r#"
name = "Web Search"

[[settings]]
name = "API key"
description = "Key for the search service"
env-var = "SEARCH_API_KEY"
sensitive = true

[[settings]]
name = "Region"
env-var = "SEARCH_REGION"
"#;

const SECRET: &str = "sk-search-0123456789abcdef";

fn write_manifest(root: &Path, extension: &str, manifest: &str) -> PathBuf {
    let dir = root.join("extensions").join(extension);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("extension.toml"), manifest).unwrap();
    dir
}

fn env_path(root: &Path, extension: &str) -> PathBuf {
    root.join("extensions").join(extension).join(".env")
}

fn keyring_storage(root: &Path, extension: &str) -> (ExtensionSettingsStorage, Arc<MemoryKeyring>) {
    let keyring = Arc::new(MemoryKeyring::new());
    let storage = ExtensionSettingsStorage::new(
        &Layout::new(root),
        KeyringLoader::with_adapter(keyring.clone()),
        extension,
    )
    .unwrap();
    (storage, keyring)
}

fn file_storage(root: &Path, extension: &str) -> ExtensionSettingsStorage {
    ExtensionSettingsStorage::new(&Layout::new(root), KeyringLoader::none(), extension).unwrap()
}

fn open_error(root: &Path, extension: &str) -> ExtensionError {
    ExtensionSettingsStorage::new(&Layout::new(root), KeyringLoader::none(), extension).unwrap_err()
}

async fn value(storage: &ExtensionSettingsStorage, env_var: &str) -> Option<String> {
    storage
        .get(env_var)
        .await
        .unwrap()
        .map(|s| s.expose().to_string())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every `.enc` file under `dir`, at any depth.
fn enc_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(enc_files(&path));
        } else if path.extension().is_some_and(|e| e == "enc") {
            found.push(path);
        }
    }
    found
}

// ---- the .env of plain values ---------------------------------------------------

const AWKWARD_VALUES: &[&str] = &[
    "two words",
    " leading and trailing ",
    "say \"hi\"",
    "it's",
    r"C:\Program Files\tool\",
    r"\n is not a newline",
    "a=b=c",
    "#hash at start",
    "a#b",
    "x # not a comment",
    "first line\nsecond line",
    "crlf\r\n",
    "tab\tseparated",
    "",
    "ünïcødé ✓",
];

fn manifest_with_plain_settings(count: usize) -> String {
    (0..count)
        .map(|i| format!("[[settings]]\nname = \"Setting {i}\"\nenv-var = \"VALUE_{i}\"\n"))
        .collect()
}

#[tokio::test]
async fn awkward_plain_values_round_trip_through_the_env_file() {
    let root = TempDir::new().unwrap();
    write_manifest(
        root.path(),
        "awkward",
        &manifest_with_plain_settings(AWKWARD_VALUES.len()),
    );
    let storage = file_storage(root.path(), "awkward");
    for (i, value) in AWKWARD_VALUES.iter().enumerate() {
        assert_eq!(
            storage.set(&format!("VALUE_{i}"), value).await.unwrap(),
            SettingStoredIn::EnvFile
        );
    }

    // A fresh instance reads them back from disk, each exactly as it was set.
    let reread = file_storage(root.path(), "awkward");
    for (i, expected) in AWKWARD_VALUES.iter().enumerate() {
        let var = format!("VALUE_{i}");
        assert_eq!(
            value(&reread, &var).await.as_deref(),
            Some(*expected),
            "{var}"
        );
    }
    // Nothing landed in the SecureStore.
    assert!(enc_files(root.path()).is_empty());
}

#[tokio::test]
async fn the_env_file_holds_plain_key_value_lines_quoting_only_where_needed() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "exact", &manifest_with_plain_settings(7));
    let storage = file_storage(root.path(), "exact");
    for (var, value) in [
        ("VALUE_0", "eu-west-1"),
        ("VALUE_1", "a=b"),
        ("VALUE_2", "two words"),
        ("VALUE_3", r#"say "hi""#),
        ("VALUE_4", r"C:\dir"),
        ("VALUE_5", "line\nbreak"),
        ("VALUE_6", ""),
    ] {
        storage.set(var, value).await.unwrap();
    }
    let text = std::fs::read_to_string(env_path(root.path(), "exact")).unwrap();
    assert_eq!(
        text,
        concat!(
            "VALUE_0=eu-west-1\n",
            "VALUE_1=a=b\n",
            "VALUE_2=\"two words\"\n",
            "VALUE_3=\"say \\\"hi\\\"\"\n",
            "VALUE_4=\"C:\\\\dir\"\n",
            "VALUE_5=\"line\\nbreak\"\n",
            "VALUE_6=\n",
        )
    );

    // Setting again replaces the line in place.
    storage.set("VALUE_1", "changed").await.unwrap();
    let text = std::fs::read_to_string(env_path(root.path(), "exact")).unwrap();
    assert!(text.starts_with("VALUE_0=eu-west-1\nVALUE_1=changed\nVALUE_2="));
}

#[tokio::test]
async fn the_env_file_is_private_even_when_it_was_not() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    let env = env_path(root.path(), "web-search");
    std::fs::write(&env, "OTHER=1\n").unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();

    let storage = file_storage(root.path(), "web-search");
    storage.set("SEARCH_REGION", "eu").await.unwrap();
    let mode = std::fs::metadata(&env).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn lines_the_manifest_does_not_declare_are_kept() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    let env = env_path(root.path(), "web-search");
    let theirs = "# written by hand\nOTHER_TOOL='keep me'  # really\nexport PATH_EXTRA=/opt/bin\n";
    std::fs::write(&env, theirs).unwrap();

    let storage = file_storage(root.path(), "web-search");
    storage.set("SEARCH_REGION", "eu west").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        format!("{theirs}SEARCH_REGION=\"eu west\"\n")
    );
    assert_eq!(
        value(&storage, "SEARCH_REGION").await.as_deref(),
        Some("eu west")
    );

    assert!(storage.unset("SEARCH_REGION").await.unwrap());
    assert_eq!(std::fs::read_to_string(&env).unwrap(), theirs);
}

#[tokio::test]
async fn unset_removes_the_value_and_the_file_when_nothing_is_left() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    let (storage, keyring) = keyring_storage(root.path(), "web-search");
    let service = service_name("web-search");
    storage.set("SEARCH_REGION", "eu").await.unwrap();
    storage.set("SEARCH_API_KEY", SECRET).await.unwrap();
    assert!(env_path(root.path(), "web-search").exists());

    assert!(storage.unset("SEARCH_REGION").await.unwrap());
    assert_eq!(value(&storage, "SEARCH_REGION").await, None);
    assert!(!env_path(root.path(), "web-search").exists());
    assert!(!storage.unset("SEARCH_REGION").await.unwrap());

    assert!(storage.unset("SEARCH_API_KEY").await.unwrap());
    assert_eq!(keyring.peek(&service, "SEARCH_API_KEY"), None);
    assert_eq!(value(&storage, "SEARCH_API_KEY").await, None);
    assert!(!storage.unset("SEARCH_API_KEY").await.unwrap());
}

#[tokio::test]
async fn concurrent_sets_of_different_settings_all_survive() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "busy", &manifest_with_plain_settings(12));
    let storage = file_storage(root.path(), "busy");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let storage = storage.clone();
        tasks.spawn(async move { storage.set(&format!("VALUE_{i}"), &format!("v {i}")).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    for i in 0..12 {
        let expected = format!("v {i}");
        assert_eq!(value(&storage, &format!("VALUE_{i}")).await, Some(expected));
    }
}

// ---- sensitive values ------------------------------------------------------------

#[tokio::test]
async fn a_sensitive_value_goes_to_the_keyring_and_never_to_the_env_file() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web.search", WEB_SEARCH);
    let (storage, keyring) = keyring_storage(root.path(), "web.search");
    // A stale plain copy, from before the setting was marked sensitive.
    let env = env_path(root.path(), "web.search");
    std::fs::write(&env, "SEARCH_API_KEY=old-leaked-value\nOTHER=1\n").unwrap();

    storage.set("SEARCH_REGION", "eu").await.unwrap();
    assert_eq!(
        storage.set("SEARCH_API_KEY", SECRET).await.unwrap(),
        SettingStoredIn::Secure(StoredIn::Keyring)
    );

    // '.' is not kept in service names.
    assert_eq!(
        keyring
            .peek("LLxprt Code Extension websearch", "SEARCH_API_KEY")
            .as_deref(),
        Some(SECRET)
    );
    let bytes = std::fs::read(&env).unwrap();
    assert!(!contains(&bytes, SECRET));
    assert!(!contains(&bytes, "old-leaked-value"));
    assert!(!contains(&bytes, "SEARCH_API_KEY"));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "OTHER=1\nSEARCH_REGION=eu\n"
    );
    assert_eq!(
        value(&storage, "SEARCH_API_KEY").await.as_deref(),
        Some(SECRET)
    );
    assert!(enc_files(root.path()).is_empty());
}

#[tokio::test]
async fn without_a_keyring_a_sensitive_value_is_an_encrypted_file() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    let storage = file_storage(root.path(), "web-search");
    assert_eq!(
        storage.set("SEARCH_API_KEY", SECRET).await.unwrap(),
        SettingStoredIn::Secure(StoredIn::File)
    );

    let expected = root
        .path()
        .join("secure-store")
        .join("LLxprt Code Extension web-search")
        .join("SEARCH_API_KEY.enc");
    assert_eq!(enc_files(root.path()), vec![expected.clone()]);
    assert!(!contains(&std::fs::read(&expected).unwrap(), SECRET));
    // Only a sensitive value was set: there is no .env at all.
    assert!(!env_path(root.path(), "web-search").exists());

    let reread = file_storage(root.path(), "web-search");
    assert_eq!(
        value(&reread, "SEARCH_API_KEY").await.as_deref(),
        Some(SECRET)
    );
    assert!(reread.unset("SEARCH_API_KEY").await.unwrap());
    assert!(!expected.exists());
}

#[tokio::test]
async fn values_lists_every_setting_in_manifest_order() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    let (storage, _keyring) = keyring_storage(root.path(), "web-search");
    storage.set("SEARCH_API_KEY", SECRET).await.unwrap();

    let values = storage.values().await.unwrap();
    let shown: Vec<(&str, bool, Option<&str>)> = values
        .iter()
        .map(|(spec, v)| {
            (
                spec.env_var.as_str(),
                spec.sensitive,
                v.as_ref().map(|s| s.expose()),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            ("SEARCH_API_KEY", true, Some(SECRET)),
            ("SEARCH_REGION", false, None),
        ]
    );
    assert_eq!(storage.display_name(), "Web Search");
    assert_eq!(
        storage.settings()[0].description.as_deref(),
        Some("Key for the search service")
    );
    assert_eq!(storage.settings()[1].description, None);
    assert!(storage.is_sensitive("SEARCH_API_KEY"));
    assert!(!storage.is_sensitive("SEARCH_REGION"));
    assert!(!storage.is_sensitive("NOT_DECLARED"));
}

#[test]
fn sensitive_env_vars_reads_only_the_manifest() {
    let root = TempDir::new().unwrap();
    let layout = Layout::new(root.path());
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    write_manifest(root.path(), "broken", "[[settings]\n");
    assert_eq!(
        sensitive_env_vars(&layout, "web-search"),
        vec!["SEARCH_API_KEY".to_string()]
    );
    assert!(sensitive_env_vars(&layout, "missing").is_empty());
    assert!(sensitive_env_vars(&layout, "broken").is_empty());
    assert!(sensitive_env_vars(&layout, "../web-search").is_empty());
    // Nothing was created: no lock, no store directory.
    assert!(!root.path().join("locks").exists());
    assert!(!root.path().join("secure-store").exists());
}

// ---- service names ---------------------------------------------------------------

#[test]
fn service_names_drop_characters_outside_letters_digits_dash_and_underscore() {
    assert_eq!(
        service_name("web-search"),
        "LLxprt Code Extension web-search"
    );
    assert_eq!(
        service_name("web.search"),
        "LLxprt Code Extension websearch"
    );
    assert_eq!(service_name("My_Ext.v2"), "LLxprt Code Extension My_Extv2");
    assert_eq!(service_name("a b/c:d"), "LLxprt Code Extension abcd");
}

#[test]
fn service_names_are_cut_to_255_characters() {
    let long = "x".repeat(300);
    let service = service_name(&long);
    assert_eq!(SERVICE_MAX, 255);
    assert_eq!(service.len(), 255);
    assert_eq!(
        service,
        format!("LLxprt Code Extension {}", "x".repeat(255 - 22))
    );
    // Removed characters do not count towards the limit.
    let dotted = format!("{}{}", ".".repeat(100), "y".repeat(10));
    assert_eq!(
        service_name(&dotted),
        format!("LLxprt Code Extension {}", "y".repeat(10))
    );
}

// ---- errors ----------------------------------------------------------------------

#[tokio::test]
async fn an_undeclared_env_var_is_refused_with_the_declared_ones() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    let (storage, keyring) = keyring_storage(root.path(), "web-search");
    let message =
        "Extension 'web-search' has no setting SEARCH_KEY. Settings: SEARCH_API_KEY, SEARCH_REGION";
    let errors = [
        storage.set("SEARCH_KEY", SECRET).await.unwrap_err(),
        storage.get("SEARCH_KEY").await.unwrap_err(),
        storage.unset("SEARCH_KEY").await.unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, ExtensionError::UnknownSetting { .. }));
        assert_eq!(err.to_string(), message);
    }
    assert_eq!(keyring.calls(), 0);
    assert!(!env_path(root.path(), "web-search").exists());

    write_manifest(root.path(), "bare", "name = \"bare\"\n");
    let bare = file_storage(root.path(), "bare");
    assert!(bare.settings().is_empty());
    assert_eq!(
        bare.set("X", "1").await.unwrap_err().to_string(),
        "Extension 'bare' has no setting X. Settings: none"
    );
}

#[test]
fn a_missing_extension_or_manifest_is_not_found() {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("extensions").join("nowhere");
    let err = open_error(root.path(), "nowhere");
    assert_eq!(
        err.to_string(),
        format!("Extension 'nowhere' not found (no {})", dir.display())
    );

    std::fs::create_dir_all(&dir).unwrap();
    let err = open_error(root.path(), "nowhere");
    assert_eq!(
        err,
        ExtensionError::NotFound {
            extension: "nowhere".to_string(),
            path: dir.join("extension.toml"),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Extension 'nowhere' not found (no {})",
            dir.join("extension.toml").display()
        )
    );
}

#[test]
fn invalid_extension_names_are_refused_before_any_file_is_read() {
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), "web-search", WEB_SEARCH);
    // A manifest right under extensions/ that ".." would otherwise reach.
    std::fs::write(root.path().join("extension.toml"), WEB_SEARCH).unwrap();
    let too_long = "e".repeat(65);
    for name in [
        "",
        ".",
        "..",
        "../web-search",
        "a/b",
        "web search",
        "ext!",
        "ünï",
        too_long.as_str(),
    ] {
        let err = open_error(root.path(), name);
        assert_eq!(err, ExtensionError::InvalidName(name.to_string()));
        assert_eq!(
            err.to_string(),
            format!(
                "Extension name '{name}' is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars)."
            )
        );
    }
    let longest = "e".repeat(64);
    write_manifest(root.path(), &longest, WEB_SEARCH);
    assert!(
        ExtensionSettingsStorage::new(&Layout::new(root.path()), KeyringLoader::none(), &longest)
            .is_ok()
    );
}

#[test]
fn an_invalid_manifest_says_where() {
    let root = TempDir::new().unwrap();
    let cases = [
        (
            "syntax",
            "[[settings]]\nname = \"A\"\nenv-var = \n",
            "line 3",
        ),
        ("missing-env-var", "[[settings]]\nname = \"A\"\n", "env-var"),
        (
            "bad-type",
            "[[settings]]\nname = \"A\"\nenv-var = \"A\"\nsensitive = \"yes\"\n",
            "line 4, column 13",
        ),
        (
            "bad-env-var",
            "[[settings]]\nname = \"A\"\nenv-var = \"A=B\"\n",
            "setting 'A' has env-var 'A=B', which is not an environment variable name",
        ),
        (
            "duplicate",
            "[[settings]]\nname = \"A\"\nenv-var = \"A\"\n[[settings]]\nname = \"B\"\nenv-var = \"A\"\n",
            "env-var 'A' is declared twice",
        ),
    ];
    for (extension, manifest, expected) in cases {
        let dir = write_manifest(root.path(), extension, manifest);
        let err = open_error(root.path(), extension);
        let message = err.to_string();
        let prefix = format!(
            "Extension '{extension}' manifest is invalid: {}: ",
            dir.join("extension.toml").display()
        );
        assert!(matches!(err, ExtensionError::InvalidManifest { .. }));
        assert!(message.starts_with(&prefix), "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}

// ---- the real keyring --------------------------------------------------------------

/// Deletes the test's keyring item even when an assertion failed.
struct RealItem {
    keyring: Arc<OsKeyring>,
    service: String,
    account: &'static str,
}

impl Drop for RealItem {
    fn drop(&mut self) {
        let _ = self.keyring.delete_password(&self.service, self.account);
    }
}

#[tokio::test]
async fn a_sensitive_value_round_trips_through_the_real_keyring() {
    if std::env::var("KEYSHELL_REAL_KEYRING").map_or(true, |v| v.is_empty()) {
        println!(
            "a_sensitive_value_round_trips_through_the_real_keyring: skipped: \
             KEYSHELL_REAL_KEYRING is not set (run under scripts/ci-keyring.sh)"
        );
        return;
    }
    let keyring = tokio::task::spawn_blocking(OsKeyring::connect)
        .await
        .unwrap()
        .expect("KEYSHELL_REAL_KEYRING is set, so an OS keyring must be reachable");
    let keyring = Arc::new(keyring);

    let mut suffix = [0u8; 6];
    rand::fill(&mut suffix);
    let extension = format!(
        "keyshell-test-{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let root = TempDir::new().unwrap();
    write_manifest(root.path(), &extension, WEB_SEARCH);
    let _cleanup = RealItem {
        keyring: keyring.clone(),
        service: service_name(&extension),
        account: "SEARCH_API_KEY",
    };
    let storage = ExtensionSettingsStorage::new(
        &Layout::new(root.path()),
        KeyringLoader::with_adapter(keyring.clone()),
        &extension,
    )
    .unwrap();

    assert_eq!(
        storage.set("SEARCH_API_KEY", SECRET).await.unwrap(),
        SettingStoredIn::Secure(StoredIn::Keyring)
    );
    assert_eq!(
        value(&storage, "SEARCH_API_KEY").await.as_deref(),
        Some(SECRET)
    );
    assert!(enc_files(root.path()).is_empty());
    assert!(!env_path(root.path(), &extension).exists());
    assert!(storage.unset("SEARCH_API_KEY").await.unwrap());
    assert_eq!(value(&storage, "SEARCH_API_KEY").await, None);
}
