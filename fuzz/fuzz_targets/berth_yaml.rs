//! `berth.yaml`: any text either parses or gives an error naming the file; never a panic.
#![no_main]

use berth::policy::config::CleanupConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = CleanupConfig::parse(text, "fuzz.yaml") {
        assert!(e.to_string().contains("fuzz.yaml"), "{e}");
    }
});
