//! The session commands: `/keyfile`, `/provider`, `/model`, `/baseurl`,
//! `/status` and `/help`.

use std::path::{Path, PathBuf};

use super::Shell;
use crate::command::Clearable;
use crate::command::registry::{COMMANDS, find};
use crate::output::Output;
use crate::runtime::{ActiveKey, KeySource, providers};
use crate::store::{FallbackPolicy, KeyringState, Secret, os_keyring_disabled};

/// `~` → home, then an absolute path (relative to the working directory).
pub fn expand_path(raw: &str) -> PathBuf {
    let expanded = match raw.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(raw),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        std::env::current_dir().unwrap_or_default().join(expanded)
    }
}

/// The key in a key file: its first line, trimmed. Errors use llxprt's words.
pub fn read_keyfile(path: &Path) -> Result<Secret, String> {
    crate::keys::tools::read_first_line(path)?
        .ok_or_else(|| format!("Keyfile is empty: {}", path.display()))
}

pub fn keyfile(shell: &mut Shell, arg: Option<Clearable<String>>, out: &mut Output) {
    let provider = shell.runtime.provider.clone();
    match arg {
        None => match shell.runtime.settings.get("auth-keyfile") {
            Some(path) => out.info(format!("Key file: {path}")),
            None => out.info("No key file in use. Usage: /keyfile <path>|none"),
        },
        Some(Clearable::None) => {
            if matches!(
                shell.runtime.key,
                Some(ActiveKey {
                    source: KeySource::Keyfile(_),
                    ..
                })
            ) {
                shell.runtime.key = None;
            }
            shell.runtime.settings.remove("auth-keyfile");
            out.info(format!("Key file removed for provider '{provider}'"));
        }
        Some(Clearable::Set(raw)) => {
            let path = expand_path(&raw);
            match read_keyfile(&path) {
                Ok(value) => {
                    out.info(format!(
                        "API key loaded from {} for provider '{provider}'",
                        path.display()
                    ));
                    shell.runtime.use_keyfile(path, value);
                }
                Err(message) => out.error(message),
            }
        }
    }
}

pub fn provider(shell: &mut Shell, name: Option<String>, out: &mut Output) {
    let known = providers::names().collect::<Vec<_>>().join(", ");
    let Some(name) = name else {
        out.info(format!("Provider: {}", shell.runtime.provider));
        out.info(format!("Known providers: {known}"));
        return;
    };
    let Some(provider) = providers::find(&name) else {
        return out.error(format!(
            "Unknown provider '{name}'. Known providers: {known}"
        ));
    };
    if shell.runtime.provider == provider.name {
        return out.info(format!("Provider is already '{name}'"));
    }
    let had_key = shell.runtime.key.is_some();
    shell.runtime.provider = provider.name.to_string();
    shell.runtime.clear_key();
    out.info(format!("Switched to provider '{name}'"));
    // A key belongs to one provider: never send the old one to the new provider.
    if let Some(var) = provider.env_var
        && let Some(value) = env_key(var)
    {
        shell
            .runtime
            .use_raw_key(value, KeySource::Environment(var));
        out.info(format!("Using the key from {var}"));
    } else if had_key {
        out.warn(format!(
            "The previous key was cleared; use /key load <name> to choose one for '{name}'."
        ));
    }
}

/// A non-empty provider key from the environment.
pub fn env_key(var: &str) -> Option<Secret> {
    std::env::var(var)
        .ok()
        .map(Secret::from)
        .filter(|v| !v.expose().trim().is_empty())
}

pub fn model(shell: &mut Shell, name: Option<String>, out: &mut Output) {
    match name {
        None => out.info(format!(
            "Model: {}",
            shell
                .runtime
                .model
                .as_deref()
                .unwrap_or("(provider default)")
        )),
        Some(name) => {
            out.info(format!("Model set to '{name}'"));
            shell.runtime.model = Some(name);
        }
    }
}

pub fn base_url(shell: &mut Shell, url: Option<Clearable<String>>, out: &mut Output) {
    match url {
        None => out.info(format!(
            "Base URL: {}",
            shell.runtime.base_url().unwrap_or("(provider default)")
        )),
        Some(Clearable::None) => {
            shell.runtime.settings.remove("base-url");
            out.info("Base URL cleared");
        }
        Some(Clearable::Set(url)) => {
            out.info(format!("Base URL set to '{url}'"));
            shell.runtime.settings.insert("base-url".into(), url);
        }
    }
}

/// One line on where keys go: the keyring and its state, or the files.
pub async fn storage_state(shell: &Shell) -> String {
    let store = shell.keys.store();
    let files = store.fallback_dir().display().to_string();
    if let Some(status) = store.team_store_status().await {
        let backend = store.keyring_description().await.unwrap_or_default();
        return match status {
            Ok(()) => format!("team vault: {backend}, available (no local files)"),
            Err(err) => format!(
                "team vault: {backend}: {} — {}",
                err.message, err.remediation
            ),
        };
    }
    if os_keyring_disabled() {
        return format!(
            "encrypted files in {files} (OS keyring disabled by LLXPRT_DISABLE_OS_KEYRING)"
        );
    }
    let state = store.keyring_state().await;
    let backend = store.keyring_description().await;
    let policy = store.fallback_policy();
    match (state, backend) {
        (KeyringState::Available, Some(backend)) => {
            format!("OS keyring ({backend}), available; fallback files in {files}")
        }
        // Saves fail until it is unlocked: saying "encrypted files" would be wrong.
        (KeyringState::Refused(err), backend) => format!(
            "none: OS keyring ({}): {} — {}",
            backend.as_deref().unwrap_or("unknown"),
            err.message,
            err.remediation
        ),
        (KeyringState::NotAnswering, _) => {
            let ms = store.keyring_timeout().as_millis();
            match policy {
                FallbackPolicy::Allow => format!(
                    "encrypted files in {files} (the OS keyring did not answer within {ms} ms)"
                ),
                FallbackPolicy::Deny => {
                    format!("none: the OS keyring did not answer within {ms} ms")
                }
            }
        }
        (_, Some(backend)) => match policy {
            FallbackPolicy::Allow => {
                format!("encrypted files in {files} (OS keyring {backend} unavailable)")
            }
            FallbackPolicy::Deny => format!("none: OS keyring {backend} unavailable"),
        },
        (_, None) => format!("encrypted files in {files} (no OS keyring found)"),
    }
}

pub async fn status(shell: &Shell, out: &mut Output) {
    let runtime = &shell.runtime;
    out.info(format!("Provider: {}", runtime.provider));
    out.info(format!(
        "Model: {}",
        runtime.model.as_deref().unwrap_or("(provider default)")
    ));
    out.info(format!(
        "Base URL: {}",
        runtime.base_url().unwrap_or("(provider default)")
    ));
    out.info(format!("Active key: {}", runtime.describe_key()));
    let settings: Vec<String> = runtime
        .settings
        .iter()
        .filter(|(k, _)| k.as_str() != "base-url")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !settings.is_empty() {
        out.info(format!("Settings: {}", settings.join(", ")));
    }
    out.info(format!("Key storage: {}", storage_state(shell).await));
    out.info(format!("Data directory: {}", shell.layout.root.display()));
}

pub fn help(topic: Option<&str>, out: &mut Output) {
    let Some(topic) = topic else {
        out.info("Commands:");
        let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
        for spec in COMMANDS {
            out.info(format!("  {:width$}  {}", spec.usage, spec.summary));
        }
        out.info("Type /help <command> for details.");
        return;
    };
    let Some(spec) = find(topic) else {
        return out.error(format!(
            "Unknown command: /{topic}. Type /help for the list."
        ));
    };
    out.info(format!("{} — {}", spec.usage, spec.summary));
    for line in spec.details {
        out.info(format!("  {line}"));
    }
}
