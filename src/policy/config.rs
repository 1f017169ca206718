//! The `berth.yaml` schema (DESIGN §3): `keep:` (built_within, protected tags, unlinked,
//! untagged, werf-compatible keep policies), `tags:` (templates), and the naming of DESIGN §6:
//! `images:` (the project's images) and `repo_mode:`. Values are checked while
//! deserialising, so every error carries the file, line and column of the bad value.

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::Error;
use super::duration::{format_duration, parse_duration};
use super::templates::{self, Template};
use crate::registry::naming::Image;
use crate::registry::repo_mode::RepoMode;

/// werf's `keepImagesBuiltWithinLastNHours` default.
const DEFAULT_BUILT_WITHIN: Duration = Duration::from_secs(2 * 3600);

/// The cleanup configuration: keep policies, protected tags, tag templates.
#[derive(Debug, Clone)]
pub struct CleanupConfig {
    /// Never delete an image younger than this; zero turns the guard off.
    pub built_within: Duration,
    /// Tags never deleted (`keep.tags`).
    pub protected: Vec<NamePattern>,
    /// What happens to tags nothing links to git.
    pub unlinked: Unlinked,
    /// What happens to untagged manifests the plan reaches.
    pub untagged: Untagged,
    /// Keep policies, in file order (later ones win for the same ref).
    pub policies: Vec<Policy>,
    /// Tag templates (`tags:`).
    pub templates: Vec<Template>,
    /// The project's images (`images:`), each once; empty: REPO is the one image.
    pub images: Vec<Image>,
    /// `repo_mode:`; None is `auto` (decided per REPO and registry).
    pub repo_mode: Option<RepoMode>,
}

impl Default for CleanupConfig {
    /// werf's three default policies, `built_within: 2h`, berth's default templates.
    fn default() -> Self {
        CleanupConfig {
            built_within: DEFAULT_BUILT_WITHIN,
            protected: Vec::new(),
            unlinked: Unlinked::Keep,
            untagged: Untagged::Keep,
            policies: default_policies(),
            templates: templates::defaults(),
            images: Vec::new(),
            repo_mode: None,
        }
    }
}

impl CleanupConfig {
    /// Parses `berth.yaml` text; `source` names the file in errors. Missing keys take the
    /// defaults of [`CleanupConfig::default`].
    pub fn parse(text: &str, source: &str) -> Result<CleanupConfig, Error> {
        let yaml_error = |e: &serde_yaml_ng::Error, message: String| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            Error::Config {
                source_name: source.to_string(),
                line,
                column,
                message,
            }
        };
        // Parsing replays every alias: a small file of aliases of aliases expands to billions
        // of nodes. The counting pass stops at the limit and keeps nothing.
        if let Err(e) = expansion::check(text) {
            return Err(yaml_error(&e, expansion::too_big()));
        }
        let raw: Option<RawFile> =
            serde_yaml_ng::from_str(text).map_err(|e| yaml_error(&e, e.to_string()))?;
        let raw = raw.unwrap_or_default();
        let keep = raw.keep.unwrap_or_default();
        let defaults = CleanupConfig::default();
        Ok(CleanupConfig {
            built_within: keep.built_within.map_or(defaults.built_within, |d| d.0),
            protected: keep.tags.unwrap_or_default(),
            unlinked: keep.unlinked.unwrap_or(defaults.unlinked),
            untagged: keep.untagged.unwrap_or(defaults.untagged),
            policies: match keep.policies {
                Some(p) if !p.is_empty() => p,
                _ => defaults.policies,
            },
            templates: match raw.tags {
                Some(t) => t.into_iter().map(|t| t.0).collect(),
                None => defaults.templates,
            },
            images: raw.images.map_or_else(Vec::new, |i| i.0),
            repo_mode: raw.repo_mode.and_then(|m| m.0),
        })
    }

    /// The same configuration with `built_within` replaced (`--keep-built-within`).
    pub fn with_built_within(mut self, built_within: Duration) -> Self {
        self.built_within = built_within;
        self
    }

    /// The first `keep.tags` pattern that matches `tag`.
    pub fn protection(&self, tag: &str) -> Option<&NamePattern> {
        self.protected.iter().find(|p| p.matches(tag))
    }
}

/// werf's defaults (docs/werf-behaviour.md §4.1), with the code's `last: 10` for the main
/// branches, plus berth's policy for open pull requests (their last 2 images).
pub fn default_policies() -> Vec<Policy> {
    let week = Some(Duration::from_secs(168 * 3600));
    vec![
        Policy {
            kind: RefSelectorKind::Tag,
            pattern: NamePattern::parse("/.*/").expect("valid"),
            limit: Limit {
                last: Some(10),
                within: None,
                operator: Operator::And,
            },
            images_per_reference: Limit::unlimited(),
        },
        Policy {
            kind: RefSelectorKind::Branch,
            pattern: NamePattern::parse("/.*/").expect("valid"),
            limit: Limit {
                last: Some(10),
                within: week,
                operator: Operator::And,
            },
            images_per_reference: Limit {
                last: Some(2),
                within: week,
                operator: Operator::And,
            },
        },
        Policy {
            kind: RefSelectorKind::Branch,
            pattern: NamePattern::parse("/^(main|master|staging|production)$/").expect("valid"),
            limit: Limit::unlimited(),
            images_per_reference: Limit {
                last: Some(10),
                within: None,
                operator: Operator::And,
            },
        },
        Policy {
            kind: RefSelectorKind::PullRequest,
            pattern: NamePattern::parse("/.*/").expect("valid"),
            limit: Limit::unlimited(),
            images_per_reference: Limit {
                last: Some(2),
                within: None,
                operator: Operator::And,
            },
        },
    ]
}

/// A name matcher: a literal (exact match) or `/regex/` (anchored at both ends).
#[derive(Debug, Clone)]
pub struct NamePattern {
    text: String,
    regex: Regex,
}

impl NamePattern {
    /// Parses `literal` or `/regex/`.
    pub fn parse(text: &str) -> Result<NamePattern, String> {
        let source = match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
            Some(re) if text.len() >= 2 => format!("^(?:{re})$"),
            _ => format!("^{}$", regex::escape(text)),
        };
        let regex = Regex::new(&source).map_err(|e| {
            format!(
                "`{text}` is not a valid regular expression: {e}; write a literal name or /regex/"
            )
        })?;
        Ok(NamePattern {
            text: text.to_string(),
            regex,
        })
    }

    /// True when the whole name matches.
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for NamePattern {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        NamePattern::parse(&value)
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        NamePattern::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Which kind of ref a policy selects; each matches its own kind only (werf's branch
/// policies never select pull requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefSelectorKind {
    /// `references.branch`: branches.
    Branch,
    /// `references.tag`: git tags.
    Tag,
    /// `references.pull_request`: open pull / merge requests, matched by number (`42`) or by
    /// source branch (`feature/x`).
    PullRequest,
}

/// How `last` and `in` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operator {
    /// Both must hold (werf's default).
    #[serde(alias = "and")]
    And,
    /// Either suffices.
    #[serde(alias = "or")]
    Or,
}

/// `{last, in, operator}`: the newest `last` items and/or the items newer than `in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// At most this many (None: no count limit).
    pub last: Option<usize>,
    /// Only items newer than now minus this (None: no age limit).
    pub within: Option<Duration>,
    /// How the two combine when both are set.
    pub operator: Operator,
}

impl Limit {
    /// No limit at all.
    pub fn unlimited() -> Limit {
        Limit {
            last: None,
            within: None,
            operator: Operator::And,
        }
    }

    /// True when the item at 1-based `rank`, `age_secs` old, is inside the limit. Both
    /// conditions only get harder as rank and age grow, so along a newest-first walk the first
    /// item refused means every later one is refused too.
    pub fn admits(&self, rank: usize, age_secs: i64) -> bool {
        let by_count = self.last.map(|n| rank <= n);
        let by_age = self
            .within
            .map(|d| age_secs <= i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        match (by_count, by_age) {
            (None, None) => true,
            (Some(c), None) => c,
            (None, Some(a)) => a,
            (Some(c), Some(a)) => match self.operator {
                Operator::And => c && a,
                Operator::Or => c || a,
            },
        }
    }

    /// Plain English, e.g. `the last 2 images within 7d`.
    pub fn describe(&self, noun: &str) -> String {
        let within = self.within.map(format_duration);
        match (self.last, within) {
            (None, None) => format!("all {noun}s"),
            (Some(n), None) => format!("the last {n} {noun}{}", plural(n)),
            (None, Some(w)) => format!("the {noun}s of the last {w}"),
            (Some(n), Some(w)) => match self.operator {
                Operator::And => format!("the last {n} {noun}{} within {w}", plural(n)),
                Operator::Or => format!("the last {n} {noun}{} or any within {w}", plural(n)),
            },
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One keep policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Branches or tags.
    pub kind: RefSelectorKind,
    /// Which names (anchored).
    pub pattern: NamePattern,
    /// Which of the matching refs, by ref date.
    pub limit: Limit,
    /// How many images of each selected ref, newest first; unlimited when the policy has no
    /// `images_per_reference` (werf keeps every image such a policy's refs reach).
    pub images_per_reference: Limit,
}

/// Tags that no template, label or ref links to git.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    /// Keep them (default).
    Keep,
    /// Delete them once their image is older than this.
    DeleteOlderThan(Duration),
}

/// Untagged manifests (children of deleted indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Untagged {
    /// Leave them (default).
    Keep,
    /// Delete them with the index that held them.
    Delete,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    keep: Option<RawKeep>,
    tags: Option<Vec<TemplateValue>>,
    images: Option<ImagesValue>,
    repo_mode: Option<RepoModeValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeep {
    built_within: Option<DurationValue>,
    tags: Option<Vec<NamePattern>>,
    unlinked: Option<Unlinked>,
    untagged: Option<Untagged>,
    policies: Option<Vec<Policy>>,
}

struct DurationValue(Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(DurationValue)
            .map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Debug for DurationValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// `images:`: image names (`~` or empty: the unnamed image), each once.
#[derive(Debug)]
struct ImagesValue(Vec<Image>);

impl<'de> Deserialize<'de> for ImagesValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        // `~` arrives as YAML null.
        let raw = Vec::<Option<String>>::deserialize(d)?;
        let mut images: Vec<Image> = Vec::with_capacity(raw.len());
        for text in raw {
            let image = Image::parse(text.as_deref().unwrap_or("~"))
                .map_err(|e| D::Error::custom(format!("`images`: {e}")))?;
            if images.contains(&image) {
                return Err(D::Error::custom(format!(
                    "`images` lists `{image}` twice; list each image once"
                )));
            }
            // ci-env exports one variable per image, which must not be shared.
            if let Some(other) = images
                .iter()
                .find(|i| i.variable_suffix() == image.variable_suffix())
            {
                return Err(D::Error::custom(format!(
                    "`images` lists `{other}` and `{image}`, which would both be exported as \
                     BERTH_IMAGE_REFS_{}; rename one",
                    image.variable_suffix().unwrap_or_default()
                )));
            }
            images.push(image);
        }
        Ok(ImagesValue(images))
    }
}

/// `repo_mode:` auto, monorepo or multirepo.
#[derive(Debug)]
struct RepoModeValue(Option<RepoMode>);

impl<'de> Deserialize<'de> for RepoModeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.trim() {
            "auto" => Ok(RepoModeValue(None)),
            "monorepo" => Ok(RepoModeValue(Some(RepoMode::Monorepo))),
            "multirepo" => Ok(RepoModeValue(Some(RepoMode::Multirepo))),
            other => Err(serde::de::Error::custom(format!(
                "`repo_mode` is `{other}`; use auto, monorepo (`REPO:IMAGE-TAG`) or multirepo \
                 (`REPO/IMAGE:TAG`)"
            ))),
        }
    }
}

#[derive(Debug)]
struct TemplateValue(Template);

impl<'de> Deserialize<'de> for TemplateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Template::parse(&String::deserialize(d)?)
            .map(TemplateValue)
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Unlinked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Older {
            delete_older_than: DurationValue,
        }
        let value = serde_yaml_ng::Value::deserialize(d)?;
        let wrong = || {
            serde::de::Error::custom(
                "`unlinked` must be `keep` or `{ delete_older_than: DURATION }` (e.g. 30d)",
            )
        };
        match &value {
            serde_yaml_ng::Value::String(s) if s == "keep" => Ok(Unlinked::Keep),
            serde_yaml_ng::Value::Mapping(_) => {
                let older: Older = serde_yaml_ng::from_value(value)
                    .map_err(|e| serde::de::Error::custom(format!("`unlinked`: {e}")))?;
                Ok(Unlinked::DeleteOlderThan(older.delete_older_than.0))
            }
            _ => Err(wrong()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    last: Option<i64>,
    #[serde(rename = "in")]
    within: Option<DurationValue>,
    operator: Option<Operator>,
}

impl RawLimit {
    /// `last` < 0 is werf's spelling of "no count limit".
    fn into_limit<E: serde::de::Error>(self) -> Result<Limit, E> {
        let last = match self.last {
            Some(n) if n < 0 => None,
            Some(n) => Some(usize::try_from(n).map_err(E::custom)?),
            None => None,
        };
        Ok(Limit {
            last,
            within: self.within.map(|d| d.0),
            operator: self.operator.unwrap_or(Operator::And),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReferences {
    branch: Option<NamePattern>,
    tag: Option<NamePattern>,
    #[serde(alias = "pullRequest")]
    pull_request: Option<NamePattern>,
    limit: Option<RawLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    references: RawReferences,
    #[serde(alias = "imagesPerReference")]
    images_per_reference: Option<RawLimit>,
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = RawPolicy::deserialize(d)?;
        let r = raw.references;
        let (kind, pattern) = match (r.branch, r.tag, r.pull_request) {
            (Some(b), None, None) => (RefSelectorKind::Branch, b),
            (None, Some(t), None) => (RefSelectorKind::Tag, t),
            (None, None, Some(p)) => (RefSelectorKind::PullRequest, p),
            _ => {
                return Err(D::Error::custom(
                    "`references` needs exactly one of `branch`, `tag` or `pull_request` (a name \
                     or /regex/)",
                ));
            }
        };
        Ok(Policy {
            kind,
            pattern,
            limit: match r.limit {
                Some(l) => l.into_limit()?,
                None => Limit::unlimited(),
            },
            images_per_reference: match raw.images_per_reference {
                Some(l) => l.into_limit()?,
                None => Limit::unlimited(),
            },
        })
    }
}

/// The bound on what a `berth.yaml` may expand to once its aliases are replayed.
mod expansion {
    use std::cell::Cell;

    use serde::de::{self, DeserializeSeed, Visitor};

    /// Most nodes (scalars, sequences, mappings) a document may expand to; a real
    /// `berth.yaml` has a few hundred.
    pub const NODE_LIMIT: usize = 100_000;
    /// Most bytes of scalar text a document may expand to.
    pub const BYTE_LIMIT: usize = 1 << 20;

    /// The message of a refused document.
    pub fn too_big() -> String {
        format!(
            "YAML aliases expand to more than {NODE_LIMIT} nodes or {BYTE_LIMIT} bytes; \
             berth refuses such a document (write the repeated parts out, or alias less)"
        )
    }

    #[derive(Default)]
    struct Budget {
        nodes: Cell<usize>,
        bytes: Cell<usize>,
        exceeded: Cell<bool>,
    }

    /// Walks the document as the real parse would, aliases replayed, counting. Err only
    /// when the budget is exceeded; any other problem is the real parse's to report.
    pub fn check(text: &str) -> Result<(), serde_yaml_ng::Error> {
        let budget = Budget::default();
        match Count(&budget).deserialize(serde_yaml_ng::Deserializer::from_str(text)) {
            Err(e) if budget.exceeded.get() => Err(e),
            _ => Ok(()),
        }
    }

    #[derive(Clone, Copy)]
    struct Count<'a>(&'a Budget);

    impl Count<'_> {
        fn node<E: de::Error>(self, bytes: usize) -> Result<(), E> {
            let b = self.0;
            b.nodes.set(b.nodes.get() + 1);
            b.bytes.set(b.bytes.get().saturating_add(bytes));
            if b.nodes.get() > NODE_LIMIT || b.bytes.get() > BYTE_LIMIT {
                b.exceeded.set(true);
                return Err(E::custom(too_big()));
            }
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for Count<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Count<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any YAML value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            self.node(0)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            self.node(0)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            self.node(0)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            self.node(0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
            self.node(v.len())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.node(0)
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            self.node(0)
        }
        fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
        fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            self.node(0)?;
            while seq.next_element_seed(self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            self.node(0)?;
            while map.next_key_seed(self)?.is_some() {
                map.next_value_seed(self)?;
            }
            Ok(())
        }
        // A tagged node (`!tag value`).
        fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
            use de::VariantAccess;
            let ((), variant) = data.variant_seed(self)?;
            variant.newtype_variant_seed(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        for text in ["", "keep: {}", "keep:\n  policies: []\n"] {
            let c = CleanupConfig::parse(text, "berth.yaml").unwrap();
            assert_eq!(c.policies.len(), 4);
            assert_eq!(c.built_within, Duration::from_secs(7200));
            assert_eq!(c.templates.len(), templates::DEFAULT.len());
            assert_eq!(c.unlinked, Unlinked::Keep);
        }
        let d = default_policies();
        assert_eq!(d[1].images_per_reference.last, Some(2));
        assert_eq!(d[2].images_per_reference.last, Some(10));
        assert!(d[2].pattern.matches("main") && !d[2].pattern.matches("mainline"));
        assert_eq!(d[3].kind, RefSelectorKind::PullRequest);
        assert_eq!(d[3].images_per_reference.last, Some(2));
    }

    #[test]
    fn parses_the_design_example() {
        let text = r#"
keep:
  built_within: 2h30m
  tags: ["latest", "/^v\\d+\\.\\d+\\.\\d+$/"]
  unlinked: { delete_older_than: 30d }
  untagged: delete
  policies:
    - references: { tag: "/.*/", limit: { last: 10 } }
    - references: { branch: "/.*/", limit: { last: 10, in: 168h, operator: And } }
      images_per_reference: { last: 2, in: 168h, operator: Or }
    - references: { branch: "main" }
      imagesPerReference: { last: -1 }
tags: ["{sha}", "build-{sha8}"]
"#;
        let c = CleanupConfig::parse(text, "berth.yaml").unwrap();
        assert_eq!(c.built_within, Duration::from_secs(9000));
        assert!(c.protection("latest").is_some());
        assert!(c.protection("v1.2.3").is_some());
        assert!(c.protection("v1.2.3-rc1").is_none());
        assert!(c.protection("latest2").is_none());
        assert_eq!(
            c.unlinked,
            Unlinked::DeleteOlderThan(Duration::from_secs(30 * 86400))
        );
        assert_eq!(c.untagged, Untagged::Delete);
        assert_eq!(c.policies[1].images_per_reference.operator, Operator::Or);
        assert_eq!(c.policies[2].images_per_reference.last, None);
        assert!(c.policies[2].pattern.matches("main"));
        assert!(!c.policies[2].pattern.matches("main2"));
        // No images_per_reference: every image the refs reach (werf's code).
        assert_eq!(c.policies[0].images_per_reference, Limit::unlimited());
        assert_eq!(c.templates[1].commit_len(), Some(8));
        let c = CleanupConfig::parse(
            "keep:\n  policies:\n    - references: { pull_request: /.*/ }\n      images_per_reference: { in: 24h }\n",
            "berth.yaml",
        )
        .unwrap();
        assert_eq!(c.policies[0].kind, RefSelectorKind::PullRequest);
        assert_eq!(c.policies[0].images_per_reference.last, None);
    }

    fn err(text: &str) -> String {
        CleanupConfig::parse(text, "ci/berth.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_line_column_and_allowed_values() {
        let e = err(
            "keep:\n  policies:\n    - references: { branch: main, limit: { operator: Xor } }\n",
        );
        assert!(e.starts_with("ci/berth.yaml:3:"), "{e}");
        assert!(e.contains("And") && e.contains("Or"), "{e}");

        let e = err("keep:\n  built_within: 2 hours\n");
        assert!(e.starts_with("ci/berth.yaml:2:"), "{e}");
        assert!(e.contains("168h"), "{e}");

        let e = err("keep:\n  unlinked: forever\n");
        assert!(e.contains("delete_older_than"), "{e}");
        assert!(e.starts_with("ci/berth.yaml:2:"), "{e}");

        let e = err("keep:\n  policies:\n    - references: { branch: a, tag: b }\n");
        assert!(
            e.contains("exactly one of `branch`, `tag` or `pull_request`"),
            "{e}"
        );

        let e = err("kep: {}\n");
        assert!(
            e.contains("expected one of `keep`, `tags`, `images`, `repo_mode`"),
            "{e}"
        );

        let e = err("tags: [\"{commit}\"]\n");
        assert!(e.contains("{sha7} … {sha12}"), "{e}");

        let e = err("keep:\n  tags: [\"/(/\"]\n");
        assert!(e.contains("regular expression"), "{e}");

        let e = err("keep:\n  untagged: sometimes\n");
        assert!(e.contains("keep") && e.contains("delete"), "{e}");
    }

    /// Nine levels of nine aliases: 9^9 nodes from a file of under 1 kB.
    fn billion_laughs() -> String {
        let mut text = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..=9 {
            let prev = format!("*a{}", i - 1);
            let list = vec![prev; 9].join(",");
            text.push_str(&format!("a{i}: &a{i} [{list}]\n"));
        }
        text
    }

    #[test]
    fn alias_bombs_are_refused_and_honest_aliases_pass() {
        let e = err(&billion_laughs());
        assert!(
            e.contains("YAML aliases expand to more than 100000 nodes"),
            "{e}"
        );
        assert!(e.starts_with("ci/berth.yaml:"), "{e}");
        // A long scalar repeated: few nodes, many bytes.
        let long = "x".repeat(64 * 1024);
        let text = format!("a: &a \"{long}\"\nb: [{}]\n", vec!["*a"; 32].join(","));
        assert!(err(&text).contains("bytes"), "{}", err(&text));
        // Anchors used as intended still work.
        let ok =
            "keep:\n  tags: [&s stable, latest]\n  policies:\n    - references: { branch: *s }\n";
        let config = CleanupConfig::parse(ok, "berth.yaml").unwrap();
        assert!(config.protection("stable").is_some());
    }

    #[test]
    fn limits_admit_by_count_and_age() {
        let and = Limit {
            last: Some(2),
            within: Some(Duration::from_secs(100)),
            operator: Operator::And,
        };
        assert!(and.admits(2, 100));
        assert!(!and.admits(3, 10));
        assert!(!and.admits(1, 101));
        let or = Limit {
            operator: Operator::Or,
            ..and
        };
        assert!(or.admits(3, 10));
        assert!(or.admits(1, 1000));
        assert!(!or.admits(3, 101));
        assert!(Limit::unlimited().admits(1_000_000, i64::MAX));
        assert_eq!(and.describe("image"), "the last 2 images within 1m40s");
    }

    #[test]
    fn images_and_repo_mode_are_validated() {
        let c = CleanupConfig::parse(
            "images: [frontend, backend, ~]\nrepo_mode: monorepo\n",
            "berth.yaml",
        )
        .unwrap();
        assert_eq!(
            c.images,
            [
                Image::Named("frontend".into()),
                Image::Named("backend".into()),
                Image::Unnamed
            ]
        );
        assert_eq!(c.repo_mode, Some(RepoMode::Monorepo));
        let c = CleanupConfig::parse("repo_mode: auto\nimages: ['']\n", "berth.yaml").unwrap();
        assert_eq!((c.repo_mode, c.images), (None, vec![Image::Unnamed]));
        assert!(err("images: [Frontend]").contains("`Frontend` is not an image name"));
        assert!(err("images: [a, a]").contains("lists `a` twice"));
        assert!(err("images: [a-b, a_b]").contains("both be exported as BERTH_IMAGE_REFS_A_B"));
        let e = err("repo_mode: mono");
        assert!(e.starts_with("ci/berth.yaml:1:"), "{e}");
        assert!(e.contains("use auto, monorepo"), "{e}");
    }
}
