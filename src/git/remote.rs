//! Comparing the clone with its remote: `git ls-remote` output and the clone's own refs, both
//! as a [`RefSet`] keyed by the remote's ref names, and the differences between them. Plain
//! data, so the rules are tested without repositories.
//!
//! Tags are compared by the object their ref names (the tag object of an annotated tag), on
//! both sides: the peeled `^{}` lines of the listing follow from the tag object, so an equal
//! tag object means an equal commit.

use std::collections::BTreeMap;
use std::fmt;

/// Branches, tags and pull/merge request heads with their object ids (40 lowercase hex).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RefSet {
    /// `refs/heads/<branch>` and `refs/tags/<tag>`, as the remote names them.
    pub refs: BTreeMap<String, String>,
    /// `pull/<N>` (GitHub's `refs/pull/N/head`) or `merge-requests/<N>` (GitLab's).
    pub reviews: BTreeMap<String, String>,
}

impl RefSet {
    /// Adds `full` (a name as the remote has it) at `id`; other namespaces are ignored.
    pub fn insert(&mut self, full: &str, id: String) {
        if full.starts_with("refs/heads/") || full.starts_with("refs/tags/") {
            self.refs.insert(full.to_string(), id);
        } else if let Some(key) = review_key(full) {
            self.reviews.insert(key, id);
        }
    }

    /// The review namespaces present (`pull`, `merge-requests`), for the fetch refspecs.
    pub fn review_namespaces(&self) -> Vec<&'static str> {
        ["pull", "merge-requests"]
            .into_iter()
            .filter(|ns| {
                self.reviews
                    .keys()
                    .any(|k| k.strip_prefix(ns).is_some_and(|r| r.starts_with('/')))
            })
            .collect()
    }
}

/// `pull/N` for `refs/pull/N/head`, `merge-requests/N` for `refs/merge-requests/N/head`.
pub(crate) fn review_key(full: &str) -> Option<String> {
    super::refs::pull_request(full)?;
    let key = full.strip_prefix("refs/")?.strip_suffix("/head")?;
    Some(key.to_string())
}

/// Parses `git ls-remote` output: `<id>\t<ref>` lines. Peeled lines (`<tag>^{}`), `HEAD` and
/// refs outside the compared namespaces are dropped.
pub(crate) fn parse_listing(text: &str) -> RefSet {
    let mut set = RefSet::default();
    for line in text.lines() {
        let Some((id, name)) = line.split_once('\t') else {
            continue;
        };
        if name.ends_with("^{}") || id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        set.insert(name, id.to_ascii_lowercase());
    }
    set
}

/// How one ref of the clone differs from the remote's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drift {
    /// The remote has it; the clone does not.
    Missing,
    /// Both have it, at different objects.
    Moved,
    /// The clone has it; the remote no longer does. Counted, because a ref the clone keeps
    /// alive keeps its images, and a tag gone upstream may be a release that was withdrawn
    /// and re-made elsewhere; `git fetch --prune --prune-tags` removes it.
    Stale,
}

/// One differing ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Difference {
    /// The remote's name for it (`refs/heads/main`, `refs/tags/v1`).
    pub name: String,
    pub drift: Drift,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.drift {
            Drift::Missing => "missing here",
            Drift::Moved => "at another commit here",
            Drift::Stale => "gone from the remote",
        };
        write!(f, "{} {what}", self.name)
    }
}

/// The clone against the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Comparison {
    /// Branches and tags that differ, in name order.
    pub differences: Vec<Difference>,
    /// Every pull/merge request head of the remote is in the clone at the same commit.
    /// Review refs the clone has beyond the remote's do not matter: they name commits only.
    pub reviews_complete: bool,
}

/// Compares the clone's `local` refs with the remote's `remote` refs.
pub(crate) fn compare(local: &RefSet, remote: &RefSet) -> Comparison {
    let mut differences = Vec::new();
    for (name, id) in &remote.refs {
        match local.refs.get(name) {
            None => differences.push(Difference {
                name: name.clone(),
                drift: Drift::Missing,
            }),
            Some(here) if here != id => differences.push(Difference {
                name: name.clone(),
                drift: Drift::Moved,
            }),
            Some(_) => {}
        }
    }
    for name in local.refs.keys() {
        if !remote.refs.contains_key(name) {
            differences.push(Difference {
                name: name.clone(),
                drift: Drift::Stale,
            });
        }
    }
    differences.sort_by(|a, b| a.name.cmp(&b.name));
    let reviews_complete = remote
        .reviews
        .iter()
        .all(|(key, id)| local.reviews.get(key) == Some(id));
    Comparison {
        differences,
        reviews_complete,
    }
}

/// `text` with the user information of every URL in it (`https://user:token@host/…`) replaced
/// by `***`: remote URLs in CI often carry a token there, and git repeats them in its errors.
pub(crate) fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("***");
                out.push_str(&authority[i..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    fn set(pairs: &[(&str, &str)]) -> RefSet {
        let mut s = RefSet::default();
        for (name, id) in pairs {
            s.insert(name, id.to_string());
        }
        s
    }

    #[test]
    fn listing_keeps_heads_tags_and_review_heads_only() {
        let text = format!(
            "{A}\tHEAD\n{A}\trefs/heads/main\n{B}\trefs/heads/feature/x\n{C}\trefs/tags/v1\n\
             {A}\trefs/tags/v1^{{}}\n{B}\trefs/pull/7/head\n{A}\trefs/pull/7/merge\n\
             {C}\trefs/merge-requests/9/head\n{A}\trefs/notes/commits\n{A}\trefs/changes/1/1\n\
             not a line\n{}\trefs/heads/upper\n",
            A.to_uppercase()
        );
        let s = parse_listing(&text);
        let refs: Vec<(&str, &str)> = s
            .refs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            refs,
            vec![
                ("refs/heads/feature/x", B),
                ("refs/heads/main", A),
                ("refs/heads/upper", A),
                // The tag object, not the peeled commit of the `^{}` line.
                ("refs/tags/v1", C),
            ]
        );
        let reviews: Vec<&str> = s.reviews.keys().map(String::as_str).collect();
        assert_eq!(reviews, vec!["merge-requests/9", "pull/7"]);
        assert_eq!(s.review_namespaces(), vec!["pull", "merge-requests"]);
        assert!(parse_listing("").refs.is_empty());
        assert!(
            set(&[("refs/heads/main", A)])
                .review_namespaces()
                .is_empty()
        );
    }

    #[test]
    fn comparison_names_missing_moved_and_stale_refs() {
        let remote = set(&[
            ("refs/heads/main", A),
            ("refs/heads/new", B),
            ("refs/tags/v1", C),
            ("refs/tags/v2", A),
        ]);
        let local = set(&[
            ("refs/heads/main", A),
            ("refs/heads/old", A),
            ("refs/tags/v1", B),
        ]);
        let c = compare(&local, &remote);
        let shown: Vec<String> = c.differences.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "refs/heads/new missing here",
                "refs/heads/old gone from the remote",
                "refs/tags/v1 at another commit here",
                "refs/tags/v2 missing here",
            ]
        );
        assert!(c.reviews_complete);
        let same = compare(&remote, &remote);
        assert!(same.differences.is_empty());
    }

    #[test]
    fn review_refs_missing_here_are_reported_apart_and_extra_ones_do_not_matter() {
        let remote = set(&[("refs/heads/main", A), ("refs/pull/7/head", B)]);
        let bare = set(&[("refs/heads/main", A)]);
        let c = compare(&bare, &remote);
        assert!(c.differences.is_empty());
        assert!(!c.reviews_complete);
        let moved = set(&[("refs/heads/main", A), ("refs/pull/7/head", C)]);
        assert!(!compare(&moved, &remote).reviews_complete);
        let more = set(&[
            ("refs/heads/main", A),
            ("refs/pull/7/head", B),
            ("refs/pull/3/head", C),
        ]);
        assert!(compare(&more, &remote).reviews_complete);
        // GitHub's and GitLab's numbers are different namespaces.
        let gitlab = set(&[("refs/heads/main", A), ("refs/merge-requests/7/head", B)]);
        assert!(!compare(&gitlab, &remote).reviews_complete);
    }

    #[test]
    fn userinfo_is_masked_wherever_a_url_appears() {
        assert_eq!(
            mask_userinfo("https://user:s3cret@example.com/o/r.git"),
            "https://***@example.com/o/r.git"
        );
        assert_eq!(
            mask_userinfo(
                "fatal: unable to access 'https://x-access-token:ghs_abc@github.com/o/r/': 403"
            ),
            "fatal: unable to access 'https://***@github.com/o/r/': 403"
        );
        assert_eq!(
            mask_userinfo("https://tok@h a, ssh://git@h:22/r"),
            "https://***@h a, ssh://***@h:22/r"
        );
        assert_eq!(
            mask_userinfo("/srv/git/app.git and file:///x and git@github.com:o/r"),
            "/srv/git/app.git and file:///x and git@github.com:o/r"
        );
    }
}
