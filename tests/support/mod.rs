//! Shared helpers for the storage integration tests: data roots, stores with
//! injected keyrings, and the independent Python envelope tools.
//!
//! Each test binary compiles this module on its own and uses a different part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use keyshell::store::{
    FallbackPolicy, KeyringLoader, MemoryKeyring, SecureStore, SecureStoreOptions,
};

pub const SERVICE: &str = "keyshell-test-service";
pub const MACHINE_SECRET_SERVICE: &str = "llxprt-code-machine-secret";
pub const MACHINE_SECRET_ACCOUNT: &str = "default";

/// A store over `root` with its fallback files in `root/fallback`.
pub fn store(root: &Path, keyring: KeyringLoader, policy: FallbackPolicy) -> SecureStore {
    SecureStore::new(SERVICE, options(root, keyring, policy))
}

pub fn options(root: &Path, keyring: KeyringLoader, policy: FallbackPolicy) -> SecureStoreOptions {
    let mut opts = SecureStoreOptions::new(root);
    opts.fallback_dir = Some(fallback_dir(root));
    opts.fallback_policy = policy;
    opts.keyring = keyring;
    opts.keyring_timeout = Duration::from_secs(5);
    opts
}

pub fn fallback_dir(root: &Path) -> PathBuf {
    root.join("fallback")
}

/// A store with no keyring at all: every value goes to a file.
pub fn file_store(root: &Path) -> SecureStore {
    store(root, KeyringLoader::none(), FallbackPolicy::Allow)
}

/// A store over a fresh in-memory keyring, and that keyring.
pub fn memory_store(root: &Path, policy: FallbackPolicy) -> (SecureStore, Arc<MemoryKeyring>) {
    let keyring = Arc::new(MemoryKeyring::new());
    let store = store(root, KeyringLoader::with_adapter(keyring.clone()), policy);
    (store, keyring)
}

/// The names in `dir`, sorted (empty when it does not exist).
pub fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ---- the independent Python envelope tools -----------------------------------

fn support_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// Whether `python3` with the `cryptography` module is here. When it is not,
/// the test fails unless `KEYSHELL_SKIP_PYTHON_INTEROP=1` says to skip it.
pub fn python_ready(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography.hazmat.primitives.ciphers.aead"])
        .output()
        .is_ok_and(|out| out.status.success());
    if ok {
        return true;
    }
    if std::env::var("KEYSHELL_SKIP_PYTHON_INTEROP").as_deref() == Ok("1") {
        println!("{test}: skipped: python3 with the `cryptography` module is not available");
        return false;
    }
    panic!(
        "{test}: python3 with the `cryptography` module is required for the envelope \
         interop tests (install python3-cryptography, or set KEYSHELL_SKIP_PYTHON_INTEROP=1 to skip)"
    );
}

/// Writes an envelope with `tests/support/encrypt_envelope.py`: v2 when
/// `secret_b64` is given, else v1. `pinned` = (salt hex, iv hex).
pub fn python_encrypt(
    out: &Path,
    service: &str,
    machine_id: &str,
    secret_b64: Option<&str>,
    plaintext: &str,
    pinned: Option<(&str, &str)>,
) {
    let mut cmd = Command::new("python3");
    cmd.arg(support_script("encrypt_envelope.py"))
        .args(["--service", service, "--machine-id", machine_id])
        .args(["--plaintext", plaintext]);
    if let Some(secret) = secret_b64 {
        cmd.args(["--secret-b64", secret]);
    }
    if let Some((salt, iv)) = pinned {
        cmd.args(["--salt-hex", salt, "--iv-hex", iv]);
    }
    cmd.arg(out);
    let result = cmd.output().expect("python3 runs");
    assert!(
        result.status.success(),
        "encrypt_envelope.py failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Decrypts with `tests/support/decrypt_envelope.py --strict-format`, expecting
/// `version`; the plaintext, or the tool's complaint.
pub fn python_decrypt(
    file: &Path,
    service: &str,
    machine_id: &str,
    secret_b64: Option<&str>,
    version: u8,
) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("python3");
    cmd.arg(support_script("decrypt_envelope.py"))
        .args(["--service", service, "--machine-id", machine_id])
        .args(["--strict-format", "--expect-version", &version.to_string()]);
    if let Some(secret) = secret_b64 {
        cmd.args(["--secret-b64", secret]);
    }
    cmd.arg(file);
    let result = cmd.output().expect("python3 runs");
    if result.status.success() {
        Ok(result.stdout)
    } else {
        Err(String::from_utf8_lossy(&result.stderr).into_owned())
    }
}

/// A fresh machine secret, as `ROOT/machine_secret` holds it (standard base64).
pub fn random_secret_b64() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Puts `secret_b64` where a keyring-less store finds it.
pub fn install_machine_secret_file(root: &Path, secret_b64: &str) {
    let path = root.join("machine_secret");
    std::fs::write(&path, secret_b64).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
