//! Tag forms of git ref names, as the common producers write them.
//!
//! `metadata_action` follows docker/metadata-action (`type=ref`): `/` and any character a
//! docker tag cannot hold become `-`, lowercased, at most 128 characters. `gitlab` follows
//! GitLab's `CI_COMMIT_REF_SLUG`: lowercased, every character outside `[a-z0-9]` becomes `-`,
//! cut to 63 bytes, leading and trailing `-` removed.

/// The slug rules berth knows; a ref's tag forms are its slugs under every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlugStyle {
    /// docker/metadata-action.
    MetadataAction,
    /// GitLab `CI_COMMIT_REF_SLUG`.
    Gitlab,
}

impl SlugStyle {
    /// Every style, in the order tag forms are tried.
    pub const ALL: [SlugStyle; 2] = [SlugStyle::MetadataAction, SlugStyle::Gitlab];

    /// The slug of `name` under this style.
    pub fn apply(self, name: &str) -> String {
        match self {
            SlugStyle::MetadataAction => metadata_action(name),
            SlugStyle::Gitlab => gitlab(name),
        }
    }
}

/// docker/metadata-action's tag form of a ref name: lowercase; each run of characters outside
/// `[a-z0-9._-]` (including `/`) becomes one `-`; at most 128 characters.
pub fn metadata_action(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        // metadata-action turns every `/` into `-` before sanitising, so `a//b` keeps two.
        if c == '/' {
            out.push('-');
            in_run = false;
            continue;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out.truncate(128);
    out
}

/// GitLab's `CI_COMMIT_REF_SLUG` of a ref name: lowercase, every byte outside `[a-z0-9]`
/// becomes `-`, cut to 63 bytes, leading and trailing `-` removed.
pub fn gitlab(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .bytes()
        .map(|b| {
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                b as char
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(63);
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_action_matches_the_action() {
        assert_eq!(metadata_action("feature/New_UI"), "feature-new_ui");
        assert_eq!(metadata_action("v1.2.0"), "v1.2.0");
        assert_eq!(metadata_action("fix/a b@c"), "fix-a-b-c");
        assert_eq!(metadata_action("a//b"), "a--b");
        assert_eq!(metadata_action(&"x".repeat(200)).len(), 128);
    }

    #[test]
    fn gitlab_matches_ci_commit_ref_slug() {
        assert_eq!(gitlab("feature/New_UI"), "feature-new-ui");
        assert_eq!(gitlab("v1.2.0"), "v1-2-0");
        assert_eq!(gitlab("/x/"), "x");
        // Every byte of a multi-byte character becomes its own `-`, as in GitLab.
        assert_eq!(gitlab("Ünïcode"), "n--code");
        let long = format!("{}-tail", "a".repeat(62));
        assert_eq!(gitlab(&long), "a".repeat(62));
        assert!(gitlab(&"b".repeat(100)).len() == 63);
    }
}
