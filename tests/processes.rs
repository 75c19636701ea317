//! Crash safety and concurrency across real processes: the binary is killed
//! while it saves and deletes keys, or run many times at once, and every key
//! must still decrypt to a value that was written (docs/reliability.md §1, §2).
//!
//! Knobs: `KEYSHELL_CRASH_RUNS` (runs killed mid-run; default 50,
//! `scripts/reliability.sh` 200), `KEYSHELL_SEED` (replays the scripts and
//! kill moments of a run; every test prints the seed it used). The
//! real-keyring tests run when `KEYSHELL_REAL_KEYRING=1` (under
//! `scripts/ci-keyring.sh`).

mod harness;
mod reliability_common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::Keyshell;
use keyshell::keys::{PROVIDER_SERVICE, ProviderKeyStorage};
use keyshell::paths::Layout;
use keyshell::store::files::is_temp_file;
use keyshell::store::{
    FallbackPolicy, KeyringAdapter, KeyringError, KeyringLoader, OsKeyring, PROBE_PREFIX,
    SecureStore, SecureStoreOptions, StoredIn,
};
use reliability_common::{Rng, env_count, real_keyring_wanted, unique_tag};

const BYSTANDER: &str = "sk-bystander-0123456789";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A reader over the data root, without a keyring, as a later run would see it.
fn file_storage(root: &Path) -> ProviderKeyStorage {
    ProviderKeyStorage::new(&Layout::new(root), KeyringLoader::none())
}

/// The keys that have a fallback file, and the temp files; panics on anything
/// else in the directory (a torn name, a stray file).
fn fallback_files(dir: &Path) -> (BTreeSet<String>, Vec<String>) {
    let mut keys = BTreeSet::new();
    let mut temps = Vec::new();
    for name in reliability_common::snapshot(dir).keys() {
        let name = name.to_string_lossy().into_owned();
        if is_temp_file(&name) {
            temps.push(name);
        } else if let Some(key) = name.strip_suffix(".enc") {
            keys.insert(key.to_string());
        } else {
            panic!("unexpected entry {name} in {}", dir.display());
        }
    }
    (keys, temps)
}

/// Runs `script` with `--yes --keep-going` and kills it after `delay`;
/// true if it was killed before it finished on its own.
fn run_and_kill(ks: &Keyshell, script: &Path, delay: Duration) -> bool {
    let mut child = spawn_script(ks, script, &["--yes", "--keep-going"]);
    std::thread::sleep(delay);
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill();
    let _ = child.wait();
    !finished
}

fn spawn_script(ks: &Keyshell, script: &Path, flags: &[&str]) -> Child {
    ks.command()
        .args(flags)
        .arg(script)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// How long one uninterrupted run of `script` takes here (at least 1 ms).
/// (Its status is not checked: deleting a key that is not there fails.)
fn time_full_run(ks: &Keyshell, script: &Path) -> Duration {
    let started = Instant::now();
    let _ = spawn_script(ks, script, &["--yes", "--keep-going"])
        .wait_with_output()
        .unwrap();
    started.elapsed().max(Duration::from_millis(1))
}

const CRASH_KEYS: [&str; 3] = ["shared", "churn-a", "churn-b"];
const CRASH_LINES: usize = 40;

/// A script of saves (2 in 3) and deletes (1 in 3) of random crash keys;
/// every value it saves is recorded in `written`.
fn crash_script(
    rng: &mut Rng,
    run: usize,
    written: &mut HashMap<&'static str, HashSet<String>>,
) -> String {
    (0..CRASH_LINES)
        .map(|line| {
            let key = CRASH_KEYS[rng.below(CRASH_KEYS.len() as u64) as usize];
            if rng.below(3) == 0 {
                format!("/key delete {key}\n")
            } else {
                let value = format!("sk-crash-{key}-{run}-{line}");
                written.entry(key).or_default().insert(value.clone());
                format!("/key save {key} {value}\n")
            }
        })
        .collect()
}

/// Three keys are saved and deleted at random by scripts that are SIGKILLed
/// at a uniformly random moment of their run, until `KEYSHELL_CRASH_RUNS`
/// runs were killed mid-run. After every run: each key is absent or decrypts
/// to a value some run wrote, the untouched key is intact, only `.enc` and
/// temp files are in the directory, and no temp file is listed.
#[test]
fn killed_writers_and_deleters_never_tear_or_lose_a_key() {
    let runs = env_count("KEYSHELL_CRASH_RUNS", 50);
    let mut rng = Rng::from_env("killed_writers_and_deleters");
    let ks = Keyshell::new();
    let dir = ks.path("provider-keys");
    ks.save("bystander", BYSTANDER);
    let mut written: HashMap<&'static str, HashSet<String>> = HashMap::new();
    for key in CRASH_KEYS {
        let value = format!("sk-initial-{key}");
        ks.save(key, &value);
        written.entry(key).or_default().insert(value);
    }

    let script = ks.path("crash.keyshell");
    // Kill at a uniform moment of a whole run, however fast this machine is.
    let mut scratch = HashMap::new();
    std::fs::write(&script, crash_script(&mut rng, usize::MAX, &mut scratch)).unwrap();
    let full_run = time_full_run(&Keyshell::new(), &script);
    let full_us = full_run.as_micros() as u64;

    let (storage, rt) = (file_storage(ks.root()), runtime());
    let (mut killed, mut files_checked, mut temps_seen) = (0, 0, 0);
    // `runs` kills mid-run are wanted; a run that finished before its kill
    // moment is checked all the same but does not count.
    let mut run = 0;
    while killed < runs {
        assert!(
            run < runs * 4,
            "only {killed} of {run} runs were killed mid-run"
        );
        run += 1;
        std::fs::write(&script, crash_script(&mut rng, run, &mut written)).unwrap();
        let delay = Duration::from_micros(rng.below(full_us));
        if run_and_kill(&ks, &script, delay) {
            killed += 1;
        }

        let (on_disk, temps) = fallback_files(&dir);
        temps_seen += temps.len();
        files_checked += on_disk.len();
        for key in CRASH_KEYS {
            match rt.block_on(storage.get_key(key)) {
                Ok(None) => assert!(!on_disk.contains(key), "run {run}: {key} unreadable"),
                Ok(Some(value)) => assert!(
                    written[key].contains(value.expose()),
                    "run {run}: {key} holds a value that was never written"
                ),
                Err(err) => panic!("run {run}: {key} does not decrypt after a kill: {err}"),
            }
        }
        let bystander = rt.block_on(storage.get_key("bystander")).unwrap();
        assert_eq!(
            bystander.as_ref().map(|s| s.expose()),
            Some(BYSTANDER),
            "run {run}: the unrelated key was lost"
        );
        let listed: BTreeSet<String> = rt
            .block_on(storage.list_keys())
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(listed, on_disk, "run {run}: list differs from the files");
    }
    let (_, temps_left) = fallback_files(&dir);
    println!(
        "crash: {killed} runs SIGKILLed mid-run out of {run} (full run {full_run:?}); \
         after each: {files_checked} key files decrypted, {temps_seen} temp files seen and \
         never listed ({} left at the end)",
        temps_left.len()
    );
}

/// A first save into an empty data root is killed at a random moment: the
/// machine secret and the key file are each there whole or not at all, a key
/// file never exists without the secret that decrypts it, and the next run
/// works.
#[test]
fn a_first_save_killed_at_any_moment_leaves_a_usable_data_root() {
    let runs = (env_count("KEYSHELL_CRASH_RUNS", 50) / 3).max(10);
    let mut rng = Rng::from_env("a_first_save_killed");
    let calibration = Keyshell::new();
    let script = calibration.path("first.keyshell");
    std::fs::write(&script, "/key save first sk-first-value-0123\n").unwrap();
    let full_us = time_full_run(&calibration, &script).as_micros() as u64;
    let (mut with_secret, mut with_key) = (0, 0);
    let rt = runtime();
    for run in 0..runs {
        let ks = Keyshell::new();
        let script = ks.path("first.keyshell");
        std::fs::write(&script, "/key save first sk-first-value-0123\n").unwrap();
        // A little past the full run too, so that every stage is reached.
        run_and_kill(
            &ks,
            &script,
            Duration::from_micros(rng.below(full_us * 5 / 4)),
        );

        let secret = std::fs::read(ks.path("machine_secret")).ok();
        if let Some(secret) = &secret {
            with_secret += 1;
            assert_eq!(secret.len(), 44, "run {run}: a torn machine secret");
        }
        let (keys, _temps) = fallback_files(&ks.path("provider-keys"));
        let storage = file_storage(ks.root());
        if keys.contains("first") {
            with_key += 1;
            assert!(secret.is_some(), "run {run}: a key file without its secret");
            let value = rt.block_on(storage.get_key("first")).unwrap().unwrap();
            assert_eq!(value.expose(), "sk-first-value-0123", "run {run}");
        }
        // The next run starts from whatever was left and works.
        ks.save("second", "sk-second-value-0123");
        let value = rt.block_on(storage.get_key("second")).unwrap().unwrap();
        assert_eq!(value.expose(), "sk-second-value-0123", "run {run}");
    }
    println!(
        "first save: {runs} kills, {with_secret} left a machine secret, {with_key} a key file"
    );
}

/// What the concurrency tests start: 8 writers × 100 distinct keys and 4
/// overwriters of one shared key, all at once.
struct Crowd {
    prefix: String,
    shared_values: HashSet<String>,
}

const WRITERS: usize = 8;
const PER_WRITER: usize = 100;
const OVERWRITERS: usize = 4;
const OVERWRITES: usize = 25;

impl Crowd {
    fn shared(&self) -> String {
        format!("{}shared", self.prefix)
    }

    fn name(&self, w: usize, i: usize) -> String {
        format!("{}w{w}-k{i}", self.prefix)
    }

    fn value(&self, w: usize, i: usize) -> String {
        format!("sk-{}writer-{w}-key-{i}", self.prefix)
    }

    fn names(&self) -> Vec<String> {
        (0..WRITERS)
            .flat_map(|w| (0..PER_WRITER).map(move |i| (w, i)))
            .map(|(w, i)| self.name(w, i))
            .collect()
    }

    /// Starts every process at once and waits for all of them.
    fn run(ks: &Keyshell, prefix: &str) -> Crowd {
        let mut crowd = Crowd {
            prefix: prefix.to_string(),
            shared_values: HashSet::new(),
        };
        let mut scripts = Vec::new();
        for w in 0..WRITERS {
            let script: String = (0..PER_WRITER)
                .map(|i| format!("/key save {} {}\n", crowd.name(w, i), crowd.value(w, i)))
                .collect();
            scripts.push((format!("writer{w}.keyshell"), script));
        }
        for o in 0..OVERWRITERS {
            let script: String = (0..OVERWRITES)
                .map(|j| {
                    let value = format!("sk-{prefix}shared-{o}-{j}");
                    crowd.shared_values.insert(value.clone());
                    format!("/key save {} {value}\n", crowd.shared())
                })
                .collect();
            scripts.push((format!("overwriter{o}.keyshell"), script));
        }
        let started = Instant::now();
        let children: Vec<Child> = scripts
            .iter()
            .map(|(name, script)| {
                let path = ks.path(name);
                std::fs::write(&path, script).unwrap();
                spawn_script(ks, &path, &["--yes"])
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!(
            "{} processes, {} saves in {:?}",
            WRITERS + OVERWRITERS,
            WRITERS * PER_WRITER + OVERWRITERS * OVERWRITES,
            started.elapsed()
        );
        crowd
    }
}

/// On the fallback files: all 800 keys present and correct, the shared key
/// holds one of the written values, and the one machine secret — created by
/// whichever process got the lock first — decrypts every file.
#[test]
fn eight_writers_and_four_overwriters_at_once_on_the_fallback_files() {
    let ks = Keyshell::new();
    let crowd = Crowd::run(&ks, "");
    let (storage, rt) = (file_storage(ks.root()), runtime());

    let mut names = crowd.names();
    names.push(crowd.shared());
    let expected: BTreeSet<String> = names.iter().cloned().collect();
    let listed: BTreeSet<String> = rt
        .block_on(storage.list_keys())
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(listed, expected);
    let values = rt.block_on(storage.get_keys(&crowd.names()));
    for (index, (name, value)) in values.into_iter().enumerate() {
        let (w, i) = (index / PER_WRITER, index % PER_WRITER);
        assert_eq!(
            value.expect("decrypts").expect("present").expose(),
            crowd.value(w, i),
            "{name}"
        );
    }
    let shared = rt
        .block_on(storage.get_key(&crowd.shared()))
        .unwrap()
        .unwrap();
    assert!(crowd.shared_values.contains(shared.expose()));
    let (_, temps) = fallback_files(&ks.path("provider-keys"));
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    // One secret file, and (above) every key decrypts with it.
    let secret = std::fs::read_to_string(ks.path("machine_secret")).unwrap();
    assert_eq!(secret.len(), 44);
}

/// Clears the real-keyring items of one run, even after a failed assertion.
struct KeyringItems {
    keyring: Arc<OsKeyring>,
    service: String,
    accounts: Vec<String>,
}

impl Drop for KeyringItems {
    fn drop(&mut self) {
        let started = Instant::now();
        for account in &self.accounts {
            let _ = self.keyring.delete_password(&self.service, account);
        }
        println!(
            "cleared {} items in {:?}",
            self.accounts.len(),
            started.elapsed()
        );
    }
}

fn connect_real_keyring(test: &str) -> Arc<OsKeyring> {
    match OsKeyring::connect() {
        Some(keyring) => Arc::new(keyring),
        None => panic!("{test}: KEYSHELL_REAL_KEYRING=1 but no Secret Service could be reached"),
    }
}

/// How many items `secret-tool` finds for these attributes.
fn secret_tool_count(attributes: &[&str]) -> usize {
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all"])
        .args(attributes)
        .output()
        .expect("secret-tool runs (install libsecret-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().filter(|l| l.starts_with("[/")).count()
}

/// The same crowd on the real Secret Service: all 800 keys in the keyring
/// and correct, one item (not two) for the shared key holding a written
/// value, and nothing written to a fallback file.
#[test]
fn eight_writers_and_four_overwriters_at_once_on_the_real_keyring() {
    let test = "eight_writers_and_four_overwriters_at_once_on_the_real_keyring";
    if !real_keyring_wanted(test) {
        return;
    }
    let keyring = connect_real_keyring(test);
    let prefix = format!("t{}-", unique_tag());
    let ks = Keyshell::with_real_keyring();
    let mut items = KeyringItems {
        keyring: keyring.clone(),
        service: PROVIDER_SERVICE.to_string(),
        accounts: Vec::new(),
    };
    let crowd = Crowd {
        prefix: prefix.clone(),
        shared_values: HashSet::new(),
    };
    items.accounts = crowd.names();
    items.accounts.push(crowd.shared());
    let crowd = Crowd::run(&ks, &prefix);

    let verify_started = Instant::now();
    let found: HashMap<String, String> = keyring
        .find_credentials(PROVIDER_SERVICE)
        .expect("the Secret Service enumerates")
        .unwrap()
        .into_iter()
        .filter(|(account, _)| account.starts_with(&prefix))
        .map(|(account, secret)| (account, secret.expose().to_string()))
        .collect();
    assert_eq!(found.len(), WRITERS * PER_WRITER + 1);
    for w in 0..WRITERS {
        for i in 0..PER_WRITER {
            let value = found.get(&crowd.name(w, i)).map(String::as_str);
            assert_eq!(value, Some(crowd.value(w, i).as_str()));
        }
    }
    let shared = &found[&crowd.shared()];
    assert!(crowd.shared_values.contains(shared));
    let shared_items =
        secret_tool_count(&["service", PROVIDER_SERVICE, "username", &crowd.shared()]);
    assert_eq!(shared_items, 1, "one item for the shared key");
    assert!(
        !ks.path("provider-keys").exists() && !ks.path("machine_secret").exists(),
        "nothing went to a fallback file"
    );
    assert!(secret_tool_count(&["service", "llxprt-code-machine-secret"]) <= 1);
    println!("{test}: verified in {:?}", verify_started.elapsed());
}

/// Passes everything through to the real keyring except writes of this
/// service's keys (not the probe), which it refuses as UNAVAILABLE: so values
/// go to fallback files and the machine secret is created in the keyring.
struct RefuseKeyWrites {
    inner: Arc<OsKeyring>,
    service: String,
}

impl KeyringAdapter for RefuseKeyWrites {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn get_password(&self, service: &str, account: &str) -> Result<Option<String>, KeyringError> {
        self.inner.get_password(service, account)
    }
    fn set_password(&self, service: &str, account: &str, value: &str) -> Result<(), KeyringError> {
        if service == self.service && !account.starts_with(PROBE_PREFIX) {
            return Err(KeyringError::new(
                keyshell::store::ErrorCode::Unavailable,
                "test: this keyring takes no keys",
            ));
        }
        self.inner.set_password(service, account, value)
    }
    fn delete_password(&self, service: &str, account: &str) -> Result<bool, KeyringError> {
        self.inner.delete_password(service, account)
    }
    fn find_credentials(
        &self,
        service: &str,
    ) -> Option<Result<Vec<keyshell::store::Credential>, KeyringError>> {
        self.inner.find_credentials(service)
    }
}

/// Eight stores (each with its own cache, as eight processes would have)
/// make their first fallback write at once while the real keyring is up:
/// the machine secret entry exists exactly once and decrypts every file.
#[test]
fn the_keyring_machine_secret_is_created_once_by_racing_first_writes() {
    let test = "the_keyring_machine_secret_is_created_once_by_racing_first_writes";
    if !real_keyring_wanted(test) {
        return;
    }
    let keyring = connect_real_keyring(test);
    let existed = secret_tool_count(&["service", "llxprt-code-machine-secret"]);
    let service = format!("keyshell-test-{}", unique_tag());
    let root = tempfile::TempDir::new().unwrap();
    let store = |root: &Path| {
        let adapter = Arc::new(RefuseKeyWrites {
            inner: keyring.clone(),
            service: service.clone(),
        });
        let mut opts = SecureStoreOptions::new(root);
        opts.keyring = KeyringLoader::with_adapter(adapter);
        opts.fallback_policy = FallbackPolicy::Allow;
        SecureStore::new(&service, opts)
    };
    let rt = runtime();
    let stores: Vec<Arc<SecureStore>> = (0..8).map(|_| Arc::new(store(root.path()))).collect();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, store) in stores.iter().enumerate() {
            let store = store.clone();
            tasks.spawn(async move { store.set(&format!("k{i}"), &format!("v{i}")).await });
        }
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.unwrap().unwrap(), StoredIn::File);
        }
    });
    assert_eq!(
        secret_tool_count(&["service", "llxprt-code-machine-secret"]),
        1,
        "one machine secret entry (there were {existed} before)"
    );
    assert!(!root.path().join("machine_secret").exists(), "not a file");
    let reader = store(root.path());
    for i in 0..8 {
        let value = rt.block_on(reader.get(&format!("k{i}"))).unwrap().unwrap();
        assert_eq!(value.expose(), format!("v{i}"));
    }
    println!("{test}: machine secret entries before: {existed}, after: 1");
}
