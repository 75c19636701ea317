//! Where keyshell keeps things (SPEC §2): everything lives under one data root.

use std::path::{Path, PathBuf};

/// `$LLXPRT_DATA_HOME` when it is set, non-empty and absolute (trimmed);
/// otherwise `~/.llxprt`. A relative or empty override is ignored (llxprt's rule).
pub fn data_root() -> PathBuf {
    if let Ok(value) = std::env::var("LLXPRT_DATA_HOME") {
        let trimmed = value.trim();
        if !trimmed.is_empty() && Path::new(trimmed).is_absolute() {
            return PathBuf::from(trimmed);
        }
    }
    home_dir().join(".llxprt")
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map(|user| user.dir)
        })
        .unwrap_or_else(std::env::temp_dir)
}

/// The fixed places under a data root.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn provider_keys(&self) -> PathBuf {
        self.root.join("provider-keys")
    }
    pub fn tools(&self) -> PathBuf {
        self.root.join("tools")
    }
    pub fn secure_store(&self, service: &str) -> PathBuf {
        self.root.join("secure-store").join(service)
    }
    pub fn machine_secret(&self) -> PathBuf {
        self.root.join("machine_secret")
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    pub fn profiles(&self) -> PathBuf {
        self.root.join("profiles")
    }
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.toml")
    }
    pub fn history(&self) -> PathBuf {
        self.root.join("keyshell_history")
    }
}
