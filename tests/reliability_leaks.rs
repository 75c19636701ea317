//! Secrets never leak (docs/reliability.md §4): whole sessions — scripted
//! and interactive through a pseudo-terminal — save, load, show, list and use
//! keys of every kind, then every byte that left the process is searched for
//! every secret: stdout, stderr, the terminal transcript, the history file,
//! profiles, settings.toml, `.env` files and every other file under the data
//! root (the encrypted files too: no plaintext in them). Zero hits allowed.
//!
//! A hit is the whole secret or any 8 characters of the part a mask hides
//! (a mask shows the first two and the last two characters).

mod harness;
mod reliability_common;

use std::path::Path;

use harness::{Keyshell, Run};
use keyshell::keys::tokens::{OAuthCredentials, OAuthToken, TokenStorage};
use keyshell::paths::Layout;
use keyshell::store::KeyringLoader;
use reliability_common::pty::Pty;
use reliability_common::{contains, snapshot};
use tempfile::TempDir;

const MANIFEST: &str = include_str!("fixtures/web-search.extension.toml");

/// A fresh random secret: `sk-` and 24 letters and digits.
fn new_secret() -> String {
    use rand::RngExt as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("sk-{tail}")
}

/// Where a secret was found in `bytes`, if anywhere: the whole secret, or
/// 8 characters of the part a mask hides.
fn leak_in(bytes: &[u8], secret: &str) -> Option<String> {
    if contains(bytes, secret.as_bytes()) {
        return Some(secret.to_string());
    }
    let hidden = &secret.as_bytes()[2..secret.len() - 2];
    hidden
        .windows(8)
        .find(|w| contains(bytes, w))
        .map(|w| String::from_utf8_lossy(w).into_owned())
}

/// Everything that left the process, by where it went.
#[derive(Default)]
struct Sinks(Vec<(String, Vec<u8>)>);

impl Sinks {
    fn add(&mut self, what: impl Into<String>, bytes: &[u8]) {
        self.0.push((what.into(), bytes.to_vec()));
    }

    fn add_run(&mut self, what: &str, run: &Run) {
        self.add(format!("{what}: stdout"), &run.0.stdout);
        self.add(format!("{what}: stderr"), &run.0.stderr);
        assert!(
            !run.stderr().contains("panicked"),
            "{what} panicked:\n{}",
            run.stderr()
        );
    }

    /// Every file under the data root.
    fn add_files(&mut self, root: &Path) {
        for (path, entry) in snapshot(root) {
            if let reliability_common::Entry::File { bytes, .. } = entry {
                self.add(format!("file {}", path.display()), &bytes);
            }
        }
    }

    /// Asserts that no secret is anywhere; returns how many sinks were searched.
    fn assert_clean(&self, secrets: &[String]) -> usize {
        let mut hits = Vec::new();
        for (what, bytes) in &self.0 {
            for secret in secrets {
                if let Some(found) = leak_in(bytes, secret) {
                    hits.push(format!(
                        "{what} holds {found:?} of {secret}:\n{}",
                        String::from_utf8_lossy(bytes)
                    ));
                }
            }
        }
        assert!(hits.is_empty(), "{}", hits.join("\n\n"));
        self.0.len()
    }
}

fn install_extension(root: &Path) {
    let dir = root.join("extensions/web-search");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("extension.toml"), MANIFEST).unwrap();
}

/// An MCP token put in place by the library (no command writes tokens).
fn install_mcp_token(root: &Path, access: &str, refresh: &str) {
    let storage = TokenStorage::new(&Layout::new(root), KeyringLoader::none());
    let mut token = OAuthToken::new(access, "Bearer");
    token.refresh_token = Some(keyshell::store::Secret::new(refresh));
    let credentials = OAuthCredentials::new("docs-server", token);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(storage.set_credentials(&credentials))
        .unwrap();
}

#[test]
fn a_scripted_session_leaks_no_secret_anywhere() {
    let ks = Keyshell::new();
    let outside = TempDir::new().unwrap();
    let secrets: Vec<String> = (0..16).map(|_| new_secret()).collect();
    let s = |i: usize| secrets[i].as_str();
    install_extension(ks.root());
    install_mcp_token(ks.root(), s(12), s(13));
    let keyfile = outside.path().join("openai.key");
    std::fs::write(&keyfile, format!("{}\n", s(8))).unwrap();
    let tool_keyfile = outside.path().join("exa.key");
    std::fs::write(&tool_keyfile, format!("{}\n", s(9))).unwrap();

    let script = [
        format!("/key save work {}", s(0)),
        format!("/key save other {}", s(1)),
        "/key show work".into(),
        "/key list".into(),
        "/key load work".into(),
        "/key".into(),
        "/status".into(),
        "/profile save named".into(),
        format!("/key save work {}", s(2)),
        "/key show work".into(),
        format!("/key {}", s(3)),
        "/status".into(),
        "/profile save raw".into(),
        format!("/set auth-key {}", s(4)),
        "/set".into(),
        "/status".into(),
        "/profile save with-auth-key".into(),
        "/profile show with-auth-key".into(),
        format!("/toolkey exa {}", s(5)),
        "/toolkey exa".into(),
        format!("/extensions set web-search SEARCH_API_KEY {}", s(6)),
        "/extensions set web-search SEARCH_REGION eu-west".into(),
        "/extensions settings web-search".into(),
        format!("/keyfile {}", keyfile.display()),
        "/status".into(),
        "/profile save with-keyfile".into(),
        format!("/toolkeyfile exa {}", tool_keyfile.display()),
        "/toolkey exa".into(),
        "/mcp tokens".into(),
        "/profile set-default named".into(),
        "/profile list".into(),
        // Failing lines must not echo what they were given.
        format!("/key save bad/name {}", s(7)),
        format!("/key save overlong {}{}", s(7), "x".repeat(5000)),
        format!("/key save quoted \"{} unterminated", s(7)),
        format!("/kee save typo {}", s(7)),
        format!("/extensions set web-search NOT_DECLARED {}", s(7)),
        format!("/extensions set no-such-ext SEARCH_API_KEY {}", s(7)),
        format!("/toolkey nosuchtool {}", s(7)),
        format!("/set no-such-setting {}", s(7)),
        format!("{} without a slash", s(7)),
        "/key show missing".into(),
        "/set auth-key-name missing".into(),
        "/key list".into(),
        "/help key".into(),
    ]
    .join("\n");
    let script_path = outside.path().join("session.keyshell");
    std::fs::write(&script_path, script).unwrap();

    let mut sinks = Sinks::default();
    let run = ks
        .command()
        .env("RUST_BACKTRACE", "1")
        .args(["--yes", "--keep-going"])
        .arg(&script_path)
        .output()
        .unwrap();
    let run = Run(run);
    // Exactly the lines meant to fail did (32 to 42), each with an error.
    let failed: Vec<usize> = run
        .stderr()
        .lines()
        .filter_map(|l| l.strip_prefix("error: line "))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect();
    assert_eq!(failed, (32..=42).collect::<Vec<_>>(), "{}", run.stderr());
    sinks.add_run("script", &run);

    // The flags and the environment, and a start-up that loads the profile.
    let runs = [
        ks.run(["--key", s(10), "-c", "/status", "-c", "/key"]),
        ks.run(["--set", &format!("auth-key={}", s(11)), "-c", "/status"]),
        ks.run([
            "--key-name",
            "other",
            "-c",
            "/status",
            "-c",
            "/profile save flagged",
        ]),
        ks.run(["-c", "/status"]),
        ks.run(["--keyfile", &keyfile.display().to_string(), "-c", "/status"]),
        Run(ks
            .command()
            .env("OPENAI_API_KEY", s(14))
            .args(["--provider", "openai", "-c", "/status", "-c", "/key"])
            .output()
            .unwrap()),
        ks.run_with_input(
            ["--yes"],
            format!("/key save piped {}\n/key show piped\n/status\n", s(15)).as_bytes(),
        ),
    ];
    for (i, run) in runs.iter().enumerate() {
        sinks.add_run(&format!("run {i}"), run);
    }
    sinks.add_files(ks.root());
    let searched = sinks.assert_clean(&secrets);
    // The search itself finds what is there: the key file holds its secret.
    assert!(leak_in(&std::fs::read(&keyfile).unwrap(), s(8)).is_some());
    let mut masked_copy = s(8).to_string();
    masked_copy.replace_range(2..25, "*");
    assert!(leak_in(masked_copy.as_bytes(), s(8)).is_none());

    // The session did use the secrets: they are stored and readable.
    let storage =
        keyshell::keys::ProviderKeyStorage::new(&Layout::new(ks.root()), KeyringLoader::none());
    let value = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(storage.get_key("work"))
        .unwrap()
        .unwrap();
    assert_eq!(value.expose(), s(2));
    assert!(ks.path("profiles/with-keyfile.toml").is_file());
    assert!(ks.path("extensions/web-search/.env").is_file());
    println!("searched {searched} sinks for {} secrets", secrets.len());
}

// ---- the interactive session ------------------------------------------------

#[test]
fn an_interactive_session_leaks_no_secret_to_the_terminal_history_or_files() {
    let root = TempDir::new().unwrap();
    let secrets: Vec<String> = (0..8).map(|_| new_secret()).collect();
    let s = |i: usize| secrets[i].as_str();
    install_extension(root.path());

    let mut pty = Pty::start(root.path(), false, &[]);
    pty.command(&format!("/key save typed {}", s(0)), "Saved key 'typed'");
    // The hidden prompt: the value is typed with echo off.
    pty.send("/key save hidden\r");
    pty.expect("(input hidden): ");
    pty.wait_for_echo(false);
    pty.send(&format!("{}\n", s(1)));
    pty.expect("Saved key 'hidden'");
    pty.prompt();
    pty.command("/key load typed", "Loaded key 'typed'");
    pty.command("/key show hidden", "(27 chars)");
    pty.command("/key list", "Saved keys:");
    pty.command("/key", "Active key:");
    pty.command(
        &format!("/toolkey exa {}", s(2)),
        "API key set for 'Exa Search'",
    );
    pty.command("/toolkey exa", "Exa Search API key:");
    pty.command(&format!("/set auth-key {}", s(3)), "Setting 'auth-key' set");
    pty.command("/status", "Data directory:");
    pty.command(
        &format!("/extensions set web-search SEARCH_API_KEY {}", s(4)),
        "Set SEARCH_API_KEY",
    );
    pty.command("/extensions settings web-search", "SEARCH_API_KEY = ");
    pty.command("/profile save interactive", "Profile 'interactive' saved");
    pty.command("/profile show interactive", "provider");
    pty.command(&format!("/key {}", s(5)), "API key updated");
    pty.command("/status", "Data directory:");
    // Overwrite through the hidden prompt and the confirmation.
    pty.send("/key save typed\r");
    pty.expect("(input hidden): ");
    pty.wait_for_echo(false);
    pty.send(&format!("{}\n", s(6)));
    pty.expect("Overwrite? [y/N]");
    pty.send("y\n");
    pty.expect("Saved key 'typed'");
    pty.prompt();
    // Recall the lines that held secrets, then discard them.
    for _ in 0..6 {
        pty.send("\x1b[A");
    }
    pty.send("\x15");
    pty.command(&format!("/key save bad/name {}", s(7)), "is invalid");
    pty.quit();

    let history = std::fs::read(root.path().join("keyshell_history")).unwrap();
    assert!(contains(&history, b"/toolkey exa "), "history is written");
    let mut sinks = Sinks::default();
    sinks.add("terminal", &pty.seen);
    sinks.add_files(root.path());
    let searched = sinks.assert_clean(&secrets);
    println!(
        "interactive: {} terminal bytes and {} sinks searched",
        pty.seen.len(),
        searched
    );
}

#[test]
fn the_key_flag_warns_that_ps_can_see_it_and_points_to_key_name() {
    let ks = Keyshell::new();
    let help = ks.run(["--help"]).success().stdout();
    let key_help = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--key <"))
        .take_while(|l| !l.trim_start().starts_with("--key-name"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(key_help.contains("(`ps`)"), "--key help: {key_help:?}");
    assert!(
        key_help.contains("prefer --key-name"),
        "--key help: {key_help:?}"
    );
    assert!(help.contains("Load a named API key from the keyring (same as /key load <name>)"));
}
