//! [`ExtensionSettingsStorage`]: the settings an extension declares in
//! `ROOT/extensions/<ext>/extension.toml`, stored where llxprt-code stores
//! them so both tools share them.
//!
//! Sensitive values live in a [`SecureStore`] (service
//! `LLxprt Code Extension <name>`, account = the env var); the others in the
//! extension's `.env`. A sensitive value never reaches the `.env`: setting
//! one also removes any stale plain copy there.

mod dotenv;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::paths::Layout;
use crate::store::files::{self, FileLock};
use crate::store::{
    FallbackPolicy, KeyringLoader, Secret, SecureStore, SecureStoreError, SecureStoreOptions,
    StoredIn,
};
use dotenv::EnvFile;

/// Every extension's service starts with this (llxprt's text).
pub const SERVICE_PREFIX: &str = "LLxprt Code Extension ";
/// Longest service name; longer ones are cut (llxprt's limit).
pub const SERVICE_MAX: usize = 255;
pub const EXTENSION_NAME_MAX: usize = 64;
const MANIFEST_FILE: &str = "extension.toml";
const ENV_FILE: &str = ".env";
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Why an extension settings operation failed. Messages name extensions,
/// settings and paths, never values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The name does not match `^[a-zA-Z0-9._-]{1,64}$`, or is `.` or `..`.
    #[error(
        "Extension name '{0}' is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars)."
    )]
    InvalidName(String),
    /// No extension directory, or no manifest in it; `path` is the one missing.
    #[error("Extension '{extension}' not found (no {})", .path.display())]
    NotFound { extension: String, path: PathBuf },
    /// The manifest is not TOML, or not a manifest; `detail` says where.
    #[error("Extension '{extension}' manifest is invalid: {detail}")]
    InvalidManifest { extension: String, detail: String },
    /// The manifest declares no setting with this env var.
    #[error("Extension '{extension}' has no setting {env_var}. Settings: {}", setting_list(.known))]
    UnknownSetting {
        extension: String,
        env_var: String,
        known: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] SecureStoreError),
    /// The `.env` could not be read.
    #[error("{0}")]
    Io(String),
}

fn setting_list(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    }
}

/// One setting a manifest declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingSpec {
    pub name: String,
    pub description: Option<String>,
    pub env_var: String,
    pub sensitive: bool,
}

/// Where [`ExtensionSettingsStorage::set`] put a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingStoredIn {
    /// A sensitive value: the OS keyring or an encrypted file.
    Secure(StoredIn),
    /// A plain value: the extension's `.env`.
    EnvFile,
}

/// One extension's settings.
#[derive(Clone, Debug)]
pub struct ExtensionSettingsStorage {
    extension: String,
    display_name: Option<String>,
    dir: PathBuf,
    locks: PathBuf,
    settings: Vec<SettingSpec>,
    store: Arc<SecureStore>,
}

impl ExtensionSettingsStorage {
    /// Loads the manifest of `extension` under `layout`. Its sensitive values
    /// go to the service [`service_name`]`(extension)`, policy Allow, with the
    /// default fallback directory `ROOT/secure-store/<service>`.
    pub fn new(
        layout: &Layout,
        keyring: KeyringLoader,
        extension: &str,
    ) -> Result<Self, ExtensionError> {
        let manifest = load_manifest(layout, extension)?;
        let mut opts = SecureStoreOptions::new(&layout.root);
        opts.fallback_policy = FallbackPolicy::Allow;
        opts.keyring = keyring;
        let store = SecureStore::new(&service_name(extension), opts);
        Ok(ExtensionSettingsStorage {
            extension: extension.to_string(),
            display_name: manifest.name,
            dir: extension_dir(layout, extension),
            locks: layout.locks(),
            settings: manifest.settings,
            store: Arc::new(store),
        })
    }

    /// The extension's directory name, as the user types it.
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// The manifest's `name`, else the directory name.
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.extension)
    }

    /// The declared settings, in manifest order.
    pub fn settings(&self) -> &[SettingSpec] {
        &self.settings
    }

    /// Whether `env_var` is a declared sensitive setting.
    pub fn is_sensitive(&self, env_var: &str) -> bool {
        self.settings
            .iter()
            .any(|s| s.sensitive && s.env_var == env_var)
    }

    /// `ROOT/extensions/<ext>/.env`.
    pub fn env_path(&self) -> PathBuf {
        self.dir.join(ENV_FILE)
    }

    /// The store holding the sensitive values (for its service name, notices
    /// and keyring state).
    pub fn store(&self) -> &SecureStore {
        &self.store
    }

    /// The value of a declared setting, from wherever it belongs.
    pub async fn get(&self, env_var: &str) -> Result<Option<Secret>, ExtensionError> {
        let spec = self.spec(env_var)?;
        if spec.sensitive {
            Ok(self.store.get(env_var).await?)
        } else {
            Ok(self.read_env()?.get(env_var).map(Secret::new))
        }
    }

    /// Stores a declared setting: sensitive ones in the SecureStore (then any
    /// stale `.env` copy is removed), the others in the `.env`.
    pub async fn set(&self, env_var: &str, value: &str) -> Result<SettingStoredIn, ExtensionError> {
        let spec = self.spec(env_var)?;
        let key = env_var.to_string();
        if spec.sensitive {
            let stored = self.store.set(env_var, value).await?;
            self.edit_env(move |env| env.remove(&key)).await?;
            Ok(SettingStoredIn::Secure(stored))
        } else {
            let value = value.to_string();
            self.edit_env(move |env| env.set(&key, &value)).await?;
            Ok(SettingStoredIn::EnvFile)
        }
    }

    /// Removes a declared setting; `Ok(true)` if it had a value. A sensitive
    /// setting is removed from the SecureStore and from the `.env` alike.
    pub async fn unset(&self, env_var: &str) -> Result<bool, ExtensionError> {
        let spec = self.spec(env_var)?;
        let stored = if spec.sensitive {
            self.store.delete(env_var).await?
        } else {
            false
        };
        let key = env_var.to_string();
        let in_env = self.edit_env(move |env| env.remove(&key)).await?;
        Ok(stored || in_env)
    }

    /// Every declared setting with its value, for display (mask sensitive ones).
    pub async fn values(&self) -> Result<Vec<(SettingSpec, Option<Secret>)>, ExtensionError> {
        let env = self.read_env()?;
        let mut values = Vec::with_capacity(self.settings.len());
        for spec in &self.settings {
            let value = if spec.sensitive {
                self.store.get(&spec.env_var).await?
            } else {
                env.get(&spec.env_var).map(Secret::new)
            };
            values.push((spec.clone(), value));
        }
        Ok(values)
    }

    fn spec(&self, env_var: &str) -> Result<&SettingSpec, ExtensionError> {
        self.settings
            .iter()
            .find(|s| s.env_var == env_var)
            .ok_or_else(|| ExtensionError::UnknownSetting {
                extension: self.extension.clone(),
                env_var: env_var.to_string(),
                known: self.settings.iter().map(|s| s.env_var.clone()).collect(),
            })
    }

    fn read_env(&self) -> Result<EnvFile, ExtensionError> {
        read_env_file(&self.env_path())
    }

    /// Read-modify-write of the `.env` under a cross-process lock: written
    /// atomically at 0600 when `edit` changed it, deleted when no variable
    /// is left (llxprt does the same).
    async fn edit_env<T: Send + 'static>(
        &self,
        edit: impl FnOnce(&mut EnvFile) -> T + Send + 'static,
    ) -> Result<T, ExtensionError> {
        let path = self.env_path();
        let locks = self.locks.clone();
        let lock_name = format!("extension-env-{}", self.extension);
        let task = tokio::task::spawn_blocking(move || {
            let _lock = FileLock::acquire(&locks, &lock_name, LOCK_WAIT)?;
            let mut env = read_env_file(&path)?;
            let result = edit(&mut env);
            if !env.is_changed() {
                return Ok(result);
            }
            if env.has_entries() {
                files::write_atomic(&path, env.render().as_bytes())?;
            } else {
                remove_if_exists(&path)?;
            }
            Ok(result)
        });
        task.await
            .map_err(|_| ExtensionError::Io("The .env update failed unexpectedly".to_string()))?
    }
}

/// The keyring service of an extension: `LLxprt Code Extension ` and the
/// name without characters outside `[a-zA-Z0-9-_]`, cut to 255 characters.
pub fn service_name(extension: &str) -> String {
    let mut service = String::from(SERVICE_PREFIX);
    service.extend(
        extension
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')),
    );
    // Only ASCII is left, so every byte index is a character boundary.
    service.truncate(SERVICE_MAX);
    service
}

/// `^[a-zA-Z0-9._-]{1,64}$`, and not `.` or `..` (they would leave `extensions/`).
pub fn validate_extension_name(extension: &str) -> Result<(), ExtensionError> {
    let valid = (1..=EXTENSION_NAME_MAX).contains(&extension.len())
        && extension
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !matches!(extension, "." | "..");
    if valid {
        Ok(())
    } else {
        Err(ExtensionError::InvalidName(extension.to_string()))
    }
}

/// The env vars of the sensitive settings of `extension`, read from its
/// manifest without touching storage (the line editor masks their values).
/// Any error gives an empty list.
pub fn sensitive_env_vars(layout: &Layout, extension: &str) -> Vec<String> {
    load_manifest(layout, extension)
        .map(|m| {
            m.settings
                .into_iter()
                .filter(|s| s.sensitive)
                .map(|s| s.env_var)
                .collect()
        })
        .unwrap_or_default()
}

/// Every env var the manifest declares (for completion); errors → empty.
pub fn declared_env_vars(layout: &Layout, extension: &str) -> Vec<String> {
    load_manifest(layout, extension)
        .map(|m| m.settings.into_iter().map(|s| s.env_var).collect())
        .unwrap_or_default()
}

/// The extensions that have a directory under `ROOT/extensions` (for completion).
pub fn extension_names(layout: &Layout) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(layout.root.join("extensions")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| validate_extension_name(n).is_ok())
        .collect();
    names.sort();
    names
}

fn extension_dir(layout: &Layout, extension: &str) -> PathBuf {
    layout.root.join("extensions").join(extension)
}

// ---- the manifest -----------------------------------------------------------

struct Manifest {
    name: Option<String>,
    settings: Vec<SettingSpec>,
}

#[derive(Deserialize)]
struct ManifestFile {
    name: Option<String>,
    #[serde(default)]
    settings: Vec<SettingEntry>,
}

#[derive(Deserialize)]
struct SettingEntry {
    name: String,
    description: Option<String>,
    #[serde(rename = "env-var", alias = "envVar")]
    env_var: String,
    #[serde(default)]
    sensitive: bool,
}

fn load_manifest(layout: &Layout, extension: &str) -> Result<Manifest, ExtensionError> {
    validate_extension_name(extension)?;
    let dir = extension_dir(layout, extension);
    let path = dir.join(MANIFEST_FILE);
    let not_found = |path: &Path| ExtensionError::NotFound {
        extension: extension.to_string(),
        path: path.to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(not_found(&dir));
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(not_found(&path)),
        Err(err) => {
            return Err(ExtensionError::Io(format!(
                "Failed to read {}: {err}",
                path.display()
            )));
        }
    };
    let invalid = |detail: String| ExtensionError::InvalidManifest {
        extension: extension.to_string(),
        detail: format!("{}: {detail}", path.display()),
    };
    let file: ManifestFile = toml::from_str(&text).map_err(|err| {
        let message = err.message().trim();
        invalid(match err.span() {
            Some(span) => format!("{}: {message}", line_column(&text, span.start)),
            None => message.to_string(),
        })
    })?;
    let mut settings: Vec<SettingSpec> = Vec::with_capacity(file.settings.len());
    for entry in file.settings {
        if !is_env_var_name(&entry.env_var) {
            return Err(invalid(format!(
                "setting '{}' has env-var '{}', which is not an environment variable name \
                 (letters, digits and _, not starting with a digit)",
                entry.name, entry.env_var
            )));
        }
        if settings.iter().any(|s| s.env_var == entry.env_var) {
            return Err(invalid(format!(
                "env-var '{}' is declared twice",
                entry.env_var
            )));
        }
        settings.push(SettingSpec {
            name: entry.name,
            description: entry.description,
            env_var: entry.env_var,
            sensitive: entry.sensitive,
        });
    }
    Ok(Manifest {
        name: file.name,
        settings,
    })
}

/// `line L, column C` (both from 1) of a byte offset.
fn line_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}")
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`: safe as a `.env` key and as a store account.
fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

// ---- the .env file on disk ----------------------------------------------------

fn read_env_file(path: &Path) -> Result<EnvFile, ExtensionError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(EnvFile::parse(&text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(EnvFile::default()),
        Err(err) => Err(ExtensionError::Io(format!(
            "Failed to read {}: {err}",
            path.display()
        ))),
    }
}

fn remove_if_exists(path: &Path) -> Result<(), ExtensionError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(ExtensionError::Io(format!(
            "Failed to remove {}: {err}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_keep_letters_digits_dashes_and_underscores() {
        assert_eq!(
            service_name("web-search_2"),
            "LLxprt Code Extension web-search_2"
        );
        assert_eq!(
            service_name("web.search"),
            "LLxprt Code Extension websearch"
        );
        assert_eq!(service_name(&"x".repeat(300)).len(), SERVICE_MAX);
    }

    #[test]
    fn manifest_errors_point_at_line_and_column() {
        assert_eq!(line_column("a = 1\nb = ?", 10), "line 2, column 5");
        assert_eq!(line_column("", 0), "line 1, column 1");
    }

    #[test]
    fn env_var_names_are_shell_names() {
        for good in ["A", "_A", "SEARCH_API_KEY", "a1"] {
            assert!(is_env_var_name(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "A/B", "É"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
    }
}
