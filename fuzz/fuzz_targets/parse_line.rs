//! The command grammar on any text: `parse_line` never panics, and its
//! errors always render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(err) = keyshell::command::parse_line(line) {
        assert!(!err.to_string().is_empty());
    }
});
