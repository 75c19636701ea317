//! The profile loaders on any text: `Profile::from_toml` and
//! `Profile::from_llxprt_json` never panic, and a profile that loads can be
//! written and loaded again.
#![no_main]

use keyshell::profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profile) = Profile::from_toml("fuzz", text) {
        let written = profile.to_toml();
        assert!(
            Profile::from_toml("fuzz", &written).is_ok(),
            "a loaded profile does not load again once written:\n{written}"
        );
    }
    let _ = Profile::from_llxprt_json("fuzz", text);
});
