//! Tag templates (`tags:` in `berth.yaml`): how a build names its tags, and so how cleanup
//! ties a tag back to git. Placeholders: `{sha}` (40 hex), `{sha7}` … `{sha12}` (prefixes),
//! `{branch}`, `{tag}`, `{pr}`, and the semver parts of a git tag `v1.2.3` as
//! docker/metadata-action's `type=semver` writes them: `{version}` (`1.2.3`), `{major}` (`1`),
//! `{minor}` (`2`); everything else is literal text.
//!
//! A template with a commit part (`sha-{sha7}`, `{branch}-{sha7}`) links a tag to a commit; a
//! template with only a ref part (`{branch}`, `{tag}`, `pr-{pr}`, `{version}`) links a tag to a
//! live ref. A semver template without `{version}` (`{major}.{minor}`, `{major}`) is
//! *floating*: one tag names a whole release line, so several git tags share it by design.

use super::slug::SlugStyle;
use crate::git::RefKind;

/// berth's default templates; `ci-env` pushes with these and `cleanup` reads them back.
/// `{sha8}` and `{branch}-{sha8}` are GitLab's `CI_COMMIT_SHORT_SHA` (8 long); `{version}`,
/// `{major}.{minor}` and `{major}` are metadata-action's `type=semver` forms.
pub const DEFAULT: [&str; 11] = [
    "{sha}",
    "sha-{sha7}",
    "{branch}-{sha7}",
    "{sha8}",
    "{branch}-{sha8}",
    "{branch}",
    "{tag}",
    "{version}",
    "{major}.{minor}",
    "{major}",
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
    /// `{version}`, `{major}`, `{minor}`: a git tag that is a semantic version.
    Semver,
}

impl RefPart {
    /// True when a ref of this kind fills this part.
    pub fn fits(self, kind: RefKind) -> bool {
        matches!(
            (self, kind),
            (RefPart::Branch, RefKind::Branch)
                | (RefPart::Tag, RefKind::Tag)
                | (RefPart::Semver, RefKind::Tag)
                | (RefPart::PullRequest, RefKind::PullRequest(_))
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Sha(usize),
    Ref(RefPart),
    Semver(SemverPart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SemverPart {
    Version,
    Major,
    Minor,
}

/// A git tag name read as a semantic version: an optional `v`, `MAJOR.MINOR.PATCH`, an
/// optional `-prerelease` and `+build`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Semver<'a> {
    major: &'a str,
    minor: &'a str,
    /// Everything after the `v`: what `{version}` writes.
    version: &'a str,
    prerelease: bool,
}

impl<'a> Semver<'a> {
    fn parse(name: &'a str) -> Option<Semver<'a>> {
        let version = name.strip_prefix('v').unwrap_or(name);
        let core_end = version.find(['-', '+']).unwrap_or(version.len());
        let core = &version[..core_end];
        let mut numbers = core.split('.');
        let (major, minor, patch) = (numbers.next()?, numbers.next()?, numbers.next()?);
        let number = |n: &str| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n == "0" || !n.starts_with('0'))
        };
        if numbers.next().is_some() || ![major, minor, patch].into_iter().all(number) {
            return None;
        }
        let rest = &version[core_end..];
        let prerelease = rest.starts_with('-');
        if prerelease && rest.len() < 2 || rest.starts_with('+') && rest.len() < 2 {
            return None;
        }
        Some(Semver {
            major,
            minor,
            version,
            prerelease,
        })
    }
}

/// One parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
    commit_len: Option<usize>,
    ref_part: Option<RefPart>,
    floating: bool,
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
                "version" => Part::Semver(SemverPart::Version),
                "major" => Part::Semver(SemverPart::Major),
                "minor" => Part::Semver(SemverPart::Minor),
                _ => match name.strip_prefix("sha").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n @ 7..=12) => Part::Sha(n),
                    _ => {
                        return Err(format!(
                            "template `{text}` has the unknown placeholder `{{{name}}}`; allowed: {{sha}}, {{sha7}} … {{sha12}}, {{branch}}, {{tag}}, {{pr}}, {{version}}, {{major}}, {{minor}}"
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
        let semver: Vec<SemverPart> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Semver(s) => Some(*s),
                _ => None,
            })
            .collect();
        if shas.len() > 1 || refs.len() > 1 {
            return Err(format!(
                "template `{text}` has more than one commit or ref placeholder; use at most one of each"
            ));
        }
        if !semver.is_empty() && (!shas.is_empty() || !refs.is_empty()) {
            return Err(format!(
                "template `{text}` mixes {{version}}/{{major}}/{{minor}} with another placeholder; \
                 a semver template names a git tag on its own, as metadata-action's type=semver does"
            ));
        }
        for (k, part) in semver.iter().enumerate() {
            if semver[..k].contains(part) {
                return Err(format!("template `{text}` repeats a semver placeholder"));
            }
        }
        if shas.is_empty() && refs.is_empty() && semver.is_empty() {
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
        let ref_part = match semver.is_empty() {
            true => refs.first().copied(),
            false => Some(RefPart::Semver),
        };
        Ok(Template {
            text: text.to_string(),
            parts,
            commit_len,
            ref_part,
            floating: !semver.is_empty() && !semver.contains(&SemverPart::Version),
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

    /// True for a semver template without `{version}` (`{major}.{minor}`): its tag names a
    /// release line that several git tags share.
    pub fn is_floating(&self) -> bool {
        self.floating
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

    /// For a `pr-{pr}`-like template (a `{pr}` part and no commit part): the pull-request
    /// number `tag` holds, if `tag` fits.
    pub fn match_pull_request(&self, tag: &str) -> Option<u64> {
        if self.commit_len.is_some() || self.ref_part != Some(RefPart::PullRequest) {
            return None;
        }
        let mut rest = tag;
        let at = self
            .parts
            .iter()
            .position(|p| matches!(p, Part::Ref(_)))
            .expect("a {pr} part");
        for p in &self.parts[..at] {
            let Part::Literal(l) = p else { return None };
            rest = rest.strip_prefix(l.as_str())?;
        }
        for p in self.parts[at + 1..].iter().rev() {
            let Part::Literal(l) = p else { return None };
            rest = rest.strip_suffix(l.as_str())?;
        }
        // As GitHub and GitLab write numbers: digits, no leading zero.
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
            return None;
        }
        rest.parse().ok()
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
        let semver = match (self.ref_part, git_ref) {
            (Some(RefPart::Semver), Some((RefKind::Tag, name))) => {
                let v = Semver::parse(name)?;
                // metadata-action: pre-releases only give `{{version}}`, and a major version
                // zero gives no `{{major}}` tag of its own.
                let only_major = !self
                    .parts
                    .iter()
                    .any(|p| matches!(p, Part::Semver(SemverPart::Minor | SemverPart::Version)));
                if (self.floating && v.prerelease) || (only_major && v.major == "0") {
                    return None;
                }
                Some(v)
            }
            (Some(RefPart::Semver), _) => return None,
            _ => None,
        };
        for p in &self.parts {
            match p {
                Part::Literal(l) => out.push_str(l),
                Part::Semver(part) => {
                    let v = semver.as_ref()?;
                    match part {
                        SemverPart::Version => {
                            out.push_str(&super::slug::metadata_action(v.version))
                        }
                        SemverPart::Major => out.push_str(v.major),
                        SemverPart::Minor => out.push_str(v.minor),
                    }
                }
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
        Part::Ref(_) | Part::Semver(_) => None,
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
        Part::Ref(_) | Part::Semver(_) => None,
    }
}

/// Parses berth's [`DEFAULT`] templates.
pub fn defaults() -> Vec<Template> {
    DEFAULT
        .iter()
        .map(|t| Template::parse(t).expect("default templates are valid"))
        .collect()
}

/// The templates a build pushes with when its CI writes short SHAs `short` long (GitLab 8,
/// others 7): berth's own defaults with a short SHA of the other length (`{sha8}` outside
/// GitLab, `sha-{sha7}` is kept everywhere since metadata-action writes it) are left out, so a
/// build is not pushed under two short SHAs. Templates the user configures are all pushed;
/// cleanup reads every template either way.
pub fn for_push(templates: &[Template], short: usize) -> Vec<Template> {
    templates
        .iter()
        .filter(|t| {
            let other_length = matches!(t.commit_len, Some(n @ (7 | 8)) if n != short);
            let metadata_action = t.text == "sha-{sha7}";
            !(other_length && !metadata_action && DEFAULT.contains(&t.text.as_str()))
        })
        .cloned()
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
                "feature-New-1a2b3c4".into(),
                "1a2b3c4d".into(),
                "feature-New-1a2b3c4d".into(),
                "feature-New".into()
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
            vec![
                SHA.to_string(),
                "sha-1a2b3c4".into(),
                "1a2b3c4d".into(),
                "pr-42".into()
            ]
        );
        let tag = render_tags(
            &defaults(),
            SHA,
            Some((RefKind::Tag, "v1.2.0")),
            SlugStyle::Gitlab,
        );
        assert_eq!(tag[3..], ["v1-2-0", "1.2.0", "1.2", "1"]);
    }

    fn forms(template: &str, tag: &str) -> Option<String> {
        Template::parse(template).unwrap().render(
            None,
            Some((RefKind::Tag, tag)),
            SlugStyle::MetadataAction,
        )
    }

    #[test]
    fn a_build_is_pushed_with_one_short_sha_length() {
        let names = |short| -> Vec<String> {
            for_push(&defaults(), short)
                .iter()
                .map(|t| t.as_str().to_string())
                .collect()
        };
        let github = names(7);
        assert!(github.contains(&"{branch}-{sha7}".into()));
        assert!(!github.iter().any(|t| t.contains("sha8")), "{github:?}");
        let gitlab = names(8);
        assert!(gitlab.contains(&"{sha8}".into()) && gitlab.contains(&"{branch}-{sha8}".into()));
        assert!(!gitlab.contains(&"{branch}-{sha7}".into()), "{gitlab:?}");
        assert!(
            gitlab.contains(&"sha-{sha7}".into()),
            "metadata-action's type=sha"
        );
        // Templates the user configured are all pushed.
        let own = vec![Template::parse("build-{sha8}").unwrap()];
        assert_eq!(for_push(&own, 7).len(), 1);
    }

    #[test]
    fn pull_request_numbers_are_read_back() {
        let t = Template::parse("pr-{pr}").unwrap();
        assert_eq!(t.match_pull_request("pr-42"), Some(42));
        for no in ["pr-", "pr-4x", "pr-042", "pr42", "x-pr-4"] {
            assert_eq!(t.match_pull_request(no), None, "{no}");
        }
        let mr = Template::parse("mr{pr}.dev").unwrap();
        assert_eq!(mr.match_pull_request("mr7.dev"), Some(7));
        assert_eq!(mr.match_pull_request("mr7.de"), None);
        assert_eq!(
            Template::parse("pr-{pr}-{sha8}")
                .unwrap()
                .match_pull_request("pr-1-1a2b3c4d"),
            None
        );
    }

    #[test]
    fn semver_forms_follow_metadata_action() {
        assert_eq!(forms("{version}", "v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(forms("{version}", "1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(forms("{major}.{minor}", "v1.2.3").as_deref(), Some("1.2"));
        assert_eq!(forms("{major}", "v1.2.3").as_deref(), Some("1"));
        assert_eq!(forms("v{major}", "v10.0.1").as_deref(), Some("v10"));
        // Pre-releases give only {version}; major zero gives no {major} tag.
        assert_eq!(
            forms("{version}", "v2.0.0-rc.1").as_deref(),
            Some("2.0.0-rc.1")
        );
        assert_eq!(forms("{major}.{minor}", "v2.0.0-rc.1"), None);
        assert_eq!(forms("{major}", "v0.3.1"), None);
        assert_eq!(forms("{major}.{minor}", "v0.3.1").as_deref(), Some("0.3"));
        // `+build` cannot be in a docker tag: sanitised as metadata-action does.
        assert_eq!(forms("{version}", "v1.0.0+b7").as_deref(), Some("1.0.0-b7"));
        for not_semver in [
            "v1.2",
            "release-1.2.3",
            "v01.2.3",
            "v1.2.3.4",
            "v1.2.3-",
            "x",
        ] {
            assert_eq!(forms("{version}", not_semver), None, "{not_semver}");
        }
        let t = Template::parse("{major}.{minor}").unwrap();
        assert!(t.is_floating() && t.commit_len().is_none());
        assert!(!Template::parse("{version}").unwrap().is_floating());
        // Branches have no semver forms.
        assert_eq!(
            t.render(None, Some((RefKind::Branch, "v1.2.3")), SlugStyle::Berth),
            None
        );
        assert!(Template::parse("{version}-{sha7}").is_err());
        assert!(Template::parse("{major}.{major}").is_err());
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
                Part::Semver(_) => unreachable!("semver templates have no commit part"),
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
