//! Manifest, index and config JSON: parsing never panics; a digest is believed only when the
//! bytes hash to it.
#![no_main]

use berth::registry::{Digest, ImageConfig, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let own = Digest::of_bytes(data);
    let plain = Manifest::parse(data.to_vec(), None, None);
    let with_own = Manifest::parse(data.to_vec(), Some("application/json"), Some(own.clone()));
    assert_eq!(plain.is_ok(), with_own.is_ok());
    if let Ok(m) = &plain {
        assert_eq!(m.digest, own);
        assert_eq!(m.bytes, data);
        let _ = (m.is_index(), m.children().len(), m.config());
    }
    let other = Digest::of_bytes(b"another manifest");
    if other != own {
        assert!(Manifest::parse(data.to_vec(), None, Some(other)).is_err());
    }
    let _ = ImageConfig::parse(data);
});
