//! The envelope reader on any bytes: `envelope::parse` never panics, refuses
//! with CORRUPT only, and what it accepts goes through `open` without a panic.
#![no_main]

use std::sync::OnceLock;

use keyshell::store::ErrorCode;
use keyshell::store::envelope::{self, DerivedKey};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static DerivedKey {
    static KEY: OnceLock<DerivedKey> = OnceLock::new();
    KEY.get_or_init(|| envelope::derive_key("fuzz-password", &[0u8; 16]))
}

fuzz_target!(|data: &[u8]| {
    match envelope::parse(data) {
        Ok(sealed) => {
            let _ = envelope::open(&sealed, key());
        }
        Err(err) => assert_eq!(err.code, ErrorCode::Corrupt),
    }
});
