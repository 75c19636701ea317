//! The file side of the store: fallback file names, atomic writes, cross-process
//! locks and permission checks. Nothing here knows about encryption.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::error::{ErrorCode, SecureStoreError};

/// Characters llxprt percent-encodes in fallback file names.
const ENCODED: &[char] = &['*', '<', '>', ':', '"', '|', '?'];

/// `<key>.enc`, with `*<>:"|?` as `%XX` (llxprt's naming).
pub fn file_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if ENCODED.contains(&c) {
            name.push_str(&format!("%{:02X}", c as u32));
        } else {
            name.push(c);
        }
    }
    name.push_str(".enc");
    name
}

/// The key a fallback file name stands for, if it is one.
pub fn key_from_file_name(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".enc")?;
    let mut key = String::with_capacity(stem.len());
    let mut chars = stem.chars();
    while let Some(c) = chars.next() {
        let decoded = (c == '%')
            .then(|| chars.as_str().get(..2))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .map(char::from)
            .filter(|c| ENCODED.contains(c));
        if let Some(decoded) = decoded {
            key.push(decoded);
            chars.nth(1);
        } else {
            key.push(c);
        }
    }
    Some(key)
}

/// Is this a temp file left by an interrupted write (`<final>.tmp.<8 chars>`)?
pub fn is_temp_file(name: &str) -> bool {
    name.rsplit_once(".tmp.").is_some_and(|(_, suffix)| {
        suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Temp files older than this belong to no live writer and are removed.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Removes temp files in `dir` older than a minute. Failures are ignored:
/// temp files are never read, so a leftover costs only disk space.
pub fn clean_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_file(name) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Eight random alphanumeric characters, for temp file names and probe accounts.
pub fn random_suffix() -> String {
    use rand::RngExt as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Creates `dir` (and parents) with mode 0700 and tightens it if others can
/// read or write it. Returns a warning for the user when it had to tighten.
pub fn ensure_private_dir(dir: &Path) -> Result<Option<String>, SecureStoreError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => tighten(dir, meta.permissions().mode(), 0o700),
        Ok(_) => Err(SecureStoreError::with_remediation(
            ErrorCode::Unavailable,
            format!("{} is not a directory", dir.display()),
            format!(
                "Move {} aside so keyshell can create the directory",
                dir.display()
            ),
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| SecureStoreError::io("create directory", dir, &e))?;
            // The umask may have taken bits away, never added them; make it exact.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| SecureStoreError::io("set the mode of", dir, &e))?;
            Ok(None)
        }
        Err(err) => Err(SecureStoreError::io("inspect", dir, &err)),
    }
}

/// Tightens `dir` to 0700, and every existing directory above it up to and
/// including `root` when `dir` lies inside `root`: the directories that hold
/// secret files. Returns a warning per directory it had to tighten.
pub fn tighten_dirs_up_to(dir: &Path, root: &Path) -> Result<Vec<String>, SecureStoreError> {
    let mut warnings = Vec::new();
    let chain: Vec<&Path> = if dir.starts_with(root) {
        dir.ancestors()
            .take_while(|d| d.starts_with(root))
            .collect()
    } else {
        vec![dir]
    };
    for dir in chain {
        if let Ok(meta) = fs::metadata(dir)
            && meta.is_dir()
            && let Some(warning) = tighten(dir, meta.permissions().mode(), 0o700)?
        {
            warnings.push(warning);
        }
    }
    Ok(warnings)
}

/// Tightens a secret file to 0600 if others can read or write it.
pub fn ensure_private_file(path: &Path) -> Result<Option<String>, SecureStoreError> {
    match fs::metadata(path) {
        Ok(meta) => tighten(path, meta.permissions().mode(), 0o600),
        Err(_) => Ok(None),
    }
}

fn tighten(path: &Path, mode: u32, wanted: u32) -> Result<Option<String>, SecureStoreError> {
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    let warning = format!(
        "{} was readable or writable by other users (mode {:o}); keyshell ran `chmod {:o} {}`",
        path.display(),
        mode & 0o777,
        wanted,
        path.display()
    );
    fs::set_permissions(path, fs::Permissions::from_mode(wanted)).map_err(|e| {
        SecureStoreError::with_remediation(
            ErrorCode::Denied,
            format!(
                "{} is readable or writable by other users and could not be tightened: {e}",
                path.display()
            ),
            format!("Run `chmod {wanted:o} {}`", path.display()),
        )
    })?;
    Ok(Some(warning))
}

/// Writes `contents` to `path` atomically: temp file at 0600 → fsync → rename
/// → fsync the directory. A crash at any instant leaves the old file or the
/// new one, never a torn one. The caller holds the lock for `path`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), SecureStoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!("{file_name}.tmp.{}", random_suffix()));
    let result = write_temp_then_rename(&temp, path, contents);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| SecureStoreError::io("write", path, &e))?;
    if let Ok(dir_handle) = File::open(dir) {
        let _ = dir_handle.sync_all();
    }
    Ok(())
}

fn write_temp_then_rename(temp: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)
}

/// Reads a fallback file; `Ok(None)` when it does not exist.
pub fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, SecureStoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(SecureStoreError::with_remediation(
                ErrorCode::Corrupt,
                format!(
                    "{} is a symbolic link; keyshell does not follow links to secrets",
                    path.display()
                ),
                format!("Remove {} and re-save the key", path.display()),
            ));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(SecureStoreError::with_remediation(
                ErrorCode::Corrupt,
                format!("{} is not a regular file", path.display()),
                format!("Remove {} and re-save the key", path.display()),
            ));
        }
        Ok(meta) if meta.len() > MAX_FALLBACK_FILE => {
            return Err(SecureStoreError::corrupt(super::envelope::MSG_NOT_JSON));
        }
        _ => {}
    }
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(SecureStoreError::io("read", path, &err)),
    }
}

/// No real envelope comes near this; a larger file is not one of ours.
const MAX_FALLBACK_FILE: u64 = 1 << 20;

/// A held cross-process lock; released on drop (closing the file unlocks it).
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the exclusive lock `<locks_dir>/<name>.lock`, waiting up to `wait`.
    pub fn acquire(
        locks_dir: &Path,
        name: &str,
        wait: Duration,
    ) -> Result<FileLock, SecureStoreError> {
        ensure_private_dir(locks_dir)?;
        let path = locks_dir.join(format!("{}.lock", lock_file_component(name)));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| SecureStoreError::io("open lock", &path, &e))?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(SecureStoreError::new(
                            ErrorCode::Timeout,
                            format!("Timed out waiting for the lock {}", path.display()),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::Error(err)) => {
                    return Err(SecureStoreError::io("lock", &path, &err));
                }
            }
        }
    }
}

/// Lock names percent-encode anything that is not a plain file-name character.
fn lock_file_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The path of a fallback file in `dir` for `key`.
pub fn fallback_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(file_name(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_through_percent_encoding() {
        for key in ["plain", "a*b<c>d:e\"f|g?h", "100%", "50%41"] {
            assert_eq!(key_from_file_name(&file_name(key)).as_deref(), Some(key));
        }
        assert_eq!(file_name("a:b"), "a%3Ab.enc");
    }

    #[test]
    fn temp_names_are_recognised() {
        assert!(is_temp_file("openai.enc.tmp.ab12cd34"));
        assert!(!is_temp_file("openai.enc"));
        assert!(!is_temp_file("x.tmp.short"));
    }
}
