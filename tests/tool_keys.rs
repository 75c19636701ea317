//! Tool keys: the storage on the in-memory keyring, on the fallback files and
//! on the real keyring; `resolve_key`'s order; the key-file map; and snapshots
//! of `/toolkey`, `/toolkeyfile` and the old-data start-up lines.

mod harness;

use std::sync::Arc;

use harness::{Keyshell, snapshot};
use keyshell::keys::tools::{ResolvedKey, ToolKeyError, ToolKeyStorage};
use keyshell::paths::Layout;
use keyshell::store::{KeyringLoader, MemoryKeyring, OsKeyring, StoredIn};
use tempfile::TempDir;

const SECRET: &str = "exa-abcdefghijkl";

fn memory(dir: &TempDir) -> (ToolKeyStorage, Arc<MemoryKeyring>) {
    let keyring = Arc::new(MemoryKeyring::new());
    let storage = ToolKeyStorage::new(
        &Layout::new(dir.path()),
        KeyringLoader::with_adapter(keyring.clone()),
    );
    (storage, keyring)
}

#[tokio::test]
async fn keys_live_in_the_keyring_under_llxprts_service() {
    let dir = TempDir::new().unwrap();
    let (tools, keyring) = memory(&dir);
    assert_eq!(
        tools.save_key("exa", SECRET).await.unwrap(),
        StoredIn::Keyring
    );
    assert_eq!(
        keyring.peek("llxprt-code-tool-keys", "exa").as_deref(),
        Some(SECRET)
    );
    assert_eq!(
        tools.get_key("exa").await.unwrap().unwrap().expose(),
        SECRET
    );
    assert!(tools.delete_key("exa").await.unwrap());
    assert!(tools.get_key("exa").await.unwrap().is_none());
}

#[tokio::test]
async fn without_a_keyring_keys_go_to_encrypted_files() {
    let dir = TempDir::new().unwrap();
    let tools = ToolKeyStorage::new(&Layout::new(dir.path()), KeyringLoader::none());
    assert_eq!(tools.save_key("exa", SECRET).await.unwrap(), StoredIn::File);
    let file = std::fs::read(dir.path().join("tools/exa.enc")).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains(SECRET));
    assert_eq!(
        tools.get_key("exa").await.unwrap().unwrap().expose(),
        SECRET
    );
}

#[tokio::test]
async fn unknown_tools_are_refused_before_storage() {
    let dir = TempDir::new().unwrap();
    let (tools, keyring) = memory(&dir);
    for name in ["EXA", "nope", "", "exa "] {
        let err = tools.save_key(name, SECRET).await.unwrap_err();
        assert_eq!(err, ToolKeyError::InvalidTool(name.into()), "{name:?}");
        assert_eq!(
            err.to_string(),
            format!("Invalid tool key name: {name:?}. Supported names: exa")
        );
    }
    assert_eq!(keyring.calls(), 0);
}

#[tokio::test]
async fn resolve_key_prefers_stored_then_a_fresh_key_file() {
    let dir = TempDir::new().unwrap();
    let (tools, _) = memory(&dir);
    assert!(matches!(
        tools.resolve_key("exa").await.unwrap(),
        (ResolvedKey::None, None)
    ));
    let keyfile = dir.path().join("exa.txt");
    std::fs::write(&keyfile, "exa-from-file-1\nignored\n").unwrap();
    tools.set_keyfile("exa", Some(&keyfile)).unwrap();
    match tools.resolve_key("exa").await.unwrap() {
        (ResolvedKey::Keyfile(key, path), None) => {
            assert_eq!(key.expose(), "exa-from-file-1");
            assert_eq!(path, keyfile);
        }
        other => panic!("{other:?}"),
    }
    // Read fresh every time.
    std::fs::write(&keyfile, "  exa-from-file-2  \n").unwrap();
    match tools.resolve_key("exa").await.unwrap() {
        (ResolvedKey::Keyfile(key, _), None) => assert_eq!(key.expose(), "exa-from-file-2"),
        other => panic!("{other:?}"),
    }
    std::fs::write(&keyfile, "\n").unwrap();
    match tools.resolve_key("exa").await.unwrap() {
        (ResolvedKey::None, Some(warning)) => {
            assert_eq!(warning, format!("Keyfile is empty: {}", keyfile.display()));
        }
        other => panic!("{other:?}"),
    }
    tools.save_key("exa", SECRET).await.unwrap();
    assert!(matches!(
        tools.resolve_key("exa").await.unwrap(),
        (ResolvedKey::Stored(_), None)
    ));
    // The map is pretty JSON, 0600.
    let map = std::fs::read_to_string(dir.path().join("tools/keyfiles.json")).unwrap();
    assert_eq!(map, format!("{{\n  \"exa\": \"{}\"\n}}", keyfile.display()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("tools/keyfiles.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn an_invalid_keyfile_map_is_empty_with_a_warning() {
    let dir = TempDir::new().unwrap();
    let (tools, _) = memory(&dir);
    std::fs::create_dir_all(dir.path().join("tools")).unwrap();
    std::fs::write(dir.path().join("tools/keyfiles.json"), "[1, 2").unwrap();
    let (map, warning) = tools.keyfiles();
    assert!(map.is_empty());
    assert!(
        warning
            .unwrap()
            .ends_with("is not a JSON object of tool names to paths; it is treated as empty")
    );
}

#[tokio::test]
async fn real_keyring_round_trip() {
    if std::env::var_os("KEYSHELL_REAL_KEYRING").is_none() {
        eprintln!("skipped: no private keyring (run under scripts/ci-keyring.sh)");
        return;
    }
    let dir = TempDir::new().unwrap();
    let adapter = Arc::new(OsKeyring::connect().expect("the private keyring is reachable"));
    let tools = ToolKeyStorage::new(
        &Layout::new(dir.path()),
        KeyringLoader::with_adapter(adapter),
    );
    assert_eq!(
        tools.save_key("exa", SECRET).await.unwrap(),
        StoredIn::Keyring
    );
    assert_eq!(
        tools.get_key("exa").await.unwrap().unwrap().expose(),
        SECRET
    );
    assert!(tools.delete_key("exa").await.unwrap());
}

#[test]
fn toolkey_commands() {
    let ks = Keyshell::new();
    let keyfile = ks.path("exa.txt");
    std::fs::write(&keyfile, format!("{SECRET}\n")).unwrap();
    std::fs::write(ks.path("empty.txt"), "").unwrap();
    let script = format!(
        "/toolkey\n/toolkey nope\n/toolkey exa\n/toolkey EXA {SECRET}\n/toolkey exa\n/toolkey exa none\n/toolkey exa\n\
         /toolkeyfile\n/toolkeyfile exa\n/toolkeyfile exa {}\n/toolkeyfile exa\n/toolkeyfile exa {}\n/toolkeyfile exa {}\n/toolkeyfile exa none\n/toolkeyfile exa\n",
        keyfile.display(),
        ks.path("empty.txt").display(),
        ks.path("missing.txt").display()
    );
    let run = ks
        .run_with_input(["--keep-going"], script.as_bytes())
        .no_leak(SECRET);
    let text = format!("--- stdout\n{}--- stderr\n{}", run.stdout(), run.stderr())
        .replace(&ks.root().display().to_string(), "[ROOT]");
    snapshot!("toolkey_commands", text);
}

#[test]
fn old_data_is_reported_at_start_up_and_left_alone() {
    let ks = Keyshell::new();
    std::fs::create_dir_all(ks.path("tools")).unwrap();
    std::fs::create_dir_all(ks.path("provider-keys")).unwrap();
    let hex = "00112233445566778899aabbccddeeff:00112233445566778899aabbccddeeff:abcdef";
    std::fs::write(ks.path("tools/exa.key"), hex).unwrap();
    std::fs::write(ks.path("mcp-oauth-tokens-v2.json"), "{}").unwrap();
    let future = r#"{"v":3,"crypto":{"alg":"aes-256-gcm","kdf":"scrypt","N":32768,"r":8,"p":1,"saltLen":16},"data":"AAAA"}"#;
    std::fs::write(ks.path("provider-keys/future.enc"), future).unwrap();
    let run = ks.run(["-c", "/key list"]).success();
    let text = run
        .stderr()
        .replace(&ks.root().display().to_string(), "[ROOT]");
    snapshot!("old_data_start_up", text);
    assert_eq!(
        std::fs::read_to_string(ks.path("tools/exa.key")).unwrap(),
        hex
    );
    assert_eq!(
        std::fs::read_to_string(ks.path("mcp-oauth-tokens-v2.json")).unwrap(),
        "{}"
    );
    assert_eq!(
        std::fs::read_to_string(ks.path("provider-keys/future.enc")).unwrap(),
        future
    );
    // Nothing old: nothing said.
    Keyshell::new()
        .run(["-c", "/key list"])
        .success()
        .stderr_is("");
}
