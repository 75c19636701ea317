//! The team store against a real OpenBao server: each test starts its own
//! `bao server -dev` through scripts/openbao.sh and stops it when done.
//!
//! Without `bao` (and no way to install it) these tests print a skip line,
//! unless `KEYSHELL_REQUIRE_VAULT=1`, where they fail. `replicated_failover`
//! is run by scripts/openbao-raft.sh against a three-node Raft cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyshell::store::{
    ErrorCode, FallbackPolicy, KeyringAdapter, KeyringLoader, PROBE_PREFIX, SecureStore,
    SecureStoreError, SecureStoreOptions, StoredIn, VaultConfig, VaultStore,
};
use tempfile::TempDir;

mod vault_support;

use vault_support::*;

/// How keyshell builds a store on the team store: a remote keyring that
/// files never stand in for.
fn vault_store(service: &str, root: &Path, config: VaultConfig, timeout: Duration) -> SecureStore {
    let mut opts = SecureStoreOptions::new(root);
    opts.fallback_policy = FallbackPolicy::Deny;
    opts.keyring = KeyringLoader::remote(Arc::new(VaultStore::new(config)));
    opts.keyring_timeout = timeout;
    SecureStore::new(service, opts)
}

/// Every file under `dir` (none means no fallback file, lock or machine secret).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

fn value(secret: Option<keyshell::store::Secret>) -> Option<String> {
    secret.map(|s| s.expose().to_string())
}

fn assert_error(err: &SecureStoreError, code: ErrorCode, needle: &str, tokens: &[&str]) {
    let shown = format!("{err} {err:?}");
    assert_eq!(err.code, code, "{shown}");
    assert!(
        shown.to_lowercase().contains(&needle.to_lowercase()),
        "{needle:?} not in {shown}"
    );
    for token in tokens {
        assert!(!shown.contains(token), "a token leaked into {shown}");
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

// ---- round trips ---------------------------------------------------------------

#[tokio::test]
async fn keys_round_trip_through_the_vault_and_nowhere_else() {
    let Some(server) = DevServer::start("keys_round_trip_through_the_vault_and_nowhere_else")
    else {
        return;
    };
    let root = TempDir::new().expect("temp dir");
    let store = vault_store(SERVICE, root.path(), server.config(ROOT_TOKEN), TIMEOUT);

    assert_eq!(store.set("OPENAI", "sk-live-1").await, Ok(StoredIn::Remote));
    assert_eq!(
        value(store.get("OPENAI").await.expect("get")),
        Some("sk-live-1".into())
    );
    assert!(store.has("OPENAI").await.expect("has"));
    let unicode = "ключ-🔑-é \"quoted\" \\ tab\t";
    store.set("unicode", unicode).await.expect("set unicode");
    assert_eq!(
        value(store.get("unicode").await.expect("get")),
        Some(unicode.into())
    );
    store.set("OPENAI", "sk-live-2").await.expect("overwrite");
    assert_eq!(
        value(store.get("OPENAI").await.expect("get")),
        Some("sk-live-2".into())
    );

    // The layout other tools see: <mount>/data/<prefix>/<service>/<account>, field `value`.
    assert_eq!(
        server.openbao(&[
            "kv",
            "get",
            "-mount=secret",
            "-field=value",
            "keyshell/keyshell-test/unicode"
        ]),
        unicode.trim_end()
    );
    server.openbao(&[
        "kv",
        "put",
        "-mount=secret",
        "keyshell/keyshell-test/from-cli",
        "value=sk-from-cli",
    ]);
    assert_eq!(
        value(store.get("from-cli").await.expect("get")),
        Some("sk-from-cli".into())
    );

    // A service whose name has spaces is its own folder.
    let spaced = vault_store(
        SPACED_SERVICE,
        root.path(),
        server.config(ROOT_TOKEN),
        TIMEOUT,
    );
    spaced.set("GEMINI", "g-1").await.expect("set spaced");
    assert_eq!(
        value(spaced.get("GEMINI").await.expect("get")),
        Some("g-1".into())
    );
    assert_eq!(spaced.list().await.expect("list"), ["GEMINI"]);
    assert_eq!(
        server.openbao(&[
            "kv",
            "get",
            "-mount=secret",
            "-field=value",
            "keyshell/LLxprt Code Extension x/GEMINI"
        ]),
        "g-1"
    );

    // list: exactly this service's keys — no probe account, nothing of the other service.
    assert_eq!(
        store.list().await.expect("list"),
        ["OPENAI", "from-cli", "unicode"]
    );
    let raw = VaultStore::new(server.config(ROOT_TOKEN))
        .list_accounts(SERVICE)
        .expect("the vault enumerates")
        .expect("list accounts");
    assert!(
        raw.iter().all(|a| !a.starts_with(PROBE_PREFIX)),
        "the availability probe left {raw:?}"
    );

    assert!(store.delete("OPENAI").await.expect("delete"));
    assert_eq!(value(store.get("OPENAI").await.expect("get")), None);
    assert!(!store.has("OPENAI").await.expect("has"));
    assert!(!store.delete("OPENAI").await.expect("delete again"));
    assert_eq!(store.list().await.expect("list"), ["from-cli", "unicode"]);

    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn two_data_roots_see_each_others_keys_at_once() {
    let Some(server) = DevServer::start("two_data_roots_see_each_others_keys_at_once") else {
        return;
    };
    let (root_a, root_b) = (TempDir::new().expect("temp"), TempDir::new().expect("temp"));
    let alice = vault_store(SERVICE, root_a.path(), server.config(ROOT_TOKEN), TIMEOUT);
    let bob = vault_store(SERVICE, root_b.path(), server.config(ROOT_TOKEN), TIMEOUT);

    alice.set("shared", "sk-team").await.expect("alice saves");
    assert_eq!(
        value(bob.get("shared").await.expect("bob reads")),
        Some("sk-team".into())
    );
    assert_eq!(bob.list().await.expect("list"), ["shared"]);
    bob.set("shared", "sk-rotated").await.expect("bob rotates");
    assert_eq!(
        value(alice.get("shared").await.expect("alice reads")),
        Some("sk-rotated".into())
    );
    assert!(bob.delete("shared").await.expect("bob deletes"));
    assert_eq!(value(alice.get("shared").await.expect("get")), None);
    assert!(alice.list().await.expect("list").is_empty());

    assert_eq!(files_under(root_a.path()), Vec::<PathBuf>::new());
    assert_eq!(files_under(root_b.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_namespace_is_a_store_of_its_own() {
    let Some(server) = DevServer::start("a_namespace_is_a_store_of_its_own") else {
        return;
    };
    server.openbao(&["namespace", "create", "team"]);
    server.openbao(&[
        "secrets",
        "enable",
        "-namespace=team",
        "-path=secret",
        "kv-v2",
    ]);
    let root = TempDir::new().expect("temp dir");
    let mut team_config = server.config(ROOT_TOKEN);
    team_config.namespace = Some("team".into());
    let team = vault_store(SERVICE, root.path(), team_config, TIMEOUT);
    let top = vault_store(SERVICE, root.path(), server.config(ROOT_TOKEN), TIMEOUT);

    team.set("OPENAI", "sk-team")
        .await
        .expect("save in the namespace");
    assert_eq!(
        value(team.get("OPENAI").await.expect("get")),
        Some("sk-team".into())
    );
    assert_eq!(value(top.get("OPENAI").await.expect("get")), None);
    assert_eq!(
        server.openbao(&[
            "kv",
            "get",
            "-namespace=team",
            "-mount=secret",
            "-field=value",
            "keyshell/keyshell-test/OPENAI"
        ]),
        "sk-team"
    );

    // A mount that is not there is a configuration error, not "no such key".
    let mut wrong = server.config(ROOT_TOKEN);
    wrong.mount = "nope".into();
    let err = VaultStore::new(wrong)
        .get_password(SERVICE, "OPENAI")
        .expect_err("no such mount");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(
        err.message.contains("HTTP 404: no handler for route")
            && err.message.contains("vault-mount 'nope'"),
        "{err}"
    );
}

#[tokio::test]
async fn https_with_vault_cacert() {
    let Some(server) = DevServer::start_with("https_with_vault_cacert", true) else {
        return;
    };
    let root = TempDir::new().expect("temp dir");
    let mut config = server.config(ROOT_TOKEN);
    config.cacert = Some(server.ca());
    let store = vault_store(SERVICE, root.path(), config, TIMEOUT);
    assert_eq!(store.set("OPENAI", "sk-tls").await, Ok(StoredIn::Remote));
    assert_eq!(
        value(store.get("OPENAI").await.expect("get")),
        Some("sk-tls".into())
    );

    // Without the CA the server's certificate is not trusted, and the error says what to set.
    let err = VaultStore::new(server.config(ROOT_TOKEN))
        .get_password(SERVICE, "OPENAI")
        .expect_err("untrusted certificate");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(
        err.message
            .contains("TLS with the vault at https://127.0.0.1:")
            && err.message.contains("VAULT_CACERT"),
        "{err}"
    );
}

// ---- refusals and failures -----------------------------------------------------

#[tokio::test]
async fn a_read_only_token_is_denied_and_nothing_falls_back() {
    let Some(server) = DevServer::start("a_read_only_token_is_denied_and_nothing_falls_back")
    else {
        return;
    };
    let root = TempDir::new().expect("temp dir");
    let admin = vault_store(SERVICE, root.path(), server.config(ROOT_TOKEN), TIMEOUT);
    admin
        .set("OPENAI", "sk-original")
        .await
        .expect("admin saves");

    let out = Command::new(script("openbao.sh"))
        .args(["readonly-token", &server.addr, ROOT_TOKEN])
        .output()
        .expect("scripts/openbao.sh readonly-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reader_token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let reader = vault_store(SERVICE, root.path(), server.config(&reader_token), TIMEOUT);

    // Reading and listing are what the policy allows.
    assert_eq!(
        value(reader.get("OPENAI").await.expect("read")),
        Some("sk-original".into())
    );
    assert_eq!(reader.list().await.expect("list"), ["OPENAI"]);

    let tokens = [reader_token.as_str(), ROOT_TOKEN];
    let err = reader.set("OPENAI", "sk-new").await.expect_err("denied");
    assert_error(&err, ErrorCode::Denied, "permission denied", &tokens);
    assert!(err.message.contains("HTTP 403"), "{err:?}");
    let err = reader.delete("OPENAI").await.expect_err("denied");
    assert_error(&err, ErrorCode::Denied, "HTTP 403", &tokens);

    assert_eq!(
        value(admin.get("OPENAI").await.expect("get")),
        Some("sk-original".into())
    );
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_sealed_vault_is_locked() {
    let Some(server) = DevServer::start("a_sealed_vault_is_locked") else {
        return;
    };
    let root = TempDir::new().expect("temp dir");
    let store = vault_store(SERVICE, root.path(), server.config(ROOT_TOKEN), TIMEOUT);
    store
        .set("OPENAI", "sk-1")
        .await
        .expect("save before sealing");

    let sealed = Command::new(script("openbao.sh"))
        .args(["seal", &server.addr, ROOT_TOKEN])
        .output()
        .expect("scripts/openbao.sh seal");
    assert!(
        sealed.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );

    // A fresh store: the probe of the first one is cached as available.
    let store = vault_store(SERVICE, root.path(), server.config(ROOT_TOKEN), TIMEOUT);
    let err = store.set("OPENAI", "sk-2").await.expect_err("sealed");
    assert_error(
        &err,
        ErrorCode::Locked,
        "the vault is sealed",
        &[ROOT_TOKEN],
    );
    let err = store.get("OPENAI").await.expect_err("sealed");
    assert_error(
        &err,
        ErrorCode::Locked,
        "the vault is sealed (HTTP 503)",
        &[ROOT_TOKEN],
    );
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_stopped_vault_is_unavailable_within_the_timeout() {
    let Some(server) = DevServer::start("a_stopped_vault_is_unavailable_within_the_timeout") else {
        return;
    };
    let config = server.config(ROOT_TOKEN);
    drop(server);

    let root = TempDir::new().expect("temp dir");
    let store = vault_store(SERVICE, root.path(), config.clone(), Duration::from_secs(2));
    let started = Instant::now();
    let err = store.set("OPENAI", "sk-1").await.expect_err("unavailable");
    // A bound on hanging, not a performance figure.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_error(&err, ErrorCode::Unavailable, "unavailable", &[ROOT_TOKEN]);
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());

    // The adapter itself says why: the server's address and the transport's reason.
    let err = VaultStore::new(config)
        .get_password(SERVICE, "OPENAI")
        .expect_err("unreachable");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(
        err.message
            .contains("Cannot reach the vault at http://127.0.0.1:"),
        "{err}"
    );
}

/// A server that accepts and never answers: the keyring timeout bounds every call.
/// Needs no OpenBao.
#[tokio::test]
async fn a_vault_that_never_answers_is_cut_off_by_the_keyring_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("non-blocking");
    // Holds every connection unanswered for 3 s, then lets them go so that the
    // abandoned HTTP calls end too.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok((stream, _)) = listener.accept() {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let root = TempDir::new().expect("temp dir");
    let store = vault_store(
        SERVICE,
        root.path(),
        config_for(&addr, ROOT_TOKEN),
        Duration::from_millis(500),
    );
    let started = Instant::now();
    let err = store.set("OPENAI", "sk-1").await.expect_err("no answer");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err.code, ErrorCode::Timeout | ErrorCode::Unavailable),
        "{err:?}"
    );
    let err = store.delete("OPENAI").await.expect_err("no answer");
    assert_error(&err, ErrorCode::Timeout, "500 ms", &[ROOT_TOKEN]);
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
}

// ---- the replicated run (scripts/openbao-raft.sh) --------------------------------

/// A key saved through node 1 of a three-node Raft cluster is read back
/// through a surviving node after the active node is stopped.
///
/// Run by scripts/openbao-raft.sh, which sets `KEYSHELL_RAFT_ADDRS` (node API
/// addresses, comma-separated, node 1 first), `KEYSHELL_RAFT_PIDFILES` (same
/// order) and `KEYSHELL_RAFT_TOKEN`.
#[tokio::test]
#[ignore = "needs a Raft cluster: run scripts/openbao-raft.sh"]
async fn replicated_failover() {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let addrs: Vec<String> = env("KEYSHELL_RAFT_ADDRS")
        .split(',')
        .map(str::to_string)
        .collect();
    let pidfiles: Vec<String> = env("KEYSHELL_RAFT_PIDFILES")
        .split(',')
        .map(str::to_string)
        .collect();
    let token = env("KEYSHELL_RAFT_TOKEN");
    assert_eq!(addrs.len(), 3, "three nodes");
    assert_eq!(pidfiles.len(), 3, "three pid files");

    let root = TempDir::new().expect("temp dir");
    let started = Instant::now();
    let writer = vault_store(SERVICE, root.path(), config_for(&addrs[0], &token), TIMEOUT);
    assert_eq!(
        writer.set("replicated", "sk-survives").await,
        Ok(StoredIn::Remote)
    );
    eprintln!(
        "raft: saved through {} in {:?}",
        addrs[0],
        started.elapsed()
    );

    let active = active_node(&addrs).expect("an active node");
    eprintln!("raft: stopping the active node {}", addrs[active]);
    let status = Command::new(script("openbao.sh"))
        .args(["stop", &pidfiles[active]])
        .status()
        .expect("stop the active node");
    assert!(status.success());
    let stopped_at = Instant::now();

    let survivors: Vec<&String> = addrs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != active)
        .map(|(_, a)| a)
        .collect();
    let (reader, read_through) = until_a_survivor(
        &survivors,
        &token,
        root.path(),
        stopped_at,
        |store| async move {
            match store.get("replicated").await {
                Ok(Some(secret)) => Ok(secret.expose().to_string()),
                Ok(None) => Err("not found".to_string()),
                Err(err) => Err(format!("{}: {}", err.code, err.message)),
            }
        },
    )
    .await;
    assert_eq!(reader, "sk-survives");
    eprintln!(
        "raft: read back through {read_through} {:?} after the active node stopped",
        stopped_at.elapsed()
    );

    // A write needs an active node: the two survivors elect one.
    let ((), written_through) = until_a_survivor(
        &survivors,
        &token,
        root.path(),
        stopped_at,
        |store| async move {
            store
                .set("after-failover", "sk-new-leader")
                .await
                .map(|_| ())
                .map_err(|err| format!("{}: {}", err.code, err.message))
        },
    )
    .await;
    eprintln!(
        "raft: saved through {written_through} {:?} after the active node stopped",
        stopped_at.elapsed()
    );
    // Standbys serve reads from their own copy, which trails the leader briefly.
    for addr in &survivors {
        let (found, _) = until_a_survivor(
            &[*addr],
            &token,
            root.path(),
            Instant::now(),
            |store| async move {
                match store.get("after-failover").await {
                    Ok(Some(secret)) => Ok(secret.expose().to_string()),
                    Ok(None) => Err("not found yet".to_string()),
                    Err(err) => Err(format!("{}: {}", err.code, err.message)),
                }
            },
        )
        .await;
        assert_eq!(found, "sk-new-leader", "read through {addr}");
    }
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
    eprintln!("raft: whole test {:?}", started.elapsed());
}

/// Retries `op` on a fresh store over each survivor in turn until one succeeds
/// (an election takes a few seconds); its result and the survivor's address.
async fn until_a_survivor<T, F, Fut>(
    survivors: &[&String],
    token: &str,
    root: &Path,
    since: Instant,
    op: F,
) -> (T, String)
where
    F: Fn(SecureStore) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Duration::from_secs(90);
    let mut last = String::new();
    loop {
        for addr in survivors {
            let store = vault_store(SERVICE, root, config_for(addr, token), TIMEOUT);
            match op(store).await {
                Ok(found) => return (found, addr.to_string()),
                Err(err) => {
                    let seen = format!("{addr}: {err}");
                    if seen != last {
                        eprintln!("raft: {seen} (retrying)");
                        last = seen;
                    }
                }
            }
        }
        assert!(
            since.elapsed() < deadline,
            "no survivor answered within {deadline:?}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The index of the node that says it is the active one (`GET /v1/sys/leader`).
fn active_node(addrs: &[String]) -> Option<usize> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    addrs.iter().position(|addr| {
        agent
            .get(format!("{addr}/v1/sys/leader"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
            .is_some_and(|v| v["is_self"] == true)
    })
}
