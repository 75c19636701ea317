//! A Secret Service that stops answering, and a session bus that goes away,
//! end to end through the binary (docs/reliability.md §6): no command hangs
//! past the keyring timeout, values go to encrypted files and say so, and the
//! keyring is used again once it answers.
//!
//! Each test runs in a private keyring of its own (it re-runs itself under
//! `scripts/ci-keyring.sh`), so stopping that keyring disturbs no other test.
//! Runs when `KEYSHELL_REAL_KEYRING=1`.

mod harness;
mod reliability_common;

use std::time::{Duration, Instant};

use harness::{Keyshell, Run};
use reliability_common::pty::Pty;
use reliability_common::{bus_name_owner_pid, real_keyring_wanted, rerun_in_private_keyring};

const TIMEOUT_MS: u64 = 1000;

/// Runs the binary with a 1 s keyring timeout; returns the run and its time.
fn timed(ks: &Keyshell, args: &[&str]) -> (Run, Duration) {
    let started = Instant::now();
    let out = ks
        .command()
        .env("KEYSHELL_KEYRING_TIMEOUT_MS", TIMEOUT_MS.to_string())
        .args(args)
        .output()
        .unwrap();
    let took = started.elapsed();
    println!(
        "{args:?} took {took:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (Run(out), took)
}

/// `kill -<signal> <pid>` (a process this test's private keyring started).
fn signal(pid: i32, signal: &str) -> bool {
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Continues a stopped process when dropped, even after a failed assertion.
struct Stopped(i32);

impl Stopped {
    fn stop(pid: i32) -> Stopped {
        assert!(signal(pid, "STOP"), "kill -STOP {pid}");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

const STOPPED: &str = "a_secret_service_that_stops_answering_costs_one_timeout_not_a_hang";

/// The Secret Service is stopped (SIGSTOP): every call to it waits forever.
/// Each command pays one keyring timeout, then goes on with the files — and
/// says so: "not found" for a key only the keyring holds comes with a warning
/// that the keyring could not be asked, and so does a list.
#[test]
fn a_secret_service_that_stops_answering_costs_one_timeout_not_a_hang() {
    if !real_keyring_wanted(STOPPED) || rerun_in_private_keyring(STOPPED) {
        return;
    }
    let ks = Keyshell::with_real_keyring();
    ks.run(["-c", "/key save before sk-before-0123456789"])
        .success()
        .stdout_has("Saved key 'before' to OS keyring");
    let one_timeout = Duration::from_millis(TIMEOUT_MS);
    // One timeout, plus start-up, a key derivation and a loaded machine.
    let bound = one_timeout + Duration::from_millis(1500);

    let stopped = Stopped::stop(bus_name_owner_pid("org.freedesktop.secrets"));
    let expectations: [(&[&str], i32, &str); 6] = [
        (
            &["-c", "/key save during sk-during-0123456789"],
            0,
            "Saved key 'during' to encrypted file (OS keyring unavailable)",
        ),
        (
            &["-c", "/key show during"],
            0,
            "during: sk****************89 (20 chars)",
        ),
        (
            &["-c", "/key show before"],
            1,
            "warning: line 1: Key 'before' could not be looked up in the OS keyring: The OS keyring did not answer within 1000 ms — Retry, check system load",
        ),
        (
            &["-c", "/key list"],
            0,
            "warning: line 1: Keys stored in the OS keyring are not listed: The OS keyring did not answer within 1000 ms",
        ),
        (
            &["-c", "/key"],
            0,
            "(the OS keyring did not answer within 1000 ms)",
        ),
        (
            &["--yes", "-c", "/key delete during"],
            0,
            "Deleted key 'during'",
        ),
    ];
    for (args, status, says) in expectations {
        let (run, took) = timed(&ks, args);
        assert!(
            took >= one_timeout,
            "{args:?} did not wait for the keyring ({took:?})"
        );
        assert!(took < bound, "{args:?} took {took:?}");
        let run = run.status(status);
        let all = format!("{}{}", run.stdout(), run.stderr());
        assert!(all.contains(says), "{args:?}: {all:?} lacks {says:?}");
    }

    drop(stopped);
    ks.run(["-c", "/key show before"])
        .success()
        .stdout_has("before: sk****************89");
    ks.run(["-c", "/key list"])
        .success()
        .stdout_is("Saved keys:\n  before  sk****************89\n");
}

const BUS_GONE: &str = "a_session_bus_that_disappears_mid_session_is_survived";

/// The D-Bus session bus itself goes away while the interactive shell runs
/// (its daemon is killed): the shell answers every later command within the
/// keyring timeout and keeps keys in encrypted files, saying so.
#[test]
fn a_session_bus_that_disappears_mid_session_is_survived() {
    if !real_keyring_wanted(BUS_GONE) || rerun_in_private_keyring(BUS_GONE) {
        return;
    }
    let root = tempfile::TempDir::new().unwrap();
    let timeout = TIMEOUT_MS.to_string();
    let mut pty = Pty::start(
        root.path(),
        true,
        &[("KEYSHELL_KEYRING_TIMEOUT_MS", timeout.as_str())],
    );
    pty.command(
        "/key save before sk-before-0123456789",
        "Saved key 'before' to OS keyring",
    );
    pty.command("/key show before", "before: sk****************89");

    let bus = bus_name_owner_pid("org.freedesktop.DBus");
    assert!(signal(bus, "KILL"), "kill -KILL {bus}");
    let bound = Duration::from_millis(3 * TIMEOUT_MS + 1500);
    for (line, reply) in [
        (
            "/key save during sk-during-0123456789",
            "Saved key 'during' to encrypted file",
        ),
        (
            "/key show during",
            "during: sk****************89 (20 chars)",
        ),
        (
            "/key show before",
            "warning: Key 'before' could not be looked up in the OS keyring: ",
        ),
        (
            "/key list",
            "warning: Keys stored in the OS keyring are not listed: ",
        ),
        ("/key", "Key storage:"),
    ] {
        let started = Instant::now();
        pty.command(line, reply);
        let took = started.elapsed();
        println!("{line}: {took:?}");
        assert!(took < bound, "{line} took {took:?}");
    }
    pty.quit();
    let screen = String::from_utf8_lossy(&pty.seen).into_owned();
    let tail: String = screen
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    println!("{tail}");
    assert!(!screen.contains("panicked"));
}
