//! Image references: parsing never panics, and what parses prints back to itself.
#![no_main]

use berth::registry::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = Reference::parse(text) {
        let printed = reference.to_string();
        let again = Reference::parse(&printed)
            .unwrap_or_else(|e| panic!("`{text}` parsed, but its form `{printed}` does not: {e}"));
        assert_eq!(again, reference, "`{text}` → `{printed}`");
    }
});
