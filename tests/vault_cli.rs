//! The binary on the team store: every `/key` form, `/toolkey`, `/profile`
//! and `--key-name` against a real OpenBao server, two data roots sharing it,
//! and errors that carry the server's reason and leave nothing local.

mod harness;
mod vault_support;

use harness::Keyshell;
use vault_support::{DevServer, ROOT_TOKEN};

const SECRET: &str = "sk-team-abcdef123456";

fn vault_shell(server: &DevServer, token: &str) -> impl Fn(&Keyshell, &[&str]) -> harness::Run {
    let addr = server.addr.clone();
    let token = token.to_string();
    move |ks: &Keyshell, args: &[&str]| {
        let out = ks
            .command()
            .env("VAULT_ADDR", &addr)
            .env("VAULT_TOKEN", &token)
            .env("KEYSHELL_KEYRING_TIMEOUT_MS", "3000")
            .arg("--store")
            .arg("vault")
            .args(args)
            .output()
            .expect("keyshell runs");
        harness::Run(out)
    }
}

fn local_files(ks: &Keyshell) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(ks.root(), &mut files);
    files
}

#[test]
fn every_key_form_works_on_the_vault_and_two_roots_share_it() {
    let Some(server) = DevServer::start("every_key_form_works_on_the_vault") else {
        return;
    };
    let run = vault_shell(&server, ROOT_TOKEN);
    let alice = Keyshell::new();
    let bob = Keyshell::new();
    run(&alice, &["-c", &format!("/key save team-openai {SECRET}")])
        .success()
        .stdout_is("Saved key 'team-openai' to the team vault. Use /key load team-openai to activate it for this session.\n");
    // Bob sees it at once, from another data root.
    run(&bob, &["-c", "/key list", "-c", "/key show team-openai", "-c", "/key load team-openai", "-c", "/key"])
        .success()
        .no_leak(SECRET)
        .stdout_has("Saved keys:\n  team-openai  sk****************56\n")
        .stdout_has("team-openai: sk****************56 (20 chars)\n")
        .stdout_has("Active key: sk****************56 (named key 'team-openai')\n")
        .stdout_has(&format!("Key storage: team vault: Vault KV v2 at {} (mount secret, prefix keyshell), available (no local files)\n", server.addr));
    run(&bob, &["--key-name", "team-openai", "-c", "/key"])
        .success()
        .stdout_has("named key 'team-openai'");
    // settings.toml chooses the store when --store is not given.
    let carol = Keyshell::new();
    std::fs::write(carol.path("settings.toml"), "store = \"vault\"\n").unwrap();
    let out = carol
        .command()
        .env("VAULT_ADDR", &server.addr)
        .env("VAULT_TOKEN", ROOT_TOKEN)
        .args(["-c", "/key show team-openai"])
        .output()
        .unwrap();
    harness::Run(out)
        .success()
        .stdout_is("team-openai: sk****************56 (20 chars)\n");
    run(
        &bob,
        &[
            "-c",
            "/toolkey exa exa-team-0123456789",
            "-c",
            "/toolkey exa",
        ],
    )
    .success()
    .stdout_has("Stored in the team vault.\n")
    .stdout_has("Exa Search API key: ex***************89\n");
    run(
        &alice,
        &[
            "-c",
            "/provider anthropic",
            "-c",
            "/key load team-openai",
            "-c",
            "/profile save team",
        ],
    )
    .success();
    run(&alice, &["--profile", "team", "-c", "/key"])
        .success()
        .stdout_has("named key 'team-openai'");
    run(&alice, &["-c", "/key save team-openai sk-other-000000000"])
        .status(1)
        .stderr_has("already exists");
    run(&bob, &["--yes", "-c", "/key delete team-openai", "-c", "/key list"])
        .success()
        .stdout_is("Deleted key 'team-openai'\nNo saved keys. Use '/key save <name> <api-key>' to store one.\n");
    run(&alice, &["-c", "/key show team-openai"])
        .status(1)
        .stderr_is(
            "error: line 1: Key 'team-openai' not found. Use '/key list' to see saved keys.\n",
        );
    // Keys never touched the data roots; the profile is the only local file.
    assert!(local_files(&bob).is_empty(), "{:?}", local_files(&bob));
    let alice_files = local_files(&alice);
    assert!(
        alice_files.iter().all(|f| f.contains("/profiles/")),
        "{alice_files:?}"
    );
}

#[test]
fn failures_carry_the_servers_reason_and_change_nothing() {
    let Some(server) = DevServer::start("failures_carry_the_servers_reason") else {
        return;
    };
    let ks = Keyshell::new();
    let wrong = vault_shell(&server, "not-a-valid-token");
    wrong(&ks, &["-c", &format!("/key save k {SECRET}")])
        .status(1)
        .no_leak("not-a-valid-token")
        .stderr_has("HTTP 403")
        .stderr_has("Check that the token (VAULT_TOKEN) has a policy allowing this path");
    server.stop();
    let stopped = vault_shell(&server, ROOT_TOKEN);
    stopped(&ks, &["-c", "/key list"])
        .status(1)
        .no_leak(ROOT_TOKEN)
        .stderr_has("Cannot reach the vault at")
        .stderr_has("Check VAULT_ADDR and that the server is running");
    stopped(&ks, &["-c", &format!("/key save k {SECRET}")]).status(1);
    assert!(local_files(&ks).is_empty(), "{:?}", local_files(&ks));
}

#[test]
fn a_vault_store_without_an_address_is_a_start_up_error() {
    let ks = Keyshell::new();
    let out = ks
        .command()
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .env("VAULT_TOKEN", "x")
        .args(["--store", "vault", "-c", "/key"])
        .output()
        .unwrap();
    let run = harness::Run(out);
    run.status(1)
        .stdout_is("")
        .stderr_has("set VAULT_ADDR (or BAO_ADDR)");
}
