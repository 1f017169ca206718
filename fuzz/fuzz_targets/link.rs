//! `Link` headers: the `rel="next"` target is found without panicking, and it is always text
//! that was written between `<` and `>` in the header.
#![no_main]

use berth::registry::client::parse_next_link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    if let Some(target) = parse_next_link(&header) {
        assert!(
            header.contains(&format!("<{target}>")),
            "`{target}` is not a bracketed target of `{header}`"
        );
    }
});
