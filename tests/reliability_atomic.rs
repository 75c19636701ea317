//! Nothing half-applied (docs/reliability.md §8): every failing command of
//! SPEC §6 leaves storage and the runtime exactly as they were. Storage is a
//! snapshot of the data directory (every path, its mode and its bytes); the
//! runtime is the `Shell.runtime` value (through the library) or the
//! `/status` output before and after in the same session (through the binary).

mod harness;
mod reliability_common;

use std::path::Path;
use std::sync::Arc;

use harness::Keyshell;
use keyshell::app::Shell;
use keyshell::command::parse_line;
use keyshell::keys::ProviderKeyStorage;
use keyshell::output::Output;
use keyshell::paths::Layout;
use keyshell::prompt::ScriptPrompter;
use keyshell::store::{
    ErrorCode, FallbackPolicy, KeyringLoader, MemoryKeyring, SecureStore, SecureStoreOptions,
};
use reliability_common::{diff, snapshot};
use tempfile::TempDir;

const MANIFEST: &str = "name = \"Web\"\n\n[[settings]]\nname = \"Key\"\nenv-var = \"WEB_KEY\"\nsensitive = true\n\n[[settings]]\nname = \"Region\"\nenv-var = \"WEB_REGION\"\n";

/// A data root with a saved key, profiles (good, dangling, broken), an
/// extension with a value of each kind, a tool key and key files.
struct World {
    root: TempDir,
    outside: TempDir,
}

impl World {
    fn new() -> World {
        let world = World {
            root: TempDir::new().unwrap(),
            outside: TempDir::new().unwrap(),
        };
        let extension = world.root.path().join("extensions/web");
        std::fs::create_dir_all(&extension).unwrap();
        std::fs::write(extension.join("extension.toml"), MANIFEST).unwrap();
        std::fs::write(world.empty_file(), "").unwrap();
        std::fs::write(world.key_file(), "sk-keyfile-0123456789\n").unwrap();
        let profiles = world.root.path().join("profiles");
        std::fs::create_dir_all(&profiles).unwrap();
        std::fs::write(
            profiles.join("dangling.toml"),
            "version = 1\nprovider = \"openai\"\n\n[ephemeral-settings]\nauth-key-name = \"missing\"\n",
        )
        .unwrap();
        std::fs::write(profiles.join("broken.toml"), "version = 1\nprovider = [\n").unwrap();
        std::fs::write(
            profiles.join("future.toml"),
            "version = 9\nprovider = \"openai\"\n",
        )
        .unwrap();
        let mut shell = world.shell();
        for line in [
            "/key save existing sk-existing-0123456789",
            "/provider anthropic",
            "/key load existing",
            "/model claude-sonnet-4-5",
            "/set max-tokens 4096",
            "/profile save good",
            "/toolkey exa sk-exa-0123456789",
            &format!("/toolkeyfile exa {}", world.key_file().display()),
            "/extensions set web WEB_KEY sk-web-0123456789",
            "/extensions set web WEB_REGION eu",
            "/profile set-default good",
        ] {
            let out = run(&mut shell, line, false);
            assert!(!out.failed(), "{line}: {}", out.render_plain());
        }
        world
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn empty_file(&self) -> std::path::PathBuf {
        self.outside.path().join("empty.key")
    }

    fn key_file(&self) -> std::path::PathBuf {
        self.outside.path().join("good.key")
    }

    /// A shell as the binary builds it (no keyring: fallback files).
    fn shell(&self) -> Shell {
        Shell::new(Layout::new(self.root()), KeyringLoader::none())
    }

    /// A shell whose key storage has policy Deny and no keyring.
    fn deny_shell(&self) -> Shell {
        let layout = Layout::new(self.root());
        let mut opts = SecureStoreOptions::new(self.root());
        opts.fallback_dir = Some(layout.provider_keys());
        opts.fallback_policy = FallbackPolicy::Deny;
        opts.keyring = KeyringLoader::none();
        let keys = ProviderKeyStorage::with_store(SecureStore::new(
            keyshell::keys::PROVIDER_SERVICE,
            opts,
        ));
        Shell::with_keys(layout, keys, KeyringLoader::none())
    }

    /// A shell over a keyring that is there but locked.
    fn locked_shell(&self) -> Shell {
        let keyring = Arc::new(MemoryKeyring::new());
        keyring.fail_next_with(u32::MAX, ErrorCode::Locked, "Collection is locked");
        Shell::new(
            Layout::new(self.root()),
            KeyringLoader::with_adapter(keyring),
        )
    }
}

fn run(shell: &mut Shell, line: &str, yes: bool) -> Output {
    let mut out = Output::new();
    let command = match parse_line(line) {
        Ok(Some(command)) => command,
        other => panic!("{line}: does not parse: {other:?}"),
    };
    let mut prompter = ScriptPrompter { assume_yes: yes };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(shell.execute(command, &mut prompter, &mut out));
    out
}

/// Runs `line` (which must fail) and asserts that the data directory and
/// the runtime are exactly as before; returns the error text.
fn assert_nothing_changes(world: &World, shell: &mut Shell, line: &str, yes: bool) -> String {
    let (files, runtime) = (snapshot(world.root()), shell.runtime.clone());
    let out = run(shell, line, yes);
    assert!(out.failed(), "{line} did not fail: {}", out.render_plain());
    assert_eq!(
        diff(&files, &snapshot(world.root())),
        Vec::<String>::new(),
        "{line} changed the data directory"
    );
    assert!(shell.runtime == runtime, "{line} changed the runtime");
    out.render_plain()
}

#[test]
fn every_failing_command_leaves_storage_and_runtime_as_they_were() {
    let world = World::new();
    let empty = world.empty_file().display().to_string();
    let long = format!("sk-{}", "a".repeat(5000));
    let mut shell = world.shell();
    // A session with a loaded profile, so there is a runtime to lose.
    let out = run(&mut shell, "/profile load good", false);
    assert!(!out.failed(), "{}", out.render_plain());
    let failing: Vec<(String, bool, &str)> = vec![
        (
            "/key save existing sk-other-0123456789".into(),
            false,
            "Overwriting requires interactive confirmation",
        ),
        (
            "/key delete existing".into(),
            false,
            "Deleting keys requires interactive confirmation",
        ),
        ("/key load missing".into(), true, "Key 'missing' not found"),
        ("/key show missing".into(), true, "Key 'missing' not found"),
        (
            "/key delete missing".into(),
            true,
            "Key 'missing' not found",
        ),
        (
            "/key save bad/name sk-0123456789".into(),
            true,
            "is invalid",
        ),
        (format!("/key save long {long}"), true, "is too long"),
        (
            "/key save ..  sk-0123456789".into(),
            true,
            "is invalid. Use only letters",
        ),
        (
            "/profile load dangling".into(),
            true,
            "Named key 'missing' not found",
        ),
        (
            "/profile load nosuch".into(),
            true,
            "Profile 'nosuch' not found",
        ),
        (
            "/profile load broken".into(),
            true,
            "Profile 'broken' is corrupted",
        ),
        (
            "/profile load future".into(),
            true,
            "unsupported profile version",
        ),
        ("/profile save bad/name".into(), true, "is invalid"),
        (
            "/profile delete nosuch".into(),
            true,
            "Profile 'nosuch' not found",
        ),
        (
            "/profile set-default nosuch".into(),
            true,
            "Profile 'nosuch' not found",
        ),
        (
            "/set auth-key-name missing".into(),
            true,
            "Named key 'missing' not found",
        ),
        ("/set no-such-setting 1".into(), true, "no-such-setting"),
        ("/set unset no-such-setting".into(), true, "no-such-setting"),
        (
            "/keyfile /nonexistent/keyshell.key".into(),
            true,
            "File not found: /nonexistent/keyshell.key",
        ),
        (format!("/keyfile {empty}"), true, "Keyfile is empty"),
        (
            "/toolkeyfile exa /nonexistent/exa.key".into(),
            true,
            "File not found: /nonexistent/exa.key",
        ),
        (
            format!("/toolkeyfile exa {empty}"),
            true,
            "Keyfile is empty",
        ),
        (
            "/toolkey nosuch sk-0123456789".into(),
            true,
            "Unknown tool 'nosuch'",
        ),
        (
            "/extensions set web NOT_DECLARED value".into(),
            true,
            "has no setting NOT_DECLARED",
        ),
        (
            "/extensions set nosuch WEB_KEY value".into(),
            true,
            "Extension 'nosuch' not found",
        ),
        (
            "/extensions unset web NOT_DECLARED".into(),
            true,
            "has no setting NOT_DECLARED",
        ),
        ("/mcp logout nosuch".into(), true, "nosuch"),
        ("/provider nosuch".into(), true, "Unknown provider 'nosuch'"),
    ];
    for (line, yes, says) in &failing {
        let text = assert_nothing_changes(&world, &mut shell, line, *yes);
        assert!(text.contains(says), "{line}: {text:?} lacks {says:?}");
    }

    // A store that may not fall back to files, with no keyring.
    let mut deny = world.deny_shell();
    let text = assert_nothing_changes(&world, &mut deny, "/key save new sk-new-0123456789", true);
    assert!(
        text.contains("Cannot access keyring. Keys cannot be saved."),
        "{text}"
    );

    // A keyring that is there but locked: nothing goes to a file instead.
    let mut locked = world.locked_shell();
    let mut locked_lines = 0;
    for line in [
        "/key save new sk-new-0123456789",
        "/key save existing sk-other-0123456789",
        "/key delete existing",
        "/key load existing",
        "/profile load good",
        "/toolkey exa sk-exa-other-0123456789",
        "/toolkey exa none",
        "/extensions set web WEB_KEY sk-web-other-0123456789",
        "/extensions unset web WEB_KEY",
        "/set auth-key-name existing",
    ] {
        let text = assert_nothing_changes(&world, &mut locked, line, true);
        assert!(text.contains("Collection is locked"), "{line}: {text}");
        locked_lines += 1;
    }
    println!(
        "{} failing commands, 1 on a deny store, {locked_lines} on a locked keyring: nothing changed",
        failing.len()
    );
}

/// The same through the binary: `/status` before and after the failing
/// command, in one session, is the same, and so is the data directory.
#[test]
fn through_the_binary_status_and_files_are_the_same_after_a_failure() {
    let world = World::new();
    let ks = Keyshell::new();
    // The harness's own root is not needed: point the binary at the world.
    let empty = world.empty_file().display().to_string();
    let lines = [
        "/key save existing sk-other-0123456789".to_string(),
        "/key delete existing".to_string(),
        "/key load missing".to_string(),
        "/profile load dangling".to_string(),
        "/set auth-key-name missing".to_string(),
        "/keyfile /nonexistent/keyshell.key".to_string(),
        format!("/toolkeyfile exa {empty}"),
        "/extensions set web NOT_DECLARED value".to_string(),
        "/key save \"unterminated sk-0123456789".to_string(),
        "/no-such-command".to_string(),
    ];
    for line in &lines {
        let before = snapshot(world.root());
        let out = ks
            .command()
            .env("LLXPRT_DATA_HOME", world.root())
            .args(["--keep-going", "-c", "/status", "-c", line, "-c", "/status"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{line}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.lines().any(|l| l.starts_with("error: line 2: ")),
            "{line}: {stderr}"
        );
        // Everything printed is the two /status outputs (the failure went to stderr).
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(
            lines.len().is_multiple_of(2) && !lines.is_empty(),
            "{line}: {stdout}"
        );
        let (first, second) = lines.split_at(lines.len() / 2);
        assert_eq!(first, second, "{line}: /status changed");
        assert!(
            first[0].starts_with("Provider: anthropic"),
            "{line}: the default profile loaded: {stdout}"
        );
        assert_eq!(
            diff(&before, &snapshot(world.root())),
            Vec::<String>::new(),
            "{line} changed the data directory"
        );
    }
}
