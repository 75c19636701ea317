//! Script mode: commands from `-c`, a script file or piped stdin, one per line.
//! Results go to stdout, errors to stderr as `error: line <N>: …`; the first
//! failure stops the script (status 1) unless `--keep-going`.

use std::io::Write;

use crate::app::{Flow, Shell};
use crate::command::parse_line;
use crate::output::{Level, Output};
use crate::prompt::ScriptPrompter;

/// The longest line a script may have; longer lines are refused, not read.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How a script runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptOptions {
    pub assume_yes: bool,
    pub keep_going: bool,
}

/// One line of a script: its 1-based number and its text (or why it has none).
pub type ScriptLine = (usize, Result<String, String>);

/// Splits raw script bytes into numbered lines. A line that is not UTF-8 or is
/// too long becomes an error for that line only.
pub fn lines_of(bytes: &[u8]) -> Vec<ScriptLine> {
    let mut lines: Vec<ScriptLine> = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = if raw.len() > MAX_LINE_BYTES {
                Err(format!("line is longer than {MAX_LINE_BYTES} bytes"))
            } else {
                String::from_utf8(raw.to_vec()).map_err(|_| "line is not valid UTF-8".to_string())
            };
            (i + 1, text)
        })
        .collect();
    // A final newline does not start another line.
    if matches!(lines.last(), Some((_, Ok(text))) if text.is_empty()) {
        lines.pop();
    }
    lines
}

/// Runs the lines; returns the exit status (0, or 1 if any command failed).
pub async fn run(
    shell: &mut Shell,
    lines: Vec<ScriptLine>,
    options: ScriptOptions,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let mut prompter = ScriptPrompter {
        assume_yes: options.assume_yes,
    };
    let mut failed = false;
    for (number, text) in lines {
        let mut out = Output::new();
        let flow = match text {
            Err(message) => {
                out.error(message);
                Flow::Continue
            }
            Ok(text) if is_skipped(&text) => continue,
            Ok(text) => match parse_line(&text) {
                Ok(Some(command)) => shell.execute(command, &mut prompter, &mut out).await,
                Ok(None) => continue,
                Err(err) => {
                    out.error(err.to_string());
                    Flow::Continue
                }
            },
        };
        render(&out, number, stdout, stderr);
        if out.failed() {
            failed = true;
            if !options.keep_going {
                break;
            }
        }
        if flow == Flow::Quit {
            break;
        }
    }
    let _ = stdout.flush();
    let _ = stderr.flush();
    i32::from(failed)
}

/// Blank lines and `#` comments are skipped.
fn is_skipped(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

fn render(out: &Output, number: usize, stdout: &mut dyn Write, stderr: &mut dyn Write) {
    for line in out.lines() {
        let _ = match line.level {
            Level::Info => writeln!(stdout, "{}", line.text),
            Level::Warning => writeln!(stderr, "warning: line {number}: {}", line.text),
            Level::Error => writeln!(stderr, "error: line {number}: {}", line.text),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_from_one_and_checked() {
        let lines = lines_of(b"/a\r\n\xff\n/c\n");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], (1, Ok("/a".into())));
        assert_eq!(lines[1], (2, Err("line is not valid UTF-8".into())));
        assert_eq!(lines[2], (3, Ok("/c".into())));
    }
}
