//! Tag forms of git ref names, exactly as the common producers write them (DESIGN §2).
//!
//! - `metadata_action`: docker/metadata-action's `sanitizeTag` — each run of characters
//!   outside `[a-zA-Z0-9._-]` becomes one `-`; case is kept; no truncation.
//! - `gitlab`: GitLab's `CI_COMMIT_REF_SLUG` — Unicode-aware downcase, then every character
//!   outside `[a-z0-9]` becomes `-`, cut to 63 bytes, leading and trailing `-` removed.
//! - `berth`: what `ci-env` writes outside GitLab — metadata-action's rule, lowercased, so a
//!   tag never differs from another build's only by case.
//!
//! Cleanup tries every rule: a live branch tagged by any of these producers is recognised.

/// The slug rules berth knows; a ref's tag forms are its slugs under every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlugStyle {
    /// docker/metadata-action (case kept).
    MetadataAction,
    /// GitLab `CI_COMMIT_REF_SLUG`.
    Gitlab,
    /// berth's own: metadata-action's rule, lowercased.
    Berth,
}

impl SlugStyle {
    /// Every style, in the order tag forms are tried.
    pub const ALL: [SlugStyle; 3] = [
        SlugStyle::MetadataAction,
        SlugStyle::Gitlab,
        SlugStyle::Berth,
    ];

    /// The slug of `name` under this style.
    pub fn apply(self, name: &str) -> String {
        match self {
            SlugStyle::MetadataAction => metadata_action(name),
            SlugStyle::Gitlab => gitlab(name),
            SlugStyle::Berth => berth(name),
        }
    }
}

/// docker/metadata-action's tag form of a ref name: `/[^a-zA-Z0-9._-]+/g` → `-`, case kept.
pub fn metadata_action(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

/// berth's tag form: [`metadata_action`], lowercased.
pub fn berth(name: &str) -> String {
    metadata_action(name).to_ascii_lowercase()
}

/// GitLab's `CI_COMMIT_REF_SLUG`: Ruby's `downcase.gsub(/[^a-z0-9]/, '-')[0..62]` with
/// leading and trailing `-` stripped. `downcase` is Unicode-aware and `gsub` replaces per
/// character, so `ö` is one `-` (and `İ`, which downcases to two characters, is two).
pub fn gitlab(name: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
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
    fn metadata_action_keeps_case_and_merges_runs() {
        assert_eq!(metadata_action("Feature/Upper"), "Feature-Upper");
        assert_eq!(metadata_action("feat/#12+fix"), "feat-12-fix");
        assert_eq!(metadata_action("Feature/Foo_1.2"), "Feature-Foo_1.2");
        assert_eq!(metadata_action("v1.2.0"), "v1.2.0");
        assert_eq!(metadata_action("fix/a b@c"), "fix-a-b-c");
        assert_eq!(metadata_action("a//b"), "a-b");
        assert_eq!(metadata_action("feature/größe"), "feature-gr-e");
        // No truncation: a registry refuses a tag over 128 characters, not the action.
        assert_eq!(metadata_action(&"x".repeat(200)).len(), 200);
    }

    #[test]
    fn berth_is_metadata_action_lowercased() {
        assert_eq!(berth("Feature/Upper"), "feature-upper");
        assert_eq!(berth("feature/New_UI"), "feature-new_ui");
    }

    #[test]
    fn gitlab_matches_ci_commit_ref_slug() {
        assert_eq!(gitlab("feature/New_UI"), "feature-new-ui");
        assert_eq!(gitlab("Feature/Foo_1.2"), "feature-foo-1-2");
        assert_eq!(gitlab("v1.2.0"), "v1-2-0");
        assert_eq!(gitlab("/x/"), "x");
        // Unicode downcase, one `-` per character.
        assert_eq!(gitlab("feature/größe"), "feature-gr--e");
        assert_eq!(gitlab("Ünïcode"), "n-code");
        assert_eq!(gitlab("ÄB"), "b");
        let long = format!("{}-tail", "a".repeat(62));
        assert_eq!(gitlab(&long), "a".repeat(62));
        assert!(gitlab(&"b".repeat(100)).len() == 63);
    }

    proptest::proptest! {
        #[test]
        fn slugs_hold_only_what_their_producer_writes(name in "\\PC{0,80}") {
            let m = metadata_action(&name);
            proptest::prop_assert!(m.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)));
            proptest::prop_assert_eq!(berth(&name), m.to_ascii_lowercase());
            let g = gitlab(&name);
            proptest::prop_assert!(g.len() <= 63);
            proptest::prop_assert!(g.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            proptest::prop_assert!(!g.starts_with('-') && !g.ends_with('-'));
            // Names that are already slugs are their own slug.
            proptest::prop_assert_eq!(metadata_action(&m), m.clone());
            proptest::prop_assert_eq!(gitlab(&g), g.clone());
        }
    }
}
