//! `/toolkey` and `/toolkeyfile` (llxprt's strings).

use super::{Shell, describe_store_error, expand_path};
use crate::command::Clearable;
use crate::keys::mask;
use crate::keys::tools::{ToolKeyError, ToolSpec, find_tool, read_first_line, tool_names};
use crate::output::Output;
use crate::store::{Secret, StoredIn};

fn describe(err: &ToolKeyError) -> String {
    match err {
        ToolKeyError::Store(store) => describe_store_error(store),
        other => other.to_string(),
    }
}

fn tool_or_error(tool: &str, out: &mut Output) -> Option<&'static ToolSpec> {
    let spec = find_tool(tool);
    if spec.is_none() {
        out.error(format!(
            "Unknown tool '{tool}'. Supported tools: {}",
            tool_names()
        ));
    }
    spec
}

pub async fn toolkey(
    shell: &mut Shell,
    tool: &str,
    key: Option<Clearable<Secret>>,
    out: &mut Output,
) {
    let Some(spec) = tool_or_error(tool, out) else {
        return;
    };
    let name = spec.display_name;
    match key {
        None => match shell.tools.get_key(tool).await {
            Ok(Some(key)) => out.info(format!("{name} API key: {}", mask(key.expose()))),
            Ok(None) => out.info(format!("No API key configured for '{name}'")),
            Err(err) => out.error(describe(&err)),
        },
        Some(Clearable::None) => match shell.tools.delete_key(tool).await {
            Ok(_) => out.info(format!("Cleared API key for '{name}'")),
            Err(err) => out.error(describe(&err)),
        },
        Some(Clearable::Set(key)) if super::refuse_masked(key.expose(), out) => {}
        Some(Clearable::Set(key)) => match shell.tools.save_key(tool, key.expose()).await {
            Ok(stored) => {
                out.info(format!(
                    "API key set for '{name}': {}",
                    mask(key.expose().trim())
                ));
                match stored {
                    StoredIn::File => {
                        out.info("Stored in an encrypted file (OS keyring unavailable).")
                    }
                    StoredIn::Remote => out.info("Stored in the team vault."),
                    StoredIn::Keyring => {}
                }
            }
            Err(err) => out.error(describe(&err)),
        },
    }
}

pub fn toolkeyfile(
    shell: &mut Shell,
    tool: &str,
    path: Option<Clearable<String>>,
    out: &mut Output,
) {
    let Some(spec) = tool_or_error(tool, out) else {
        return;
    };
    let name = spec.display_name;
    let (_, warning) = shell.tools.keyfiles();
    if let Some(warning) = warning {
        out.warn(warning);
    }
    let result = match path {
        None => shell.tools.keyfile(tool).map(|path| match path {
            Some(path) => out.info(format!("{name} keyfile: {path}")),
            None => out.info(format!("No keyfile configured for '{name}'")),
        }),
        Some(Clearable::None) => shell
            .tools
            .set_keyfile(tool, None)
            .map(|()| out.info(format!("Cleared keyfile for '{name}'"))),
        Some(Clearable::Set(raw)) => {
            let path = expand_path(&raw);
            match read_first_line(&path) {
                Err(message) => Err(ToolKeyError::Keyfile(message)),
                Ok(None) => Err(ToolKeyError::Keyfile(format!(
                    "Keyfile is empty: {}",
                    path.display()
                ))),
                Ok(Some(_)) => shell
                    .tools
                    .set_keyfile(tool, Some(&path))
                    .map(|()| out.info(format!("Keyfile set for '{name}': {}", path.display()))),
            }
        }
    };
    if let Err(err) = result {
        out.error(describe(&err));
    }
}
