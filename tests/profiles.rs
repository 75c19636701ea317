//! Profiles and start-up through the real binary: round trips, the example
//! profiles, start-up errors, and snapshots of what `/profile` and `--help` print.

mod harness;

use harness::{Keyshell, Run, snapshot};

const SECRET: &str = "sk-ant-abcdef123456";

/// stdout and stderr of a run, with the data root replaced by `[ROOT]`.
fn transcript(ks: &Keyshell, run: &Run) -> String {
    let root = ks.root().display().to_string();
    let text = format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        run.code(),
        run.stdout(),
        run.stderr()
    )
    .replace(&root, "[ROOT]");
    assert!(
        !text.contains(SECRET),
        "a secret reached the output:\n{text}"
    );
    text
}

fn set_up_work_profile(ks: &Keyshell) {
    ks.run([
        "-c",
        &format!("/key save anthropic-work {SECRET}"),
        "-c",
        "/provider anthropic",
        "-c",
        "/key load anthropic-work",
        "-c",
        "/model claude-sonnet-4-5",
        "-c",
        "/set max-tokens 4096",
        "-c",
        "/profile save work",
    ])
    .success();
}

#[test]
fn a_profile_round_trips_and_never_holds_the_key() {
    let ks = Keyshell::new();
    set_up_work_profile(&ks);
    let toml = std::fs::read_to_string(ks.path("profiles/work.toml")).unwrap();
    assert!(
        !toml.contains(SECRET),
        "the profile holds the secret:\n{toml}"
    );
    assert_eq!(
        toml,
        "version = 1\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\n[ephemeral-settings]\nauth-key-name = \"anthropic-work\"\nmax-tokens = \"4096\"\n"
    );
    ks.run(["--profile", "work", "-c", "/key"])
        .success()
        .no_leak(SECRET)
        .stdout_has("Provider: anthropic\n")
        .stdout_has("Active key: sk***************56 (named key 'anthropic-work')\n");
}

#[test]
fn a_raw_session_key_is_left_out_with_a_warning() {
    let ks = Keyshell::new();
    let run = ks.run([
        "-c",
        &format!("/key {SECRET}"),
        "-c",
        "/profile save raw",
        "-c",
        "/profile show raw",
    ]);
    let text = transcript(&ks, &run);
    snapshot!("profile_raw_key_left_out", text);
    let toml = std::fs::read_to_string(ks.path("profiles/raw.toml")).unwrap();
    assert!(!toml.contains(SECRET) && !toml.contains("auth-key"));
}

#[test]
fn profile_commands() {
    let ks = Keyshell::new();
    set_up_work_profile(&ks);
    std::fs::write(
        ks.path("profiles/legacy.json"),
        r#"{"version":1,"provider":"openai","model":"gpt-4o","modelParams":{"temperature":0.5},"ephemeralSettings":{"auth-key-name":"anthropic-work","base-url":"https://example.test"}}"#,
    )
    .unwrap();
    std::fs::write(
        ks.path("profiles/broken.toml"),
        "version = 1\nprovider = \n",
    )
    .unwrap();
    std::fs::write(ks.path("profiles/partial.toml"), "version = 1\n").unwrap();
    std::fs::write(
        ks.path("profiles/future.toml"),
        "version = 7\nprovider = \"openai\"\n",
    )
    .unwrap();
    std::fs::write(
        ks.path("profiles/dangling.toml"),
        "version = 1\nprovider = \"openai\"\n[ephemeral-settings]\nauth-key-name = \"gone\"\n",
    )
    .unwrap();
    let run = ks.run_with_input(
        ["--keep-going", "--yes"],
        b"/profile list
/profile show work
/profile show legacy
/profile load legacy
/status
/profile load broken
/profile load partial
/profile load future
/profile load dangling
/key
/profile load nope
/profile save ../evil
/profile delete legacy
/profile set-default work
/profile list
/profile delete work
/profile list
/profile
/set
/set colour red
/set unset auth-key-name
/set
",
    );
    snapshot!("profile_commands", transcript(&ks, &run));
    assert!(
        ks.path("profiles/legacy.json").exists(),
        "an llxprt profile was changed"
    );
}

#[test]
fn start_up_errors_exit_one_before_any_prompt() {
    let ks = Keyshell::new();
    std::fs::create_dir_all(ks.path("profiles")).unwrap();
    std::fs::write(
        ks.path("profiles/dangling.toml"),
        "version = 1\nprovider = \"openai\"\n[ephemeral-settings]\nauth-key-name = \"gone\"\n",
    )
    .unwrap();
    std::fs::write(
        ks.path("profiles/broken.toml"),
        "version = 1\nprovider = [\n",
    )
    .unwrap();
    let mut all = String::new();
    for args in [
        vec!["--key-name", "gone", "-c", "/key"],
        vec!["--profile", "dangling", "-c", "/key"],
        vec!["--profile", "broken", "-c", "/key"],
        vec!["--profile", "absent", "-c", "/key"],
        vec!["--provider", "nope", "-c", "/key"],
        vec!["--set", "colour=red", "-c", "/key"],
        vec!["--set", "novalue", "-c", "/key"],
        vec!["--keyfile", "/nonexistent/key.txt", "-c", "/key"],
    ] {
        let run = ks.run(&args);
        assert!(
            run.stdout().is_empty(),
            "stdout for {args:?}: {}",
            run.stdout()
        );
        all.push_str(&format!(
            "$ keyshell {}\n{}\n",
            args.join(" "),
            transcript(&ks, &run)
        ));
    }
    snapshot!("start_up_errors", all);
}

#[test]
fn keyshell_profile_env_and_the_default_profile() {
    let ks = Keyshell::new();
    set_up_work_profile(&ks);
    ks.run(["-c", "/profile set-default work"]).success();
    ks.run(["-c", "/key"])
        .success()
        .stdout_has("named key 'anthropic-work'");
    // --provider skips the default profile.
    ks.run(["--provider", "openai", "-c", "/key"])
        .success()
        .stdout_has("Provider: openai\nActive key: none\n");
    let mut cmd = ks.command();
    let out = cmd
        .env("KEYSHELL_PROFILE", "missing")
        .args(["-c", "/key"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: Profile 'missing' not found\n"
    );
    // A default profile that disappeared is a warning, not a wall.
    std::fs::remove_file(ks.path("profiles/work.toml")).unwrap();
    ks.run(["-c", "/key"])
        .success()
        .stderr_has("warning: the default profile 'work' was not found");
}

#[test]
fn every_example_profile_loads() {
    let ks = Keyshell::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut names: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() >= 6, "an example profile per provider");
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let profile = keyshell::profile::Profile::from_toml("example", &text).unwrap();
        if let Some(key_name) = profile.settings.get("auth-key-name") {
            ks.save(key_name, "sk-example-0123456789");
        }
        ks.run(["--profile", path.to_str().unwrap(), "-c", "/status"])
            .success()
            .stdout_has(&format!("Provider: {}\n", profile.provider));
    }
}

#[test]
fn help_text() {
    let ks = Keyshell::new();
    let run = ks.run(["--help"]).success();
    snapshot!("help", run.stdout());
    ks.run(["completions", "bash"])
        .success()
        .stdout_has("--key-name");
}
