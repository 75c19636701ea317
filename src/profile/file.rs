//! One profile: the TOML model, llxprt's JSON model, and the runtime snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runtime::Runtime;
use crate::runtime::overrides::ProfileKeys;
use crate::store::Secret;

/// Settings that carry a key and so are handled by the key decision, not copied.
const KEY_SETTINGS: &[&str] = &["auth-key", "auth-keyfile", "auth-key-name"];

/// Model parameters that must never be saved (llxprt's list).
const UNSAVED_MODEL_PARAMS: &[&str] = &[
    "auth-key",
    "authKey",
    "auth-keyfile",
    "authKeyfile",
    "apiKey",
    "api-key",
    "apiKeyfile",
    "api-keyfile",
    "base-url",
    "baseUrl",
    "baseURL",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileFormat {
    Toml,
    /// llxprt-code's `<name>.json` (read-only).
    LlxprtJson,
}

/// Why a profile could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("Profile '{0}' not found")]
    NotFound(String),
    #[error("Profile '{name}' is corrupted (line {line}, column {column}: {message})")]
    Corrupted {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("Profile '{0}' is invalid: missing required fields")]
    MissingFields(String),
    #[error("Profile '{name}': unsupported profile version {version} (keyshell reads version 1)")]
    UnsupportedVersion { name: String, version: String },
    #[error(
        "Profile name '{0}' is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars)."
    )]
    InvalidName(String),
    #[error("Profile '{0}' is an llxprt profile; keyshell reads it but never changes it")]
    ReadOnly(String),
    #[error("{0}")]
    Io(String),
}

/// A profile as keyshell holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    pub format: ProfileFormat,
    pub provider: String,
    pub model: Option<String>,
    pub model_params: BTreeMap<String, toml::Value>,
    /// Ephemeral settings as text; `auth-key` only ever comes from llxprt JSON.
    pub settings: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct TomlProfile {
    version: i64,
    provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    model_params: BTreeMap<String, toml::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    ephemeral_settings: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonProfile {
    provider: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    model_params: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    ephemeral_settings: BTreeMap<String, serde_json::Value>,
}

fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A 1-based (line, column) for a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Profile {
    /// Parses a keyshell TOML profile.
    pub fn from_toml(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            ProfileError::Corrupted {
                name: name.into(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        match table.get("version") {
            None => return Err(ProfileError::MissingFields(name.into())),
            Some(toml::Value::Integer(1)) => {}
            Some(other) => {
                return Err(ProfileError::UnsupportedVersion {
                    name: name.into(),
                    version: value_text(other),
                });
            }
        }
        if !table.get("provider").is_some_and(toml::Value::is_str) {
            return Err(ProfileError::MissingFields(name.into()));
        }
        let parsed: TomlProfile =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ProfileError::Corrupted {
                    name: name.into(),
                    line: 1,
                    column: 1,
                    message: e.message().trim().to_string(),
                })?;
        Ok(Profile {
            name: name.into(),
            format: ProfileFormat::Toml,
            provider: parsed.provider,
            model: parsed.model.filter(|m| !m.is_empty()),
            model_params: parsed.model_params,
            settings: parsed
                .ephemeral_settings
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect(),
        })
    }

    /// Parses an llxprt JSON profile (`version, provider, model, modelParams, ephemeralSettings`).
    pub fn from_llxprt_json(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ProfileError::Corrupted {
                name: name.into(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        match value.get("version") {
            None => return Err(ProfileError::MissingFields(name.into())),
            Some(v) if v.as_i64() == Some(1) => {}
            Some(other) => {
                return Err(ProfileError::UnsupportedVersion {
                    name: name.into(),
                    version: other.to_string(),
                });
            }
        }
        let parsed: JsonProfile =
            serde_json::from_value(value).map_err(|_| ProfileError::MissingFields(name.into()))?;
        let json_text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(Profile {
            name: name.into(),
            format: ProfileFormat::LlxprtJson,
            provider: parsed.provider,
            model: parsed.model.filter(|m| !m.is_empty()),
            model_params: parsed
                .model_params
                .iter()
                .filter_map(|(k, v)| toml::Value::try_from(v).ok().map(|tv| (k.clone(), tv)))
                .collect(),
            settings: parsed
                .ephemeral_settings
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), json_text(v)))
                .collect(),
        })
    }

    /// A snapshot of the runtime. Never holds a raw key: `auth-key` is dropped
    /// always, `auth-keyfile` when a named key is set. Returns the profile and
    /// whether a raw session key was left out.
    pub fn from_runtime(name: &str, runtime: &Runtime) -> (Profile, bool) {
        let mut settings = runtime.settings.clone();
        settings.remove("auth-key");
        if settings.contains_key("auth-key-name") {
            settings.remove("auth-keyfile");
        }
        let raw_key_left_out = runtime.key.as_ref().is_some_and(|k| {
            matches!(
                k.source,
                crate::runtime::KeySource::Session
                    | crate::runtime::KeySource::Flag
                    | crate::runtime::KeySource::Profile(_)
            )
        });
        let model_params = runtime
            .model_params
            .iter()
            .filter(|(k, _)| !UNSAVED_MODEL_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let profile = Profile {
            name: name.into(),
            format: ProfileFormat::Toml,
            provider: runtime.provider.clone(),
            model: runtime.model.clone(),
            model_params,
            settings,
        };
        (profile, raw_key_left_out)
    }

    /// The TOML text keyshell writes.
    pub fn to_toml(&self) -> String {
        let file = TomlProfile {
            version: 1,
            provider: self.provider.clone(),
            model: self.model.clone(),
            model_params: self.model_params.clone(),
            ephemeral_settings: self
                .settings
                .iter()
                .filter(|(k, _)| k.as_str() != "auth-key")
                .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                .collect(),
        };
        toml::to_string(&file).expect("a profile serializes to TOML")
    }

    /// The runtime this profile describes, without a key, and the key sources
    /// it names (decided by `apply_cli_overrides`).
    pub fn to_runtime(&self) -> (Runtime, ProfileKeys) {
        let mut runtime = Runtime {
            provider: self.provider.clone(),
            model: self.model.clone(),
            model_params: self.model_params.clone(),
            ..Runtime::default()
        };
        for (key, value) in &self.settings {
            if !KEY_SETTINGS.contains(&key.as_str()) {
                runtime.settings.insert(key.clone(), value.clone());
            }
        }
        let non_empty = |k: &str| {
            self.settings
                .get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let keys = ProfileKeys {
            name: self.name.clone(),
            auth_key_name: non_empty("auth-key-name"),
            auth_keyfile: non_empty("auth-keyfile"),
            auth_key: non_empty("auth-key").map(Secret::from),
        };
        (runtime, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupted_toml_names_line_and_column() {
        let err = Profile::from_toml("work", "version = 1\nprovider = \n").unwrap_err();
        match err {
            ProfileError::Corrupted { line, column, .. } => assert_eq!((line, column), (2, 12)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_fields_and_versions() {
        assert_eq!(
            Profile::from_toml("p", "provider = \"openai\"")
                .unwrap_err()
                .to_string(),
            "Profile 'p' is invalid: missing required fields"
        );
        assert_eq!(
            Profile::from_toml("p", "version = 1")
                .unwrap_err()
                .to_string(),
            "Profile 'p' is invalid: missing required fields"
        );
        assert_eq!(
            Profile::from_toml("p", "version = 2\nprovider = \"openai\"")
                .unwrap_err()
                .to_string(),
            "Profile 'p': unsupported profile version 2 (keyshell reads version 1)"
        );
    }
}
