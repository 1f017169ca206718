//! `WWW-Authenticate` headers: parsing, picking a challenge and reading its scopes never panic.
#![no_main]

use berth::registry::auth;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let challenges = auth::parse_challenges(&header);
    if let Some(c) = auth::pick(&challenges) {
        let _ = (c.param("realm"), c.param("service"), c.insufficient_scope());
        for scope in c.scopes() {
            assert!(!scope.is_empty() && !scope.contains(char::is_whitespace));
        }
    }
});
