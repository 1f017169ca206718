//! Ties each tag to git (DESIGN §2): protected → cosign signature → ref form (live, not
//! selected, pull request of unknown state, ambiguous) → release line → pull-request tag →
//! commit template → labels (dead ref, revision) → unlinked. The first that applies wins.

use rustc_hash::{FxHashMap, FxHashSet};

use super::graph::{Graph, LabelValue, Missing, Node};
use crate::git::{GitFacts, GitRef, PrefixMatch, RefKind};
use crate::policy::CleanupConfig;
use crate::policy::slug::SlugStyle;
use crate::policy::templates::{RefPart, Template};
use crate::registry::Digest;

/// The label that records the ref an image was built for (`ci-env`'s `BERTH_IMAGE_LABELS`).
pub const REF_LABEL: &str = "berth.git.ref";
/// Labels that record the commit an image was built from, in the order they are trusted.
pub const REVISION_LABELS: [&str; 3] = [
    "org.opencontainers.image.revision",
    "vcs-ref",
    "org.label-schema.vcs-ref",
];

/// How a commit was named; displays as: tag template `sha-{sha7}`, or: label vcs-ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Via<'a> {
    /// By a tag template.
    Template(&'a str),
    /// By an image label.
    Label(&'static str),
}

impl std::fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Template(t) => write!(f, "tag template `{t}`"),
            Via::Label(l) => write!(f, "label {l}"),
        }
    }
}

/// A ref as a label names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NamedRef {
    /// `None` when the label gave a bare name (branch or tag).
    pub(super) kind: Option<RefKind>,
    pub(super) name: String,
}

impl NamedRef {
    /// Reads `refs/heads/X`, `refs/tags/X`, `refs/pull/N/…`, `refs/merge-requests/N/…`, or a
    /// bare name.
    pub(super) fn parse(value: &str) -> NamedRef {
        let pr = |rest: &str| {
            rest.split('/')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .map(|n| NamedRef {
                    kind: Some(RefKind::PullRequest(n)),
                    name: n.to_string(),
                })
        };
        if let Some(b) = value.strip_prefix("refs/heads/") {
            return NamedRef {
                kind: Some(RefKind::Branch),
                name: b.to_string(),
            };
        }
        if let Some(t) = value.strip_prefix("refs/tags/") {
            return NamedRef {
                kind: Some(RefKind::Tag),
                name: t.to_string(),
            };
        }
        if let Some(found) = value
            .strip_prefix("refs/pull/")
            .or_else(|| value.strip_prefix("refs/merge-requests/"))
            .and_then(pr)
        {
            return found;
        }
        NamedRef {
            kind: None,
            name: value.to_string(),
        }
    }

    /// `branch feature/x`, `git tag v1`, `pull request #3`, or the bare name.
    pub(super) fn describe(&self) -> String {
        match self.kind {
            Some(RefKind::Branch) => format!("branch {}", self.name),
            Some(RefKind::Tag) => format!("git tag {}", self.name),
            Some(RefKind::PullRequest(n)) => format!("pull request #{n}"),
            None => format!("ref {}", self.name),
        }
    }
}

/// The link of one tag, before policies judge commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Link<'a> {
    /// The tag did not resolve to a digest.
    Unresolved(String),
    /// Matches `keep.tags`.
    Protected(String),
    /// A cosign `sha256-<hex>.sig|.att|.sbom` tag: follows its subject.
    Signature(Digest),
    /// The tag form of a live ref a policy selects.
    LiveRef(u32),
    /// The tag form of a live ref that no policy selects.
    NotSelected(u32),
    /// A floating release-line tag (`1.2`): the git tags it can name.
    ReleaseLine(Vec<u32>),
    /// The tag form of several live refs.
    AmbiguousRef(Vec<u32>),
    /// The tag (or the image's ref label) names a pull request whose state is unknown.
    PullUnknown(u64),
    /// The tag names an open pull request whose head commit is not in the clone.
    PullUnseen(u64),
    /// The tag names a pull request the forge lists as not open (closed or merged).
    PullClosed(u64),
    /// The image was built for a ref that no longer exists, and the tag is its tag form.
    DeadRef(NamedRef),
    /// Names a reachable commit.
    Commit(u32, Via<'a>),
    /// Names a commit no live ref reaches (any more).
    CommitGone(String, Via<'a>),
    /// A prefix that fits several commits, or templates/labels that disagree.
    CommitAmbiguous(String, Via<'a>),
    /// Nothing ties the tag to git.
    Unlinked,
    /// In a monorepo, the tag carries none of the images' prefixes.
    NoImage,
    /// A fact needed to link the tag is missing.
    Missing(Missing),
}

/// The tag forms of the refs: exact ones (`{branch}`, `{tag}`, `{version}`, `pr-{pr}`, under
/// every slug rule) and floating release lines (`{major}.{minor}`, `{major}`).
pub(super) struct RefForms {
    exact: FxHashMap<String, Vec<u32>>,
    floating: FxHashMap<String, Vec<u32>>,
}

impl RefForms {
    pub(super) fn new(refs: &[GitRef], templates: &[Template]) -> RefForms {
        let mut exact: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        let mut floating: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        for (i, r) in refs.iter().enumerate() {
            for t in templates.iter().filter(|t| t.commit_len().is_none()) {
                let map = if t.is_floating() {
                    &mut floating
                } else {
                    &mut exact
                };
                for style in SlugStyle::ALL {
                    if let Some(form) = t.render(None, Some((r.kind, &r.name)), style) {
                        let refs = map.entry(form).or_default();
                        if !refs.contains(&(i as u32)) {
                            refs.push(i as u32);
                        }
                    }
                }
            }
        }
        RefForms { exact, floating }
    }

    fn refs_of(&self, tag: &str) -> &[u32] {
        self.exact.get(tag).map_or(&[], |v| v.as_slice())
    }

    fn line_of(&self, tag: &str) -> &[u32] {
        self.floating.get(tag).map_or(&[], |v| v.as_slice())
    }
}

/// How a ref stands for the linker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefState {
    /// A live ref a keep policy selects.
    Selected,
    /// A live ref no keep policy selects.
    NotSelected,
    /// A pull request whose state berth cannot know.
    PullUnknown(u64),
}

/// What the forge said about pull requests, as the linker asks it.
pub(super) enum PullView<'a> {
    /// The forge's list of open ones.
    Known(&'a FxHashSet<u64>),
    /// No forge access.
    Unknown,
}

/// The subject of a cosign-scheme tag (`sha256-<hex>.sig|.att|.sbom`).
pub fn cosign_subject(tag: &str) -> Option<Digest> {
    // Suffixes first: almost no tag is a signature, and this is asked of every tag.
    let stem = [".sig", ".att", ".sbom"]
        .iter()
        .find_map(|suffix| tag.strip_suffix(suffix))?;
    let (alg, hex) = stem.split_once('-')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

/// The image a monorepo tag belongs to (its index in `prefixes`) and the tag without the
/// image's prefix: the longest prefix that leaves a tag, else the unnamed image's empty
/// prefix when there is one. None: the tag belongs to no image. Without prefixes every tag
/// is image 0's, whole.
pub(super) fn split_image<'t>(prefixes: &[String], tag: &'t str) -> Option<(usize, &'t str)> {
    if prefixes.is_empty() {
        return Some((0, tag));
    }
    prefixes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let rest = tag.strip_prefix(p.as_str())?;
            (!rest.is_empty()).then_some((i, p.len(), rest))
        })
        .max_by_key(|&(_, len, _)| len)
        .map(|(i, _, rest)| (i, rest))
}

/// Everything [`classify`] reads besides the tag.
pub(super) struct Linker<'a> {
    pub(super) git: &'a GitFacts,
    /// The refs the plan judges by (branches, tags, pull requests in the state the forge gave).
    pub(super) refs: &'a [GitRef],
    pub(super) states: &'a [RefState],
    pub(super) pulls: PullView<'a>,
    pub(super) config: &'a CleanupConfig,
    pub(super) forms: &'a RefForms,
    /// The repository's monorepo image prefixes (empty: one image).
    pub(super) prefixes: &'a [String],
}

impl<'a> Linker<'a> {
    /// The link of `tag` (resolved to `digest`).
    pub(super) fn classify(
        &self,
        graph: &Graph<'_>,
        tag: &str,
        node: Result<Node, &str>,
    ) -> Link<'a> {
        if let Some(p) = self.config.protection(tag) {
            return Link::Protected(p.as_str().to_string());
        }
        let node = match node {
            Ok(n) => n,
            Err(e) => return Link::Unresolved(e.to_string()),
        };
        if let Some(subject) = cosign_subject(tag) {
            return Link::Signature(subject);
        }
        let Some((_, tag)) = split_image(self.prefixes, tag) else {
            return Link::NoImage;
        };
        if let Some(p) = self.config.protection(tag) {
            return Link::Protected(p.as_str().to_string());
        }
        // An existing ref's tag form always wins over a template's commit part: a git tag
        // `build-1000002` is that tag, not `{branch}-{sha7}` of a missing commit.
        match self.forms.refs_of(tag) {
            [] => {}
            [one] => return self.ref_link(*one),
            many => return Link::AmbiguousRef(many.to_vec()),
        }
        let line = self.forms.line_of(tag);
        if !line.is_empty() {
            return Link::ReleaseLine(line.to_vec());
        }
        if let Some(n) = self
            .config
            .templates
            .iter()
            .find_map(|t| t.match_pull_request(tag))
        {
            return self.pull_link(n);
        }
        if let Some(link) = self.by_templates(tag) {
            return link;
        }
        self.by_labels(graph, tag, node)
    }

    fn ref_link(&self, r: u32) -> Link<'a> {
        match self.states[r as usize] {
            RefState::Selected => Link::LiveRef(r),
            RefState::NotSelected => Link::NotSelected(r),
            RefState::PullUnknown(n) => Link::PullUnknown(n),
        }
    }

    /// A pull request that is not among the refs: open but not in the clone, closed, or
    /// unknown.
    fn pull_link(&self, n: u64) -> Link<'a> {
        match self.pulls {
            PullView::Known(open) if open.contains(&n) => Link::PullUnseen(n),
            PullView::Known(_) => Link::PullClosed(n),
            PullView::Unknown => Link::PullUnknown(n),
        }
    }

    fn by_templates(&self, tag: &str) -> Option<Link<'a>> {
        let mut found: Option<Link> = None;
        let mut looked_up: Option<&str> = None;
        for t in &self.config.templates {
            let Some(hex) = t.match_commit(tag) else {
                continue;
            };
            // `sha-{sha7}` and `{branch}-{sha7}` both read `sha-1a2b3c4`; one lookup is enough.
            if looked_up == Some(hex) {
                continue;
            }
            looked_up = Some(hex);
            let link = self.lookup(hex, Via::Template(t.as_str()));
            match (&found, &link) {
                (None, _) => found = Some(link),
                // Templates that read the tag as different commits: do not guess.
                (Some(Link::Commit(a, _)), Link::Commit(b, _)) if a != b => {
                    return Some(Link::CommitAmbiguous(
                        hex.to_string(),
                        Via::Template(t.as_str()),
                    ));
                }
                // A template that finds the commit beats one that does not.
                (Some(Link::CommitGone(..)), Link::Commit(..) | Link::CommitAmbiguous(..)) => {
                    found = Some(link)
                }
                _ => {}
            }
        }
        found
    }

    fn lookup(&self, hex: &str, via: Via<'a>) -> Link<'a> {
        match self.git.commits.find_prefix(hex) {
            PrefixMatch::One(c) => Link::Commit(c, via),
            PrefixMatch::None => Link::CommitGone(hex.to_string(), via),
            PrefixMatch::Ambiguous => Link::CommitAmbiguous(hex.to_string(), via),
        }
    }

    fn by_labels(&self, graph: &Graph<'_>, tag: &str, node: Node) -> Link<'a> {
        match graph.label(node, &[REF_LABEL]) {
            Err(m) => return Link::Missing(m),
            Ok((_, LabelValue::One(value))) => {
                let named = NamedRef::parse(&value);
                if self.is_form_of(tag, &named) {
                    match named.kind {
                        Some(RefKind::PullRequest(n)) if !self.pull_in_refs(n) => {
                            return self.pull_link(n);
                        }
                        _ if !self.exists(&named) => return Link::DeadRef(named),
                        _ => {}
                    }
                }
            }
            Ok(_) => {}
        }
        match graph.label(node, &REVISION_LABELS) {
            Err(m) => Link::Missing(m),
            Ok((Some(key), LabelValue::One(value))) => {
                let value = value.trim().to_ascii_lowercase();
                if value.len() >= 7
                    && value.len() <= 40
                    && value.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    self.lookup(&value, Via::Label(key))
                } else {
                    Link::Unlinked
                }
            }
            Ok((Some(key), LabelValue::Conflict(values))) => {
                Link::CommitAmbiguous(values.join(", "), Via::Label(key))
            }
            Ok(_) => Link::Unlinked,
        }
    }

    fn pull_in_refs(&self, n: u64) -> bool {
        self.refs.iter().any(|r| r.kind == RefKind::PullRequest(n))
    }

    fn exists(&self, named: &NamedRef) -> bool {
        self.refs.iter().any(|r| {
            r.name == named.name
                && match named.kind {
                    Some(k) => r.kind == k,
                    None => matches!(r.kind, RefKind::Branch | RefKind::Tag),
                }
        })
    }

    fn is_form_of(&self, tag: &str, named: &NamedRef) -> bool {
        let kinds: Vec<RefKind> = match named.kind {
            Some(k) => vec![k],
            None => vec![RefKind::Branch, RefKind::Tag],
        };
        self.config
            .templates
            .iter()
            .filter(|t| t.commit_len().is_none())
            .any(|t| {
                kinds.iter().any(|&k| {
                    t.ref_part().is_some_and(|p: RefPart| p.fits(k))
                        && SlugStyle::ALL.iter().any(|&s| {
                            t.render(None, Some((k, &named.name)), s).as_deref() == Some(tag)
                        })
                })
            })
    }
}
