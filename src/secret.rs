//! A string that must never be shown: passwords, tokens, `auth` fields.

use std::fmt;

/// A secret value. `Debug` and `Display` print `****`; only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the one place that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A credential helper's name as messages may show it. Names of real helpers are short
/// lowercase words (`desktop`, `ecr-login`, `osxkeychain`); anything else in that place may be
/// a credential pasted into the wrong field, so it is not shown.
pub fn helper_name(name: &str) -> String {
    let plausible = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if plausible {
        name.to_string()
    } else {
        "<a name that is not shown: it does not look like a helper name>".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_shown_only_when_they_look_like_one() {
        for name in ["desktop", "ecr-login", "osxkeychain", "acr-env", "gcloud"] {
            assert_eq!(helper_name(name), name);
        }
        for name in [
            "c3VwZXI6czNjcjN0",
            "Desktop",
            "a b",
            "",
            "x/../y",
            &"a".repeat(33),
        ] {
            assert!(helper_name(name).contains("not shown"), "{name}");
        }
    }

    #[test]
    fn debug_and_display_mask_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(s.expose(), "hunter2");
    }
}
