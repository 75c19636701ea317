//! The session's state: provider, model, base URL, settings, and the active
//! key with where it came from. Handlers change it; nothing here does I/O.

pub mod overrides;
pub mod providers;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::keys::mask;
use crate::store::Secret;

/// Where the active key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `--key` on the command line.
    Flag,
    /// A saved key, by name (`--key-name`, `/key load`, a profile's `auth-key-name`).
    Named(String),
    /// A key file (`--keyfile`, `/keyfile`, a profile's `auth-keyfile`).
    Keyfile(PathBuf),
    /// A raw key from a profile's `auth-key` (llxprt profiles only).
    Profile(String),
    /// The provider's environment variable.
    Environment(&'static str),
    /// `/key <raw-key>` in this session.
    Session,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Flag => f.write_str("--key flag"),
            KeySource::Named(name) => write!(f, "named key '{name}'"),
            KeySource::Keyfile(path) => write!(f, "key file {}", path.display()),
            KeySource::Profile(name) => write!(f, "profile '{name}' (auth-key)"),
            KeySource::Environment(var) => write!(f, "environment variable {var}"),
            KeySource::Session => f.write_str("session key set with /key"),
        }
    }
}

/// The key in use and its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveKey {
    pub value: Secret,
    pub source: KeySource,
}

/// Ephemeral settings keyshell knows (SPEC §5).
pub const VALID_SETTINGS: &[&str] = &[
    "auth-key",
    "auth-keyfile",
    "auth-key-name",
    "base-url",
    "context-limit",
    "max-tokens",
    "streaming",
];

/// Everything a session holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Runtime {
    pub provider: String,
    pub model: Option<String>,
    pub model_params: BTreeMap<String, toml::Value>,
    /// Ephemeral settings (`auth-key-name`, `base-url`, …). `auth-key` is never
    /// kept here in clear: the key itself lives in `key`.
    pub settings: BTreeMap<String, String>,
    pub key: Option<ActiveKey>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            provider: providers::DEFAULT_PROVIDER.to_string(),
            model: None,
            model_params: BTreeMap::new(),
            settings: BTreeMap::new(),
            key: None,
        }
    }
}

impl Runtime {
    pub fn base_url(&self) -> Option<&str> {
        self.settings.get("base-url").map(String::as_str)
    }

    /// Makes a saved key the active one: sets `auth-key-name`, clears the others.
    pub fn use_named_key(&mut self, name: &str, value: Secret) {
        self.settings.remove("auth-key");
        self.settings.remove("auth-keyfile");
        self.settings.insert("auth-key-name".into(), name.into());
        self.key = Some(ActiveKey {
            value,
            source: KeySource::Named(name.into()),
        });
    }

    /// Makes a key file the source: sets `auth-keyfile`, clears the others.
    pub fn use_keyfile(&mut self, path: PathBuf, value: Secret) {
        self.settings.remove("auth-key");
        self.settings.remove("auth-key-name");
        self.settings
            .insert("auth-keyfile".into(), path.display().to_string());
        self.key = Some(ActiveKey {
            value,
            source: KeySource::Keyfile(path),
        });
    }

    /// A raw key (flag or session): clears `auth-keyfile` and `auth-key-name`.
    pub fn use_raw_key(&mut self, value: Secret, source: KeySource) {
        self.settings.remove("auth-keyfile");
        self.settings.remove("auth-key-name");
        self.key = Some(ActiveKey { value, source });
    }

    /// No key at all.
    pub fn clear_key(&mut self) {
        for setting in ["auth-key", "auth-keyfile", "auth-key-name"] {
            self.settings.remove(setting);
        }
        self.key = None;
    }

    /// `<mask> (<source>)`, or `none`.
    pub fn describe_key(&self) -> String {
        match &self.key {
            Some(key) => format!("{} ({})", mask(key.value.expose()), key.source),
            None => "none".to_string(),
        }
    }
}
