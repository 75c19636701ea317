//! `/key` in all its forms (llxprt's strings unless noted).

use super::{Shell, describe_key_error};
use crate::command::KeyCommand;
use crate::keys::{ProviderKeyError, mask};
use crate::output::Output;
use crate::prompt::{Confirmation, Prompter};
use crate::runtime::KeySource;
use crate::store::{Secret, StoredIn};

pub async fn execute(
    shell: &mut Shell,
    command: KeyCommand,
    prompter: &mut dyn Prompter,
    out: &mut Output,
) {
    match command {
        KeyCommand::Status => status(shell, out).await,
        KeyCommand::Save { name, value } => save(shell, &name, value, prompter, out).await,
        KeyCommand::Load { name } => load(shell, &name, out).await,
        KeyCommand::Show { name } => show(shell, &name, out).await,
        KeyCommand::List => list(shell, out).await,
        KeyCommand::Delete { name } => delete(shell, &name, prompter, out).await,
        KeyCommand::Raw(value) => {
            if super::refuse_masked(value.expose(), out) {
                return;
            }
            shell.runtime.use_raw_key(value, KeySource::Session);
            out.info(format!(
                "API key updated for provider '{}'",
                shell.runtime.provider
            ));
        }
        KeyCommand::Clear => {
            shell.runtime.clear_key();
            out.info(format!(
                "API key removed for provider '{}'",
                shell.runtime.provider
            ));
        }
    }
}

fn not_found(name: &str) -> String {
    format!("Key '{name}' not found. Use '/key list' to see saved keys.")
}

async fn save(
    shell: &mut Shell,
    name: &str,
    value: Option<Secret>,
    prompter: &mut dyn Prompter,
    out: &mut Output,
) {
    if let Err(err) = crate::keys::validate_key_name(name) {
        return out.error(err.to_string());
    }
    let value = match value {
        Some(value) => value,
        None => match prompter.read_secret(&format!("API key for '{name}' (input hidden): ")) {
            Some(value) => value,
            None => return out.error(ProviderKeyError::EmptyValue.to_string()),
        },
    };
    if let Err(err) = crate::keys::normalize_value(value.expose()) {
        return out.error(err.to_string());
    }
    if super::refuse_masked(value.expose(), out) {
        return;
    }
    match shell.keys.has_key(name).await {
        Ok(true) => {
            let question = format!("Key '{name}' already exists. Overwrite? [y/N]");
            match prompter.confirm(&question) {
                Confirmation::Yes => {}
                Confirmation::No => return out.info("Operation cancelled."),
                Confirmation::NotInteractive => {
                    return out.error(format!(
                        "Key '{name}' already exists. Overwriting requires interactive confirmation (or --yes)."
                    ));
                }
            }
        }
        Ok(false) => {}
        Err(err) => return out.error(describe_key_error(&err)),
    }
    match shell.keys.save_key(name, value.expose()).await {
        Ok(stored) => {
            shell.key_names.invalidate();
            let place = match stored {
                StoredIn::Keyring => "OS keyring",
                StoredIn::File => "encrypted file (OS keyring unavailable)",
                StoredIn::Remote => "the team vault",
            };
            out.info(format!(
                "Saved key '{name}' to {place}. Use /key load {name} to activate it for this session."
            ));
        }
        Err(err) => out.error(describe_key_error(&err)),
    }
}

async fn load(shell: &mut Shell, name: &str, out: &mut Output) {
    match shell.keys.get_key(name).await {
        Ok(Some(value)) => {
            shell.runtime.use_named_key(name, value);
            out.info(format!("Loaded key '{name}' — active for this session"));
        }
        Ok(None) => out.error(not_found(name)),
        Err(err) => out.error(describe_key_error(&err)),
    }
}

async fn show(shell: &Shell, name: &str, out: &mut Output) {
    match shell.keys.get_key(name).await {
        Ok(Some(value)) => out.info(format!(
            "{name}: {} ({} chars)",
            mask(value.expose()),
            value.len()
        )),
        Ok(None) => out.error(not_found(name)),
        Err(err) => out.error(describe_key_error(&err)),
    }
}

async fn list(shell: &Shell, out: &mut Output) {
    let names = match shell.keys.list_keys().await {
        Ok(names) => names,
        Err(err) => return out.error(describe_key_error(&err)),
    };
    if names.is_empty() {
        return out.info("No saved keys. Use '/key save <name> <api-key>' to store one.");
    }
    let values = shell.keys.get_keys(&names).await;
    out.info("Saved keys:");
    for (name, value) in values {
        let shown = match value {
            Ok(Some(value)) => mask(value.expose()),
            Ok(None) => "(unable to retrieve)".to_string(),
            Err(err) => {
                out.warn(format!(
                    "Key '{name}' cannot be read: {}",
                    describe_key_error(&err)
                ));
                "(unable to retrieve)".to_string()
            }
        };
        out.info(format!("  {name}  {shown}"));
    }
}

async fn delete(shell: &mut Shell, name: &str, prompter: &mut dyn Prompter, out: &mut Output) {
    if let Err(err) = crate::keys::validate_key_name(name) {
        return out.error(err.to_string());
    }
    // llxprt checks for a terminal before it checks that the key exists.
    if !prompter.can_confirm() {
        return out.error("Deleting keys requires interactive confirmation (or --yes).");
    }
    match shell.keys.has_key(name).await {
        Ok(true) => {}
        Ok(false) => return out.error(not_found(name)),
        Err(err) => return out.error(describe_key_error(&err)),
    }
    match prompter.confirm(&format!("Delete key '{name}'? [y/N]")) {
        Confirmation::Yes => {}
        Confirmation::No => return out.info("Operation cancelled."),
        Confirmation::NotInteractive => {
            return out.error("Deleting keys requires interactive confirmation (or --yes).");
        }
    }
    match shell.keys.delete_key(name).await {
        Ok(true) => {
            shell.key_names.invalidate();
            out.info(format!("Deleted key '{name}'"));
        }
        Ok(false) => out.error(not_found(name)),
        Err(err) => {
            shell.key_names.invalidate();
            out.error(describe_key_error(&err));
        }
    }
}

/// Bare `/key`: the provider, the active key (masked) and its source, and the
/// state of the key storage.
async fn status(shell: &Shell, out: &mut Output) {
    out.info(format!("Provider: {}", shell.runtime.provider));
    out.info(format!("Active key: {}", shell.runtime.describe_key()));
    out.info(format!(
        "Key storage: {}",
        super::session::storage_state(shell).await
    ));
}
