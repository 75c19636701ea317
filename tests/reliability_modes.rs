//! Permissions through the binary (docs/reliability.md §5): whatever the
//! umask, everything keyshell creates under the data root is 0700 (folders)
//! or 0600 (files) — the history file of an interactive session included —
//! and secret files and folders found readable or writable by others are
//! reported with their path and the `chmod` that was run, and tightened.
//! (tests/modes.rs checks the storage layer the same way.)

mod harness;
mod reliability_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use harness::{Keyshell, Run};
use reliability_common::pty::Pty;
use reliability_common::{Entry, snapshot};

const MANIFEST: &str = "name = \"Web\"\n\n[[settings]]\nname = \"Key\"\nenv-var = \"WEB_KEY\"\nsensitive = true\n\n[[settings]]\nname = \"Region\"\nenv-var = \"WEB_REGION\"\n";

/// Runs the binary under `umask 000`.
fn run_under_umask_000(ks: &Keyshell, args: &[&str]) -> Run {
    // The harness's command, with its environment, behind `sh -c 'umask 000'`.
    let cmd = ks.command();
    let program = cmd.get_program().to_owned();
    let mut sh = Command::new("sh");
    sh.args(["-c", "umask 000 && exec \"$0\" \"$@\""])
        .arg(program)
        .args(args)
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    for (key, value) in cmd.get_envs() {
        if value.is_none() {
            sh.env_remove(key);
        }
    }
    Run(sh.output().unwrap())
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn everything_created_under_umask_000_is_private() {
    let ks = Keyshell::new();
    let outside = tempfile::TempDir::new().unwrap();
    let keyfile = outside.path().join("exa.key");
    std::fs::write(&keyfile, "sk-exa-keyfile-0123456789\n").unwrap();
    // The extension's manifest is the user's, not keyshell's.
    let extension = ks.path("extensions/web");
    std::fs::create_dir_all(&extension).unwrap();
    std::fs::write(extension.join("extension.toml"), MANIFEST).unwrap();
    let users = snapshot(ks.root());

    run_under_umask_000(
        &ks,
        &[
            "--yes",
            "-c",
            "/key save work sk-work-0123456789",
            "-c",
            "/toolkey exa sk-exa-0123456789",
            "-c",
            &format!("/toolkeyfile exa {}", keyfile.display()),
            "-c",
            "/extensions set web WEB_KEY sk-web-0123456789",
            "-c",
            "/extensions set web WEB_REGION eu",
            "-c",
            "/key load work",
            "-c",
            "/profile save p",
            "-c",
            "/profile set-default p",
        ],
    )
    .success();
    // The interactive shell writes the history file.
    let mut pty = Pty::start(ks.root(), false, &[("KS_UMASK", "000")]);
    pty.command("/key list", "Saved keys:");
    pty.quit();

    let mut checked = 0;
    for (path, entry) in snapshot(ks.root()) {
        if users.contains_key(&path) && path != Path::new("extensions") {
            continue;
        }
        let (mode, wanted) = match entry {
            Entry::Dir { mode } => (mode, 0o700),
            Entry::File { mode, .. } => (mode, 0o600),
            Entry::Link { .. } => panic!("keyshell made a link: {}", path.display()),
        };
        if path.starts_with("extensions") && path.components().count() <= 2 {
            continue; // folders the user made for the manifest
        }
        assert_eq!(mode, wanted, "{} is {mode:o}", path.display());
        checked += 1;
    }
    for made in [
        "keyshell_history",
        "machine_secret",
        "provider-keys/work.enc",
        "tools/exa.enc",
        "tools/keyfiles.json",
        "extensions/web/.env",
        "profiles/p.toml",
        "settings.toml",
        "locks",
    ] {
        assert!(ks.path(made).exists(), "{made} was not made");
    }
    println!("umask 000: {checked} paths made by keyshell, all 0700/0600");
}

#[test]
fn loose_secret_files_and_folders_are_reported_with_the_chmod_and_tightened() {
    let ks = Keyshell::new();
    let extension = ks.path("extensions/web");
    std::fs::create_dir_all(&extension).unwrap();
    std::fs::write(extension.join("extension.toml"), MANIFEST).unwrap();
    ks.run([
        "--yes",
        "-c",
        "/key save work sk-work-0123456789",
        "-c",
        "/toolkey exa sk-exa-0123456789",
        "-c",
        "/extensions set web WEB_KEY sk-web-0123456789",
    ])
    .success();
    let service_dir = "secure-store/LLxprt Code Extension web";
    let loosened = [
        ("", 0o755, 0o700),
        ("provider-keys", 0o750, 0o700),
        ("provider-keys/work.enc", 0o644, 0o600),
        ("machine_secret", 0o640, 0o600),
        ("tools", 0o777, 0o700),
        ("tools/exa.enc", 0o604, 0o600),
        ("secure-store", 0o711, 0o700),
        (service_dir, 0o770, 0o700),
        (
            "secure-store/LLxprt Code Extension web/WEB_KEY.enc",
            0o660,
            0o600,
        ),
    ];
    for (path, loose, _) in loosened {
        chmod(&ks.path(path), loose);
    }

    let run = ks
        .run([
            "-c",
            "/key show work",
            "-c",
            "/toolkey exa",
            "-c",
            "/extensions settings web",
        ])
        .success();

    let stderr = run.stderr();
    for (path, loose, tight) in loosened {
        let path = ks.path(path);
        let shown = path.display().to_string();
        let shown = shown.trim_end_matches('/');
        assert_eq!(mode(&path), tight, "{shown} was not tightened");
        let expected = format!(
            "{shown} was readable or writable by other users (mode {loose:o}); keyshell ran `chmod {tight:o} {shown}`"
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning: line ") && l.ends_with(&expected)),
            "no warning {expected:?} in:\n{stderr}"
        );
    }
    // Reported once: the next run has nothing to say.
    ks.run(["-c", "/key show work", "-c", "/toolkey exa"])
        .success()
        .stderr_is("");
}
