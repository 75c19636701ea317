//! File modes (SPEC §2): directories 0700, secret files 0600, whatever the
//! umask, and loose modes found on disk are tightened with a notice.
//!
//! The umask is process-wide, so these tests live in their own binary and
//! take a lock while they change it.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use keyshell::keys::ProviderKeyStorage;
use keyshell::paths::Layout;
use keyshell::store::{KeyringLoader, SecureStore, SecureStoreOptions};
use nix::sys::stat::{Mode, umask};
use support::{dir_names, mode};
use tempfile::TempDir;

use tokio::sync::{Mutex, MutexGuard};

static UMASK: Mutex<()> = Mutex::const_new(());

/// Holds the umask at `mask` until dropped, then restores the old one.
struct UmaskGuard {
    old: Mode,
    _lock: MutexGuard<'static, ()>,
}

async fn with_umask(mask: u32) -> UmaskGuard {
    let lock = UMASK.lock().await;
    let old = umask(Mode::from_bits_truncate(mask));
    UmaskGuard { old, _lock: lock }
}

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        umask(self.old);
    }
}

fn file_storage(root: &Path) -> ProviderKeyStorage {
    ProviderKeyStorage::new(&Layout::new(root), KeyringLoader::none())
}

async fn assert_private_layout(mask: u32) {
    let _umask = with_umask(mask).await;
    let parent = TempDir::new().unwrap();
    let root = parent.path().join("data");
    let storage = file_storage(&root);

    storage.save_key("openai", "sk-1").await.unwrap();
    storage.save_key("anthropic", "sk-2").await.unwrap();
    let mut opts = SecureStoreOptions::new(&root);
    opts.keyring = KeyringLoader::none();
    SecureStore::new("some-service", opts)
        .set("token", "t")
        .await
        .unwrap();

    let label = format!("umask {mask:03o}");
    for dir in [
        root.clone(),
        root.join("provider-keys"),
        root.join("locks"),
        root.join("secure-store"),
        root.join("secure-store/some-service"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{label}: {}", dir.display());
    }
    let mut files = vec![
        root.join("machine_secret"),
        root.join("provider-keys/openai.enc"),
        root.join("provider-keys/anthropic.enc"),
        root.join("secure-store/some-service/token.enc"),
    ];
    files.extend(
        dir_names(&root.join("locks"))
            .into_iter()
            .map(|name| root.join("locks").join(name)),
    );
    for file in files {
        assert_eq!(mode(&file), 0o600, "{label}: {}", file.display());
    }
    assert!(
        storage.store().take_notices().is_empty(),
        "{label}: nothing to tighten"
    );
}

#[tokio::test]
async fn everything_is_private_under_umask_000() {
    assert_private_layout(0o000).await;
}

#[tokio::test]
async fn everything_is_private_under_umask_022() {
    assert_private_layout(0o022).await;
}

#[tokio::test]
async fn everything_is_private_under_umask_077() {
    assert_private_layout(0o077).await;
}

#[tokio::test]
async fn loose_modes_found_on_disk_are_tightened_with_a_notice() {
    let _umask = with_umask(0o022).await;
    let root = TempDir::new().unwrap();
    let dir = root.path().join("provider-keys");
    file_storage(root.path())
        .save_key("openai", "sk-1")
        .await
        .unwrap();
    let enc = dir.join("openai.enc");
    let secret = root.path().join("machine_secret");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&enc, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();

    let storage = file_storage(root.path());
    let got = storage.get_key("openai").await.unwrap().unwrap();
    assert_eq!(got.expose(), "sk-1");
    storage.save_key("other", "sk-2").await.unwrap();

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&enc), 0o600);
    assert_eq!(mode(&secret), 0o600);
    let notices = storage.store().take_notices().join("\n");
    for (path, chmod) in [
        (&dir, "chmod 700"),
        (&enc, "chmod 600"),
        (&secret, "chmod 600"),
    ] {
        let shown = path.display().to_string();
        assert!(
            notices
                .lines()
                .any(|l| l.contains(&shown) && l.contains(chmod)),
            "no notice for {shown} ({chmod}) in:\n{notices}"
        );
    }
    assert!(
        storage.store().take_notices().is_empty(),
        "notices are handed out once"
    );
}
