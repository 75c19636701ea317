//! Bad input through the binary (docs/reliability.md §7): values that are
//! too long or hold control characters, names outside
//! `^[a-zA-Z0-9._-]{1,64}$`, invalid UTF-8 and a 10 MB line on standard input
//! or in a script file. Each is refused with a clear message naming the line,
//! status 1, no panic, and nothing written.

mod harness;
mod reliability_common;

use std::process::Stdio;

use harness::{Keyshell, Run};
use reliability_common::{diff, snapshot};

const NAME_RULE: &str =
    "is invalid. Use only letters, numbers, dashes, underscores, and dots (1-64 chars).";
const CONTROL: &str = "API key value contains a control character (a NUL, tab or line break inside it); paste the key on its own.";

/// Runs a script given as raw bytes on stdin with `--keep-going`; asserts
/// that nothing under the data root changed and that nothing panicked.
fn refused(ks: &Keyshell, script: &[u8]) -> Run {
    let before = snapshot(ks.root());
    let run = ks.run_with_input(["--yes", "--keep-going"], script);
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    assert_eq!(diff(&before, &snapshot(ks.root())), Vec::<String>::new());
    run
}

#[test]
fn key_values_over_4096_bytes_or_with_control_characters_are_refused() {
    let ks = Keyshell::new();
    ks.save("existing", "sk-existing-0123456789");
    let at_limit = format!("sk-{}", "a".repeat(4093));
    let over = format!("sk-{}", "a".repeat(4094));
    let mut script = Vec::new();
    script.extend(format!("/key save long {over}\n").as_bytes());
    // (U+0085 is white space to the grammar: it splits tokens, it is not a value.)
    for control in ["\u{1}", "\0", "\u{7}", "\u{1b}[2J", "\u{7f}", "\u{9b}"] {
        script.extend(format!("/key save ctl sk-abc{control}def\n").as_bytes());
    }
    // A tab inside quotes stays in the value.
    script.extend(b"/key save ctl \"sk-abc\tdef\"\n");
    let run = refused(&ks, &script).status(1);
    let stderr = run.stderr();
    let errors: Vec<&str> = stderr.lines().collect();
    let mut expected = vec![
        "error: line 1: API key value is too long (4097 bytes; the limit is 4096).".to_string(),
    ];
    expected.extend((2..=8).map(|line| format!("error: line {line}: {CONTROL}")));
    assert_eq!(errors, expected);
    assert_eq!(run.stdout(), "");

    ks.run(["-c", &format!("/key save long {at_limit}")])
        .success()
        .stdout_has("Saved key 'long'");
    ks.run(["-c", "/key show long"])
        .success()
        .stdout_has("(4096 chars)");
}

#[test]
fn key_names_outside_the_rule_are_refused_for_every_key_command() {
    let ks = Keyshell::new();
    let names = [
        "bad/name".to_string(),
        "a".repeat(65),
        "\"with space\"".to_string(),
        "ключ".to_string(),
        "semi;colon".to_string(),
        "star*".to_string(),
        "back\\\\slash".to_string(),
        "'..'".to_string(),
    ];
    let shown = [
        "bad/name".to_string(),
        "a".repeat(65),
        "with space".to_string(),
        "ключ".to_string(),
        "semi;colon".to_string(),
        "star*".to_string(),
        "back\\\\slash".to_string(),
        "..".to_string(),
    ];
    let mut script = String::new();
    let mut expected = Vec::new();
    for (name, shown) in names.iter().zip(&shown) {
        for command in ["save", "show", "load", "delete"] {
            let value = if command == "save" {
                " sk-0123456789"
            } else {
                ""
            };
            script.push_str(&format!("/key {command} {name}{value}\n"));
            let line = expected.len() + 1;
            // `..` matches the pattern but names no file: refused as a name too.
            let message = format!("Key name '{shown}' {NAME_RULE}");
            expected.push(format!("error: line {line}: {message}"));
        }
    }
    let run = refused(&ks, script.as_bytes()).status(1);
    let stderr = run.stderr();
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors, expected);
    assert_eq!(run.stdout(), "");
}

#[test]
fn invalid_utf8_on_stdin_fails_that_line_only() {
    let ks = Keyshell::new();
    let script =
        b"/key save good sk-good-0123456789\n/key save bad sk-\xff\xfe-bad\n\xc3\x28\n/key list\n";
    let before = snapshot(ks.root());
    let run = ks.run_with_input(["--keep-going"], script).status(1);
    assert_eq!(
        run.stderr(),
        "error: line 2: line is not valid UTF-8\nerror: line 3: line is not valid UTF-8\n"
    );
    assert!(
        run.stdout().contains("Saved key 'good'"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("  good  sk"),
        "line 4 ran: {}",
        run.stdout()
    );
    let changed = diff(&before, &snapshot(ks.root()));
    assert!(
        changed.iter().all(|c| !c.contains("bad")),
        "the invalid line wrote something: {changed:?}"
    );
    // Without --keep-going the script stops at the bad line.
    ks.run_with_input(
        [] as [&str; 0],
        b"\xff\n/key save after sk-after-0123456789\n",
    )
    .status(1)
    .stderr_is("error: line 1: line is not valid UTF-8\n");
    ks.run(["-c", "/key show after"]).status(1);
}

#[test]
fn a_10_mb_line_is_refused_on_stdin_and_in_a_script_file() {
    let ks = Keyshell::new();
    let mut script = b"/key save huge ".to_vec();
    script.extend(std::iter::repeat_n(b'a', 10 << 20));
    script.extend(b"\n/key list\n");
    let expected = "error: line 1: line is longer than 1048576 bytes\n";

    let run = refused(&ks, &script).status(1);
    assert_eq!(run.stderr(), expected);
    assert!(run.stdout().starts_with("No saved keys."), "line 2 ran");

    let path = ks.path("huge.keyshell");
    std::fs::write(&path, &script).unwrap();
    let before = snapshot(ks.root());
    // Peak memory, where GNU time is there to measure it.
    let time = std::path::Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut cmd = std::process::Command::new(time);
        cmd.args(["-f", "maxrss_kb=%M"])
            .arg(env!("CARGO_BIN_EXE_keyshell"));
        for (key, value) in ks.command().get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd
    } else {
        ks.command()
    };
    let out = cmd.arg(&path).stdin(Stdio::null()).output().unwrap();
    let run = Run(out);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().starts_with(expected), "{}", run.stderr());
    assert!(!run.stderr().contains("panicked"));
    if let Some(kb) = run
        .stderr()
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
    {
        println!("a 10 MiB script line: peak memory {kb} KiB");
        assert!(kb < 256 * 1024, "peak memory {kb} KiB for a 10 MiB line");
    }
    let changed = diff(&before, &snapshot(ks.root()));
    assert!(changed.is_empty(), "{changed:?}");
}
