//! Tag templates (`tags:` in `berth.yaml`): how a build names its tags, and so how cleanup
//! ties a tag back to git. Placeholders: `{sha}` (40 hex), `{sha7}` … `{sha12}` (prefixes),
//! `{branch}`, `{tag}`, `{pr}`; everything else is literal text.
//!
//! A template with a commit part (`sha-{sha7}`, `{branch}-{sha7}`) links a tag to a commit; a
//! template with only a ref part (`{branch}`, `{tag}`, `pr-{pr}`) links a tag to a live ref.

use super::slug::SlugStyle;
use crate::git::RefKind;

/// berth's default templates; `ci-env` pushes with these and `cleanup` reads them back.
pub const DEFAULT: [&str; 6] = [
    "{sha}",
    "sha-{sha7}",
    "{branch}-{sha7}",
    "{branch}",
    "{tag}",
    "pr-{pr}",
];

/// The longest tag a registry accepts.
const MAX_TAG_LEN: usize = 128;

/// Which ref a template names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefPart {
    /// `{branch}`.
    Branch,
    /// `{tag}`.
    Tag,
    /// `{pr}`.
    PullRequest,
}

impl RefPart {
    /// True when a ref of this kind fills this part.
    pub fn fits(self, kind: RefKind) -> bool {
        matches!(
            (self, kind),
            (RefPart::Branch, RefKind::Branch)
                | (RefPart::Tag, RefKind::Tag)
                | (RefPart::PullRequest, RefKind::PullRequest(_))
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Sha(usize),
    Ref(RefPart),
}

/// One parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
    commit_len: Option<usize>,
    ref_part: Option<RefPart>,
}

impl Template {
    /// Parses a template; the error says what is wrong and which placeholders exist.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                parts.push(Part::Literal(rest.to_string()));
                break;
            };
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("template `{text}` has a `{{` without `}}`"))?
                + open;
            let name = &rest[open + 1..close];
            parts.push(match name {
                "sha" => Part::Sha(40),
                "branch" => Part::Ref(RefPart::Branch),
                "tag" => Part::Ref(RefPart::Tag),
                "pr" => Part::Ref(RefPart::PullRequest),
                _ => match name.strip_prefix("sha").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n @ 7..=12) => Part::Sha(n),
                    _ => {
                        return Err(format!(
                            "template `{text}` has the unknown placeholder `{{{name}}}`; allowed: {{sha}}, {{sha7}} … {{sha12}}, {{branch}}, {{tag}}, {{pr}}"
                        ));
                    }
                },
            });
            rest = &rest[close + 1..];
        }
        let shas: Vec<usize> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Sha(n) => Some(*n),
                _ => None,
            })
            .collect();
        let refs: Vec<RefPart> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Ref(r) => Some(*r),
                _ => None,
            })
            .collect();
        if shas.len() > 1 || refs.len() > 1 {
            return Err(format!(
                "template `{text}` has more than one commit or ref placeholder; use at most one of each"
            ));
        }
        if shas.is_empty() && refs.is_empty() {
            return Err(format!(
                "template `{text}` has no placeholder; a fixed tag belongs under `keep.tags`"
            ));
        }
        if parts
            .iter()
            .any(|p| matches!(p, Part::Literal(l) if l.contains('}')))
        {
            return Err(format!("template `{text}` has a `}}` without `{{`"));
        }
        let commit_len = shas.first().copied();
        Ok(Template {
            text: text.to_string(),
            parts,
            commit_len,
            ref_part: refs.first().copied(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number of hex digits of the commit part, if there is one.
    pub fn commit_len(&self) -> Option<usize> {
        self.commit_len
    }

    /// The ref part, if there is one.
    pub fn ref_part(&self) -> Option<RefPart> {
        self.ref_part
    }

    /// For a template with a commit part: the hex digits `tag` holds there, if `tag` fits.
    pub fn match_commit<'t>(&self, tag: &'t str) -> Option<&'t str> {
        self.commit_len?;
        // At most one part has a variable length (the ref part), so the parts before it are
        // matched from the start and the parts after it from the end; no regex needed, which
        // matters at 100,000 tags.
        let split = self
            .parts
            .iter()
            .position(|p| matches!(p, Part::Ref(_)))
            .unwrap_or(self.parts.len());
        let mut rest = tag;
        let mut hex = None;
        for p in &self.parts[..split] {
            rest = eat_front(rest, p, &mut hex)?;
        }
        for p in self.parts[split..].iter().skip(1).rev() {
            rest = eat_back(rest, p, &mut hex)?;
        }
        match self.parts.get(split) {
            // The ref part takes what is left: at least one character (digits for `{pr}`).
            Some(Part::Ref(RefPart::PullRequest)) => {
                (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then_some(())?
            }
            Some(_) => (!rest.is_empty()).then_some(())?,
            None => rest.is_empty().then_some(())?,
        }
        hex
    }

    /// The tag this template gives for a commit (40 hex) and a ref, with the ref name slugged
    /// by `style`; `None` when the template needs a part that is missing, or the result is not
    /// a valid tag length.
    pub fn render(
        &self,
        sha: Option<&str>,
        git_ref: Option<(RefKind, &str)>,
        style: SlugStyle,
    ) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(l) => out.push_str(l),
                Part::Sha(n) => out.push_str(sha?.get(..*n)?),
                Part::Ref(part) => {
                    let (kind, name) = git_ref?;
                    if !part.fits(kind) {
                        return None;
                    }
                    match kind {
                        RefKind::PullRequest(n) => out.push_str(&n.to_string()),
                        _ => out.push_str(&style.apply(name)),
                    }
                }
            }
        }
        (!out.is_empty() && out.len() <= MAX_TAG_LEN).then_some(out)
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Matches one fixed-length part at the start of `rest`; returns what follows.
fn eat_front<'t>(rest: &'t str, part: &Part, hex: &mut Option<&'t str>) -> Option<&'t str> {
    match part {
        Part::Literal(l) => rest.strip_prefix(l.as_str()),
        Part::Sha(n) => {
            let (h, after) = (rest.get(..*n)?, rest.get(*n..)?);
            is_lower_hex(h).then(|| {
                *hex = Some(h);
                after
            })
        }
        Part::Ref(_) => None,
    }
}

/// Matches one fixed-length part at the end of `rest`; returns what precedes.
fn eat_back<'t>(rest: &'t str, part: &Part, hex: &mut Option<&'t str>) -> Option<&'t str> {
    match part {
        Part::Literal(l) => rest.strip_suffix(l.as_str()),
        Part::Sha(n) => {
            let cut = rest.len().checked_sub(*n)?;
            let (before, h) = (rest.get(..cut)?, rest.get(cut..)?);
            is_lower_hex(h).then(|| {
                *hex = Some(h);
                before
            })
        }
        Part::Ref(_) => None,
    }
}

/// Parses berth's [`DEFAULT`] templates.
pub fn defaults() -> Vec<Template> {
    DEFAULT
        .iter()
        .map(|t| Template::parse(t).expect("default templates are valid"))
        .collect()
}

/// The tags one build should be pushed with (ci-env's `BERTH_IMAGE_TAGS`): every template
/// that the commit (40 lowercase hex) and the ref fill, in template order, without repeats.
pub fn render_tags(
    templates: &[Template],
    sha: &str,
    git_ref: Option<(RefKind, &str)>,
    style: SlugStyle,
) -> Vec<String> {
    let sha = sha.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    for t in templates {
        if let Some(tag) = t.render(Some(&sha), git_ref, style) {
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

    #[test]
    fn renders_the_default_tags_of_a_branch_build() {
        let tags = render_tags(
            &defaults(),
            SHA,
            Some((RefKind::Branch, "feature/New")),
            SlugStyle::MetadataAction,
        );
        assert_eq!(
            tags,
            vec![
                SHA.to_string(),
                "sha-1a2b3c4".into(),
                "feature-new-1a2b3c4".into(),
                "feature-new".into()
            ]
        );
        let pr = render_tags(
            &defaults(),
            SHA,
            Some((RefKind::PullRequest(42), "42")),
            SlugStyle::Gitlab,
        );
        assert_eq!(
            pr,
            vec![SHA.to_string(), "sha-1a2b3c4".into(), "pr-42".into()]
        );
        let tag = render_tags(
            &defaults(),
            SHA,
            Some((RefKind::Tag, "v1.2.0")),
            SlugStyle::Gitlab,
        );
        assert_eq!(tag.last().unwrap(), "v1-2-0");
    }

    #[test]
    fn commit_templates_capture_the_hex_part() {
        let t = Template::parse("{branch}-{sha7}").unwrap();
        assert_eq!(t.match_commit("feature-x-1a2b3c4"), Some("1a2b3c4"));
        assert_eq!(t.match_commit("feature-x-1a2b3c"), None);
        assert_eq!(t.match_commit("-1a2b3c4"), None);
        let s = Template::parse("sha-{sha7}").unwrap();
        assert_eq!(s.match_commit("sha-1a2b3c4"), Some("1a2b3c4"));
        assert_eq!(s.match_commit("sha-1A2B3C4"), None);
        assert_eq!(Template::parse("{branch}").unwrap().match_commit("x"), None);
        let full = Template::parse("{sha}").unwrap();
        let sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
        assert_eq!(full.match_commit(sha), Some(sha));
        assert_eq!(full.match_commit(&format!("{sha}0")), None);
        let pr = Template::parse("pr-{pr}-{sha8}").unwrap();
        assert_eq!(pr.match_commit("pr-12-1a2b3c4d"), Some("1a2b3c4d"));
        assert_eq!(pr.match_commit("pr-x-1a2b3c4d"), None);
        assert_eq!(pr.match_commit("pr--1a2b3c4d"), None);
        let mid = Template::parse("b-{sha7}-{branch}.x").unwrap();
        assert_eq!(mid.match_commit("b-1a2b3c4-main.x"), Some("1a2b3c4"));
        assert_eq!(mid.match_commit("b-1a2b3c4-.x"), None);
        // Multi-byte text never splits inside a character.
        assert_eq!(t.match_commit("ü-1a2b3c4"), Some("1a2b3c4"));
        assert_eq!(s.match_commit("sha-1a2b3ü"), None);
    }

    #[test]
    fn bad_templates_say_what_is_allowed() {
        let e = Template::parse("{sha6}").unwrap_err();
        assert!(e.contains("{sha7} … {sha12}"), "{e}");
        assert!(
            Template::parse("{sha}-{sha7}")
                .unwrap_err()
                .contains("more than one")
        );
        assert!(Template::parse("latest").unwrap_err().contains("keep.tags"));
        assert!(Template::parse("{sha").unwrap_err().contains("without"));
        assert!(Template::parse("{sha}}").unwrap_err().contains("without"));
    }

    /// The anchored regex a template means; group 1 is the commit part.
    fn as_regex(t: &Template) -> regex::Regex {
        let mut re = String::from("^");
        for p in &t.parts {
            match p {
                Part::Literal(l) => re.push_str(&regex::escape(l)),
                Part::Sha(n) => re.push_str(&format!("([0-9a-f]{{{n}}})")),
                Part::Ref(RefPart::PullRequest) => re.push_str("[0-9]+"),
                Part::Ref(_) => re.push_str(".+"),
            }
        }
        re.push('$');
        regex::Regex::new(&re).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn matcher_agrees_with_the_regex_it_stands_for(
            tag in "(sha-|pr-|b-)?[0-9a-fxü.-]{0,14}(-[0-9a-f]{7,9}(-main)?(.x)?)?",
            which in 0usize..6,
        ) {
            let texts = ["sha-{sha7}", "{branch}-{sha7}", "{sha}", "pr-{pr}-{sha8}",
                         "b-{sha7}-{branch}.x", "{sha9}{tag}"];
            let t = Template::parse(texts[which]).unwrap();
            let want = as_regex(&t)
                .captures(&tag)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string());
            proptest::prop_assert_eq!(t.match_commit(&tag).map(str::to_string), want);
        }
    }
}
