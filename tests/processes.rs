//! Crash safety and concurrency across real processes: the binary is killed
//! mid-write, or run several times at once, and every key must still decrypt
//! to a value that was written.

mod harness;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use harness::Keyshell;
use keyshell::keys::ProviderKeyStorage;
use keyshell::paths::Layout;
use keyshell::store::KeyringLoader;

fn read_back(ks: &Keyshell) -> (ProviderKeyStorage, tokio::runtime::Runtime) {
    let storage = ProviderKeyStorage::new(&Layout::new(ks.root()), KeyringLoader::none());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    (storage, runtime)
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp."))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs of `--yes` saving one key over and over are SIGKILLed at random
/// moments; the key always decrypts to one of the values written.
#[test]
fn a_killed_writer_never_leaves_a_torn_key() {
    let ks = Keyshell::new();
    let runs: usize = std::env::var("KEYSHELL_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut written = HashSet::new();
    let mut rng_state: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    ks.save("shared", "sk-crash-initial-value");
    ks.save("bystander", "sk-bystander-value-1");
    written.insert("sk-crash-initial-value".to_string());
    // Kill at a uniform moment of a whole run, however fast this machine is:
    // time one uninterrupted run first.
    let calibration: String = (0..50)
        .map(|i| format!("/key save calibrate sk-cal-{i}\n"))
        .collect();
    let calibration_path = ks.path("calibrate.keyshell");
    std::fs::write(&calibration_path, calibration).unwrap();
    let started = std::time::Instant::now();
    ks.command()
        .arg("--yes")
        .arg(&calibration_path)
        .output()
        .unwrap();
    let full_run_us = (started.elapsed().as_micros() as u64).max(1_000);
    for run in 0..runs {
        let script: String = (0..50)
            .map(|line| {
                let value = format!("sk-crash-{run}-{line}");
                written.insert(value.clone());
                format!("/key save shared {value}\n")
            })
            .collect();
        let script_path = ks.path("crash.keyshell");
        std::fs::write(&script_path, script).unwrap();
        let mut child = ks
            .command()
            .arg("--yes")
            .arg(&script_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(next() % full_run_us));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (storage, runtime) = read_back(&ks);
    let value = runtime
        .block_on(storage.get_key("shared"))
        .expect("the key decrypts after every crash")
        .expect("the key is still there");
    assert!(
        written.contains(value.expose()),
        "a value that was never written"
    );
    assert_ne!(
        value.expose(),
        "sk-crash-initial-value",
        "no run got to write before it was killed"
    );
    let bystander = runtime
        .block_on(storage.get_key("bystander"))
        .unwrap()
        .unwrap();
    assert_eq!(
        bystander.expose(),
        "sk-bystander-value-1",
        "an unrelated key was lost"
    );
    let names = runtime.block_on(storage.list_keys()).unwrap();
    assert_eq!(
        names,
        ["bystander", "calibrate", "shared"],
        "a temp file is listed as a key"
    );
    // The next write cleans up: any temp file left by a kill is stale after 60 s,
    // and in any case none is ever read.
    for temp in temp_files(&ks.path("provider-keys")) {
        assert!(
            temp.starts_with("shared.enc.tmp."),
            "unexpected file {temp}"
        );
    }
}

/// Four processes saving distinct keys at once: every key present and
/// correct, and one machine secret shared by all.
#[test]
fn concurrent_writers_all_land() {
    let ks = Keyshell::new();
    let writers = 4;
    let per_writer = 25;
    let children: Vec<_> = (0..writers)
        .map(|w| {
            let script: String = (0..per_writer)
                .map(|i| format!("/key save w{w}-k{i} sk-writer-{w}-key-{i}\n"))
                .collect();
            let path = ks.path(&format!("writer{w}.keyshell"));
            std::fs::write(&path, script).unwrap();
            ks.command()
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
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
    let (storage, runtime) = read_back(&ks);
    let names = runtime.block_on(storage.list_keys()).unwrap();
    assert_eq!(names.len(), writers * per_writer);
    let values = runtime.block_on(storage.get_keys(&names));
    for (name, value) in values {
        let (w, i) = name
            .trim_start_matches('w')
            .split_once("-k")
            .expect("name shape");
        assert_eq!(
            value.expect("readable").expect("present").expose(),
            format!("sk-writer-{w}-key-{i}")
        );
    }
    assert!(temp_files(&ks.path("provider-keys")).is_empty());
}
