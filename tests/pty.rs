//! The interactive shell through a real pseudo-terminal: what a person at the
//! keyboard sees — completion, masking as they type, the hidden prompt, history
//! recall, Ctrl-C / Ctrl-D and a confirmation — and what lands in the history file.
//!
//! Each test runs the real binary in its own temporary data root with the OS
//! keyring off. Everything the terminal receives is kept in a transcript so a
//! test can assert that a secret never reached the screen. Expect timeouts are
//! generous: they catch hangs, they are not timing assertions.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Needle, Regex, Session};
use tempfile::TempDir;

const TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(5);
const PROMPT: &str = "keyshell> ";
const BIN: &str = env!("CARGO_BIN_EXE_keyshell");

/// The PTY tests fork; running them one at a time keeps a fork away from
/// another test's locks and keeps the two-core CI machine responsive.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A data root of its own, and the environment every run of the binary gets.
struct Root {
    dir: TempDir,
}

impl Root {
    fn new() -> Self {
        Root {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn history(&self) -> PathBuf {
        self.path().join("keyshell_history")
    }

    fn configure(&self, cmd: &mut Command) {
        cmd.env("LLXPRT_DATA_HOME", self.path())
            .env("LLXPRT_DISABLE_OS_KEYRING", "1")
            .env("TERM", "xterm-256color")
            .env("NO_COLOR", "1")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("KEYSHELL_PROFILE");
    }

    /// Runs `keyshell -c <command>` (script mode) and insists that it succeeded.
    fn script(&self, command: &str) {
        let mut cmd = Command::new(BIN);
        self.configure(&mut cmd);
        let out = cmd.arg("-c").arg(command).output().expect("keyshell runs");
        assert!(
            out.status.success(),
            "`keyshell -c {command:?}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The interactive shell on a fresh terminal, at its first prompt.
    fn shell(&self) -> Pty {
        // ptyprocess starts the child with echo off; a real terminal has it on,
        // and the hidden prompt is only meaningful when it has to turn it off.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "stty echo && exec \"$0\"", BIN]);
        self.configure(&mut cmd);
        let session = Session::spawn(cmd).expect("keyshell starts on a pty");
        let mut pty = Pty {
            session,
            seen: Vec::new(),
        };
        pty.expect("Ctrl-D to leave.");
        pty.prompt();
        pty
    }

    fn history_text(&self) -> String {
        std::fs::read_to_string(self.history()).expect("the history file exists")
    }
}

/// A running shell and everything it has written to the terminal so far.
struct Pty {
    session: OsSession,
    seen: Vec<u8>,
}

impl Pty {
    /// Waits for `needle` (a string) in the output; panics with the output on timeout.
    fn expect(&mut self, needle: &str) {
        self.wait_for(needle, needle);
    }

    fn wait_for<N: Needle>(&mut self, needle: N, what: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.session.check(&needle) {
                Ok(found) if !found.is_empty() => {
                    self.seen.extend_from_slice(found.as_bytes());
                    return;
                }
                Ok(_) => {}
                Err(expectrl::Error::Eof) => self.fail(&format!("end of output before {what:?}")),
                Err(err) => self.fail(&format!(
                    "reading the pty while waiting for {what:?}: {err}"
                )),
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {what:?}"));
            }
            sleep(POLL);
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        if let Ok(rest) = self.session.check(Regex("(?s-u).+")) {
            self.seen.extend_from_slice(rest.as_bytes());
        }
        panic!(
            "{why}\n--- terminal output so far ---\n{}",
            String::from_utf8_lossy(&self.seen).escape_debug()
        );
    }

    /// Waits for a fresh prompt and for the line editor to own the terminal.
    /// Call it only after a marker that follows every redraw of the last line.
    fn prompt(&mut self) {
        self.expect(PROMPT);
        self.wait_for_echo(false, "the line editor's raw mode");
    }

    /// Polls the terminal's echo flag (the child's termios, seen from the master).
    fn wait_for_echo(&mut self, on: bool, what: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while self.session.get_process().get_echo().ok() != Some(on) {
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {what}"));
            }
            sleep(POLL);
        }
    }

    fn send(&mut self, bytes: &str) {
        self.session.send(bytes).expect("write to the pty");
    }

    /// Types `text` a key at a time, as a person would.
    fn type_keys(&mut self, text: &str) {
        for c in text.chars() {
            self.send(c.encode_utf8(&mut [0; 4]));
        }
    }

    /// Types a line and presses Enter.
    fn enter(&mut self, line: &str) {
        self.type_keys(line);
        self.send("\r");
    }

    /// Reads everything up to the end of output and returns the exit status.
    fn finish(&mut self) -> i32 {
        self.wait_for(Eof, "end of output");
        match self.session.get_process().wait() {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("keyshell did not exit normally: {other:?}"),
        }
    }

    /// Ctrl-D at an empty prompt: leave, and insist on status 0.
    fn quit(&mut self) {
        self.send("\x04");
        assert_eq!(self.finish(), 0, "exit status after Ctrl-D");
    }

    /// The transcript as text, with terminal control sequences removed.
    fn screen(&self) -> String {
        strip_escapes(&String::from_utf8_lossy(&self.seen))
    }

    /// Asserts the secret never reached the terminal, raw or once escapes are removed.
    fn assert_never_shown(&self, secret: &str) {
        let raw = self
            .seen
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(!raw, "the terminal received the secret {secret:?}");
        assert!(
            !self.screen().contains(secret),
            "the secret {secret:?} is visible on screen"
        );
    }

    /// Asserts that every time the line editor drew `before` (the visible part
    /// of a line), what followed on that line was stars only: no character of
    /// the value was ever drawn, not even for one keystroke.
    fn assert_value_drawn_as_stars(&self, before: &str) {
        let screen = self.screen();
        let mut drawn = 0;
        for (at, _) in screen.match_indices(before) {
            let rest = &screen[at + before.len()..];
            let value: String = rest
                .chars()
                .take_while(|c| !matches!(c, '\r' | '\n'))
                .collect();
            assert!(
                value.chars().all(|c| c == '*'),
                "after {before:?} the screen showed {value:?}"
            );
            drawn += 1;
        }
        assert!(drawn > 0, "{before:?} was never drawn");
    }
}

/// Drops CSI (`ESC [ … final`) and two-byte escape sequences.
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn tab_completes_a_saved_key_name() {
    let _serial = serial();
    let root = Root::new();
    root.script("/key save openai-work sk-abcdef123456");

    let mut pty = root.shell();
    pty.type_keys("/key load op");
    pty.send("\t");
    pty.expect("/key load openai-work");
    pty.send("\r");
    pty.expect("Loaded key 'openai-work'");
    pty.prompt();
    pty.quit();
}

#[test]
fn tab_completes_every_kind_of_argument() {
    let _serial = serial();
    let root = Root::new();
    root.script("/profile save work");
    let extension = root.path().join("extensions/web-search");
    std::fs::create_dir_all(&extension).expect("an extension directory");
    std::fs::write(
        extension.join("extension.toml"),
        "name = \"Web search\"\n\n[[settings]]\nname = \"API key\"\nenv-var = \"SEARCH_API_KEY\"\nsensitive = true\n",
    )
    .expect("a manifest");

    std::fs::write(root.path().join("the-keyfile.txt"), "sk-abcdef123456\n").expect("a key file");
    let path_typed = format!("/keyfile {}/the-k", root.path().display());
    let path_completed = format!("/keyfile {}/the-keyfile.txt", root.path().display());

    let mut pty = root.shell();
    // Each line is completed, checked, then discarded with Ctrl-U.
    for (typed, completed) in [
        (path_typed.as_str(), path_completed.as_str()),
        ("/profile load wo", "/profile load work"),
        ("/set unset auth-key-n", "/set unset auth-key-name"),
        ("/toolkey e", "/toolkey exa"),
        ("/mcp lo", "/mcp logout"),
        ("/extensions set web", "/extensions set web-search"),
        (
            "/extensions set web-search SEARCH_A",
            "/extensions set web-search SEARCH_API_KEY",
        ),
        ("/he", "/help"),
    ] {
        pty.type_keys(typed);
        pty.send("\t");
        pty.expect(completed);
        pty.send("\x15");
    }
    pty.enter("/key list");
    pty.expect("No saved keys.");
    pty.prompt();
    pty.quit();
}

#[test]
fn the_hidden_prompt_does_not_echo() {
    let _serial = serial();
    let root = Root::new();
    let secret = "sk-secretvalue987654";

    let mut pty = root.shell();
    pty.enter("/key save hidden-key");
    pty.expect("API key for 'hidden-key' (input hidden): ");
    pty.wait_for_echo(false, "the hidden prompt to turn echo off");
    pty.send(&format!("{secret}\n"));
    pty.expect("Saved key 'hidden-key'");
    pty.prompt();
    pty.enter("/key show hidden-key");
    pty.expect("hidden-key: sk****************54 (20 chars)");
    pty.prompt();
    pty.quit();

    pty.assert_never_shown(secret);
    let history = root.history_text();
    assert!(history.contains("/key save hidden-key"), "{history:?}");
    assert!(
        !history.contains(secret),
        "history holds the secret: {history:?}"
    );
}

#[test]
fn a_typed_secret_is_masked_on_screen_and_in_history() {
    let _serial = serial();
    let root = Root::new();
    let secret = "sk-abcdef123456";

    let mut pty = root.shell();
    pty.enter(&format!("/key save k {secret}"));
    pty.expect("Saved key 'k'");
    pty.prompt();
    pty.quit();

    pty.assert_never_shown(secret);
    pty.assert_value_drawn_as_stars("/key save k ");
    assert!(
        pty.screen().contains("/key save k ***************"),
        "the whole masked line was never drawn"
    );
    let history = root.history_text();
    assert!(
        history.contains("/key save k sk***********56"),
        "history: {history:?}"
    );
    assert!(
        !history.contains(secret),
        "history holds the secret: {history:?}"
    );
    assert_eq!(mode(&root.history()), 0o600, "history file mode");
}

#[test]
fn up_arrow_recalls_the_masked_line() {
    let _serial = serial();
    let root = Root::new();
    let secret = "sk-abcdef123456";
    let drawn = "/key save k ***************";

    let mut pty = root.shell();
    pty.enter(&format!("/key save k {secret}"));
    pty.expect("Saved key 'k'");
    pty.prompt();
    pty.send("\x1b[A");
    pty.expect(drawn);
    // Ctrl-U discards the recalled line.
    pty.send("\x15");
    pty.enter("/key show k");
    pty.expect("k: sk***********56 (15 chars)");
    pty.prompt();
    pty.quit();
    pty.assert_never_shown(secret);
    pty.assert_value_drawn_as_stars("/key save k ");

    // A new session reads the history file: Up twice goes past `/key show k`
    // to the save line. Entering it shows what was recalled: the masked value,
    // which the shell refuses to save over the real one.
    let mut pty = root.shell();
    pty.send("\x1b[A");
    pty.expect("/key show k");
    pty.send("\x1b[A");
    pty.expect(drawn);
    pty.send("\r");
    pty.expect("That value is a masked key");
    pty.prompt();
    pty.enter("/key show k");
    pty.expect("k: sk***********56 (15 chars)");
    pty.prompt();
    pty.quit();
    pty.assert_never_shown(secret);
    pty.assert_value_drawn_as_stars("/key save k ");
    assert!(!root.history_text().contains(secret));
}

#[test]
fn ctrl_d_at_an_empty_prompt_exits_with_status_0() {
    let _serial = serial();
    let root = Root::new();
    let mut pty = root.shell();
    pty.send("\x04");
    assert_eq!(pty.finish(), 0);
}

#[test]
fn ctrl_c_cancels_the_line_and_the_shell_keeps_running() {
    let _serial = serial();
    let root = Root::new();
    let mut pty = root.shell();
    pty.type_keys("/key save cancelled sk-abcdef123456");
    // The whole line is drawn before Ctrl-C, so the next prompt is the new one.
    pty.expect("/key save cancelled ***************");
    pty.send("\x03");
    pty.prompt();
    pty.enter("/key list");
    pty.expect("No saved keys. Use '/key save <name> <api-key>' to store one.");
    pty.prompt();
    pty.quit();

    pty.assert_never_shown("sk-abcdef123456");
    pty.assert_value_drawn_as_stars("/key save cancelled ");
    let history = root.history_text();
    assert!(!history.contains("cancelled"), "history: {history:?}");
}

#[test]
fn declining_an_overwrite_keeps_the_saved_value() {
    let _serial = serial();
    let root = Root::new();
    root.script("/key save k sk-abcdef123456");

    let mut pty = root.shell();
    pty.enter("/key save k sk-other0000000");
    pty.expect("Key 'k' already exists. Overwrite? [y/N]");
    pty.send("n\n");
    pty.expect("Operation cancelled.");
    // The question is asked in the terminal's normal mode, so the answer
    // echoes (which is also why the hidden prompt has to turn echo off).
    assert!(pty.screen().contains("Overwrite? [y/N] n"));
    pty.prompt();
    pty.enter("/key show k");
    pty.expect("k: sk***********56 (15 chars)");
    pty.prompt();
    pty.quit();
    pty.assert_never_shown("sk-other0000000");
    pty.assert_value_drawn_as_stars("/key save k ");
}
