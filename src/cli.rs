//! The command line (SPEC §8) and the program's one place that turns outcomes
//! into exit statuses: 0 success, 1 a command or start-up failed, 2 bad usage.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};

use crate::app::Shell;
use crate::paths::{Layout, data_root};
use crate::profile::{Profile, ProfileError, ProfileStore};
use crate::runtime::overrides::{StartupArgs, apply_cli_overrides};
use crate::script::{self, ScriptOptions};
use crate::settings::Settings;
use crate::store::{KeyringLoader, Secret, VaultConfig, VaultStore};

#[derive(Debug, Parser)]
#[command(
    name = "keyshell",
    version,
    args_conflicts_with_subcommands = true,
    about = "An interactive shell for LLM API keys: OS keyring first, encrypted file fallback, llxprt-compatible.",
    after_help = "Without -c or SCRIPT, and with a terminal, keyshell starts an interactive shell.\nPiped input is run as a script."
)]
pub struct Cli {
    /// Load a profile by name or path.
    #[arg(long, value_name = "name|path")]
    pub profile: Option<String>,
    /// Use this provider (openai, anthropic, gemini, openrouter, groq, ollama).
    #[arg(long, value_name = "p")]
    pub provider: Option<String>,
    /// Use this model.
    #[arg(long, short = 'm', value_name = "m")]
    pub model: Option<String>,
    /// Use this raw API key. Anyone who can list processes (`ps`) can see it: prefer --key-name.
    #[arg(long, value_name = "raw")]
    pub key: Option<String>,
    /// Load a named API key from the keyring (same as /key load <name>)
    #[arg(long = "key-name", value_name = "n")]
    pub key_name: Option<String>,
    /// Read the API key from the first line of this file.
    #[arg(long, value_name = "path")]
    pub keyfile: Option<String>,
    /// Set an ephemeral setting (repeatable).
    #[arg(long = "set", value_name = "setting>=<value", value_parser = parse_setting)]
    pub set: Vec<(String, String)>,
    /// Use this base URL.
    #[arg(long, value_name = "url")]
    pub baseurl: Option<String>,
    /// Run this command and exit (repeatable; run in order).
    #[arg(short = 'c', value_name = "command")]
    pub commands: Vec<String>,
    /// Where keys live: the OS keyring ("os", with encrypted files as fallback) or a
    /// team vault ("vault": OpenBao or HashiCorp Vault, from VAULT_ADDR/VAULT_TOKEN).
    #[arg(long, value_name = "os|vault", value_parser = ["os", "vault"])]
    pub store: Option<String>,
    /// Answer yes to confirmations (overwrite, delete).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// In a script, run every command even after a failure (status 1 if any failed).
    #[arg(long = "keep-going")]
    pub keep_going: bool,
    /// A file of commands to run, one per line.
    #[arg(value_name = "SCRIPT")]
    pub script: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Print a shell completion script for keyshell's flags.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn parse_setting(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected <setting>=<value>, got '{raw}'")),
    }
}

impl Cli {
    fn startup_args(&self) -> StartupArgs {
        StartupArgs {
            provider: self.provider.clone(),
            model: self.model.clone(),
            key: self.key.clone().map(Secret::from),
            key_name: self.key_name.clone(),
            keyfile: self.keyfile.clone(),
            set: self.set.clone(),
            baseurl: self.baseurl.clone(),
        }
    }
}

/// The whole program.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Sub::Completions { shell }) = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "keyshell",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    let status = run(&cli, &runtime);
    // A hung keyring call must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(status)
}

fn run(cli: &Cli, runtime: &tokio::runtime::Runtime) -> u8 {
    let layout = Layout::new(data_root());
    for line in crate::legacy::scan(&layout) {
        eprintln!("warning: {line}");
    }
    let keyring = match keyring_for(cli, &layout) {
        Ok(keyring) => keyring,
        Err(message) => {
            eprintln!("error: {message}");
            return 1;
        }
    };
    let mut shell = Shell::new(layout.clone(), keyring);
    let started = match choose_profile(cli, &shell) {
        Ok(profile) => runtime.block_on(start(&mut shell, profile, cli)),
        Err(message) => Err(message),
    };
    if let Err(message) = started {
        eprintln!("error: {message}");
        return 1;
    }
    let interactive = cli.commands.is_empty()
        && cli.script.is_none()
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    if interactive {
        return crate::repl::run(&mut shell, runtime, cli.yes) as u8;
    }
    let lines = match script_lines(cli) {
        Ok(lines) => lines,
        Err(message) => {
            eprintln!("error: {message}");
            return 2;
        }
    };
    let options = ScriptOptions {
        assume_yes: cli.yes,
        keep_going: cli.keep_going,
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    runtime.block_on(script::run(
        &mut shell,
        lines,
        options,
        &mut stdout,
        &mut stderr,
    )) as u8
}

/// The key store: `--store`, else `store` in settings.toml, else the OS
/// keyring. `keyring-timeout-ms` from settings.toml applies unless
/// `KEYSHELL_KEYRING_TIMEOUT_MS` is set (the environment wins).
fn keyring_for(cli: &Cli, layout: &Layout) -> Result<KeyringLoader, String> {
    let settings = Settings::load(&layout.settings())?;
    let store = cli.store.as_deref().or(settings.store()).unwrap_or("os");
    let loader = match store {
        "os" => KeyringLoader::os(),
        "vault" => {
            let config = VaultConfig::from_env(settings.vault_mount(), settings.vault_prefix())?;
            KeyringLoader::remote(Arc::new(VaultStore::new(config)))
        }
        other => {
            return Err(format!(
                "{}: store = \"{other}\" is not a key store keyshell knows (use \"os\" or \"vault\")",
                layout.settings().display()
            ));
        }
    };
    let from_env = std::env::var_os("KEYSHELL_KEYRING_TIMEOUT_MS").is_some();
    Ok(match settings.keyring_timeout_ms() {
        Some(ms) if !from_env => loader.with_timeout(std::time::Duration::from_millis(ms)),
        _ => loader,
    })
}

/// Bootstrap: the profile's runtime, then the one override stage.
async fn start(shell: &mut Shell, profile: Option<Profile>, cli: &Cli) -> Result<(), String> {
    let profile_keys = match &profile {
        Some(profile) => {
            crate::app::check_provider(profile)?;
            let (runtime, keys) = profile.to_runtime();
            shell.runtime = runtime;
            Some(keys)
        }
        None => None,
    };
    apply_cli_overrides(
        &mut shell.runtime,
        profile_keys.as_ref(),
        &cli.startup_args(),
        &shell.keys,
    )
    .await
}

/// `--profile`, else `KEYSHELL_PROFILE`, else the default profile from
/// settings.toml (unless `--provider` is given). A missing default profile
/// is a warning; a profile asked for by name is an error.
fn choose_profile(cli: &Cli, shell: &Shell) -> Result<Option<Profile>, String> {
    let store = &shell.profiles;
    if let Some(wanted) = &cli.profile {
        return load_named_or_path(store, wanted)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if let Ok(wanted) = std::env::var("KEYSHELL_PROFILE")
        && !wanted.trim().is_empty()
    {
        return load_named_or_path(store, wanted.trim())
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if cli.provider.is_some() {
        return Ok(None);
    }
    let settings = Settings::load(&shell.layout.settings())?;
    let Some(name) = settings.default_profile() else {
        return Ok(None);
    };
    match store.load(name) {
        Ok(profile) => Ok(Some(profile)),
        Err(ProfileError::NotFound(_)) => {
            eprintln!(
                "warning: the default profile '{name}' was not found; starting without it (/profile set-default none to stop this warning)"
            );
            Ok(None)
        }
        Err(err) => Err(err.to_string()),
    }
}

fn load_named_or_path(store: &ProfileStore, wanted: &str) -> Result<Profile, ProfileError> {
    let looks_like_path =
        wanted.contains('/') || wanted.ends_with(".toml") || wanted.ends_with(".json");
    if looks_like_path {
        ProfileStore::load_path(&crate::app::expand_path(wanted))
    } else {
        store.load(wanted)
    }
}

fn script_lines(cli: &Cli) -> Result<Vec<script::ScriptLine>, String> {
    if !cli.commands.is_empty() {
        return Ok(cli
            .commands
            .iter()
            .enumerate()
            .map(|(i, c)| (i + 1, Ok(c.clone())))
            .collect());
    }
    let bytes = match &cli.script {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?,
        None => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            bytes
        }
    };
    Ok(script::lines_of(&bytes))
}
