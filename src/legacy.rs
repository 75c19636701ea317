//! Old data keyshell finds but does not read: hex-colon tool key files, the
//! single-file MCP token store, and envelopes of a version it does not know.
//! Start-up reports each kind once, with what to do; nothing is ever deleted.

use std::path::{Path, PathBuf};

use crate::paths::Layout;
use crate::store::envelope::peek_version;

/// One line per kind of old data found under the data root.
pub fn scan(layout: &Layout) -> Vec<String> {
    let mut lines = Vec::new();
    let tool_files = old_tool_key_files(&layout.tools());
    if !tool_files.is_empty() {
        lines.push(format!(
            "found tool key files in an old format ({}); keyshell does not read them. Re-create each key with '/toolkey <tool> <key>'.",
            join(&tool_files)
        ));
    }
    let tokens = layout.root.join("mcp-oauth-tokens-v2.json");
    if tokens.is_file() {
        lines.push(format!(
            "found the old MCP token file {}; keyshell does not read it. Sign in to each MCP server again to store its tokens, then check them with '/mcp tokens'.",
            tokens.display()
        ));
    }
    let newer = unknown_envelopes(layout);
    if !newer.is_empty() {
        lines.push(format!(
            "found encrypted files with an envelope version keyshell cannot read ({}); they are left as they are. Upgrade keyshell, or re-save each key with '/key save <name>'.",
            join(&newer)
        ));
    }
    lines
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == extension) && p.is_file())
        .collect();
    found.sort();
    found
}

/// `ROOT/tools/*.key`: llxprt's `hex(iv):hex(tag):hex(ct)` files (and the
/// envelope-in-`.key` files of later llxprt versions), neither read here.
fn old_tool_key_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "key")
        .into_iter()
        .filter(|path| {
            std::fs::read(path)
                .is_ok_and(|bytes| is_hex_colon(&bytes) || peek_version(&bytes).is_some())
        })
        .collect()
}

fn is_hex_colon(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let parts: Vec<&str> = text.trim().split(':').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `.enc` files whose `v` is not 1 or 2.
fn unknown_envelopes(layout: &Layout) -> Vec<PathBuf> {
    let mut dirs = vec![layout.provider_keys(), layout.tools()];
    if let Ok(entries) = std::fs::read_dir(layout.root.join("secure-store")) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    dirs.iter()
        .flat_map(|dir| files_with_extension(dir, "enc"))
        .filter(|path| {
            std::fs::read(path)
                .ok()
                .and_then(|b| peek_version(&b))
                .is_some_and(|v| v.as_f64() != Some(1.0) && v.as_f64() != Some(2.0))
        })
        .collect()
}
