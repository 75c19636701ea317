//! `/profile` and `/set`: profiles refer to keys by name; loading one resolves
//! its key before anything changes, so a failed load leaves the session as it was.

use super::Shell;
use crate::command::{Clearable, ProfileCommand, SetCommand};
use crate::keys::mask;
use crate::output::Output;
use crate::profile::{Profile, ProfileFormat};
use crate::runtime::overrides::{StartupArgs, apply_cli_overrides, apply_setting, invalid_setting};
use crate::runtime::{KeySource, VALID_SETTINGS, providers};
use crate::settings::Settings;

pub async fn profile(shell: &mut Shell, command: ProfileCommand, out: &mut Output) {
    match command {
        ProfileCommand::Save { name } => save(shell, &name, out),
        ProfileCommand::Load { name } => match shell.profiles.load(&name) {
            Ok(profile) => match activate(shell, &profile).await {
                Ok(()) => out.info(format!("Profile '{name}' loaded")),
                Err(message) => out.error(message),
            },
            Err(err) => out.error(err.to_string()),
        },
        ProfileCommand::Show { name } => match shell.profiles.load(&name) {
            Ok(profile) => show(&profile, out),
            Err(err) => out.error(err.to_string()),
        },
        ProfileCommand::List => list(shell, out),
        ProfileCommand::Delete { name } => match shell.profiles.delete(&name) {
            Ok(()) => {
                out.info(format!("Profile '{name}' deleted"));
                clear_default_if(shell, &name, out);
            }
            Err(err) => out.error(err.to_string()),
        },
        ProfileCommand::SetDefault(target) => set_default(shell, target, out),
    }
}

/// Replaces the session with the profile's, resolving its key first.
pub async fn activate(shell: &mut Shell, profile: &Profile) -> Result<(), String> {
    check_provider(profile)?;
    let (mut runtime, keys) = profile.to_runtime();
    apply_cli_overrides(
        &mut runtime,
        Some(&keys),
        &StartupArgs::default(),
        &shell.keys,
    )
    .await?;
    shell.runtime = runtime;
    Ok(())
}

/// A profile must name a provider keyshell knows.
pub fn check_provider(profile: &Profile) -> Result<(), String> {
    if providers::find(&profile.provider).is_some() {
        return Ok(());
    }
    let known = providers::names().collect::<Vec<_>>().join(", ");
    Err(format!(
        "Profile '{}' names an unknown provider '{}'. Known providers: {known}",
        profile.name, profile.provider
    ))
}

fn save(shell: &mut Shell, name: &str, out: &mut Output) {
    let (profile, raw_key_left_out) = Profile::from_runtime(name, &shell.runtime);
    match shell.profiles.save(&profile) {
        Ok(_) => {
            out.info(format!("Profile '{name}' saved"));
            if raw_key_left_out {
                out.warn(format!(
                    "The session's raw key was not saved: profiles never hold raw keys. Save it as a named key with '/key save <name> <api-key>', run '/key load <name>', then '/profile save {name}' again."
                ));
            }
        }
        Err(err) => out.error(err.to_string()),
    }
}

fn show(profile: &Profile, out: &mut Output) {
    if profile.format == ProfileFormat::LlxprtJson {
        out.info(format!(
            "# llxprt profile {}.json (read-only), shown as keyshell TOML",
            profile.name
        ));
    }
    for line in profile.to_toml().lines() {
        out.info(line);
    }
    if let Some(raw) = profile.settings.get("auth-key") {
        out.warn(format!(
            "This profile holds a raw key ({}); keyshell uses it but never writes it to a profile. Save it with '/key save <name> <api-key>' and set auth-key-name instead.",
            mask(raw)
        ));
    }
}

fn list(shell: &Shell, out: &mut Output) {
    let entries = shell.profiles.list();
    if entries.is_empty() {
        return out.info("No saved profiles. Use '/profile save <name>' to create one.");
    }
    let default = Settings::load(&shell.layout.settings())
        .ok()
        .and_then(|s| s.default_profile().map(String::from));
    out.info("Profiles:");
    for entry in entries {
        let mut line = format!("  {}", entry.name);
        if entry.format == ProfileFormat::LlxprtJson {
            line.push_str("  (llxprt, read-only)");
        }
        if default.as_deref() == Some(entry.name.as_str()) {
            line.push_str("  (default)");
        }
        out.info(line);
    }
}

fn set_default(shell: &mut Shell, target: Clearable<String>, out: &mut Output) {
    let path = shell.layout.settings();
    let mut settings = match Settings::load(&path) {
        Ok(settings) => settings,
        Err(message) => return out.error(message),
    };
    let message = match &target {
        Clearable::Set(name) => {
            if let Err(err) = shell.profiles.load(name) {
                return out.error(err.to_string());
            }
            settings.set_default_profile(Some(name));
            format!("Profile '{name}' set as default. It will be loaded automatically on startup.")
        }
        Clearable::None => {
            settings.set_default_profile(None);
            "Default profile cleared. keyshell will start with default settings.".to_string()
        }
    };
    match settings.save(&path) {
        Ok(()) => out.info(message),
        Err(err) => out.error(format!("{} — {}", err.message, err.remediation)),
    }
}

fn clear_default_if(shell: &Shell, name: &str, out: &mut Output) {
    let path = shell.layout.settings();
    if let Ok(mut settings) = Settings::load(&path)
        && settings.default_profile() == Some(name)
    {
        settings.set_default_profile(None);
        if settings.save(&path).is_ok() {
            out.info("It was the default profile; the default is now cleared.");
        }
    }
}

pub async fn set(shell: &mut Shell, command: SetCommand, out: &mut Output) {
    match command {
        SetCommand::Show => {
            if shell.runtime.settings.is_empty() {
                out.info("No settings. Usage: /set <setting> <value>, /set unset <setting>");
            } else {
                out.info("Settings:");
                for (k, v) in &shell.runtime.settings {
                    out.info(format!("  {k} = {v}"));
                }
            }
        }
        SetCommand::Set { setting, value } => {
            if setting == "auth-key" && super::refuse_masked(value.expose(), out) {
                return;
            }
            let mut next = shell.runtime.clone();
            match apply_setting(&mut next, &shell.keys, &setting, value.expose()).await {
                Ok(()) => {
                    shell.runtime = next;
                    let shown = if setting == "auth-key" {
                        mask(value.expose())
                    } else {
                        value.expose().to_string()
                    };
                    out.info(format!("Setting '{setting}' set to '{shown}'"));
                }
                Err(message) => out.error(message),
            }
        }
        SetCommand::Unset { setting } => unset(shell, &setting, out),
    }
}

fn unset(shell: &mut Shell, setting: &str, out: &mut Output) {
    if !VALID_SETTINGS.contains(&setting) {
        return out.error(invalid_setting(setting));
    }
    let runtime = &mut shell.runtime;
    let key_from_it = runtime.key.as_ref().is_some_and(|k| {
        matches!(
            (&k.source, setting),
            (KeySource::Named(_), "auth-key-name")
                | (KeySource::Keyfile(_), "auth-keyfile")
                | (
                    KeySource::Session | KeySource::Flag | KeySource::Profile(_),
                    "auth-key"
                )
        )
    });
    let was_set = runtime.settings.remove(setting).is_some() || key_from_it;
    if key_from_it {
        runtime.key = None;
    }
    if was_set {
        out.info(format!("Setting '{setting}' cleared"));
    } else {
        out.info(format!("Setting '{setting}' was not set"));
    }
}
