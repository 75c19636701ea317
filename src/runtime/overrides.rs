//! `apply_cli_overrides`: the single stage that decides the active key at
//! start-up (SPEC §5). Order: `--key` → `--key-name` → profile `auth-key-name`
//! → `--keyfile` → profile `auth-keyfile` → profile `auth-key` → the
//! provider's environment variable. The first present source decides; a named
//! key that cannot be resolved is an error, never a fall-through. Then `--set`,
//! then `--baseurl`.

use std::collections::BTreeMap;

use super::{KeySource, Runtime, VALID_SETTINGS, providers};
use crate::app::describe_store_error;
use crate::keys::{ProviderKeyError, ProviderKeyStorage};
use crate::store::Secret;

/// The start-up flags that touch the runtime (clap fills this in).
#[derive(Debug, Default, Clone)]
pub struct StartupArgs {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub key: Option<Secret>,
    pub key_name: Option<String>,
    pub keyfile: Option<String>,
    pub set: Vec<(String, String)>,
    pub baseurl: Option<String>,
}

/// What a loaded profile contributes (already applied to the runtime's
/// provider, model and params; the key sources are decided here).
#[derive(Debug, Default, Clone)]
pub struct ProfileKeys {
    pub name: String,
    pub auth_key_name: Option<String>,
    pub auth_keyfile: Option<String>,
    pub auth_key: Option<Secret>,
}

/// Resolves a named key; the errors are llxprt's.
pub async fn resolve_named_key(keys: &ProviderKeyStorage, name: &str) -> Result<Secret, String> {
    match keys.get_key(name).await {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(format!(
            "Named key '{name}' not found. Use '/key save {name} <key>' to store it."
        )),
        Err(ProviderKeyError::Store(err)) => Err(format!(
            "Failed to access keyring while resolving named key '{name}': {}. Use '/key save {name} <key>' to store it, or use --key to provide the key directly.",
            describe_store_error(&err)
        )),
        Err(err) => Err(format!(
            "Invalid key name '{name}': {err}. Use '/key save <name> <key>' with a valid name."
        )),
    }
}

/// Decides the key and applies `--set` and `--baseurl`. On error the runtime
/// is left as it was.
pub async fn apply_cli_overrides(
    runtime: &mut Runtime,
    profile: Option<&ProfileKeys>,
    args: &StartupArgs,
    keys: &ProviderKeyStorage,
) -> Result<(), String> {
    let mut next = runtime.clone();
    if let Some(provider) = &args.provider {
        if providers::find(provider).is_none() {
            let known = providers::names().collect::<Vec<_>>().join(", ");
            return Err(format!(
                "Unknown provider '{provider}'. Known providers: {known}"
            ));
        }
        next.provider = provider.clone();
    }
    if let Some(model) = &args.model {
        next.model = Some(model.clone());
    }
    decide_key(&mut next, profile, args, keys).await?;
    let set = parse_settings(&args.set)?;
    for (setting, value) in set {
        apply_setting(&mut next, keys, &setting, &value).await?;
    }
    if let Some(url) = &args.baseurl {
        next.settings.insert("base-url".into(), url.clone());
    }
    *runtime = next;
    Ok(())
}

async fn decide_key(
    runtime: &mut Runtime,
    profile: Option<&ProfileKeys>,
    args: &StartupArgs,
    keys: &ProviderKeyStorage,
) -> Result<(), String> {
    let profile_name = profile.map(|p| p.name.clone()).unwrap_or_default();
    if let Some(key) = &args.key {
        runtime.use_raw_key(key.clone(), KeySource::Flag);
    } else if let Some(name) = &args.key_name {
        let value = resolve_named_key(keys, name).await?;
        runtime.use_named_key(name, value);
    } else if let Some(name) = profile.and_then(|p| p.auth_key_name.as_ref()) {
        let value = resolve_named_key(keys, name).await?;
        runtime.use_named_key(name, value);
    } else if let Some(path) = &args.keyfile {
        use_keyfile(runtime, path)?;
    } else if let Some(path) = profile.and_then(|p| p.auth_keyfile.as_ref()) {
        use_keyfile(runtime, path)?;
    } else if let Some(key) = profile.and_then(|p| p.auth_key.as_ref()) {
        runtime.use_raw_key(key.clone(), KeySource::Profile(profile_name));
    } else if let Some(var) = providers::find(&runtime.provider).and_then(|p| p.env_var)
        && let Some(value) = crate::app::env_key(var)
    {
        runtime.use_raw_key(value, KeySource::Environment(var));
    } else {
        runtime.key = None;
    }
    Ok(())
}

fn use_keyfile(runtime: &mut Runtime, raw: &str) -> Result<(), String> {
    let path = crate::app::expand_path(raw);
    let value = crate::app::read_keyfile(&path)?;
    runtime.use_keyfile(path, value);
    Ok(())
}

/// `--set name=value` pairs, checked against the valid settings.
fn parse_settings(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        if !VALID_SETTINGS.contains(&name.as_str()) {
            return Err(invalid_setting(name));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

pub fn invalid_setting(name: &str) -> String {
    format!(
        "Invalid setting '{name}'. Valid settings: {}",
        VALID_SETTINGS.join(", ")
    )
}

/// Applies one setting the way `/set` does: key settings change the key.
pub async fn apply_setting(
    runtime: &mut Runtime,
    keys: &ProviderKeyStorage,
    setting: &str,
    value: &str,
) -> Result<(), String> {
    match setting {
        "auth-key-name" => {
            let secret = resolve_named_key(keys, value).await?;
            runtime.use_named_key(value, secret);
        }
        "auth-keyfile" => use_keyfile(runtime, value)?,
        "auth-key" => runtime.use_raw_key(Secret::new(value), KeySource::Session),
        other if VALID_SETTINGS.contains(&other) => {
            runtime
                .settings
                .insert(other.to_string(), value.to_string());
        }
        other => return Err(invalid_setting(other)),
    }
    Ok(())
}
