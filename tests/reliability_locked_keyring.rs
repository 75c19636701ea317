//! A locked Secret Service collection, end to end through the binary
//! (docs/reliability.md §6): the login collection of a real gnome-keyring is
//! locked over D-Bus, exactly as a screen locker does, and every key command
//! must name the lock, exit 1, write no fallback file and not hang; after the
//! collection is unlocked everything works again and nothing was lost.
//!
//! The only test of this binary, and it runs in a private keyring of its own
//! (it re-runs itself under `scripts/ci-keyring.sh`), so locking it never
//! disturbs the keyring other test binaries share. Runs when
//! `KEYSHELL_REAL_KEYRING=1`.

mod harness;
mod reliability_common;

use std::time::{Duration, Instant};

use harness::Keyshell;
use reliability_common::{
    lock_login_collection, login_collection_locked, real_keyring_wanted, rerun_in_private_keyring,
    snapshot, unlock_login_by_replacing_the_daemon,
};

const TEST: &str = "a_locked_collection_is_reported_end_to_end_and_nothing_is_written";
/// What the binary says for a locked collection: the error, then the remedy.
const LOCKED: &str = "The OS keyring is locked and was not unlocked";
const REMEDY: &str = "Unlock your keyring";

#[test]
fn a_locked_collection_is_reported_end_to_end_and_nothing_is_written() {
    if !real_keyring_wanted(TEST) || rerun_in_private_keyring(TEST) {
        return;
    }
    let ks = Keyshell::with_real_keyring();
    let run = |args: &[&str]| {
        let started = Instant::now();
        let run = ks.run(args);
        let took = started.elapsed();
        // The keyring timeout is 5 s; a locked collection is no reason to wait for it.
        assert!(took < Duration::from_secs(4), "{args:?} took {took:?}");
        run
    };
    run(&["-c", "/key save before sk-before-0123456789"])
        .success()
        .stdout_has("Saved key 'before' to OS keyring");

    lock_login_collection();
    assert!(login_collection_locked());
    let before = snapshot(ks.root());

    for (args, what) in [
        (vec!["-c", "/key save k sk-locked-0123456789"], "save"),
        (vec!["-c", "/key show before"], "show"),
        (vec!["-c", "/key load before"], "load"),
        (vec!["-c", "/key list"], "list"),
        (vec!["--yes", "-c", "/key delete before"], "delete"),
        (vec!["--key-name", "before", "-c", "/status"], "--key-name"),
    ] {
        let out = run(&args).status(1);
        let stderr = out.stderr();
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{what}: no error line in {stderr:?}"));
        assert!(
            error.contains(LOCKED) && error.contains(REMEDY),
            "{what}: {error:?} does not name the lock"
        );
        println!("{what}: {error}");
    }
    assert_eq!(
        reliability_common::diff(&before, &snapshot(ks.root())),
        Vec::<String>::new(),
        "a locked keyring must not make keyshell write a file"
    );
    assert!(!ks.path("provider-keys").exists());
    assert!(!ks.path("machine_secret").exists());
    // The state line says where keys would go: nowhere while it is locked.
    let status = run(&["-c", "/key"]).success().stdout();
    assert!(status.contains("locked"), "/key: {status}");

    unlock_login_by_replacing_the_daemon();
    run(&["-c", "/key show before"])
        .success()
        .stdout_has("before: sk****************89 (20 chars)");
    run(&["-c", "/key save k sk-unlocked-0123456789"])
        .success()
        .stdout_has("Saved key 'k' to OS keyring");
    assert!(!ks.path("provider-keys").exists());
}
