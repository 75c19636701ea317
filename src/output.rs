//! The output sink: handlers write lines with a level here and never print.
//! The REPL, script mode and snapshot tests all render the same lines.

/// How a line should be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub level: Level,
    pub text: String,
}

/// The lines one command produced.
#[derive(Debug, Default)]
pub struct Output {
    lines: Vec<Line>,
}

impl Output {
    pub fn new() -> Self {
        Output::default()
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.push(Level::Info, text);
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.push(Level::Warning, text);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text);
    }

    fn push(&mut self, level: Level, text: impl Into<String>) {
        self.lines.push(Line {
            level,
            text: text.into(),
        });
    }

    /// Did the command fail (write an error)?
    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.level == Level::Error)
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub fn take(&mut self) -> Vec<Line> {
        std::mem::take(&mut self.lines)
    }

    /// All lines as plain text, one per line (for tests and snapshots).
    pub fn render_plain(&self) -> String {
        self.lines
            .iter()
            .map(|l| match l.level {
                Level::Info => l.text.clone(),
                Level::Warning => format!("warning: {}", l.text),
                Level::Error => format!("error: {}", l.text),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
