//! `ROOT/profiles/`: where profiles are listed, read, written and deleted.

use std::path::{Path, PathBuf};

use super::file::{Profile, ProfileError, ProfileFormat};
use crate::store::files::{ensure_private_dir, write_atomic};

/// Profile names follow key names: `^[a-zA-Z0-9._-]{1,64}$`, not `.` or `..`.
pub fn validate_profile_name(name: &str) -> Result<(), ProfileError> {
    if crate::keys::is_valid_name(name) {
        Ok(())
    } else {
        Err(ProfileError::InvalidName(name.into()))
    }
}

/// A listed profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileEntry {
    pub name: String,
    pub format: ProfileFormat,
}

#[derive(Clone, Debug)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ProfileStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str, format: ProfileFormat) -> PathBuf {
        match format {
            ProfileFormat::Toml => self.dir.join(format!("{name}.toml")),
            ProfileFormat::LlxprtJson => self.dir.join(format!("{name}.json")),
        }
    }

    /// Every profile, sorted; a TOML profile hides an llxprt one of the same name.
    pub fn list(&self) -> Vec<ProfileEntry> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<ProfileEntry> = entries
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().to_str()?.to_string();
                let (name, format) = if let Some(n) = file.strip_suffix(".toml") {
                    (n, ProfileFormat::Toml)
                } else {
                    (file.strip_suffix(".json")?, ProfileFormat::LlxprtJson)
                };
                validate_profile_name(name).ok()?;
                Some(ProfileEntry {
                    name: name.to_string(),
                    format,
                })
            })
            .collect();
        found.sort_by(|a, b| {
            a.name.cmp(&b.name).then(
                (a.format == ProfileFormat::LlxprtJson)
                    .cmp(&(b.format == ProfileFormat::LlxprtJson)),
            )
        });
        found.dedup_by(|later, earlier| later.name == earlier.name);
        found
    }

    pub fn names(&self) -> Vec<String> {
        self.list().into_iter().map(|e| e.name).collect()
    }

    /// Reads a profile by name: `<name>.toml`, else llxprt's `<name>.json`.
    pub fn load(&self, name: &str) -> Result<Profile, ProfileError> {
        validate_profile_name(name)?;
        for format in [ProfileFormat::Toml, ProfileFormat::LlxprtJson] {
            let path = self.path(name, format);
            match std::fs::read_to_string(&path) {
                Ok(text) => return parse(name, format, &text),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(ProfileError::Io(format!(
                        "Cannot read {}: {err}",
                        path.display()
                    )));
                }
            }
        }
        Err(ProfileError::NotFound(name.into()))
    }

    /// Reads a profile from a file path (`--profile ./work.toml`).
    pub fn load_path(path: &Path) -> Result<Profile, ProfileError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                ProfileError::NotFound(path.display().to_string())
            } else {
                ProfileError::Io(format!("Cannot read {}: {err}", path.display()))
            }
        })?;
        let format = if path.extension().is_some_and(|e| e == "json") {
            ProfileFormat::LlxprtJson
        } else {
            ProfileFormat::Toml
        };
        parse(&name, format, &text)
    }

    /// Writes `<name>.toml` atomically.
    pub fn save(&self, profile: &Profile) -> Result<PathBuf, ProfileError> {
        validate_profile_name(&profile.name)?;
        let io = |e: crate::store::SecureStoreError| ProfileError::Io(e.message);
        ensure_private_dir(&self.dir).map_err(io)?;
        let path = self.path(&profile.name, ProfileFormat::Toml);
        write_atomic(&path, profile.to_toml().as_bytes()).map_err(io)?;
        Ok(path)
    }

    /// Deletes `<name>.toml`; llxprt's JSON profiles are never touched.
    pub fn delete(&self, name: &str) -> Result<(), ProfileError> {
        validate_profile_name(name)?;
        let path = self.path(name, ProfileFormat::Toml);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if self.path(name, ProfileFormat::LlxprtJson).exists() {
                    Err(ProfileError::ReadOnly(name.into()))
                } else {
                    Err(ProfileError::NotFound(name.into()))
                }
            }
            Err(err) => Err(ProfileError::Io(format!(
                "Cannot delete {}: {err}",
                path.display()
            ))),
        }
    }
}

fn parse(name: &str, format: ProfileFormat, text: &str) -> Result<Profile, ProfileError> {
    match format {
        ProfileFormat::Toml => Profile::from_toml(name, text),
        ProfileFormat::LlxprtJson => Profile::from_llxprt_json(name, text),
    }
}
