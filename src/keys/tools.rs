//! [`ToolKeyStorage`]: API keys of tools (Exa web search today), on the same
//! [`SecureStore`] and fallback as provider keys, plus the tool → key-file map.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::paths::Layout;
use crate::store::files::{ensure_private_dir, write_atomic};
use crate::store::{
    FallbackPolicy, KeyringLoader, Secret, SecureStore, SecureStoreError, SecureStoreOptions,
    StoredIn,
};

pub const SERVICE: &str = "llxprt-code-tool-keys";

/// A tool that takes an API key. Adding a tool is adding an entry to [`TOOLS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub display_name: &'static str,
    /// The URL parameter the tool sends the key in.
    pub url_param: &'static str,
    pub description: &'static str,
}

pub const TOOLS: &[ToolSpec] = &[ToolSpec {
    name: "exa",
    display_name: "Exa Search",
    url_param: "exaApiKey",
    description: "API key for Exa web and code search",
}];

pub fn find_tool(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

pub fn tool_names() -> String {
    TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ToolKeyError {
    #[error("Invalid tool key name: {0:?}. Supported names: {names}", names = tool_names())]
    InvalidTool(String),
    #[error("{0}")]
    Keyfile(String),
    #[error(transparent)]
    Value(#[from] super::ProviderKeyError),
    #[error(transparent)]
    Store(#[from] SecureStoreError),
}

/// Where a resolved tool key came from.
#[derive(Debug)]
pub enum ResolvedKey {
    Stored(Secret),
    Keyfile(Secret, PathBuf),
    None,
}

#[derive(Clone, Debug)]
pub struct ToolKeyStorage {
    store: Arc<SecureStore>,
    keyfiles_path: PathBuf,
}

impl ToolKeyStorage {
    /// Service `llxprt-code-tool-keys`, fallback `ROOT/tools`, policy Allow.
    pub fn new(layout: &Layout, keyring: KeyringLoader) -> Self {
        let mut opts = SecureStoreOptions::new(&layout.root);
        opts.fallback_dir = Some(layout.tools());
        opts.fallback_policy = FallbackPolicy::Allow;
        opts.keyring = keyring;
        ToolKeyStorage {
            store: Arc::new(SecureStore::new(SERVICE, opts)),
            keyfiles_path: layout.tools().join("keyfiles.json"),
        }
    }

    pub fn store(&self) -> &SecureStore {
        &self.store
    }

    fn check(tool: &str) -> Result<&'static ToolSpec, ToolKeyError> {
        find_tool(tool).ok_or_else(|| ToolKeyError::InvalidTool(tool.to_string()))
    }

    pub async fn save_key(&self, tool: &str, key: &str) -> Result<StoredIn, ToolKeyError> {
        Self::check(tool)?;
        let key = super::normalize_value(key)?;
        Ok(self.store.set(tool, key).await?)
    }

    pub async fn get_key(&self, tool: &str) -> Result<Option<Secret>, ToolKeyError> {
        Self::check(tool)?;
        Ok(self.store.get(tool).await?)
    }

    pub async fn delete_key(&self, tool: &str) -> Result<bool, ToolKeyError> {
        Self::check(tool)?;
        Ok(self.store.delete(tool).await?)
    }

    /// The tool → key-file map. An unreadable or invalid file is treated as
    /// empty; the second value is a warning to show when that happened.
    pub fn keyfiles(&self) -> (BTreeMap<String, String>, Option<String>) {
        let text = match std::fs::read_to_string(&self.keyfiles_path) {
            Ok(text) => text,
            Err(_) => return (BTreeMap::new(), None),
        };
        match serde_json::from_str::<BTreeMap<String, String>>(&text) {
            Ok(map) => (map, None),
            Err(_) => (
                BTreeMap::new(),
                Some(format!(
                    "{} is not a JSON object of tool names to paths; it is treated as empty",
                    self.keyfiles_path.display()
                )),
            ),
        }
    }

    pub fn keyfile(&self, tool: &str) -> Result<Option<String>, ToolKeyError> {
        Self::check(tool)?;
        Ok(self.keyfiles().0.remove(tool))
    }

    /// Records `path` (absolute) as the key file of `tool`, or removes it.
    pub fn set_keyfile(&self, tool: &str, path: Option<&Path>) -> Result<(), ToolKeyError> {
        Self::check(tool)?;
        let (mut map, _) = self.keyfiles();
        match path {
            Some(path) => {
                map.insert(tool.to_string(), path.display().to_string());
            }
            None => {
                map.remove(tool);
            }
        }
        if let Some(dir) = self.keyfiles_path.parent() {
            ensure_private_dir(dir)?;
        }
        let text = serde_json::to_string_pretty(&map).expect("a map of strings serializes");
        write_atomic(&self.keyfiles_path, text.as_bytes())?;
        Ok(())
    }

    /// The key a tool uses: stored → key file (read now, first line) → none.
    /// The second value is a warning (an empty key file).
    pub async fn resolve_key(
        &self,
        tool: &str,
    ) -> Result<(ResolvedKey, Option<String>), ToolKeyError> {
        if let Some(key) = self.get_key(tool).await? {
            return Ok((ResolvedKey::Stored(key), None));
        }
        let Some(path) = self.keyfile(tool)? else {
            return Ok((ResolvedKey::None, None));
        };
        let path = PathBuf::from(path);
        match read_first_line(&path) {
            Ok(Some(key)) => Ok((ResolvedKey::Keyfile(key, path), None)),
            Ok(None) => Ok((
                ResolvedKey::None,
                Some(format!("Keyfile is empty: {}", path.display())),
            )),
            Err(message) => Err(ToolKeyError::Keyfile(message)),
        }
    }
}

/// The first line of a key file, trimmed; `None` when it is empty.
pub fn read_first_line(path: &Path) -> Result<Option<Secret>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("File not found: {}", path.display()));
        }
        Err(err) => return Err(format!("Cannot read {}: {err}", path.display())),
    };
    let first = text.lines().next().unwrap_or("").trim();
    Ok((!first.is_empty()).then(|| Secret::new(first)))
}
