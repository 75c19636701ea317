//! The interactive shell: rustyline with completion, masking as you type,
//! and a history (in memory and in `ROOT/keyshell_history`, 0600) that only
//! ever holds masked lines.

mod helper;

use std::io::Write;
use std::path::Path;

use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{ColorMode, CompletionType, Config, Editor};

pub use helper::ShellHelper;

use crate::app::{Flow, Shell};
use crate::command::mask::history_entry;
use crate::command::parse_line;
use crate::output::{Level, Output};
use crate::prompt::TerminalPrompter;

const PROMPT: &str = "keyshell> ";

/// Runs the REPL until `/quit` or Ctrl-D; returns the exit status.
pub fn run(shell: &mut Shell, runtime: &tokio::runtime::Runtime, assume_yes: bool) -> i32 {
    // The highlighter is what masks a secret as it is typed, and rustyline
    // turns highlighting off under NO_COLOR (or when it thinks colours are
    // unsupported). Forced keeps it on; the helper never emits colour codes.
    let config = Config::builder()
        .auto_add_history(false)
        .color_mode(ColorMode::Forced)
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<ShellHelper, FileHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(err) => {
            eprintln!("error: cannot start the line editor: {err}");
            return 1;
        }
    };
    editor.set_helper(Some(ShellHelper::new(shell, runtime.handle().clone())));
    let history_path = shell.layout.history();
    let history_ready = prepare_history_file(&shell.layout.root, &history_path);
    if history_ready {
        let _ = editor.load_history(&history_path);
    }
    let color = use_color();
    let mut prompter = TerminalPrompter { assume_yes };
    println!(
        "keyshell {} — type /help for commands, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => {
                eprintln!("error: {err}");
                return 1;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let entry = history_entry(&line);
        if editor.history_mut().add(&entry).unwrap_or(false) && history_ready {
            let _ = editor.append_history(&history_path);
        }
        let mut out = Output::new();
        let flow = match parse_line(&line) {
            Ok(Some(command)) => runtime.block_on(shell.execute(command, &mut prompter, &mut out)),
            Ok(None) => Flow::Continue,
            Err(err) => {
                out.error(err.to_string());
                Flow::Continue
            }
        };
        drop(line);
        render(&out, color);
        if flow == Flow::Quit {
            break;
        }
    }
    0
}

/// Makes sure the history file exists with mode 0600 before rustyline writes
/// it; a data root or history file others could read is tightened, and said so.
fn prepare_history_file(root: &Path, path: &Path) -> bool {
    use crate::store::files::{ensure_private_dir, ensure_private_file};
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(root_warning) = ensure_private_dir(root) else {
        return false;
    };
    let created = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path);
    let Ok(file_warning) = created
        .map_err(drop)
        .and_then(|_| ensure_private_file(path).map_err(drop))
    else {
        return false;
    };
    for warning in [root_warning, file_warning].into_iter().flatten() {
        eprintln!("warning: {warning}");
    }
    true
}

fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn render(out: &Output, color: bool) {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    for line in out.lines() {
        let _ = match (line.level, color) {
            (Level::Info, _) => writeln!(stdout, "{}", line.text),
            (Level::Warning, true) => writeln!(stderr, "\x1b[33mwarning:\x1b[0m {}", line.text),
            (Level::Warning, false) => writeln!(stderr, "warning: {}", line.text),
            (Level::Error, true) => writeln!(stderr, "\x1b[31merror:\x1b[0m {}", line.text),
            (Level::Error, false) => writeln!(stderr, "error: {}", line.text),
        };
    }
    let _ = stdout.flush();
}
