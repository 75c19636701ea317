//! `ROOT/settings.toml`: keyshell's own settings (`default-profile`,
//! `keyring-timeout-ms`, …). Unknown keys are kept as they are on write.

use std::path::Path;

use crate::store::SecureStoreError;
use crate::store::files::{ensure_private_dir, write_atomic};

/// The settings file as a TOML table.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    table: toml::Table,
}

impl Settings {
    /// Reads the file; a missing file is empty settings, a broken one an error.
    pub fn load(path: &Path) -> Result<Settings, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => text
                .parse::<toml::Table>()
                .map(|table| Settings { table })
                .map_err(|e| format!("{} is not valid TOML: {}", path.display(), e.message())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(err) => Err(format!("Cannot read {}: {err}", path.display())),
        }
    }

    pub fn default_profile(&self) -> Option<&str> {
        self.table.get("default-profile").and_then(|v| v.as_str())
    }

    pub fn set_default_profile(&mut self, name: Option<&str>) {
        match name {
            Some(name) => {
                self.table
                    .insert("default-profile".into(), toml::Value::String(name.into()));
            }
            None => {
                self.table.remove("default-profile");
            }
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.table
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// `store = "os" | "vault"`.
    pub fn store(&self) -> Option<&str> {
        self.text("store")
    }

    pub fn vault_mount(&self) -> Option<&str> {
        self.text("vault-mount")
    }

    pub fn vault_prefix(&self) -> Option<&str> {
        self.text("vault-prefix")
    }

    pub fn keyring_timeout_ms(&self) -> Option<u64> {
        self.table
            .get("keyring-timeout-ms")
            .and_then(|v| v.as_integer())
            .and_then(|ms| u64::try_from(ms).ok())
            .filter(|ms| *ms > 0)
    }

    /// Writes the file atomically (0600, in a 0700 directory).
    pub fn save(&self, path: &Path) -> Result<(), SecureStoreError> {
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        let text = toml::to_string(&self.table).unwrap_or_default();
        write_atomic(path, text.as_bytes())
    }
}
