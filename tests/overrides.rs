//! `apply_cli_overrides`, table-driven: every precedence pair of SPEC §5's
//! order, the settings each source sets and clears, and errors that leave
//! the runtime untouched.
#![allow(unsafe_code)] // one set_var before any thread reads the environment

use std::sync::Arc;

use keyshell::keys::ProviderKeyStorage;
use keyshell::paths::Layout;
use keyshell::runtime::overrides::{ProfileKeys, StartupArgs, apply_cli_overrides};
use keyshell::runtime::{KeySource, Runtime};
use keyshell::store::{KeyringLoader, MemoryKeyring, Secret};
use tempfile::TempDir;

struct Case {
    name: &'static str,
    args: StartupArgs,
    profile: Option<ProfileKeys>,
    /// Expected (source, value) of the active key; None = no key.
    expect: Option<(KeySource, &'static str)>,
}

fn profile(name: Option<&str>, keyfile: Option<&str>, key: Option<&str>) -> Option<ProfileKeys> {
    Some(ProfileKeys {
        name: "work".into(),
        auth_key_name: name.map(String::from),
        auth_keyfile: keyfile.map(String::from),
        auth_key: key.map(Secret::new),
    })
}

#[test]
fn every_precedence_pair() {
    // groq's variable is the "environment" source of this table.
    unsafe { std::env::set_var("GROQ_API_KEY", "gsk-from-environment") };
    let dir = TempDir::new().unwrap();
    let flag_file = dir.path().join("flag.key");
    let profile_file = dir.path().join("profile.key");
    std::fs::write(&flag_file, "sk-from-flag-file\n").unwrap();
    std::fs::write(&profile_file, "sk-from-profile-file\n").unwrap();
    let flag_path = flag_file.display().to_string();
    let profile_path = profile_file.display().to_string();

    let keyring = Arc::new(MemoryKeyring::new());
    keyring.insert("llxprt-code-provider-keys", "flag-name", "sk-named-by-flag");
    keyring.insert(
        "llxprt-code-provider-keys",
        "profile-name",
        "sk-named-by-profile",
    );
    let keys = ProviderKeyStorage::new(
        &Layout::new(dir.path()),
        KeyringLoader::with_adapter(keyring),
    );
    let args = |key: Option<&str>, key_name: Option<&str>, keyfile: Option<&str>| StartupArgs {
        key: key.map(Secret::new),
        key_name: key_name.map(String::from),
        keyfile: keyfile.map(String::from),
        ..StartupArgs::default()
    };

    let cases = vec![
        Case {
            name: "--key beats --key-name",
            args: args(Some("sk-raw-flag"), Some("flag-name"), None),
            profile: None,
            expect: Some((KeySource::Flag, "sk-raw-flag")),
        },
        Case {
            name: "--key-name beats profile auth-key-name",
            args: args(None, Some("flag-name"), None),
            profile: profile(Some("profile-name"), None, None),
            expect: Some((KeySource::Named("flag-name".into()), "sk-named-by-flag")),
        },
        Case {
            name: "profile auth-key-name beats --keyfile",
            args: args(None, None, Some(&flag_path)),
            profile: profile(Some("profile-name"), None, None),
            expect: Some((
                KeySource::Named("profile-name".into()),
                "sk-named-by-profile",
            )),
        },
        Case {
            name: "--keyfile beats profile auth-keyfile",
            args: args(None, None, Some(&flag_path)),
            profile: profile(None, Some(&profile_path), None),
            expect: Some((KeySource::Keyfile(flag_file.clone()), "sk-from-flag-file")),
        },
        Case {
            name: "profile auth-keyfile beats profile auth-key",
            args: args(None, None, None),
            profile: profile(None, Some(&profile_path), Some("sk-raw-in-profile")),
            expect: Some((
                KeySource::Keyfile(profile_file.clone()),
                "sk-from-profile-file",
            )),
        },
        Case {
            name: "profile auth-key beats the environment",
            args: args(None, None, None),
            profile: profile(None, None, Some("sk-raw-in-profile")),
            expect: Some((KeySource::Profile("work".into()), "sk-raw-in-profile")),
        },
        Case {
            name: "the environment when nothing else is there",
            args: args(None, None, None),
            profile: profile(None, None, None),
            expect: Some((
                KeySource::Environment("GROQ_API_KEY"),
                "gsk-from-environment",
            )),
        },
    ];

    let runtime = tokio::runtime::Runtime::new().unwrap();
    for case in cases {
        let mut state = Runtime {
            provider: "groq".into(),
            ..Runtime::default()
        };
        runtime
            .block_on(apply_cli_overrides(
                &mut state,
                case.profile.as_ref(),
                &case.args,
                &keys,
            ))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let got = state
            .key
            .as_ref()
            .map(|k| (k.source.clone(), k.value.expose().to_string()));
        let want = case
            .expect
            .as_ref()
            .map(|(s, v)| (s.clone(), v.to_string()));
        assert_eq!(got, want, "{}", case.name);
        // The settings say where the key came from, and only that.
        let settings = &state.settings;
        match &state.key.as_ref().unwrap().source {
            KeySource::Named(name) => {
                assert_eq!(settings.get("auth-key-name"), Some(name), "{}", case.name);
                assert!(!settings.contains_key("auth-keyfile"), "{}", case.name);
            }
            KeySource::Keyfile(path) => {
                assert_eq!(
                    settings.get("auth-keyfile"),
                    Some(&path.display().to_string())
                );
                assert!(!settings.contains_key("auth-key-name"), "{}", case.name);
            }
            _ => {
                assert!(!settings.contains_key("auth-key-name"), "{}", case.name);
                assert!(!settings.contains_key("auth-keyfile"), "{}", case.name);
            }
        }
        assert!(
            !settings.contains_key("auth-key"),
            "a raw key is never a setting"
        );
    }

    // Then --set, then --baseurl: the flag wins over a --set of the same setting.
    let mut state = Runtime::default();
    let set_then_baseurl = StartupArgs {
        set: vec![
            ("base-url".into(), "https://from-set.test".into()),
            ("max-tokens".into(), "100".into()),
        ],
        baseurl: Some("https://from-flag.test".into()),
        ..StartupArgs::default()
    };
    runtime
        .block_on(apply_cli_overrides(
            &mut state,
            None,
            &set_then_baseurl,
            &keys,
        ))
        .unwrap();
    assert_eq!(state.base_url(), Some("https://from-flag.test"));
    assert_eq!(
        state.settings.get("max-tokens").map(String::as_str),
        Some("100")
    );

    // A present named key that cannot be resolved is an error, never a fall-through,
    // and the runtime is left exactly as it was.
    for (name, args, profile) in [
        ("flag", args(None, Some("missing"), Some(&flag_path)), None),
        (
            "profile",
            args(None, None, Some(&flag_path)),
            profile(Some("missing"), None, None),
        ),
    ] {
        let before = Runtime {
            provider: "groq".into(),
            ..Runtime::default()
        };
        let mut state = before.clone();
        let err = runtime
            .block_on(apply_cli_overrides(
                &mut state,
                profile.as_ref(),
                &args,
                &keys,
            ))
            .unwrap_err();
        assert_eq!(
            err, "Named key 'missing' not found. Use '/key save missing <key>' to store it.",
            "{name}"
        );
        assert_eq!(state, before, "{name}: runtime changed on error");
    }

    // An invalid --set is refused with the valid list, nothing applied.
    let mut state = Runtime::default();
    let bad = StartupArgs {
        set: vec![("colour".into(), "red".into())],
        ..StartupArgs::default()
    };
    let err = runtime
        .block_on(apply_cli_overrides(&mut state, None, &bad, &keys))
        .unwrap_err();
    assert_eq!(
        err,
        "Invalid setting 'colour'. Valid settings: auth-key, auth-keyfile, auth-key-name, base-url, context-limit, max-tokens, streaming"
    );
    assert_eq!(state, Runtime::default());
}
