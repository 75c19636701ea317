//! TokenStorage (SPEC §4): MCP OAuth credentials in llxprt's JSON shape under
//! `llxprt-cli-mcp-oauth`, over an injected keyring, the encrypted fallback
//! files, and (under scripts/ci-keyring.sh) a real Secret Service.

use std::path::Path;
use std::sync::Arc;

use keyshell::keys::tokens::{
    EXPIRY_BUFFER_MS, Expiry, OAuthCredentials, OAuthToken, SERVICE, TokenError, TokenStorage,
    now_ms, validate_credentials,
};
use keyshell::paths::Layout;
use keyshell::store::{
    ErrorCode, KeyringAdapter, KeyringLoader, MemoryKeyring, OsKeyring, Secret, StoredIn,
};
use tempfile::TempDir;

const ACCESS: &str = "ya29.access-token-do-not-leak";
const REFRESH: &str = "1//refresh-token-do-not-leak";

fn keyring_storage(root: &Path) -> (TokenStorage, Arc<MemoryKeyring>) {
    let keyring = Arc::new(MemoryKeyring::new());
    let storage = TokenStorage::new(
        &Layout::new(root),
        KeyringLoader::with_adapter(keyring.clone()),
    );
    (storage, keyring)
}

fn file_storage(root: &Path) -> TokenStorage {
    TokenStorage::new(&Layout::new(root), KeyringLoader::none())
}

fn full_credentials(server: &str) -> OAuthCredentials {
    let mut token = OAuthToken::new(ACCESS, "Bearer");
    token.refresh_token = Some(Secret::new(REFRESH));
    token.expires_at = Some(1_900_000_000_000);
    token.scope = Some("read write".into());
    let mut creds = OAuthCredentials::new(server, token);
    creds.client_id = Some("client-123".into());
    creds.token_url = Some("https://auth.example/token".into());
    creds.mcp_server_url = Some("https://x.example/mcp".into());
    creds
}

fn minimal_credentials(server: &str) -> OAuthCredentials {
    OAuthCredentials::new(
        server,
        OAuthToken::new(format!("access-{server}"), "Bearer"),
    )
}

/// The stored credentials equal what was written, apart from `updatedAt`.
fn assert_same_apart_from_updated_at(read: &OAuthCredentials, written: &OAuthCredentials) {
    let mut read = read.clone();
    read.updated_at = written.updated_at;
    assert_eq!(&read, written);
}

#[tokio::test]
async fn round_trip_on_the_keyring() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    let creds = full_credentials("github");

    let before = now_ms();
    assert_eq!(
        storage.set_credentials(&creds).await.unwrap(),
        StoredIn::Keyring
    );
    let after = now_ms();

    let read = storage.get_credentials("github").await.unwrap().unwrap();
    assert_same_apart_from_updated_at(&read, &creds);
    assert_eq!(read.token.access_token.expose(), ACCESS);
    assert_eq!(
        read.token.refresh_token.as_ref().map(Secret::expose),
        Some(REFRESH)
    );
    assert!(
        (before..=after).contains(&read.updated_at),
        "updatedAt {} is the time of the write ({before}..={after})",
        read.updated_at
    );
    assert!(keyring.peek(SERVICE, "github").is_some());
    assert!(
        !root.path().join("secure-store").exists(),
        "a keyring write leaves no fallback file"
    );
    assert_eq!(storage.get_credentials("gitlab").await.unwrap(), None);
}

#[tokio::test]
async fn round_trip_on_the_fallback_files_never_writes_a_token_in_clear() {
    let root = TempDir::new().unwrap();
    let storage = file_storage(root.path());
    let creds = full_credentials("https://x.example/mcp");

    assert_eq!(
        storage.set_credentials(&creds).await.unwrap(),
        StoredIn::File
    );

    let file = root
        .path()
        .join("secure-store")
        .join(SERVICE)
        .join("https___x.example_mcp.enc");
    assert!(file.is_file(), "{} was written", file.display());
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for secret in [ACCESS, REFRESH, "accessToken", "x.example"] {
        assert!(
            !text.contains(secret),
            "{secret} is not in the file in clear"
        );
    }

    // A second instance (a fresh process, in effect) reads it back.
    let reread = file_storage(root.path())
        .get_credentials("https://x.example/mcp")
        .await
        .unwrap()
        .unwrap();
    assert_same_apart_from_updated_at(&reread, &creds);
    assert_eq!(
        file_storage(root.path()).list_servers().await.unwrap(),
        ["https___x.example_mcp"]
    );
}

#[tokio::test]
async fn validation_messages_come_in_llxprt_order() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    let message = |r: Result<(), TokenError>| r.unwrap_err().to_string();

    // Everything missing: the server name is reported first.
    let mut nothing = OAuthCredentials::new("", OAuthToken::new("", ""));
    assert_eq!(
        storage.set_credentials(&nothing).await.unwrap_err(),
        TokenError::Validation("Server name is required")
    );
    nothing.server_name = "   ".into();
    assert_eq!(message(nothing.validate()), "Server name is required");
    assert_eq!(
        message(validate_credentials("", None)),
        "Server name is required"
    );

    assert_eq!(
        message(validate_credentials("s", None)),
        "Token is required"
    );

    let no_access = OAuthCredentials::new("s", OAuthToken::new("", ""));
    assert_eq!(
        storage
            .set_credentials(&no_access)
            .await
            .unwrap_err()
            .to_string(),
        "Access token is required"
    );
    let no_type = OAuthCredentials::new("s", OAuthToken::new("a", " "));
    assert_eq!(
        storage
            .set_credentials(&no_type)
            .await
            .unwrap_err()
            .to_string(),
        "Token type is required"
    );

    assert_eq!(
        keyring.peek(SERVICE, "s"),
        None,
        "nothing invalid is stored"
    );
    assert_eq!(
        storage.get_credentials(" ").await.unwrap_err().to_string(),
        "Server name is required"
    );
}

#[tokio::test]
async fn accounts_are_sanitised_server_names() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());

    for server in [
        "https://x.example/mcp",
        "my server:8080",
        "ok-name_1.2",
        "clé",
    ] {
        storage
            .set_credentials(&minimal_credentials(server))
            .await
            .unwrap();
        let read = storage.get_credentials(server).await.unwrap().unwrap();
        assert_eq!(read.server_name, server, "serverName keeps the real name");
    }

    for account in [
        "https___x.example_mcp",
        "my_server_8080",
        "ok-name_1.2",
        "cl_",
    ] {
        assert!(keyring.peek(SERVICE, account).is_some(), "{account}");
    }
    assert_eq!(
        storage.list_servers().await.unwrap(),
        [
            "cl_",
            "https___x.example_mcp",
            "my_server_8080",
            "ok-name_1.2"
        ]
    );
}

#[tokio::test]
async fn stored_json_is_compact_camel_case_and_omits_absent_fields() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    storage
        .set_credentials(&full_credentials("full"))
        .await
        .unwrap();
    storage
        .set_credentials(&minimal_credentials("min"))
        .await
        .unwrap();

    let raw = keyring.peek(SERVICE, "full").unwrap();
    assert!(
        raw.starts_with(r#"{"serverName":"full","token":{"accessToken":"#),
        "{raw}"
    );
    assert!(
        !raw.contains("\": ") && !raw.contains(", \"") && !raw.contains('\n'),
        "compact JSON: {raw}"
    );
    let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect::<Vec<_>>()
    };
    let mut top = keys(&value);
    top.sort();
    assert_eq!(
        top,
        [
            "clientId",
            "mcpServerUrl",
            "serverName",
            "token",
            "tokenUrl",
            "updatedAt"
        ]
    );
    let mut token = keys(&value["token"]);
    token.sort();
    assert_eq!(
        token,
        [
            "accessToken",
            "expiresAt",
            "refreshToken",
            "scope",
            "tokenType"
        ]
    );
    assert_eq!(value["token"]["accessToken"], ACCESS);
    assert_eq!(value["token"]["expiresAt"], 1_900_000_000_000_i64);
    assert!(value["updatedAt"].is_i64());

    let raw = keyring.peek(SERVICE, "min").unwrap();
    let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut top = keys(&value);
    top.sort();
    assert_eq!(top, ["serverName", "token", "updatedAt"]);
    let mut token = keys(&value["token"]);
    token.sort();
    assert_eq!(token, ["accessToken", "tokenType"]);
}

#[tokio::test]
async fn credentials_written_by_llxprt_are_read() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    keyring.insert(
        SERVICE,
        "https___x.example_mcp",
        r#"{"serverName":"https://x.example/mcp","token":{"accessToken":"at","tokenType":"Bearer","expiresAt":1700000000000,"refreshToken":"rt","scope":"s"},"clientId":"c","updatedAt":1699999999999}"#,
    );

    let read = storage
        .get_credentials("https://x.example/mcp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.token.access_token.expose(), "at");
    assert_eq!(read.token.expires_at, Some(1_700_000_000_000));
    assert_eq!(read.client_id.as_deref(), Some("c"));
    assert_eq!(read.token_url, None);
    assert_eq!(read.updated_at, 1_699_999_999_999);
    assert!(
        read.is_expired(1_700_000_000_000),
        "expired ones are still returned"
    );
}

#[tokio::test]
async fn expiry_uses_the_five_minute_buffer() {
    let expires_at = 1_800_000_000_000_i64;
    let mut token = OAuthToken::new("a", "Bearer");
    assert!(!token.is_expired(i64::MAX), "no expiresAt never expires");

    token.expires_at = Some(expires_at);
    let creds = OAuthCredentials::new("s", token.clone());
    let edge = expires_at - EXPIRY_BUFFER_MS;
    assert_eq!(EXPIRY_BUFFER_MS, 300_000);
    assert!(!token.is_expired(edge - 1));
    assert!(
        !token.is_expired(edge),
        "exactly 5 minutes left is not expired"
    );
    assert!(token.is_expired(edge + 1));
    assert!(creds.is_expired(expires_at));
    assert!(!creds.is_expired(edge));

    assert_eq!(creds.status(edge).expiry, Expiry::Valid { expires_at });
    assert_eq!(
        creds.status(edge + 1).expiry,
        Expiry::ExpiringSoon { expires_at }
    );
    assert_eq!(
        creds.status(expires_at).expiry,
        Expiry::Expired { expires_at }
    );
}

#[tokio::test]
async fn list_and_get_all_survive_garbage_entries() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    storage
        .set_credentials(&full_credentials("alpha"))
        .await
        .unwrap();
    storage
        .set_credentials(&minimal_credentials("beta"))
        .await
        .unwrap();
    keyring.insert(SERVICE, "garbage", "{not json");
    keyring.insert(SERVICE, "wrong-shape", r#"{"serverName":5}"#);
    keyring.insert(SERVICE, "__keychain_test__0123456789abcdef", "test");

    // Listing reads nothing, so it names every stored account but llxprt's probe.
    assert_eq!(
        storage.list_servers().await.unwrap(),
        ["alpha", "beta", "garbage", "wrong-shape"]
    );

    let all = storage.get_all_credentials().await.unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["alpha", "beta"]);
    assert_eq!(all["alpha"].token.access_token.expose(), ACCESS);

    let err = storage.get_credentials("garbage").await.unwrap_err();
    assert_eq!(err, TokenError::Parse("garbage".into()));
    assert_eq!(
        err.to_string(),
        "Failed to parse stored credentials for garbage"
    );

    let statuses = storage.statuses(0).await.unwrap();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0].server_name, "alpha");
    assert_eq!(statuses[0].token_type, "Bearer");
    assert!(statuses[0].has_refresh_token);
    assert_eq!(
        statuses[0].expiry,
        Expiry::Valid {
            expires_at: 1_900_000_000_000
        }
    );
    assert_eq!(statuses[1].expiry, Expiry::NoExpiry);
}

#[tokio::test]
async fn delete_removes_and_a_missing_server_is_an_error() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    storage
        .set_credentials(&minimal_credentials("https://x.example/mcp"))
        .await
        .unwrap();

    storage
        .delete_credentials("https://x.example/mcp")
        .await
        .unwrap();
    assert_eq!(keyring.peek(SERVICE, "https___x.example_mcp"), None);

    let err = storage
        .delete_credentials("https://x.example/mcp")
        .await
        .unwrap_err();
    assert_eq!(err, TokenError::NotFound("https://x.example/mcp".into()));
    assert_eq!(
        err.to_string(),
        "No credentials found for https://x.example/mcp"
    );
}

#[tokio::test]
async fn clear_all_deletes_every_entry_including_garbage() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    for server in ["a", "b", "c"] {
        storage
            .set_credentials(&minimal_credentials(server))
            .await
            .unwrap();
    }
    keyring.insert(SERVICE, "garbage", "{not json");

    assert_eq!(storage.clear_all().await.unwrap(), 4);
    assert!(storage.list_servers().await.unwrap().is_empty());
    assert_eq!(storage.clear_all().await.unwrap(), 0);
}

#[tokio::test]
async fn clear_all_tries_every_entry_and_reports_each_failure() {
    let root = TempDir::new().unwrap();
    let files = file_storage(root.path());
    for server in ["a", "b"] {
        files
            .set_credentials(&minimal_credentials(server))
            .await
            .unwrap();
    }
    // A keyring that cannot enumerate: the entries are listed from the files,
    // and only the deletions reach the keyring, which refuses them.
    let keyring = Arc::new(MemoryKeyring::without_enumeration());
    let storage = TokenStorage::new(
        &Layout::new(root.path()),
        KeyringLoader::with_adapter(keyring.clone()),
    );
    assert_eq!(storage.list_servers().await.unwrap(), ["a", "b"]);
    keyring.fail_next_with(2, ErrorCode::Denied, "access denied");

    let err = storage.clear_all().await.unwrap_err();
    let TokenError::ClearFailed(messages) = &err else {
        panic!("expected ClearFailed, got {err:?}");
    };
    let parts: Vec<&str> = messages.split(", ").collect();
    assert_eq!(parts.len(), 2, "{messages}");
    assert!(parts[0].contains("'a'") && parts[0].contains("access denied"));
    assert!(parts[1].contains("'b'") && parts[1].contains("access denied"));
    assert_eq!(
        err.to_string(),
        format!("Failed to clear some credentials: {messages}")
    );
}

#[tokio::test]
async fn debug_output_and_errors_never_show_a_token() {
    let root = TempDir::new().unwrap();
    let (storage, keyring) = keyring_storage(root.path());
    let creds = full_credentials("s");
    let shown = format!("{creds:?} {:?}", creds.status(0));
    assert!(
        !shown.contains(ACCESS) && !shown.contains(REFRESH),
        "{shown}"
    );
    assert!(shown.contains("[redacted]"));

    // A stored value of the wrong type would be quoted by serde's message.
    keyring.insert(
        SERVICE,
        "s",
        &format!(r#"{{"serverName":"s","token":{{"accessToken":"a","tokenType":"b","expiresAt":"{ACCESS}"}},"updatedAt":1}}"#),
    );
    let err = storage.get_credentials("s").await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(ACCESS), "{shown}");
}

/// A server name no other run uses; its entry is removed from the real
/// keyring when the guard drops, even after a failed assertion. The service
/// is fixed (it is llxprt's), so nothing broader than this account is touched.
struct TestServer {
    name: String,
    account: String,
    keyring: Arc<OsKeyring>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.keyring.delete_password(SERVICE, &self.account);
    }
}

#[tokio::test]
async fn round_trip_on_the_real_keyring() {
    if std::env::var_os("KEYSHELL_REAL_KEYRING").is_none() {
        println!(
            "round_trip_on_the_real_keyring: skipped: KEYSHELL_REAL_KEYRING is not set \
             (run under scripts/ci-keyring.sh for a real Secret Service)"
        );
        return;
    }
    let keyring = tokio::task::spawn_blocking(OsKeyring::connect)
        .await
        .unwrap();
    let keyring = Arc::new(keyring.expect("real keyring"));
    let mut bytes = [0u8; 6];
    rand::fill(&mut bytes);
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let server = TestServer {
        name: format!("https://keyshell-test-{suffix}.example/mcp"),
        account: format!("https___keyshell-test-{suffix}.example_mcp"),
        keyring: keyring.clone(),
    };

    let root = TempDir::new().unwrap();
    let storage = TokenStorage::new(
        &Layout::new(root.path()),
        KeyringLoader::with_adapter(keyring),
    );
    let creds = full_credentials(&server.name);
    assert_eq!(
        storage.set_credentials(&creds).await.unwrap(),
        StoredIn::Keyring
    );
    assert!(
        !root.path().join("secure-store").join(SERVICE).exists(),
        "no fallback file when the keyring works"
    );

    let read = storage
        .get_credentials(&server.name)
        .await
        .unwrap()
        .unwrap();
    assert_same_apart_from_updated_at(&read, &creds);
    assert!(
        storage
            .list_servers()
            .await
            .unwrap()
            .contains(&server.account)
    );
    assert!(
        storage
            .get_all_credentials()
            .await
            .unwrap()
            .contains_key(&server.name)
    );

    storage.delete_credentials(&server.name).await.unwrap();
    assert_eq!(storage.get_credentials(&server.name).await.unwrap(), None);
    assert_eq!(
        storage.delete_credentials(&server.name).await.unwrap_err(),
        TokenError::NotFound(server.name.clone())
    );
}
