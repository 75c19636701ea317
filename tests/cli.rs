//! The real binary in script mode: stdout, stderr and exit status, on the
//! encrypted fallback and (under scripts/ci-keyring.sh) on the real keyring.

mod harness;

use harness::Keyshell;

const KEY: &str = "sk-abcdef123456";

#[test]
fn a_script_saves_lists_shows_loads_and_deletes() {
    let ks = Keyshell::new();
    ks.run(["-c", &format!("/key save openai-work {KEY}"), "-c", "/key list", "-c", "/key show openai-work", "-c", "/key load openai-work", "-c", "/key"])
        .success()
        .no_leak(KEY)
        .stderr_is("")
        .stdout_has("Saved key 'openai-work' to encrypted file (OS keyring unavailable). Use /key load openai-work to activate it for this session.\n")
        .stdout_has("Saved keys:\n  openai-work  sk***********56\n")
        .stdout_has("openai-work: sk***********56 (15 chars)\n")
        .stdout_has("Loaded key 'openai-work' — active for this session\n")
        .stdout_has("Active key: sk***********56 (named key 'openai-work')\n");
    let file = std::fs::read_to_string(ks.path("provider-keys/openai-work.enc")).unwrap();
    assert!(file.starts_with(r#"{"v":2,"crypto":{"alg":"aes-256-gcm","kdf":"scrypt","N":16384,"r":8,"p":1,"saltLen":16},"data":""#));
    assert!(!file.contains(KEY));
    ks.run(["--yes", "-c", "/key delete openai-work", "-c", "/key list"])
        .success()
        .stdout_is("Deleted key 'openai-work'\nNo saved keys. Use '/key save <name> <api-key>' to store one.\n");
    assert!(!ks.path("provider-keys/openai-work.enc").exists());
}

#[test]
fn the_first_failure_stops_the_script() {
    let ks = Keyshell::new();
    ks.run_with_input(
        Vec::<&str>::new(),
        b"# set-up\n\n/key list\n/key load nope\n/key save never sk-never-saved-000\n",
    )
    .status(1)
    .stdout_is("No saved keys. Use '/key save <name> <api-key>' to store one.\n")
    .stderr_is("error: line 4: Key 'nope' not found. Use '/key list' to see saved keys.\n");
    assert!(!ks.path("provider-keys/never.enc").exists());
}

#[test]
fn keep_going_runs_everything_and_still_fails() {
    let ks = Keyshell::new();
    ks.run_with_input(["--keep-going"], b"/key load nope\n/bogus\n/key save a sk-aaaaaaaaaaaa\n")
        .status(1)
        .stdout_is("Saved key 'a' to encrypted file (OS keyring unavailable). Use /key load a to activate it for this session.\n")
        .stderr_is("error: line 1: Key 'nope' not found. Use '/key list' to see saved keys.\nerror: line 2: Unknown command: /bogus. Type /help for the list.\n");
}

#[test]
fn a_script_file_argument_runs() {
    let ks = Keyshell::new();
    let script = ks.path("setup.keyshell");
    std::fs::write(&script, "/key save a sk-aaaaaaaaaaaa\n/key list\n").unwrap();
    ks.run([script.as_os_str()])
        .success()
        .stdout_has("  a  sk***********aa\n");
}

#[test]
fn overwrite_and_delete_need_yes_in_scripts() {
    let ks = Keyshell::new();
    ks.save("a", "sk-aaaaaaaaaaaa");
    ks.run(["-c", "/key save a sk-bbbbbbbbbbbb"])
        .status(1)
        .stderr_is("error: line 1: Key 'a' already exists. Overwriting requires interactive confirmation (or --yes).\n");
    ks.run(["-c", "/key delete a"])
        .status(1)
        .stderr_is("error: line 1: Deleting keys requires interactive confirmation (or --yes).\n");
    ks.run(["-c", "/key show a"])
        .success()
        .stdout_is("a: sk***********aa (15 chars)\n");
}

#[test]
fn usage_errors_exit_two() {
    let ks = Keyshell::new();
    ks.run(["--key-name"]).status(2).stderr_has("--key-name");
    ks.run(["--no-such-flag"]).status(2);
}

#[test]
fn lines_that_are_not_commands_are_refused() {
    let ks = Keyshell::new();
    ks.run(["-c", "hello"])
        .status(1)
        .stderr_is("error: line 1: keyshell only runs slash commands; type /help.\n");
    ks.run(["-c", "/key save \"open"])
        .status(1)
        .stderr_is("error: line 1: Parse error at column 11: unterminated double quote\n");
}

#[test]
fn invalid_utf8_and_quit() {
    let ks = Keyshell::new();
    ks.run_with_input(["--keep-going"], b"/key list\n\xff\xfe\n/quit\n/key list\n")
        .status(1)
        .stdout_is("No saved keys. Use '/key save <name> <api-key>' to store one.\n")
        .stderr_is("error: line 2: line is not valid UTF-8\n");
}

#[test]
fn a_missing_named_key_stops_start_up() {
    let ks = Keyshell::new();
    ks.run(["--key-name", "nope", "-c", "/key"])
        .status(1)
        .stdout_is("")
        .stderr_is("error: Named key 'nope' not found. Use '/key save nope <key>' to store it.\n");
}

#[test]
fn key_name_at_start_up_is_the_active_key() {
    let ks = Keyshell::new();
    ks.save("openai-work", KEY);
    ks.run(["--key-name", "openai-work", "-c", "/key"])
        .success()
        .no_leak(KEY)
        .stdout_has("Active key: sk***********56 (named key 'openai-work')\n");
}

/// The real keyring, under scripts/ci-keyring.sh (KEYSHELL_REAL_KEYRING=1).
#[test]
fn real_keyring_round_trip_through_the_binary() {
    if std::env::var_os("KEYSHELL_REAL_KEYRING").is_none() {
        eprintln!("skipped: no private keyring (run under scripts/ci-keyring.sh)");
        return;
    }
    let ks = Keyshell::with_real_keyring();
    let name = format!("ks-cli-{}", std::process::id());
    ks.run(["-c", &format!("/key save {name} {KEY}")])
        .success()
        .stdout_is(&format!("Saved key '{name}' to OS keyring. Use /key load {name} to activate it for this session.\n"));
    assert!(
        !ks.path(&format!("provider-keys/{name}.enc")).exists(),
        "a keyring save writes no file"
    );
    ks.run([
        "-c",
        "/key list",
        "-c",
        &format!("/key show {name}"),
        "-c",
        "/key",
    ])
    .success()
    .no_leak(KEY)
    .stdout_has(&format!("  {name}  sk***********56\n"))
    .stdout_has("Key storage: OS keyring (Secret Service (D-Bus)), available");
    ks.run(["--yes", "-c", &format!("/key delete {name}")])
        .success()
        .stdout_is(&format!("Deleted key '{name}'\n"));
    ks.run(["-c", &format!("/key show {name}")]).status(1);
}

#[test]
fn masked_values_recalled_from_history_are_refused_everywhere() {
    let ks = Keyshell::new();
    let refused =
        "That value is a masked key (recalled from history?); type or paste the key itself.";
    for line in [
        "/key save k sk***********56",
        "/key sk***********56",
        "/toolkey exa ex************kl",
        "/set auth-key sk***********56",
    ] {
        ks.run(["-c", line])
            .status(1)
            .stderr_is(&format!("error: line 1: {refused}\n"));
    }
    ks.run(["-c", "/key list", "-c", "/toolkey exa", "-c", "/key"])
        .success()
        .stdout_has("No saved keys.")
        .stdout_has("No API key configured for 'Exa Search'")
        .stdout_has("Active key: none");
}
