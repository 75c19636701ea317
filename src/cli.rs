//! The command line (SPEC §8) and the program's one place that turns outcomes
//! into exit statuses: 0 success, 1 a command or start-up failed, 2 bad usage.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::app::Shell;
use crate::paths::{Layout, data_root};
use crate::runtime::overrides::{StartupArgs, apply_cli_overrides};
use crate::script::{self, ScriptOptions};
use crate::store::{KeyringLoader, Secret};

#[derive(Debug, Parser)]
#[command(
    name = "keyshell",
    version,
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
    /// Answer yes to confirmations (overwrite, delete).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// In a script, run every command even after a failure (status 1 if any failed).
    #[arg(long = "keep-going")]
    pub keep_going: bool,
    /// A file of commands to run, one per line.
    #[arg(value_name = "SCRIPT")]
    pub script: Option<PathBuf>,
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
    let mut shell = Shell::new(layout, KeyringLoader::os());
    let started = runtime.block_on(apply_cli_overrides(
        &mut shell.runtime,
        None,
        &cli.startup_args(),
        &shell.keys,
    ));
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
