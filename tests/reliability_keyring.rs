//! Broken keyrings (docs/reliability.md §6): an adapter that fails in every
//! way a keyring backend can — LOCKED, DENIED, TIMEOUT (reported or a real
//! hang), UNAVAILABLE, garbage data, a bus that disappears mid-session — and
//! every SecureStore operation against it, on a store that just started and
//! on one whose probe already found the keyring working. The outcome of each
//! (operation, failure) pair is SPEC §3's; none takes longer than the keyring
//! timeout allows; a LOCKED or DENIED keyring never gets a file instead.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyshell::store::{
    Credential, ErrorCode, FallbackPolicy, KeyringAdapter, KeyringError, KeyringLoader,
    SecureStore, StoredIn,
};
use tempfile::TempDir;

const TIMEOUT: Duration = Duration::from_millis(300);
/// A bound on a hang, not a speed target: at most three keyring calls run
/// one after another in any operation, plus a key derivation.
const BOUND: Duration = Duration::from_millis(3 * 300 + 1500);

/// How the keyring misbehaves right now.
#[derive(Clone, Debug)]
enum Fault {
    Healthy,
    /// Every call fails with this error.
    Fail(KeyringError),
    /// Every call blocks until the test ends.
    Hang,
    /// Stored values read back as undecodable; everything else works.
    Garbage,
    /// Writes of this test's keys fail as UNAVAILABLE (the probe's and the
    /// machine secret's go through).
    RefuseKeyWrites,
}

/// An in-memory keyring whose behaviour can be switched mid-session.
struct FaultyKeyring {
    entries: Mutex<BTreeMap<(String, String), String>>,
    fault: Mutex<Fault>,
    released: AtomicBool,
}

impl FaultyKeyring {
    fn new() -> Arc<Self> {
        Arc::new(FaultyKeyring {
            entries: Mutex::default(),
            fault: Mutex::new(Fault::Healthy),
            released: AtomicBool::new(false),
        })
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Lets every hung call return (tokio waits for blocking threads when a
    /// runtime shuts down).
    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }

    fn fault(&self) -> Fault {
        self.fault.lock().unwrap().clone()
    }

    fn begin(&self) -> Result<(), KeyringError> {
        match self.fault() {
            Fault::Healthy | Fault::Garbage | Fault::RefuseKeyWrites => Ok(()),
            Fault::Fail(err) => Err(err),
            Fault::Hang => {
                let started = Instant::now();
                while !self.released.load(Ordering::SeqCst)
                    && started.elapsed() < Duration::from_secs(60)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(KeyringError::unclassified("released after a hang"))
            }
        }
    }

    fn key(service: &str, account: &str) -> (String, String) {
        (service.to_string(), account.to_string())
    }
}

impl KeyringAdapter for FaultyKeyring {
    fn describe(&self) -> String {
        "faulty test keyring".into()
    }

    fn get_password(&self, service: &str, account: &str) -> Result<Option<String>, KeyringError> {
        self.begin()?;
        let value = self
            .entries
            .lock()
            .unwrap()
            .get(&Self::key(service, account))
            .cloned();
        if value.is_some() && matches!(self.fault(), Fault::Garbage) {
            return Err(KeyringError::new(
                ErrorCode::Corrupt,
                "The OS keyring holds a value that is not valid UTF-8 text",
            ));
        }
        Ok(value)
    }

    fn set_password(&self, service: &str, account: &str, value: &str) -> Result<(), KeyringError> {
        self.begin()?;
        let refused = matches!(self.fault(), Fault::RefuseKeyWrites)
            && service == support::SERVICE
            && !account.starts_with(keyshell::store::PROBE_PREFIX);
        if refused {
            return Err(KeyringError::new(ErrorCode::Unavailable, "takes no keys"));
        }
        let mut entries = self.entries.lock().unwrap();
        entries.insert(Self::key(service, account), value.to_string());
        Ok(())
    }

    fn delete_password(&self, service: &str, account: &str) -> Result<bool, KeyringError> {
        self.begin()?;
        let mut entries = self.entries.lock().unwrap();
        Ok(entries.remove(&Self::key(service, account)).is_some())
    }

    fn find_credentials(&self, service: &str) -> Option<Result<Vec<Credential>, KeyringError>> {
        if let Err(err) = self.begin() {
            return Some(Err(err));
        }
        let entries = self.entries.lock().unwrap();
        Some(Ok(entries
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|((_, a), v)| (a.clone(), keyshell::store::Secret::new(v.clone())))
            .collect()))
    }
}

/// Releases hung calls when the test ends, even on a failed assertion.
struct Release(Arc<FaultyKeyring>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The failures, each with how SPEC §3 treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Reported, never replaced by the file (LOCKED, DENIED).
    Refusing(ErrorCode),
    /// The keyring is not there: files are used (UNAVAILABLE, a gone bus).
    /// If it was there earlier in the session, a key only it could hold is
    /// "not found" with the reason beside it (a notice).
    Absent,
    /// Too slow: files are used, a key only the keyring could hold is "not
    /// found" with the reason beside it, and a delete reports the copy it
    /// could not reach.
    Slow,
    /// The keyring answers but its data cannot be read.
    Garbage,
}

fn failures() -> Vec<(&'static str, Fault, Kind)> {
    use ErrorCode::*;
    let fail = |code, message: &str| Fault::Fail(KeyringError::new(code, message));
    let said = |message: &str| Fault::Fail(KeyringError::unclassified(message));
    vec![
        (
            "LOCKED (kind)",
            fail(Locked, "collection is locked"),
            Kind::Refusing(Locked),
        ),
        (
            "LOCKED (message)",
            said("Cannot get secret of a locked object"),
            Kind::Refusing(Locked),
        ),
        (
            "DENIED (kind)",
            fail(Denied, "access denied"),
            Kind::Refusing(Denied),
        ),
        (
            "DENIED (message)",
            said("Permission denied by policy"),
            Kind::Refusing(Denied),
        ),
        ("TIMEOUT (kind)", fail(Timeout, "no reply"), Kind::Slow),
        (
            "TIMEOUT (message)",
            said("Timed out waiting for a reply"),
            Kind::Slow,
        ),
        ("a hang", Fault::Hang, Kind::Slow),
        (
            "UNAVAILABLE (kind)",
            fail(Unavailable, "no backend"),
            Kind::Absent,
        ),
        (
            "UNAVAILABLE (message)",
            said("org.freedesktop.DBus.Error.ServiceUnknown"),
            Kind::Absent,
        ),
        (
            "the bus went away",
            said("I/O error: Broken pipe (os error 32)"),
            Kind::Absent,
        ),
        ("garbage data", Fault::Garbage, Kind::Garbage),
    ]
}

struct Fixture {
    _root: TempDir,
    keyring: Arc<FaultyKeyring>,
    _release: Release,
    store: SecureStore,
    deny: SecureStore,
    root: std::path::PathBuf,
}

fn store_over(root: &Path, keyring: &Arc<FaultyKeyring>, policy: FallbackPolicy) -> SecureStore {
    let mut opts = support::options(root, KeyringLoader::with_adapter(keyring.clone()), policy);
    opts.keyring_timeout = TIMEOUT;
    SecureStore::new(support::SERVICE, opts)
}

/// A data root where `in-keyring` lives in a healthy keyring and `in-file`
/// in a fallback file; then the keyring starts to fail. `warm`: the stores
/// probed the healthy keyring first (the failure comes mid-session).
async fn fixture(fault: &Fault, warm: bool) -> Fixture {
    let root = TempDir::new().unwrap();
    let keyring = FaultyKeyring::new();
    let file_only = support::file_store(root.path());
    file_only.set("in-file", "sk-file-value").await.unwrap();
    let store = store_over(root.path(), &keyring, FallbackPolicy::Allow);
    let deny = store_over(root.path(), &keyring, FallbackPolicy::Deny);
    keyring
        .set_password(support::SERVICE, "in-keyring", "sk-keyring-value")
        .unwrap();
    if warm {
        assert!(store.is_keychain_available().await);
        assert!(deny.is_keychain_available().await);
    }
    keyring.set_fault(fault.clone());
    Fixture {
        root: root.path().to_path_buf(),
        _root: root,
        _release: Release(keyring.clone()),
        keyring,
        store,
        deny,
    }
}

fn file_exists(root: &Path, key: &str) -> bool {
    support::fallback_dir(root)
        .join(format!("{key}.enc"))
        .exists()
}

/// Runs `op`, failing the test if it takes longer than [`BOUND`].
async fn timed<T>(what: &str, op: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = op.await;
    let took = started.elapsed();
    assert!(took < BOUND, "{what} took {took:?}");
    out
}

async fn check(name: &str, fault: &Fault, kind: Kind, warm: bool) -> usize {
    let f = fixture(fault, warm).await;
    let what = |op: &str| format!("{name} ({}): {op}", if warm { "warm" } else { "cold" });
    // A keyring that garbles what it reads fails the probe: a store that
    // starts then treats it as absent.
    let kind = match kind {
        Kind::Garbage if !warm => Kind::Absent,
        kind => kind,
    };

    // set, policy Allow and Deny.
    let set = timed(&what("set"), f.store.set("new", "sk-new")).await;
    let set_deny = timed(&what("set (deny)"), f.deny.set("new-deny", "sk-new")).await;
    match kind {
        Kind::Refusing(code) => {
            assert_eq!(set.unwrap_err().code, code, "{}", what("set"));
            assert_eq!(set_deny.unwrap_err().code, code, "{}", what("set (deny)"));
            assert!(
                !file_exists(&f.root, "new"),
                "{}: no silent downgrade",
                what("set")
            );
        }
        Kind::Absent | Kind::Slow => {
            assert_eq!(set.unwrap(), StoredIn::File, "{}", what("set"));
            assert!(file_exists(&f.root, "new"));
            let err = set_deny.unwrap_err();
            assert_eq!(
                (err.code, err.message.as_str()),
                (
                    ErrorCode::Unavailable,
                    "Keyring is unavailable and fallback is denied"
                ),
                "{}",
                what("set (deny)")
            );
        }
        Kind::Garbage => {
            // The keyring takes writes; the values go there.
            assert_eq!(set.unwrap(), StoredIn::Keyring, "{}", what("set"));
            assert_eq!(
                set_deny.unwrap(),
                StoredIn::Keyring,
                "{}",
                what("set (deny)")
            );
        }
    }
    assert!(!file_exists(&f.root, "new-deny"), "{}", what("set (deny)"));

    // get of a key in the keyring, and of a key in a file.
    f.store.take_notices();
    let in_keyring = timed(&what("get"), f.store.get("in-keyring")).await;
    let notices = f.store.take_notices();
    let in_file = timed(&what("get"), f.store.get("in-file")).await;
    match kind {
        Kind::Refusing(code) => {
            assert_eq!(in_keyring.unwrap_err().code, code, "{}", what("get"));
            let err = in_file.unwrap_err();
            assert_eq!(
                err.code,
                code,
                "{}: a possibly stale file is not served",
                what("get")
            );
        }
        Kind::Absent | Kind::Slow => {
            assert!(in_keyring.unwrap().is_none(), "{}", what("get"));
            // A keyring that stopped answering (or never answered in time)
            // may hold the key: "not found" comes with the reason.
            let lost = warm || kind == Kind::Slow;
            let says = "Key 'in-keyring' could not be looked up in the OS keyring: ";
            assert_eq!(
                notices.iter().any(|n| n.starts_with(says)),
                lost,
                "{}: {notices:?}",
                what("get")
            );
            assert_eq!(
                in_file.unwrap().unwrap().expose(),
                "sk-file-value",
                "{}",
                what("get")
            );
        }
        Kind::Garbage => {
            assert_eq!(
                in_keyring.unwrap_err().code,
                ErrorCode::Corrupt,
                "{}",
                what("get")
            );
            assert_eq!(
                in_file.unwrap().unwrap().expose(),
                "sk-file-value",
                "{}",
                what("get")
            );
        }
    }

    // has, list.
    let has = timed(&what("has"), f.store.has("in-file")).await;
    let list = timed(&what("list"), f.store.list()).await;
    match kind {
        Kind::Refusing(code) => {
            assert_eq!(has.unwrap_err().code, code, "{}", what("has"));
            assert_eq!(list.unwrap_err().code, code, "{}", what("list"));
        }
        Kind::Absent | Kind::Slow | Kind::Garbage => {
            assert!(has.unwrap(), "{}", what("has"));
            let listed = list.unwrap();
            assert!(
                listed.contains(&"in-file".to_string()),
                "{}: {listed:?}",
                what("list")
            );
            if kind == Kind::Garbage {
                assert!(
                    listed.contains(&"in-keyring".to_string()),
                    "{}",
                    what("list")
                );
            }
        }
    }

    // delete: both copies, and any copy that could not be removed is named.
    let deleted = timed(&what("delete"), f.store.delete("in-file")).await;
    match kind {
        Kind::Absent | Kind::Garbage => assert!(deleted.unwrap(), "{}", what("delete")),
        Kind::Refusing(code) => {
            // Refused as a whole: the file copy stays (nothing half-applied).
            let err = deleted.unwrap_err();
            assert_eq!(err.code, code, "{}", what("delete"));
            assert!(
                err.message
                    .starts_with("Key 'in-file' was not deleted: the OS keyring"),
                "{}: {}",
                what("delete"),
                err.message
            );
            assert!(file_exists(&f.root, "in-file"), "{}", what("delete"));
        }
        Kind::Slow => {
            // The file copy is removed; the keyring copy it could not reach is named.
            let err = deleted.unwrap_err();
            assert_eq!(err.code, ErrorCode::Timeout, "{}", what("delete"));
            assert!(
                err.message
                    .starts_with("Key 'in-file' may remain in the OS keyring"),
                "{}: {}",
                what("delete"),
                err.message
            );
            assert!(!file_exists(&f.root, "in-file"), "{}", what("delete"));
        }
    }

    let available = timed(&what("probe"), f.store.is_keychain_available()).await;
    if !warm {
        assert!(!available, "{}", what("is_keychain_available"));
    }
    drop(f.keyring);
    8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_keyring_failure_gets_the_specified_outcome_within_the_timeout() {
    let started = Instant::now();
    let mut checked = 0;
    for (name, fault, kind) in failures() {
        for warm in [false, true] {
            checked += check(name, &fault, kind, warm).await;
        }
    }
    println!(
        "{} failure kinds x 2 session states: {checked} operations checked in {:?}",
        failures().len(),
        started.elapsed()
    );
}

/// The keyring goes away in the middle of a session and comes back: values
/// saved meanwhile go to files and say so, nothing hangs, and once it is back
/// the keyring is used again and the file copy of a re-saved key is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_that_disappears_mid_session_and_returns() {
    let root = TempDir::new().unwrap();
    let keyring = FaultyKeyring::new();
    let _release = Release(keyring.clone());
    let store = store_over(root.path(), &keyring, FallbackPolicy::Allow);
    assert_eq!(store.set("a", "sk-a-1").await.unwrap(), StoredIn::Keyring);

    keyring.set_fault(Fault::Fail(KeyringError::unclassified(
        "org.freedesktop.DBus.Error.Disconnected: Connection is closed",
    )));
    for i in 0..5 {
        let value = format!("sk-b-{i}");
        let stored = timed("set while gone", store.set("b", &value))
            .await
            .unwrap();
        assert_eq!(stored, StoredIn::File);
        let read = timed("get while gone", store.get("b"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.expose(), value);
    }
    store.take_notices();
    assert!(
        timed("get while gone", store.get("a"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.take_notices(),
        ["Key 'a' could not be looked up in the OS keyring: \
          org.freedesktop.DBus.Error.Disconnected: Connection is closed — \
          Use --key, install a keyring backend, or change fallbackPolicy to allow"]
    );
    let listed = store.list().await.unwrap();
    assert_eq!(listed, ["b"]);
    let notices = store.take_notices();
    assert!(
        notices.contains(
            &"Keys stored in the OS keyring are not listed: \
              org.freedesktop.DBus.Error.Disconnected: Connection is closed"
                .to_string()
        ),
        "{notices:?}"
    );

    keyring.set_fault(Fault::Healthy);
    // The probe result is cached for a minute; a new store (a new run) sees
    // the keyring at once.
    let store = store_over(root.path(), &keyring, FallbackPolicy::Allow);
    assert_eq!(store.get("a").await.unwrap().unwrap().expose(), "sk-a-1");
    assert_eq!(store.get("b").await.unwrap().unwrap().expose(), "sk-b-4");
    assert_eq!(store.set("b", "sk-b-5").await.unwrap(), StoredIn::Keyring);
    assert!(!file_exists(root.path(), "b"), "the file copy is removed");
    assert_eq!(store.list().await.unwrap(), ["a", "b"]);
}

/// The keyring hands out garbage for the machine secret: a fallback write
/// refuses with CORRUPT (never a new secret, never a v1 file).
#[tokio::test]
async fn a_garbage_machine_secret_in_the_keyring_is_refused_clearly() {
    let root = TempDir::new().unwrap();
    let keyring = FaultyKeyring::new();
    keyring
        .set_password(
            "llxprt-code-machine-secret",
            "default",
            "not base64 at all!",
        )
        .unwrap();
    keyring.set_fault(Fault::RefuseKeyWrites);
    let store = store_over(root.path(), &keyring, FallbackPolicy::Allow);

    let err = match store.set("k", "v").await {
        Err(err) => err,
        Ok(place) => panic!("wrote to {place:?} with an unusable machine secret"),
    };

    assert_eq!(err.code, ErrorCode::Corrupt, "{err:?}");
    assert_eq!(
        err.message,
        "The machine secret exists but is unusable (not 32 bytes of base64)"
    );
    assert!(!file_exists(root.path(), "k"));
    assert!(!root.path().join("machine_secret").exists());
}
