//! A fluent harness that runs the real `keyshell` binary in a temp data root:
//! `Keyshell::new().args(["-c", "/key list"]).run().stdout(...)`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// A data root (kept for the life of the value) and the environment to run in.
pub struct Keyshell {
    root: TempDir,
    real_keyring: bool,
}

impl Keyshell {
    /// A fresh data root; the OS keyring is disabled (fallback files only).
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let root = TempDir::new().expect("temp dir");
        // A data root as keyshell makes it: private to the user.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod temp dir");
        Keyshell {
            root,
            real_keyring: false,
        }
    }

    /// A fresh data root that uses the real OS keyring of the test session.
    pub fn with_real_keyring() -> Self {
        Keyshell {
            real_keyring: true,
            ..Self::new()
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// A command for the binary with this data root and a clean environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyshell"));
        cmd.env("LLXPRT_DATA_HOME", self.root.path())
            .env("NO_COLOR", "1")
            .env_remove("KEYSHELL_PROFILE")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY");
        if self.real_keyring {
            cmd.env_remove("LLXPRT_DISABLE_OS_KEYRING");
        } else {
            cmd.env("LLXPRT_DISABLE_OS_KEYRING", "1")
                .env_remove("DBUS_SESSION_BUS_ADDRESS");
        }
        cmd
    }

    /// Runs with these arguments and no input.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.run_with_input(args, b"")
    }

    /// Runs with these arguments and `input` on stdin.
    pub fn run_with_input<I, S>(&self, args: I, input: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keyshell starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        Run(child.wait_with_output().expect("keyshell finishes"))
    }

    /// Saves a key through the binary (helper for set-up).
    pub fn save(&self, name: &str, value: &str) {
        self.run(["--yes", "-c", &format!("/key save {name} {value}")])
            .success();
    }
}

/// The result of one run, with assertions that print everything on failure.
pub struct Run(pub Output);

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    fn describe(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }

    pub fn status(self, expected: i32) -> Self {
        assert_eq!(self.code(), expected, "{}", self.describe());
        self
    }

    pub fn success(self) -> Self {
        self.status(0)
    }

    pub fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(self.stdout(), expected, "{}", self.describe());
        self
    }

    pub fn stderr_is(self, expected: &str) -> Self {
        assert_eq!(self.stderr(), expected, "{}", self.describe());
        self
    }

    pub fn stdout_has(self, part: &str) -> Self {
        assert!(
            self.stdout().contains(part),
            "stdout lacks {part:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn stderr_has(self, part: &str) -> Self {
        assert!(
            self.stderr().contains(part),
            "stderr lacks {part:?}\n{}",
            self.describe()
        );
        self
    }

    /// Neither stream holds `secret`.
    pub fn no_leak(self, secret: &str) -> Self {
        assert!(
            !self.stdout().contains(secret) && !self.stderr().contains(secret),
            "output leaks the secret\n{}",
            self.describe()
        );
        self
    }
}

/// `snapshot!(name, text)`: an insta snapshot in the top-level `snapshots/`
/// folder, without the source expression (test inputs hold secrets).
#[allow(unused_macros)]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, $value);
        });
    };
}
#[allow(unused_imports)]
pub(crate) use snapshot;
