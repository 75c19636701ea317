//! Keys saved by separate runs share one salt (adopted from the first v2 file),
//! so listing them derives one key; IVs stay fresh on every write.

use keyshell::keys::ProviderKeyStorage;
use keyshell::paths::Layout;
use keyshell::store::KeyringLoader;
use keyshell::store::envelope;
use tempfile::TempDir;

fn sealed(dir: &std::path::Path, name: &str) -> envelope::Sealed {
    envelope::parse(&std::fs::read(dir.join(format!("{name}.enc"))).unwrap()).unwrap()
}

#[tokio::test]
async fn separate_runs_share_the_first_files_salt() {
    let root = TempDir::new().unwrap();
    let layout = Layout::new(root.path());
    for i in 0..5 {
        // A new storage per key, as separate `keyshell -c '/key save …'` runs are.
        let storage = ProviderKeyStorage::new(&layout, KeyringLoader::none());
        storage
            .save_key(&format!("k{i}"), &format!("sk-value-{i}"))
            .await
            .unwrap();
    }
    let dir = layout.provider_keys();
    let first = sealed(&dir, "k0");
    let mut ivs = std::collections::HashSet::new();
    for i in 0..5 {
        let file = sealed(&dir, &format!("k{i}"));
        assert_eq!(file.salt, first.salt, "k{i} has a salt of its own");
        assert!(ivs.insert(file.iv), "an IV was reused");
    }
    // And every key still reads back in a fresh run.
    let reader = ProviderKeyStorage::new(&layout, KeyringLoader::none());
    for i in 0..5 {
        let value = reader.get_key(&format!("k{i}")).await.unwrap().unwrap();
        assert_eq!(value.expose(), format!("sk-value-{i}"));
    }
}

#[tokio::test]
async fn an_unreadable_first_file_is_passed_over() {
    let root = TempDir::new().unwrap();
    let layout = Layout::new(root.path());
    let dir = layout.provider_keys();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("aaa.enc"), "not an envelope").unwrap();
    let storage = ProviderKeyStorage::new(&layout, KeyringLoader::none());
    storage.save_key("k", "sk-value").await.unwrap();
    assert_eq!(
        storage.get_key("k").await.unwrap().unwrap().expose(),
        "sk-value"
    );
}
