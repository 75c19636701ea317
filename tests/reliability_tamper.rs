//! Tampering (docs/reliability.md §3): every single-byte change of a real
//! envelope (four substitutions per position) and every truncation reads as
//! CORRUPT with one of llxprt's exact messages — never a wrong value, never a
//! panic. Envelopes with other parameters or versions, huge or non-JSON
//! content, and a directory, FIFO or symbolic link in place of the file give
//! clear errors through the binary.

mod harness;

use std::collections::BTreeMap;
use std::path::Path;

use harness::Keyshell;
use keyshell::keys::ProviderKeyStorage;
use keyshell::paths::Layout;
use keyshell::store::envelope::{MSG_DECRYPT, MSG_MALFORMED, MSG_NOT_JSON};
use keyshell::store::{ErrorCode, KeyringLoader};
use serde_json::{Value, json};

const VALUE: &str = "sk-tamper-0123456789abcdef";

fn unknown_version(shown: &str) -> String {
    format!("Unrecognized envelope version: {shown}. This file may require a newer version.")
}

/// What reading one changed file gave.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Corrupt(String),
    /// The change did not change the meaning (the same value read back).
    Same,
}

/// Reads `bytes` as the envelope of `k` through a store that has the key
/// derivation of the real file cached; fails the test on a wrong value or an
/// unexpected error.
fn read_as_envelope(
    storage: &ProviderKeyStorage,
    rt: &tokio::runtime::Runtime,
    path: &Path,
    bytes: &[u8],
    what: &str,
) -> Outcome {
    std::fs::write(path, bytes).unwrap();
    match rt.block_on(storage.store().get("k")) {
        Ok(Some(value)) if value.expose() == VALUE => Outcome::Same,
        Ok(Some(_)) => panic!("{what}: read a WRONG value"),
        Ok(None) => panic!("{what}: the file is there but no value and no error"),
        Err(err) => {
            assert_eq!(err.code, ErrorCode::Corrupt, "{what}: {err:?}");
            let known = [MSG_NOT_JSON, MSG_MALFORMED, MSG_DECRYPT];
            assert!(
                known.contains(&err.message.as_str())
                    || err.message.starts_with("Unrecognized envelope version: "),
                "{what}: unexpected message {:?}",
                err.message
            );
            assert!(!format!("{err:?}").contains(VALUE), "{what}: leaks");
            Outcome::Corrupt(err.message)
        }
    }
}

/// The four substitutes tried at every position: neighbouring bit, case
/// bit, high bit (invalid UTF-8), and a fixed letter.
fn substitutes(byte: u8) -> [u8; 4] {
    let letter = if byte == b'A' { b'B' } else { b'A' };
    [byte ^ 0x01, byte ^ 0x20, byte ^ 0x80, letter]
}

#[test]
fn every_single_byte_change_and_every_truncation_is_corrupt() {
    let root = tempfile::TempDir::new().unwrap();
    let storage = ProviderKeyStorage::new(&Layout::new(root.path()), KeyringLoader::none());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(storage.save_key("k", VALUE)).unwrap();
    let path = root.path().join("provider-keys/k.enc");
    let original = std::fs::read(&path).unwrap();
    let data_starts = original
        .windows(8)
        .position(|w| w == b"\"data\":\"")
        .unwrap()
        + 8;

    let mut tally: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut same_at = Vec::new();
    let mut changes = 0;
    for at in 0..original.len() {
        for substitute in substitutes(original[at]) {
            let mut bytes = original.clone();
            bytes[at] = substitute;
            let what = format!(
                "byte {at} ({:?}) -> {:?}",
                char::from(original[at]),
                char::from(substitute)
            );
            let outcome = read_as_envelope(&storage, &rt, &path, &bytes, &what);
            if outcome == Outcome::Same {
                same_at.push(what);
            }
            *tally.entry(outcome).or_default() += 1;
            changes += 1;
        }
    }
    for len in 0..original.len() {
        let what = format!("truncated to {len} bytes");
        let outcome = read_as_envelope(&storage, &rt, &path, &original[..len], &what);
        assert_eq!(outcome, Outcome::Corrupt(MSG_NOT_JSON.into()), "{what}");
    }
    // A change that reads back the same value must be one the reader is
    // documented to tolerate: none of the four substitutes is one.
    assert!(same_at.is_empty(), "changes without effect: {same_at:?}");
    // Changes inside the base64 that still decode reach the cipher and fail
    // authentication there.
    assert!(tally[&Outcome::Corrupt(MSG_DECRYPT.into())] > 0);
    println!(
        "{} bytes ({} of them base64 data): {changes} single-byte changes, {} truncations; outcomes: {tally:?}",
        original.len(),
        original.len() - data_starts - 2,
        original.len()
    );
}

// ---- through the binary ------------------------------------------------------

fn envelope(ks: &Keyshell) -> Value {
    serde_json::from_slice(&std::fs::read(ks.path("provider-keys/k.enc")).unwrap()).unwrap()
}

fn with(envelope: &Value, pointer: &str, value: Value) -> Vec<u8> {
    let mut out = envelope.clone();
    *out.pointer_mut(pointer).unwrap() = value;
    out.to_string().into_bytes()
}

/// `/key show k`, `/key load k` fail with exactly `message`, status 1;
/// `/key list` still lists the other key and marks `k` unreadable.
fn assert_refused(ks: &Keyshell, what: &str, message: &str) {
    for command in ["/key show k", "/key load k"] {
        let run = ks.run(["-c", command]);
        assert_eq!(run.code(), 1, "{what}: {command}: {}", run.stderr());
        // (A start-up warning about files of a newer version may come first.)
        let first = run
            .stderr()
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default()
            .to_string();
        assert!(
            first.starts_with(&format!("error: line 1: {message}")),
            "{what}: {command}: {first:?} does not start with {message:?}"
        );
        assert!(!run.stderr().contains("panicked"), "{what}");
        assert!(run.stdout().is_empty(), "{what}: {}", run.stdout());
    }
    let list = ks.run(["-c", "/key list"]).success();
    assert!(list.stdout().contains("  other  "), "{what}");
}

#[test]
fn other_parameters_versions_and_contents_are_refused_clearly() {
    let ks = Keyshell::new();
    ks.save("k", VALUE);
    ks.save("other", "sk-other-0123456789");
    let good = envelope(&ks);
    let path = ks.path("provider-keys/k.enc");
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let big_data = {
        // A well-formed envelope just under the 1 MiB cap: its ciphertext
        // is read, authenticated and refused.
        use base64::Engine as _;
        let raw = vec![7u8; 700_000];
        with(
            &good,
            "/data",
            json!(base64::engine::general_purpose::STANDARD.encode(raw)),
        )
    };
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "N = 32768",
            with(&good, "/crypto/N", json!(32768)),
            MSG_MALFORMED.into(),
        ),
        (
            "N = 1",
            with(&good, "/crypto/N", json!(1)),
            MSG_MALFORMED.into(),
        ),
        (
            "r = 16",
            with(&good, "/crypto/r", json!(16)),
            MSG_MALFORMED.into(),
        ),
        (
            "p = 0",
            with(&good, "/crypto/p", json!(0)),
            MSG_MALFORMED.into(),
        ),
        (
            "saltLen = 8",
            with(&good, "/crypto/saltLen", json!(8)),
            MSG_MALFORMED.into(),
        ),
        (
            "alg",
            with(&good, "/crypto/alg", json!("chacha20-poly1305")),
            MSG_MALFORMED.into(),
        ),
        (
            "kdf",
            with(&good, "/crypto/kdf", json!("argon2id")),
            MSG_MALFORMED.into(),
        ),
        ("v = 3", with(&good, "/v", json!(3)), unknown_version("3")),
        ("v = 0", with(&good, "/v", json!(0)), unknown_version("0")),
        (
            "v = 99",
            with(&good, "/v", json!(99)),
            unknown_version("99"),
        ),
        (
            "v = \"2\"",
            with(&good, "/v", json!("2")),
            unknown_version("2"),
        ),
        (
            "v = 2.5",
            with(&good, "/v", json!(2.5)),
            unknown_version("2.5"),
        ),
        (
            "v = true",
            with(&good, "/v", json!(true)),
            unknown_version("true"),
        ),
        (
            "v = null",
            with(&good, "/v", json!(null)),
            unknown_version("null"),
        ),
        ("empty file", Vec::new(), MSG_NOT_JSON.into()),
        (
            "binary garbage",
            (0..=255u8).cycle().take(4096).collect(),
            MSG_NOT_JSON.into(),
        ),
        ("JSON null", b"null".to_vec(), MSG_NOT_JSON.into()),
        (
            "a UTF-16 file",
            b"\xff\xfe{\0\"\0v\0\"\0".to_vec(),
            MSG_NOT_JSON.into(),
        ),
        (
            "100 000 nested arrays",
            nested.into_bytes(),
            MSG_NOT_JSON.into(),
        ),
        (
            "2 MiB of JSON",
            {
                let mut big = b"{\"v\":2,\"pad\":\"".to_vec();
                big.extend(std::iter::repeat_n(b'a', 2 << 20));
                big.extend(b"\"}");
                big
            },
            MSG_NOT_JSON.into(),
        ),
        ("a 0.9 MiB envelope", big_data, MSG_DECRYPT.into()),
    ];
    for (what, bytes, message) in &cases {
        std::fs::write(&path, bytes).unwrap();
        assert_refused(&ks, what, message);
    }

    // Not a file at all.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_refused(
        &ks,
        "a directory",
        &format!("{} is not a regular file", path.display()),
    );
    std::fs::remove_dir(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert_refused(
        &ks,
        "a FIFO",
        &format!("{} is not a regular file", path.display()),
    );
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(ks.path("provider-keys/other.enc"), &path).unwrap();
    assert_refused(
        &ks,
        "a symbolic link to another key's file",
        &format!(
            "{} is a symbolic link; keyshell does not follow links to secrets",
            path.display()
        ),
    );
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    assert_refused(
        &ks,
        "a symbolic link to /dev/zero",
        &format!(
            "{} is a symbolic link; keyshell does not follow links to secrets",
            path.display()
        ),
    );
    println!("{} refused contents, 4 refused file types", cases.len());
}
