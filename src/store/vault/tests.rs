//! The VaultStore against a canned HTTP responder: request shape, answers,
//! and every error path (code, message, and never the token).

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;

use super::*;

use super::config::tests::{TOKEN, config};

/// Answers each connection with the next canned `(status, extra headers, body)`
/// and hands back the request it read.
fn serve(replies: Vec<(u16, String, String)>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = format!("http://{}", listener.local_addr().expect("local address"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, headers, body) in replies {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                request.push_str(&line);
            }
            let mut payload = vec![0; length];
            let _ = reader.read_exact(&mut payload);
            request.push_str(&String::from_utf8_lossy(&payload));
            let _ = tx.send(request);
            let answer = format!(
                "HTTP/1.1 {status} X\r\n{headers}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    (addr, rx)
}

#[test]
fn debug_and_describe_never_show_the_token() {
    let mut c = config("http://127.0.0.1:8200");
    c.namespace = Some("team".into());
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(TOKEN) && debug.contains("[redacted]"),
        "{debug}"
    );
    let store = VaultStore::new(c);
    assert_eq!(
        store.describe(),
        "Vault KV v2 at http://127.0.0.1:8200 (mount secret, prefix keyshell, namespace team)"
    );
}

#[test]
fn urls_percent_encode_service_and_account() {
    let mut c = config("http://h:1");
    c.prefix = "team/keys".into();
    let store = VaultStore::new(c);
    assert_eq!(
        store.url("data", "LLxprt Code Extension x", Some("API key+é")),
        "http://h:1/v1/secret/data/team/keys/LLxprt%20Code%20Extension%20x/API%20key%2B%C3%A9"
    );
    assert_eq!(
        store.url("metadata", "svc", None),
        "http://h:1/v1/secret/metadata/team/keys/svc/"
    );
    let mut c = config("http://h:1");
    c.prefix.clear();
    assert_eq!(
        VaultStore::new(c).url("data", "svc", Some("k")),
        "http://h:1/v1/secret/data/svc/k"
    );
}

#[test]
fn requests_carry_the_token_header_namespace_and_kv2_body() {
    let (addr, requests) = serve(vec![
        (200, String::new(), "{}".into()),
        (
            200,
            String::new(),
            r#"{"data":{"data":{"value":"sk-é"}}}"#.into(),
        ),
        (
            200,
            String::new(),
            r#"{"data":{"keys":["a","b c","folder/"]}}"#.into(),
        ),
        (200, String::new(), "{}".into()),
        (204, String::new(), String::new()),
        (404, String::new(), r#"{"errors":[]}"#.into()),
    ]);
    let mut c = config(&addr);
    c.namespace = Some("team".into());
    let store = VaultStore::new(c);
    store.set_password("svc one", "k", "sk-é").expect("set");
    let request = requests.recv().expect("the set request");
    assert!(request.starts_with("POST /v1/secret/data/keyshell/svc%20one/k HTTP/1.1"));
    let lower = request.to_lowercase();
    assert!(lower.contains(&format!("x-vault-token: {}", TOKEN.to_lowercase())));
    assert!(lower.contains("x-vault-namespace: team"));
    assert!(
        request.ends_with(r#"{"data":{"value":"sk-é"}}"#),
        "{request}"
    );

    assert_eq!(
        store.get_password("svc one", "k").expect("get"),
        Some("sk-é".into())
    );
    assert!(
        requests
            .recv()
            .expect("get")
            .starts_with("GET /v1/secret/data/")
    );

    let listed = store.list_accounts("svc one").expect("enumerates");
    assert_eq!(listed.expect("list"), ["a", "b c"]);
    let request = requests.recv().expect("list");
    assert!(
        request.starts_with("GET /v1/secret/metadata/keyshell/svc%20one/?list=true "),
        "{request}"
    );

    assert!(store.delete_password("svc one", "k").expect("delete"));
    assert!(
        requests
            .recv()
            .expect("meta")
            .starts_with("GET /v1/secret/metadata/")
    );
    assert!(
        requests
            .recv()
            .expect("del")
            .starts_with("DELETE /v1/secret/metadata/")
    );
    assert!(!store.delete_password("svc one", "k").expect("absent"));
}

#[test]
fn absent_secrets_are_none_and_empty_lists() {
    let (addr, _requests) = serve(vec![
        (404, String::new(), r#"{"errors":[]}"#.into()),
        (
            404,
            String::new(),
            r#"{"data":{"data":null,"metadata":{"deletion_time":"x"}}}"#.into(),
        ),
        (404, String::new(), r#"{"errors":[]}"#.into()),
    ]);
    let store = VaultStore::new(config(&addr));
    assert_eq!(store.get_password("s", "k").expect("get"), None);
    assert_eq!(store.get_password("s", "k").expect("deleted version"), None);
    let listed = store.list_accounts("s").expect("enumerates");
    assert!(listed.expect("list").is_empty());
}

fn get_error(status: u16, headers: &str, body: &str) -> KeyringError {
    let (addr, _requests) = serve(vec![(status, headers.to_string(), body.to_string())]);
    VaultStore::new(config(&addr))
        .get_password("s", "k")
        .expect_err("an error")
}

fn assert_clean(err: &KeyringError, code: ErrorCode, needle: &str) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    assert_eq!(err.code(), code, "{shown}");
    assert!(err.message.contains(needle), "{needle:?} not in {shown}");
}

#[test]
fn every_error_path_maps_its_code_and_never_shows_the_token() {
    let echo =
        format!(r#"{{"errors":["1 error occurred:\n\t* permission denied for {TOKEN}\n\n"]}}"#);
    let err = get_error(403, "", &echo);
    assert_clean(
        &err,
        ErrorCode::Denied,
        "(HTTP 403: permission denied for [redacted])",
    );
    assert!(
        err.message
            .starts_with("Permission denied by the vault on secret/data/keyshell/s/k")
    );

    let err = get_error(503, "", r#"{"errors":["Vault is sealed"]}"#);
    assert_clean(&err, ErrorCode::Locked, "The vault is sealed (HTTP 503)");

    let err = get_error(503, "", r#"{"errors":["local node not active"]}"#);
    assert_clean(
        &err,
        ErrorCode::Unavailable,
        "HTTP 503: local node not active",
    );

    let body = format!(r#"{{"errors":["internal error near {TOKEN}"]}}"#);
    assert_clean(
        &get_error(500, "", &body),
        ErrorCode::Unavailable,
        "HTTP 500",
    );

    let body = r#"{"errors":["no handler for route \"nope/data/keyshell/s/k\""]}"#;
    assert_clean(
        &get_error(404, "", body),
        ErrorCode::Unavailable,
        "KV version 2",
    );

    let location = format!("Location: http://other/?t={TOKEN}\r\n");
    assert_clean(
        &get_error(307, &location, ""),
        ErrorCode::Unavailable,
        "HTTP 307",
    );

    let html = format!("<html>bad gateway {TOKEN}</html>");
    assert_clean(
        &get_error(502, "", &html),
        ErrorCode::Unavailable,
        "bad gateway",
    );

    assert_clean(
        &get_error(200, "", "not json"),
        ErrorCode::Corrupt,
        "not JSON",
    );
    assert_clean(
        &get_error(200, "", r#"{"data":{"data":{"v":1}}}"#),
        ErrorCode::Corrupt,
        "'value'",
    );

    // Transport failures.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let store = VaultStore::new(config(&addr));
    let err = store.set_password("s", "k", "v").expect_err("refused");
    assert_clean(
        &err,
        ErrorCode::Unavailable,
        "Cannot reach the vault at http://127.0.0.1:",
    );
    assert_clean(
        &store.transport_error(ureq::Error::HostNotFound),
        ErrorCode::Unavailable,
        "DNS",
    );
    let err = store.transport_error(ureq::Error::Timeout(ureq::Timeout::Global));
    assert_clean(&err, ErrorCode::Timeout, "timed out");
    let err = store.transport_error(ureq::Error::Tls("bad certificate"));
    assert_clean(&err, ErrorCode::Unavailable, "VAULT_CACERT");
    let err = store.error(ErrorCode::Unavailable, format!("echo {TOKEN}"));
    assert_clean(&err, ErrorCode::Unavailable, "echo [redacted]");
}

#[test]
fn an_unusable_cacert_is_reported_on_every_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut c = config("https://127.0.0.1:1");
    c.cacert = Some(dir.path().join("missing.pem"));
    let err = VaultStore::new(c.clone())
        .get_password("s", "k")
        .expect_err("no CA");
    assert_clean(&err, ErrorCode::Unavailable, "Cannot read VAULT_CACERT");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").expect("write");
    c.cacert = Some(empty);
    let err = VaultStore::new(c)
        .set_password("s", "k", "v")
        .expect_err("no CA");
    assert_clean(&err, ErrorCode::Unavailable, "holds no PEM certificate");
}
