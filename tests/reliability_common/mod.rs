//! Helpers shared by the reliability tests (`tests/reliability_*.rs` and
//! `tests/processes.rs`): a seeded random source, snapshots of a data
//! directory, byte searches, and the real-keyring switch.
//!
//! Each test binary compiles this module on its own and uses a different part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod pty;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// xorshift64: reproducible from its seed, which every test prints.
pub struct Rng(u64);

impl Rng {
    /// `KEYSHELL_SEED` when set (to replay a failure), else a fresh seed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("KEYSHELL_SEED")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                rand::fill(&mut bytes);
                u64::from_le_bytes(bytes)
            })
            .max(1);
        println!("{test}: KEYSHELL_SEED={seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// A number from the environment, else `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One entry of a directory snapshot: its mode and, for a file, its bytes
/// (for a symbolic link, its target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Link { target: PathBuf },
}

/// Every path under `root` (relative), with its mode and contents.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap().to_path_buf();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            out.insert(relative, Entry::Link { target });
        } else if meta.is_dir() {
            out.insert(relative, Entry::Dir { mode });
            walk(root, &path, out);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.insert(relative, Entry::File { mode, bytes });
        }
    }
}

/// The differences between two snapshots, one line each (empty when equal).
pub fn diff(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => lines.push(format!("removed {}", path.display())),
            Some(other) if other != entry => lines.push(format!(
                "changed {}: {} -> {}",
                path.display(),
                describe(entry),
                describe(other)
            )),
            Some(_) => {}
        }
    }
    for (path, entry) in after {
        if !before.contains_key(path) {
            lines.push(format!("added {} ({})", path.display(), describe(entry)));
        }
    }
    lines
}

fn describe(entry: &Entry) -> String {
    match entry {
        Entry::Dir { mode } => format!("dir {mode:o}"),
        Entry::File { mode, bytes } => format!("file {mode:o}, {} bytes", bytes.len()),
        Entry::Link { target } => format!("link to {}", target.display()),
    }
}

/// Does `haystack` hold `needle` anywhere?
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether this run is meant to use a real Secret Service
/// (`scripts/ci-keyring.sh` sets `KEYSHELL_REAL_KEYRING=1`); when it is not,
/// the test says so and the caller returns.
pub fn real_keyring_wanted(test: &str) -> bool {
    let wanted = std::env::var("KEYSHELL_REAL_KEYRING").as_deref() == Ok("1");
    if !wanted {
        println!(
            "{test}: skipped: KEYSHELL_REAL_KEYRING is not 1 \
             (run under scripts/ci-keyring.sh for a real Secret Service)"
        );
    }
    wanted
}

/// Eight random lower-case hex characters, to keep real-keyring items of
/// different runs apart.
pub fn unique_tag() -> String {
    let mut bytes = [0u8; 4];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- a private Secret Service for tests that break it ------------------------

/// Tests that lock, stop or kill the Secret Service must not do it to the
/// one every other test binary of this run shares. Called first thing in such
/// a test: outside a private keyring, it runs the same test again under
/// `scripts/ci-keyring.sh` (a fresh D-Bus session and gnome-keyring of its
/// own), asserts that it passed and returns true — the caller then returns.
/// Inside that private keyring it returns false and the test goes on.
pub fn rerun_in_private_keyring(test: &str) -> bool {
    if std::env::var("KEYSHELL_PRIVATE_KEYRING").as_deref() == Ok("1") {
        return false;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ci-keyring.sh");
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = std::process::Command::new(script)
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("KEYSHELL_PRIVATE_KEYRING", "1")
        .env_remove("CI_KEYRING_DATA")
        .status()
        .expect("scripts/ci-keyring.sh runs");
    assert!(status.success(), "{test} failed in its private keyring");
    true
}

/// `dbus-send --session --print-reply` with these arguments; its stdout.
pub fn dbus_send(args: &[&str]) -> String {
    let out = std::process::Command::new("dbus-send")
        .args(["--session", "--print-reply"])
        .args(args)
        .output()
        .expect("dbus-send runs");
    assert!(
        out.status.success(),
        "dbus-send {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub const LOGIN_COLLECTION: &str = "/org/freedesktop/secrets/collection/login";

/// Locks the login collection, as `Service.Lock` does for a screen locker.
pub fn lock_login_collection() {
    dbus_send(&[
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock",
        &format!("array:objpath:{LOGIN_COLLECTION}"),
    ]);
}

pub fn login_collection_locked() -> bool {
    dbus_send(&[
        "--dest=org.freedesktop.secrets",
        LOGIN_COLLECTION,
        "org.freedesktop.DBus.Properties.Get",
        "string:org.freedesktop.Secret.Collection",
        "string:Locked",
    ])
    .contains("boolean true")
}

/// The process that owns `name` on the session bus.
pub fn bus_name_owner_pid(name: &str) -> i32 {
    let reply = dbus_send(&[
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.GetConnectionUnixProcessID",
        &format!("string:{name}"),
    ]);
    reply
        .split_whitespace()
        .skip_while(|w| *w != "uint32")
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {reply:?}"))
}

/// Unlocks the login collection again. `Service.Unlock` needs a prompt,
/// which a headless gnome-keyring cannot show; a daemon started with
/// `--replace --unlock` takes over and unlocks the collection with the
/// password (the one `scripts/ci-keyring.sh` used) — items are kept.
pub fn unlock_login_by_replacing_the_daemon() {
    use std::io::Write as _;
    let password = std::env::var("KEYRING_PW").unwrap_or_else(|_| "ci-password".into());
    let mut child = std::process::Command::new("gnome-keyring-daemon")
        .args(["--replace", "--unlock", "--components=secrets"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "gnome-keyring-daemon --replace"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while login_collection_locked() {
        assert!(
            std::time::Instant::now() < deadline,
            "still locked after the replacing daemon started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
