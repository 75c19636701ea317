//! `/mcp` and `/extensions` through the binary: what they print, that no
//! token or sensitive value is ever shown, and where the values land.

mod harness;

use harness::{Keyshell, snapshot};
use keyshell::keys::tokens::{OAuthCredentials, OAuthToken, TokenStorage};
use keyshell::paths::Layout;
use keyshell::store::{KeyringLoader, Secret};

const ACCESS: &str = "mcp-access-token-abcdef123456";
const REFRESH: &str = "mcp-refresh-token-zyxwvu987654";
const SENSITIVE: &str = "search-secret-key-0123456789";

fn store_token(ks: &Keyshell, server: &str, expires_at: Option<i64>, refresh: bool) {
    let storage = TokenStorage::new(&Layout::new(ks.root()), KeyringLoader::none());
    let mut token = OAuthToken::new(ACCESS, "Bearer");
    token.expires_at = expires_at;
    if refresh {
        token.refresh_token = Some(Secret::new(REFRESH));
    }
    let credentials = OAuthCredentials::new(server, token);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(storage.set_credentials(&credentials))
        .unwrap();
}

#[test]
fn mcp_tokens_list_and_logout() {
    let ks = Keyshell::new();
    ks.run(["-c", "/mcp tokens"])
        .success()
        .stdout_is("No MCP OAuth tokens stored.\n");
    store_token(&ks, "github", None, true);
    store_token(
        &ks,
        "https://mcp.example/sse",
        Some(4_102_444_800_000),
        false,
    );
    store_token(&ks, "old", Some(946_684_800_000), true);
    let run = ks.run_with_input(
        ["--keep-going"],
        b"/mcp tokens\n/mcp logout github\n/mcp logout github\n/mcp tokens\n/mcp\n/mcp logout\n",
    );
    let text = format!("--- stdout\n{}--- stderr\n{}", run.stdout(), run.stderr());
    for secret in [ACCESS, REFRESH] {
        assert!(!text.contains(secret), "a token was shown:\n{text}");
    }
    snapshot!("mcp_commands", text);
}

fn write_manifest(ks: &Keyshell) {
    let dir = ks.path("extensions/web-search");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("extension.toml"),
        include_str!("fixtures/web-search.extension.toml"),
    )
    .unwrap();
}

#[test]
fn extension_settings_keep_sensitive_values_out_of_env_files() {
    let ks = Keyshell::new();
    write_manifest(&ks);
    let script = format!(
        "/extensions settings web-search\n\
         /extensions set web-search SEARCH_API_KEY {SENSITIVE}\n\
         /extensions set web-search SEARCH_REGION \"eu west 1\"\n\
         /extensions settings web-search\n\
         /extensions set web-search NOPE x\n\
         /extensions settings missing\n\
         /extensions set web-search\n\
         /extensions unset web-search SEARCH_REGION\n\
         /extensions unset web-search SEARCH_REGION\n\
         /extensions settings web-search\n"
    );
    let run = ks
        .run_with_input(["--keep-going"], script.as_bytes())
        .no_leak(SENSITIVE);
    let text = format!("--- stdout\n{}--- stderr\n{}", run.stdout(), run.stderr())
        .replace(&ks.root().display().to_string(), "[ROOT]");
    snapshot!("extensions_commands", text);
    // The sensitive value went to the encrypted store, never to .env.
    let env = ks.path("extensions/web-search/.env");
    if let Ok(bytes) = std::fs::read(&env) {
        assert!(!String::from_utf8_lossy(&bytes).contains(SENSITIVE));
    }
    let enc = ks.path("secure-store/LLxprt Code Extension web-search/SEARCH_API_KEY.enc");
    let sealed =
        std::fs::read_to_string(&enc).expect("the sensitive value is in an encrypted file");
    assert!(!sealed.contains(SENSITIVE));
}

#[test]
fn a_plain_setting_lands_quoted_in_env() {
    let ks = Keyshell::new();
    write_manifest(&ks);
    ks.run([
        "-c",
        r#"/extensions set web-search SEARCH_REGION 'a "b" \c'"#,
    ])
    .success();
    assert_eq!(
        std::fs::read_to_string(ks.path("extensions/web-search/.env")).unwrap(),
        "SEARCH_REGION=\"a \\\"b\\\" \\\\c\"\n"
    );
}
