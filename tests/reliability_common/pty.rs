//! The interactive shell on a pseudo-terminal, for the reliability tests:
//! type a line, wait for the reply and the next prompt, and keep every byte
//! the terminal received.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Regex, Session};

pub const TIMEOUT: Duration = Duration::from_secs(15);
pub const PROMPT: &str = "keyshell> ";

/// The shell on a pseudo-terminal and everything it wrote to it.
pub struct Pty {
    session: OsSession,
    pub seen: Vec<u8>,
}

impl Pty {
    /// The shell on a fresh terminal over the data root `root`, with the OS
    /// keyring off unless `real_keyring`, and these extra variables.
    pub fn start(root: &Path, real_keyring: bool, vars: &[(&str, &str)]) -> Pty {
        // ptyprocess starts the child with echo off; a real terminal has it on.
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            // KS_UMASK (in `vars`) sets the umask the shell starts under.
            "if [ -n \"$KS_UMASK\" ]; then umask \"$KS_UMASK\"; fi; stty echo && exec \"$0\"",
            env!("CARGO_BIN_EXE_keyshell"),
        ])
        .env("LLXPRT_DATA_HOME", root)
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .env_remove("KEYSHELL_PROFILE")
        .env_remove("OPENAI_API_KEY");
        cmd.envs(vars.iter().copied());
        if real_keyring {
            cmd.env_remove("LLXPRT_DISABLE_OS_KEYRING");
        } else {
            cmd.env("LLXPRT_DISABLE_OS_KEYRING", "1")
                .env_remove("DBUS_SESSION_BUS_ADDRESS");
        }
        let session = Session::spawn(cmd).expect("keyshell starts on a pty");
        let mut pty = Pty {
            session,
            seen: Vec::new(),
        };
        pty.prompt();
        pty
    }

    pub fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.session.check(needle) {
                Ok(found) if !found.is_empty() => {
                    self.seen.extend_from_slice(found.as_bytes());
                    return;
                }
                Ok(_) => {}
                Err(err) => self.fail(&format!("waiting for {needle:?}: {err}")),
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {needle:?}"));
            }
            sleep(Duration::from_millis(5));
        }
    }

    pub fn fail(&mut self, why: &str) -> ! {
        if let Ok(rest) = self.session.check(Regex("(?s-u).+")) {
            self.seen.extend_from_slice(rest.as_bytes());
        }
        let text = String::from_utf8_lossy(&self.seen).into_owned();
        let tail: String = text
            .chars()
            .rev()
            .take(3000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "{why}\n--- end of the terminal output ---\n{}",
            tail.escape_debug()
        );
    }

    /// A fresh prompt with the line editor in raw mode (echo off).
    pub fn prompt(&mut self) {
        self.expect(PROMPT);
        self.wait_for_echo(false);
    }

    pub fn wait_for_echo(&mut self, on: bool) {
        let deadline = Instant::now() + TIMEOUT;
        while self.session.get_process().get_echo().ok() != Some(on) {
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for echo {on}"));
            }
            sleep(Duration::from_millis(5));
        }
    }

    pub fn send(&mut self, bytes: &str) {
        self.session.send(bytes).expect("write to the pty");
    }

    /// Types a line a key at a time, presses Enter, waits for `reply` and the
    /// next prompt.
    pub fn command(&mut self, line: &str, reply: &str) {
        for c in line.chars() {
            self.send(c.encode_utf8(&mut [0; 4]));
        }
        self.send("\r");
        self.expect(reply);
        self.prompt();
    }

    pub fn quit(&mut self) {
        self.send("\x04");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.session.check(Eof) {
                Ok(found) if !found.is_empty() => {
                    self.seen.extend_from_slice(found.as_bytes());
                    break;
                }
                Ok(_) => {}
                Err(expectrl::Error::Eof) => break,
                Err(err) => self.fail(&format!("waiting for the end: {err}")),
            }
            if Instant::now() > deadline {
                self.fail("timed out waiting for the end of output");
            }
            sleep(Duration::from_millis(5));
        }
        let _ = self.session.get_process().wait();
    }
}
