//! `/extensions settings|set|unset`: sensitive values live in the keyring (or
//! the encrypted fallback) and are always shown masked; the others in `.env`.

use super::{Shell, describe_store_error};
use crate::command::ExtensionsCommand;
use crate::keys::extensions::{ExtensionError, ExtensionSettingsStorage, SettingStoredIn};
use crate::keys::mask;
use crate::output::Output;
use crate::store::StoredIn;

fn describe(err: &ExtensionError) -> String {
    match err {
        ExtensionError::Store(store) => describe_store_error(store),
        other => other.to_string(),
    }
}

pub async fn execute(shell: &Shell, command: ExtensionsCommand, out: &mut Output) {
    let extension = match &command {
        ExtensionsCommand::Settings { extension }
        | ExtensionsCommand::Set { extension, .. }
        | ExtensionsCommand::Unset { extension, .. } => extension.clone(),
    };
    let storage =
        match ExtensionSettingsStorage::new(&shell.layout, shell.keyring.clone(), &extension) {
            Ok(storage) => storage,
            Err(err) => return out.error(describe(&err)),
        };
    match command {
        ExtensionsCommand::Settings { .. } => settings(&storage, out).await,
        ExtensionsCommand::Set { env_var, value, .. } => {
            if storage.is_sensitive(&env_var) && super::refuse_masked(value.expose(), out) {
                return;
            }
            match storage.set(&env_var, value.expose()).await {
                Ok(stored) => {
                    let shown = if storage.is_sensitive(&env_var) {
                        mask(value.expose())
                    } else {
                        value.expose().to_string()
                    };
                    let place = match stored {
                        SettingStoredIn::Secure(StoredIn::Keyring) => "OS keyring",
                        SettingStoredIn::Secure(StoredIn::File) => {
                            "encrypted file (OS keyring unavailable)"
                        }
                        SettingStoredIn::Secure(StoredIn::Remote) => "the team vault",
                        SettingStoredIn::EnvFile => ".env",
                    };
                    out.info(format!(
                        "Set {env_var} = {shown} for extension '{extension}' ({place})"
                    ));
                }
                Err(err) => out.error(describe(&err)),
            }
        }
        ExtensionsCommand::Unset { env_var, .. } => match storage.unset(&env_var).await {
            Ok(true) => out.info(format!("Removed {env_var} from extension '{extension}'")),
            Ok(false) => out.info(format!("{env_var} was not set for extension '{extension}'")),
            Err(err) => out.error(describe(&err)),
        },
    }
    for notice in storage.store().take_notices() {
        out.warn(notice);
    }
}

async fn settings(storage: &ExtensionSettingsStorage, out: &mut Output) {
    let values = match storage.values().await {
        Ok(values) => values,
        Err(err) => return out.error(describe(&err)),
    };
    if values.is_empty() {
        return out.info(format!(
            "Extension '{}' declares no settings.",
            storage.display_name()
        ));
    }
    out.info(format!(
        "Settings of extension '{}':",
        storage.display_name()
    ));
    for (spec, value) in values {
        let shown = match (value, spec.sensitive) {
            (None, _) => "(not set)".to_string(),
            (Some(v), true) => mask(v.expose()),
            (Some(v), false) => v.expose().to_string(),
        };
        let kind = if spec.sensitive { "sensitive" } else { "plain" };
        let mut line = format!("  {} = {shown}  ({}, {kind})", spec.env_var, spec.name);
        if let Some(description) = &spec.description {
            line.push_str(&format!(" — {description}"));
        }
        out.info(line);
    }
}
