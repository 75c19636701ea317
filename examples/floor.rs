//! Floors for `scripts/bench.sh`: the cost of the work keyshell cannot avoid,
//! computed with keyshell's own code and build profile, so the benchmark can
//! report keyshell's figures as ratios to them.
//!
//! ```text
//! floor kdf    [--count N] [--threads T]   N scrypt derivations (N=2^14, r=8, p=1) on T threads
//! floor writes --count N --dir DIR [--locks LOCKS]
//!                                          one derivation, then N sealed envelopes written atomically
//!                                          (with --locks: each under its own lock file, as keyshell does)
//! floor keyring [--count N]                N set / get / delete through the OS keyring adapter
//! ```
//!
//! Every mode prints tab-separated lines `metric  median_ms  min_ms  max_ms  n`.
//! Nothing here is secret: the passwords, salts and IVs are fixed benchmark
//! values and must never be used to protect anything.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use keyshell::store::envelope::{self, SALT_LEN, Version};
use keyshell::store::files::{self, FileLock};
use keyshell::store::{KeyringAdapter, OsKeyring};

const SERVICE: &str = "llxprt-code-provider-keys";
const KEYRING_SERVICE: &str = "keyshell-bench-floor";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = args.first() else {
        return usage();
    };
    let count = flag(&args, "--count").unwrap_or(1);
    let result = match mode.as_str() {
        "kdf" => {
            kdf(count, flag(&args, "--threads").unwrap_or(1));
            Ok(())
        }
        "writes" => match value(&args, "--dir") {
            Some(dir) => writes(
                count,
                PathBuf::from(dir),
                value(&args, "--locks").map(PathBuf::from),
            ),
            None => return usage(),
        },
        "keyring" => keyring(count),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("floor: {message}");
            ExitCode::from(1)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: floor kdf [--count N] [--threads T] | writes --count N --dir DIR [--locks DIR] | keyring [--count N]"
    );
    ExitCode::from(2)
}

fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

fn flag(args: &[String], name: &str) -> Option<usize> {
    value(args, name)
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
}

/// A v2 KDF password of the real length: hex(secret) | service | machine id.
fn password() -> String {
    let secret = [7u8; 32];
    let machine_id = envelope::machine_id("bench-host", "bench-user");
    envelope::password(Version::V2, SERVICE, &machine_id, Some(&secret))
        .expect("a v2 password with a secret")
        .to_string()
}

fn salt(index: usize) -> [u8; SALT_LEN] {
    let mut salt = [0x5a; SALT_LEN];
    salt[..8].copy_from_slice(&(index as u64).to_le_bytes());
    salt
}

/// `count` derivations spread over `threads` threads (at most one per thread
/// at a time, as keyshell's KDF slots allow): per-derivation times and the
/// wall time of the whole batch.
fn kdf(count: usize, threads: usize) {
    let password = password();
    let started = Instant::now();
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let password = &password;
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let one = Instant::now();
                            let key = envelope::derive_key(password, &salt(i));
                            std::hint::black_box(&key);
                            one.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a derivation does not panic"))
            .collect()
    });
    let wall = started.elapsed();
    report(&format!("kdf_per_op_t{threads}"), &mut times);
    report(&format!("kdf_batch_{count}_t{threads}"), &mut [wall]);
}

/// One derivation, then `count` envelopes sealed and written with keyshell's
/// atomic write (temp file, fsync, rename, fsync of the directory); with
/// `locks`, each write holds keyshell's per-key lock file, as a save does.
fn writes(count: usize, dir: PathBuf, locks: Option<PathBuf>) -> Result<(), String> {
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let started = Instant::now();
    let key = envelope::derive_key(&password(), &salt(0));
    let derived = started.elapsed();
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let one = Instant::now();
        let mut iv = [0u8; envelope::IV_LEN];
        iv[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let value = format!("sk-bench-{i:05}-abcdefghijklmnopqrstuvwxyz");
        let text = envelope::seal(Version::V2, &key, &salt(0), &iv, value.as_bytes());
        let name = format!("k{i:05}");
        let _lock = match &locks {
            Some(locks) => Some(
                FileLock::acquire(
                    locks,
                    &format!("cred-{SERVICE}@{name}"),
                    Duration::from_secs(10),
                )
                .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let path = files::fallback_path(&dir, &name);
        files::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())?;
        times.push(one.elapsed());
    }
    let total = started.elapsed();
    let kind = if locks.is_some() {
        "locked_writes"
    } else {
        "writes"
    };
    report(&format!("{kind}_kdf"), &mut [derived]);
    report(&format!("{kind}_per_op"), &mut times);
    report(&format!("{kind}_total_{count}"), &mut [total]);
    Ok(())
}

/// The OS keyring adapter keyshell uses, called directly: connection, then
/// `count` rounds of set (new item), get and delete.
fn keyring(count: usize) -> Result<(), String> {
    let started = Instant::now();
    let keyring = OsKeyring::connect().ok_or("no OS keyring to connect to")?;
    let connected = started.elapsed();
    let (mut set, mut get, mut delete) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..count {
        let account = format!("floor-{}-{i}", std::process::id());
        let value = format!("sk-bench-{i:05}-abcdefghijklmnopqrstuvwxyz");
        let one = Instant::now();
        keyring
            .set_password(KEYRING_SERVICE, &account, &value)
            .map_err(|e| e.to_string())?;
        set.push(one.elapsed());
        let one = Instant::now();
        let read = keyring
            .get_password(KEYRING_SERVICE, &account)
            .map_err(|e| e.to_string())?;
        get.push(one.elapsed());
        if read.as_deref() != Some(value.as_str()) {
            return Err(format!("{account}: read back a different value"));
        }
        let one = Instant::now();
        keyring
            .delete_password(KEYRING_SERVICE, &account)
            .map_err(|e| e.to_string())?;
        delete.push(one.elapsed());
    }
    report("keyring_connect", &mut [connected]);
    report("keyring_set", &mut set);
    report("keyring_get", &mut get);
    report("keyring_delete", &mut delete);
    Ok(())
}

/// `metric  median_ms  min_ms  max_ms  n`
fn report(metric: &str, times: &mut [Duration]) {
    if times.is_empty() {
        return;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = times.len();
    let median = if n % 2 == 1 {
        ms(times[n / 2])
    } else {
        (ms(times[n / 2 - 1]) + ms(times[n / 2])) / 2.0
    };
    println!(
        "{metric}\t{median:.4}\t{:.4}\t{:.4}\t{n}",
        ms(times[0]),
        ms(times[n - 1])
    );
}
