//! Snapshots of what every `/key` form prints, run through the same handlers
//! and output sink as the binary (script-mode rendering), on an in-memory
//! keyring or on the encrypted fallback in a temp data root.

mod harness;

use std::sync::Arc;

use harness::snapshot;
use keyshell::app::Shell;
use keyshell::command::parse_line;
use keyshell::keys::ProviderKeyStorage;
use keyshell::output::Output;
use keyshell::paths::Layout;
use keyshell::prompt::ScriptPrompter;
use keyshell::store::{
    FallbackPolicy, KeyringLoader, MemoryKeyring, SecureStore, SecureStoreOptions,
};
use tempfile::TempDir;

const SECRETS: &[&str] = &[
    "sk-abcdef123456",
    "sk-zyxwvu987654",
    "sk-session-raw-000111",
    "sk-env-key-424242",
];

struct Harness {
    shell: Shell,
    dir: TempDir,
    yes: bool,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn with_keyring(loader: KeyringLoader) -> Self {
        let dir = TempDir::new().unwrap();
        let shell = Shell::new(Layout::new(dir.path()), loader);
        Self::from_shell(shell, dir)
    }

    fn memory() -> Self {
        Self::with_keyring(KeyringLoader::with_adapter(Arc::new(MemoryKeyring::new())))
    }

    fn files_only() -> Self {
        Self::with_keyring(KeyringLoader::none())
    }

    fn deny_without_keyring() -> Self {
        let dir = TempDir::new().unwrap();
        let layout = Layout::new(dir.path());
        let mut opts = SecureStoreOptions::new(dir.path());
        opts.fallback_dir = Some(layout.provider_keys());
        opts.fallback_policy = FallbackPolicy::Deny;
        opts.keyring = KeyringLoader::none();
        let keys =
            ProviderKeyStorage::with_store(SecureStore::new("llxprt-code-provider-keys", opts));
        Self::from_shell(Shell::with_keys(layout, keys, KeyringLoader::none()), dir)
    }

    fn from_shell(shell: Shell, dir: TempDir) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        Harness {
            shell,
            dir,
            yes: false,
            runtime,
        }
    }

    /// Runs lines as a script would and returns what a user reads, with the
    /// temp path replaced by `[ROOT]`.
    fn run(&mut self, lines: &[&str]) -> String {
        let mut transcript = Vec::new();
        for line in lines {
            let mut out = Output::new();
            let mut prompter = ScriptPrompter {
                assume_yes: self.yes,
            };
            match parse_line(line) {
                Ok(Some(command)) => {
                    self.runtime
                        .block_on(self.shell.execute(command, &mut prompter, &mut out));
                }
                Ok(None) => {}
                Err(err) => out.error(err.to_string()),
            }
            transcript.push(format!(
                "> {}",
                keyshell::command::mask::history_entry(line)
            ));
            let rendered = out.render_plain();
            if !rendered.is_empty() {
                transcript.push(rendered);
            }
        }
        let text = transcript
            .join("\n")
            .replace(&self.dir.path().display().to_string(), "[ROOT]");
        for secret in SECRETS {
            assert!(!text.contains(secret), "output leaks {secret}:\n{text}");
        }
        text
    }
}

#[test]
fn key_save_and_list_on_the_keyring() {
    let mut h = Harness::memory();
    snapshot!(
        "key_save_list_keyring",
        h.run(&[
            "/key list",
            "/key save openai-work sk-abcdef123456",
            "/key save anthropic sk-zyxwvu987654",
            "/key list",
            "/key show openai-work",
        ])
    );
}

#[test]
fn key_save_on_the_fallback_file() {
    let mut h = Harness::files_only();
    snapshot!(
        "key_save_fallback",
        h.run(&["/key save openai-work sk-abcdef123456", "/key list"])
    );
}

#[test]
fn key_usage_errors() {
    let mut h = Harness::memory();
    snapshot!(
        "key_usage_errors",
        h.run(&["/key save", "/key load", "/key show", "/key delete"])
    );
}

#[test]
fn key_not_found_invalid_and_empty() {
    let mut h = Harness::memory();
    snapshot!(
        "key_not_found_invalid_empty",
        h.run(&[
            "/key load missing",
            "/key show missing",
            "/key save 'bad name' sk-abcdef123456",
            "/key save toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong12 x",
            "/key save empty",
            "/key save empty '   '",
        ])
    );
}

#[test]
fn key_overwrite_and_delete_need_confirmation_in_scripts() {
    let mut h = Harness::memory();
    snapshot!(
        "key_overwrite_delete_refused",
        h.run(&[
            "/key save openai-work sk-abcdef123456",
            "/key save openai-work sk-zyxwvu987654",
            "/key delete openai-work",
            "/key show openai-work",
        ])
    );
}

#[test]
fn key_overwrite_and_delete_with_yes() {
    let mut h = Harness::memory();
    h.yes = true;
    snapshot!(
        "key_overwrite_delete_yes",
        h.run(&[
            "/key save openai-work sk-abcdef123456",
            "/key save openai-work sk-zyxwvu987654",
            "/key show openai-work",
            "/key delete openai-work",
            "/key delete openai-work",
            "/key list",
        ])
    );
}

#[test]
fn key_status_with_no_key_raw_key_and_named_key() {
    let mut h = Harness::memory();
    snapshot!(
        "key_status",
        h.run(&[
            "/key",
            "/key save from-history sk*********11",
            "/key sk-session-raw-000111",
            "/key",
            "/key save openai-work sk-abcdef123456",
            "/key load openai-work",
            "/key",
            "/key none",
            "/key",
        ])
    );
}

#[test]
fn key_status_on_files_only() {
    let mut h = Harness::files_only();
    snapshot!("key_status_files", h.run(&["/key"]));
}

#[test]
fn keyring_unavailable_with_deny_policy() {
    let mut h = Harness::deny_without_keyring();
    snapshot!(
        "key_unavailable_deny",
        h.run(&["/key save openai-work sk-abcdef123456", "/key list", "/key"])
    );
    assert!(!h.dir.path().join("provider-keys/openai-work.enc").exists());
}

#[test]
fn session_commands() {
    let mut h = Harness::memory();
    let keyfile = h.dir.path().join("key.txt");
    std::fs::write(&keyfile, "sk-abcdef123456\nsecond line\n").unwrap();
    let empty = h.dir.path().join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let keyfile_cmd = format!("/keyfile {}", keyfile.display());
    let empty_cmd = format!("/keyfile {}", empty.display());
    let missing_cmd = format!("/keyfile {}/nope.txt", h.dir.path().display());
    snapshot!(
        "session_commands",
        h.run(&[
            "/provider",
            "/provider nope",
            "/model gpt-5",
            "/model",
            "/baseurl https://example.test/v1",
            "/baseurl",
            &keyfile_cmd,
            "/keyfile",
            &empty_cmd,
            &missing_cmd,
            "/key",
            "/keyfile none",
            "/key sk-session-raw-000111",
            "/provider anthropic",
            "/key",
            "/baseurl none",
            "/status",
        ])
    );
}

#[test]
fn help_and_bad_lines() {
    let mut h = Harness::memory();
    snapshot!(
        "help_and_bad_lines",
        h.run(&[
            "/help",
            "/help key",
            "/help nope",
            "/nope",
            "hello",
            "/key save \"open"
        ])
    );
}
