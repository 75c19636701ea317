//! Properties of the two readers of untrusted files (docs/reliability.md §7):
//! the profile loader (`Profile::from_toml`, `Profile::from_llxprt_json`) and
//! the envelope reader (`envelope::parse`, then `envelope::open`). Neither
//! panics on any input; every refusal is a clear error; a profile keyshell
//! writes reads back the same; a changed envelope never opens to a value
//! other than the one sealed in it. (tests/grammar_props.rs covers the
//! command language.)
//!
//! Cases: `KEYSHELL_PROPTEST_CASES` (default 1000; `scripts/test.sh` sets
//! 100000). Raw envelope bytes and envelopes built field by field run that
//! many cases, changed envelopes a tenth, and the profile properties (TOML
//! parsing is slow in a debug build) a twentieth — at least 100 each.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyshell::profile::{Profile, ProfileError, ProfileFormat};
use keyshell::store::ErrorCode;
use keyshell::store::envelope::{self, DerivedKey, MSG_DECRYPT, MSG_MALFORMED, MSG_NOT_JSON};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn cases() -> u32 {
    std::env::var("KEYSHELL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1000)
}

fn config(share: u32) -> Config {
    Config {
        cases: (cases() / share).max(100),
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- profiles -------------------------------------------------------------------

/// Text that is often almost a profile: TOML fragments, profile keys and
/// awkward characters, glued at random.
fn profile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("version = 1\n".to_string()),
        Just("version = 2\n".to_string()),
        Just("version = \"1\"\n".to_string()),
        Just("provider = \"anthropic\"\n".to_string()),
        Just("provider = 7\n".to_string()),
        Just("model = \"claude\"\n".to_string()),
        Just("[model-params]\n".to_string()),
        Just("[ephemeral-settings]\n".to_string()),
        Just("[[model-params]]\n".to_string()),
        Just("temperature = 0.2\n".to_string()),
        Just("auth-key-name = \"work\"\n".to_string()),
        Just("x = [1, [2, {a = 3}]]\n".to_string()),
        Just("d = 1979-05-27T07:32:00Z\n".to_string()),
        Just("\"quoted key\" = '''lit'''\n".to_string()),
        Just("nan = nan\ninf = -inf\n".to_string()),
        chars(12),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// A few characters: printable ASCII, TOML's punctuation, or any scalar
/// value. (Mapping integers keeps generation cheap enough for 100k cases in
/// a debug build; regex strategies are not.)
fn chars(max: usize) -> impl Strategy<Value = String> {
    const SPECIAL: &[char] = &[
        '=', '[', ']', '"', '\'', '\n', '\\', '#', '{', '}', ',', '.', '\0', '\r', ' ',
    ];
    prop::collection::vec(any::<u32>(), 0..max).prop_map(|words| {
        words
            .into_iter()
            .map(|w| match w & 3 {
                0 => SPECIAL[(w >> 2) as usize % SPECIAL.len()],
                1 | 2 => char::from(b' ' + ((w >> 2) % 95) as u8),
                _ => char::from_u32((w >> 2) % 0x11_0000).unwrap_or('\u{fffd}'),
            })
            .collect()
    })
}

/// The errors the loader may give, each with something to say.
fn check_profile_error(text: &str, err: &ProfileError) {
    let message = err.to_string();
    assert!(!message.trim().is_empty());
    if let ProfileError::Corrupted { line, column, .. } = err {
        let lines = text.split('\n').count();
        assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
        assert!(*column >= 1, "column {column}");
    }
}

fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        (-1e12f64..1e12).prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        "\\PC{0,16}".prop_map(toml::Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map("[a-z-]{1,6}", inner, 0..3)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

fn written_profile() -> impl Strategy<Value = Profile> {
    (
        "\\PC{1,16}",
        prop::option::of("\\PC{1,16}"),
        prop::collection::btree_map("\\PC{0,8}", toml_value(), 0..4),
        prop::collection::btree_map("[a-z][a-z-]{0,12}", "\\PC{0,16}", 0..4),
    )
        .prop_map(|(provider, model, model_params, mut settings)| {
            settings.remove("auth-key");
            Profile {
                name: "p".into(),
                format: ProfileFormat::Toml,
                provider,
                model,
                model_params,
                settings,
            }
        })
}

proptest! {
    // TOML parsing is slow in a debug build: a twentieth of the cases.
    #![proptest_config(config(20))]

    #[test]
    fn the_profile_loader_never_panics_on_any_text(text in profile_text()) {
        if let Err(err) = Profile::from_toml("p", &text) {
            check_profile_error(&text, &err);
        }
    }

    #[test]
    fn the_llxprt_profile_loader_never_panics_on_any_text(body in chars(64), braced in any::<bool>()) {
        let text = if braced { format!("{{{body}}}") } else { body };
        if let Err(err) = Profile::from_llxprt_json("p", &text) {
            prop_assert!(!err.to_string().trim().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(config(20))]

    #[test]
    fn a_profile_keyshell_writes_reads_back_the_same(profile in written_profile()) {
        let text = profile.to_toml();
        let read = Profile::from_toml("p", &text);
        prop_assert_eq!(read, Ok(profile), "written as:\n{}", text);
    }

    #[test]
    fn a_profile_with_one_byte_changed_never_panics(
        profile in written_profile(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = profile.to_toml().into_bytes();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(err) = Profile::from_toml("p", &text) {
            check_profile_error(&text, &err);
        }
    }
}

// ---- envelopes ------------------------------------------------------------------

const SECRET: &[u8] = b"sk-property-0123456789";

/// A real envelope and its derived key (one scrypt run for the whole binary).
fn sealed() -> &'static (String, DerivedKey) {
    static SEALED: OnceLock<(String, DerivedKey)> = OnceLock::new();
    SEALED.get_or_init(|| {
        let salt = [7u8; 16];
        let key = envelope::derive_key("property-password", &salt);
        let text = envelope::seal(envelope::Version::V2, &key, &salt, &[9u8; 12], SECRET);
        (text, key)
    })
}

fn is_known_refusal(message: &str) -> bool {
    [MSG_NOT_JSON, MSG_MALFORMED, MSG_DECRYPT].contains(&message)
        || (message.starts_with("Unrecognized envelope version: ")
            && message.ends_with(". This file may require a newer version."))
}

/// Parses and, if that works, opens with the real key: the sealed value or
/// a CORRUPT refusal, nothing else.
fn read(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let opened = envelope::parse(bytes)
        .and_then(|sealed| envelope::open(&sealed, &sealed_key()).map(|plain| plain.to_vec()));
    match opened {
        Ok(plain) => {
            assert_eq!(plain, SECRET, "a changed envelope opened to another value");
            Ok(plain)
        }
        Err(err) => {
            assert_eq!(err.code, ErrorCode::Corrupt);
            assert!(
                is_known_refusal(&err.message),
                "unexpected message {:?}",
                err.message
            );
            Err(err.message)
        }
    }
}

fn sealed_key() -> DerivedKey {
    sealed().1.clone()
}

/// One edit of a byte string: replace, insert or remove a byte, or cut it.
#[derive(Clone, Debug)]
enum Edit {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Cut(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Remove),
        any::<prop::sample::Index>().prop_map(Edit::Cut),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match edit {
        Edit::Replace(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Edit::Remove(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        Edit::Cut(i) => bytes.truncate(i.index(bytes.len())),
    }
}

/// Envelopes built field by field, with each field sometimes wrong.
fn envelope_json() -> impl Strategy<Value = (serde_json::Value, bool)> {
    let version = prop_oneof![
        4 => Just(serde_json::json!(2)),
        1 => Just(serde_json::json!(1)),
        1 => any::<i64>().prop_map(|v| serde_json::json!(v)),
        1 => Just(serde_json::json!("2")),
        1 => Just(serde_json::json!(null)),
    ];
    let number = |right: u64| prop_oneof![4 => Just(right), 1 => any::<u64>()];
    let word =
        |right: &'static str| prop_oneof![4 => Just(right.to_string()), 1 => "[a-z0-9-]{0,12}"];
    let data = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|raw| STANDARD.encode(raw)),
        1 => "[ -~]{0,40}",
    ];
    (
        version,
        number(16384),
        number(8),
        number(1),
        number(16),
        word("aes-256-gcm"),
        word("scrypt"),
        data,
    )
        .prop_map(|(v, n, r, p, salt_len, alg, kdf, data)| {
            let raw_len = STANDARD.decode(&data).map(|raw| raw.len()).ok();
            let valid = (v == serde_json::json!(1) || v == serde_json::json!(2))
                && (n, r, p, salt_len) == (16384, 8, 1, 16)
                && alg == "aes-256-gcm"
                && kdf == "scrypt"
                && raw_len.is_some_and(|len| len >= 44);
            let json = serde_json::json!({
                "v": v,
                "crypto": {"alg": alg, "kdf": kdf, "N": n, "r": r, "p": p, "saltLen": salt_len},
                "data": data,
            });
            (json, valid)
        })
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn the_envelope_reader_never_panics_on_any_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Err(err) = envelope::parse(&bytes) {
            prop_assert_eq!(err.code, ErrorCode::Corrupt);
            prop_assert!(is_known_refusal(&err.message), "{:?}", err.message);
        }
    }

    #[test]
    fn envelopes_built_field_by_field_are_read_by_the_rules((json, valid) in envelope_json()) {
        let parsed = envelope::parse(json.to_string().as_bytes());
        prop_assert_eq!(parsed.is_ok(), valid, "{}", json);
        if let Err(err) = parsed {
            prop_assert!(is_known_refusal(&err.message), "{:?}", err.message);
        }
    }
}

proptest! {
    #![proptest_config(config(10))]

    #[test]
    fn a_changed_envelope_never_opens_to_another_value(
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = sealed().0.clone().into_bytes();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        let _ = read(&bytes);
    }
}

#[test]
fn the_real_envelope_opens() {
    assert_eq!(read(sealed().0.as_bytes()).unwrap(), SECRET);
}
