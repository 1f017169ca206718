//! Property tests of the plan invariants (DESIGN §4: 1–5 and 7) over generated histories,
//! manifest graphs (nested indexes, referrers, cosign tags) and tag sets; and the bounded
//! policy walk against a naive full walk.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;

use super::graph::Node;
use super::testkit::*;
use super::walk;
use super::*;
use crate::policy::{CleanupConfig, Limit, Operator, Unlinked, Untagged};

#[derive(Debug, Clone)]
enum ManSpec {
    Image {
        age_h: u16,
        dated: bool,
        read: bool,
        failed: bool,
        revision: Option<u16>,
    },
    Index(Vec<u8>),
    Referrer(u8),
}

#[derive(Debug, Clone)]
enum TagSpec {
    Sha7(u16, u8),
    Full(u16, u8),
    RefForm(u8, u8, u8),
    Protected(u8),
    Cosign(u8, u8),
    Free(u8, u8),
    Unresolved(u8),
}

#[derive(Debug, Clone)]
struct Spec {
    commits: Vec<(u8, Option<u8>, u8)>,
    refs: Vec<(u8, u8)>,
    manifests: Vec<ManSpec>,
    tags: Vec<TagSpec>,
    built_within: bool,
    unlinked_delete: bool,
    untagged_delete: bool,
    untagged_listed: bool,
    tight_policies: bool,
    shallow: bool,
}

fn man_spec() -> impl Strategy<Value = ManSpec> {
    prop_oneof![
        6 => (0u16..2000, prop::bool::weighted(0.9), prop::bool::weighted(0.9),
              prop::bool::weighted(0.05), prop::option::of(0u16..60))
            .prop_map(|(age_h, dated, read, failed, revision)| ManSpec::Image {
                age_h, dated, read, failed, revision
            }),
        2 => prop::collection::vec(any::<u8>(), 1..4).prop_map(ManSpec::Index),
        2 => any::<u8>().prop_map(ManSpec::Referrer),
    ]
}

fn tag_spec() -> impl Strategy<Value = TagSpec> {
    prop_oneof![
        6 => (0u16..60, any::<u8>()).prop_map(|(c, m)| TagSpec::Sha7(c, m)),
        2 => (0u16..60, any::<u8>()).prop_map(|(c, m)| TagSpec::Full(c, m)),
        3 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(r, s, m)| TagSpec::RefForm(r, s, m)),
        1 => any::<u8>().prop_map(TagSpec::Protected),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(s, m)| TagSpec::Cosign(s, m)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(n, m)| TagSpec::Free(n, m)),
        1 => any::<u8>().prop_map(TagSpec::Unresolved),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec((any::<u8>(), prop::option::of(any::<u8>()), 0u8..48), 1..50),
        prop::collection::vec((0u8..3, any::<u8>()), 0..8),
        prop::collection::vec(man_spec(), 1..30),
        prop::collection::vec(tag_spec(), 0..40),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(commits, refs, manifests, tags, bw, ud, utd, listed, tight, shallow)| Spec {
                commits,
                refs,
                manifests,
                tags,
                built_within: bw,
                unlinked_delete: ud,
                untagged_delete: utd,
                untagged_listed: listed,
                tight_policies: tight,
                shallow,
            },
        )
}

struct World {
    git: GitFacts,
    scan: RepoScan,
    config: CleanupConfig,
}

fn build(spec: &Spec) -> World {
    let n = spec.commits.len();
    let name = |i: usize| format!("c{i}");
    let mut h = History::default();
    // Times strictly grow with the index, so every parent is older than its child.
    let mut t = hours_ago(24 * 200);
    for (i, (p1, p2, gap)) in spec.commits.iter().enumerate() {
        t += 1 + *gap as i64 * 3600;
        let mut parents = Vec::new();
        if i > 0 {
            parents.push(name(i - 1 - (*p1 as usize % i)));
            if let Some(p2) = p2 {
                let q = name(*p2 as usize % i);
                if !parents.contains(&q) {
                    parents.push(q);
                }
            }
        }
        let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
        h.commit(&name(i), t.min(now().timestamp()), &parents);
    }
    let mut ref_names = Vec::new();
    for (k, (kind, at)) in spec.refs.iter().enumerate() {
        let at = name(*at as usize % n);
        match kind {
            0 => {
                // Names of every shape the slug rules treat differently: case, Unicode,
                // runs of characters a tag cannot hold.
                let b = match (k, k % 4) {
                    (0, _) => "main".to_string(),
                    (_, 1) => format!("Feature/B{k}"),
                    (_, 2) => format!("feature/größe-{k}"),
                    (_, 3) => format!("fix/#{k}+x"),
                    _ => format!("feature/b{k}"),
                };
                h.branch(&b, &at);
                ref_names.push(b);
            }
            1 => {
                let v = format!("v1.{k}");
                h.tag(&v, &at, None);
                ref_names.push(v);
            }
            _ => {
                h.pr(k as u64, &at);
                ref_names.push(format!("pr-{k}"));
            }
        }
    }
    h.shallow = spec.shallow;
    let git = h.facts();

    let mut s = Scan::new("repo");
    s.0.untagged_listed = spec.untagged_listed;
    let mut digests: Vec<Digest> = Vec::new();
    for (k, m) in spec.manifests.iter().enumerate() {
        let label = format!("m{k}");
        let d = match m {
            ManSpec::Image {
                age_h,
                dated,
                read,
                failed,
                revision,
            } => {
                let rev = revision.map(|c| cid(&name(c as usize)).to_hex());
                let labels: Vec<(&str, &str)> = rev
                    .as_deref()
                    .map(|r| vec![("org.opencontainers.image.revision", r)])
                    .unwrap_or_default();
                let d = if *read {
                    s.image(&label, *age_h as i64, &labels)
                } else {
                    s.unread_image(&label)
                };
                let f = s.0.manifests.get_mut(&d).unwrap();
                if !dated {
                    if let Some(c) = f.config.as_mut() {
                        c.created = None;
                    }
                }
                if *failed {
                    f.error = Some("HTTP 500".into());
                }
                d
            }
            ManSpec::Index(children) if k > 0 => {
                let mut cs: Vec<Digest> = children
                    .iter()
                    .map(|c| digests[*c as usize % k].clone())
                    .collect();
                cs.dedup();
                let refs: Vec<&Digest> = cs.iter().collect();
                s.index(&label, &refs)
            }
            ManSpec::Referrer(subject) if k > 0 => {
                let subject = digests[*subject as usize % k].clone();
                s.referrer(&label, &subject)
            }
            _ => s.image(&label, 1000, &[]),
        };
        digests.push(d);
    }
    let m = digests.len();
    let pick = |x: u8| digests[x as usize % m].clone();
    let mut names = HashSet::new();
    for (k, t) in spec.tags.iter().enumerate() {
        let (tag, digest): (String, Result<Digest, String>) = match t {
            TagSpec::Sha7(c, x) => (sha7(&name(*c as usize)), Ok(pick(*x))),
            TagSpec::Full(c, x) => (cid(&name(*c as usize)).to_hex(), Ok(pick(*x))),
            TagSpec::RefForm(r, style, x) => {
                if ref_names.is_empty() {
                    continue;
                }
                let n = &ref_names[*r as usize % ref_names.len()];
                let style = crate::policy::slug::SlugStyle::ALL[*style as usize % 3];
                let form = style.apply(n);
                (form, Ok(pick(*x)))
            }
            TagSpec::Protected(x) => ("latest".into(), Ok(pick(*x))),
            TagSpec::Cosign(subject, x) => {
                (format!("sha256-{}.sig", pick(*subject).hex()), Ok(pick(*x)))
            }
            TagSpec::Free(n, x) => (format!("free-{n}"), Ok(pick(*x))),
            TagSpec::Unresolved(n) => (format!("broken-{n}-{k}"), Err("timeout".into())),
        };
        if names.insert(tag.clone()) {
            s.0.tags.push(ScannedTag { name: tag, digest });
        }
    }

    let mut config = CleanupConfig::parse("keep:\n  tags: [latest]\n", "props.yaml").unwrap();
    config.built_within = if spec.built_within {
        Duration::from_secs(48 * 3600)
    } else {
        Duration::ZERO
    };
    if spec.unlinked_delete {
        config.unlinked = Unlinked::DeleteOlderThan(Duration::from_secs(30 * 86400));
    }
    if spec.untagged_delete {
        config.untagged = Untagged::Delete;
    }
    if spec.tight_policies {
        for p in &mut config.policies {
            p.images_per_reference = Limit {
                last: Some(1),
                within: Some(Duration::from_secs(24 * 3600 * 30)),
                operator: Operator::Or,
            };
        }
    }
    World {
        git,
        scan: s.0,
        config,
    }
}

/// Every manifest reachable from `roots` over children and referrers.
fn closure(scan: &RepoScan, roots: impl IntoIterator<Item = Digest>) -> HashSet<Digest> {
    let mut out = HashSet::new();
    let mut stack: Vec<Digest> = roots.into_iter().collect();
    while let Some(d) = stack.pop() {
        if !out.insert(d.clone()) {
            continue;
        }
        if let Some(f) = scan.manifests.get(&d) {
            stack.extend(f.children.iter().cloned());
            stack.extend(f.referrers.iter().cloned());
        }
    }
    out
}

/// Every manifest at and under `d` was read without error.
fn facts_ok(scan: &RepoScan, d: &Digest) -> bool {
    scan.manifests
        .get(d)
        .is_some_and(|f| f.error.is_none() && f.children.iter().all(|c| facts_ok(scan, c)))
}

/// Build time of an image or index (newest platform); Err when a fact is missing.
fn created(scan: &RepoScan, d: &Digest) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    let f = scan.manifests.get(d).ok_or(())?;
    if f.error.is_some() {
        return Err(());
    }
    if crate::registry::model::media_type::is_index(&f.media_type) {
        let mut best = None;
        for c in &f.children {
            best = best.max(created(scan, c)?);
        }
        Ok(best)
    } else {
        Ok(f.config.as_ref().ok_or(())?.created)
    }
}

fn check_invariants(w: &World, plan: &Plan) -> Result<(), TestCaseError> {
    let rp = &plan.repos[0];
    let scan = &w.scan;
    prop_assert_eq!(rp.tags.len(), scan.tags.len());
    prop_assert_eq!(rp.totals.keep + rp.totals.delete, rp.totals.tags);

    let kept: Vec<Digest> = rp
        .tags
        .iter()
        .filter(|t| !t.decision.is_delete())
        .filter_map(|t| t.digest.clone())
        .collect();
    let protected = closure(scan, kept.iter().cloned());
    let scanned: HashMap<&str, &ScannedTag> =
        scan.tags.iter().map(|t| (t.name.as_str(), t)).collect();

    for t in &rp.tags {
        let Decision::Delete { how, .. } = &t.decision else {
            continue;
        };
        // 5: a tag that did not resolve is never deleted, nor when git is shallow.
        prop_assert!(!w.git.shallow, "deleted from shallow facts: {}", t.tag);
        let d = t.digest.clone();
        prop_assert!(d.is_some(), "unresolved tag deleted: {}", t.tag);
        let d = d.unwrap();
        prop_assert_eq!(scanned[t.tag.as_str()].digest.as_ref().ok(), Some(&d));
        // 4: never a protected tag.
        prop_assert!(
            w.config.protection(&t.tag).is_none(),
            "protected tag deleted"
        );
        // 1 and 2: a manifest a kept tag needs is only untagged, never deleted.
        let unresolved = scan.tags.iter().any(|t| t.digest.is_err());
        if protected.contains(&d) || unresolved {
            prop_assert_eq!(*how, How::UntagOnly, "{} shares a kept digest", &t.tag);
        } else {
            prop_assert_eq!(*how, How::DeleteManifest, "{} could go whole", &t.tag);
        }
        match cosign_subject(&t.tag) {
            // 3: a signature goes only with its subject (deleted by its tags, or as an
            // untagged child or referrer of a deleted manifest).
            Some(subject) => prop_assert!(
                rp.tags.iter().any(|o| o.digest.as_ref() == Some(&subject)
                    && match o.decision {
                        Decision::Delete { how, .. } => how == How::DeleteManifest || unresolved,
                        Decision::Keep { .. } => false,
                    })
                    || rp.manifest_deletions.iter().any(|m| m.digest == subject)
                    || scan.manifests.get(&subject).is_some_and(|f| f.absent),
                "signature {} deleted while its subject stays",
                &t.tag
            ),
            None => {
                // 5: every manifest fact present; 4: a known build time, old enough.
                prop_assert!(facts_ok(scan, &d), "{} deleted on missing evidence", &t.tag);
                if !w.config.built_within.is_zero() {
                    let c = created(scan, &d);
                    prop_assert!(c.is_ok(), "{} deleted without its config", &t.tag);
                    let c = c.unwrap();
                    prop_assert!(c.is_some(), "{} deleted without a build time", &t.tag);
                    let age = (now() - c.unwrap()).num_seconds();
                    prop_assert!(age >= w.config.built_within.as_secs() as i64);
                }
            }
        }
    }
    // Tag forms: a tag that is a slug of an existing branch or git tag, under any producer's
    // rule, is judged as that ref's tag: never as a commit, a dead ref, or unlinked.
    let forms: HashSet<String> = w
        .git
        .refs
        .iter()
        .filter(|r| !w.git.shallow && !matches!(r.kind, crate::git::RefKind::PullRequest(_)))
        .flat_map(|r| {
            crate::policy::slug::SlugStyle::ALL
                .iter()
                .map(|style| style.apply(&r.name))
                .collect::<Vec<_>>()
        })
        .collect();
    for t in &rp.tags {
        if forms.contains(&t.tag) && w.config.protection(&t.tag).is_none() && t.digest.is_some() {
            let kind = t.decision.reason().kind.as_ref();
            prop_assert!(
                !matches!(kind, "dead_ref" | "commit_gone" | "policy" | "unlinked"),
                "{} is a ref's tag form but was judged {kind}: {}",
                &t.tag,
                t.decision.reason()
            );
        }
    }
    // 1 (issue 10): an unresolved tag might name anything; nothing goes by digest.
    if scan.tags.iter().any(|t| t.digest.is_err()) {
        prop_assert!(rp.manifest_deletions.is_empty());
    }
    // 1: nothing kept is in the untagged deletions.
    for m in &rp.manifest_deletions {
        prop_assert!(!protected.contains(&m.digest));
        prop_assert!(!rp.tags.iter().any(|t| t.digest.as_ref() == Some(&m.digest)));
    }
    // 3: untagged referrers of deleted manifests go with them.
    let tagged: HashSet<&Digest> = rp.tags.iter().filter_map(|t| t.digest.as_ref()).collect();
    let listed: HashSet<&Digest> = rp.manifest_deletions.iter().map(|m| &m.digest).collect();
    for t in &rp.tags {
        if let (
            Decision::Delete {
                how: How::DeleteManifest,
                ..
            },
            Some(d),
        ) = (&t.decision, &t.digest)
        {
            for r in &scan.manifests[d].referrers {
                if !protected.contains(r) && !tagged.contains(r) {
                    prop_assert!(listed.contains(r), "referrer {} of deleted {} left", r, d);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn plan_keeps_the_safety_invariants(spec in spec()) {
        let w = build(&spec);
        let plan = plan_one(&w.git, &w.config, &w.scan);
        check_invariants(&w, &plan)?;

        // 7: the guards refuse shallow facts always, zero refs and large deletions unless forced.
        let guards = Guards { max_delete_ratio: 0.5, force: false };
        let verdict = check_guards(&plan, &w.git, &guards);
        let rp = &plan.repos[0];
        let over = rp.totals.tags > 0 && rp.totals.delete * 2 > rp.totals.tags;
        if w.git.shallow {
            prop_assert_eq!(verdict, Err(Refusal::Shallow));
        } else if w.git.refs.is_empty() {
            prop_assert_eq!(verdict, Err(Refusal::NoRefs));
        } else {
            prop_assert_eq!(verdict.is_err(), over);
        }
        let forced = check_guards(&plan, &w.git, &Guards { force: true, ..guards });
        prop_assert_eq!(forced.is_err(), w.git.shallow);
    }

    #[test]
    fn configs_needed_converges_and_then_plan_is_stable(spec in spec()) {
        let mut w = build(&spec);
        let mut rounds = 0;
        loop {
            let scans = vec![w.scan.clone()];
            let needed = configs_needed(&PlanInput {
                scans: &scans, git: &w.git, config: &w.config, pulls: &offline(), now: now(),
            });
            if needed.is_empty() {
                break;
            }
            rounds += 1;
            prop_assert!(rounds <= 3, "configs_needed did not converge");
            for (repo, d) in needed {
                prop_assert_eq!(repo, 0);
                let f = w.scan.manifests.get_mut(&d).unwrap();
                prop_assert!(f.config.is_none() && f.error.is_none());
                prop_assert!(!crate::registry::model::media_type::is_index(&f.media_type));
                f.config = Some(ImageConfig {
                    created: Some(now() - chrono::Duration::days(400)),
                    labels: Default::default(),
                });
            }
        }
        let plan = plan_one(&w.git, &w.config, &w.scan);
        check_invariants(&w, &plan)?;
    }

    #[test]
    fn a_registry_that_cannot_untag_keeps_every_tag_it_would_untag(spec in spec()) {
        let w = build(&spec);
        let plan = plan_one(&w.git, &w.config, &w.scan);
        let scan = RepoScan { cannot_untag: true, ..w.scan.clone() };
        let strict = plan_one(&w.git, &w.config, &scan);
        check_invariants(&w, &strict)?;
        // Only whole manifests go, each exactly as without the rule; every tag that would
        // lose only its tag stays, with a reason saying the registry cannot untag.
        for (t, s) in plan.repos[0].tags.iter().zip(&strict.repos[0].tags) {
            prop_assert_eq!(&t.tag, &s.tag);
            match &t.decision {
                Decision::Delete { how: How::UntagOnly, .. } => {
                    prop_assert!(!s.decision.is_delete(), "{} untagged", &t.tag);
                    prop_assert_eq!(s.decision.reason().kind.as_ref(), "cannot_untag");
                    prop_assert!(s.decision.reason().message.contains("cannot delete a single tag"));
                }
                other => prop_assert_eq!(other, &s.decision),
            }
        }
        prop_assert_eq!(&plan.repos[0].manifest_deletions, &strict.repos[0].manifest_deletions);
    }

    #[test]
    fn knowing_less_about_pull_requests_never_deletes_more(spec in spec()) {
        let w = build(&spec);
        let deleted = |pulls: &PullRequests| -> Result<HashSet<String>, TestCaseError> {
            let plan = plan_with(&w.git, &w.config, &w.scan, pulls);
            check_invariants(&w, &plan)?;
            Ok(plan.repos[0]
                .tags
                .iter()
                .filter(|t| t.decision.is_delete())
                .map(|t| t.tag.clone())
                .collect())
        };
        let local: Vec<OpenPull> = w
            .git
            .refs
            .iter()
            .filter_map(|r| match r.kind {
                crate::git::RefKind::PullRequest(n) => Some(OpenPull {
                    number: n,
                    head: w.git.commits.id(r.tip),
                    branch: format!("pr/{n}"),
                }),
                _ => None,
            })
            .collect();
        let known = |open: Vec<OpenPull>| PullRequests::Known { forge: "GitHub".into(), open };
        let unknown = |refs_complete| PullRequests::Unknown { hint: "set X".into(), refs_complete };
        let incomplete = deleted(&unknown(false))?;
        let offline = deleted(&unknown(true))?;
        let all_open = deleted(&known(local.clone()))?;
        let all_closed = deleted(&known(Vec::new()))?;
        prop_assert!(incomplete.is_subset(&offline), "{:?} ⊄ {:?}", incomplete, offline);
        prop_assert!(offline.is_subset(&all_open), "{:?} ⊄ {:?}", offline, all_open);
        prop_assert!(all_open.is_subset(&all_closed), "{:?} ⊄ {:?}", all_open, all_closed);
        // While an open pull request's head is not in the clone, or the clone lacks pull-request
        // refs of a forge-less run, no commit counts as gone.
        let mut unseen = local;
        unseen.push(OpenPull { number: 999, head: cid("not in the clone"), branch: "x".into() });
        for pulls in [unknown(false), known(unseen)] {
            let plan = plan_with(&w.git, &w.config, &w.scan, &pulls);
            prop_assert!(!plan.repos[0].tags.iter().any(|t| t.decision.is_delete()
                && t.decision.reason().kind == "commit_gone"));
        }
    }

    #[test]
    fn bounded_walk_matches_a_full_walk(
        spec in spec(),
        marks in prop::collection::vec(prop::option::of(0u32..12), 50),
    ) {
        let w = build(&spec);
        let git = &w.git;
        let n = git.commits.len();
        // Few digests over many commits: images are reused by later commits, as docs-only
        // commits reuse an image.
        let nodes = 12usize;
        let pairs: Vec<(u32, Node)> = (0..n as u32)
            .filter_map(|c| marks[c as usize % marks.len()].map(|d| (c, d)))
            .collect();
        let images = walk::CommitImages::new(n, pairs.clone());
        let now_s = now().timestamp();
        let eligible = vec![true; git.refs.len()];
        let branches = vec![None; git.refs.len()];
        let selection = walk::select(&git.refs, &eligible, &branches, &w.config.policies, now_s);
        let limits: Vec<Option<Limit>> = selection.iter().map(|s| s.map(|s| s.images)).collect();
        let order = walk::parents_first(&git.commits);
        prop_assert_eq!(order.len(), n);
        let (fast, _) = walk::keep_set(&git.commits, &git.refs, &limits, &order, &images, nodes, now_s);

        // The definition: every image commit the ref reaches, newest first (equal dates by
        // index); each digest grouped under the first (newest) commit that carries it; groups
        // ranked in that order and admitted by rank and their own commit's age.
        let mut slow: Vec<Option<walk::KeptBy>> = vec![None; nodes];
        for (ri, (r, limit)) in git.refs.iter().zip(&limits).enumerate() {
            let Some(limit) = limit else { continue };
            let mut reached = vec![r.tip];
            if r.kind != crate::git::RefKind::Tag {
                let mut seen = HashSet::from([r.tip]);
                let mut k = 0;
                while k < reached.len() {
                    for &p in git.commits.parents(reached[k]) {
                        if seen.insert(p) {
                            reached.push(p);
                        }
                    }
                    k += 1;
                }
            }
            reached.sort_by_key(|&c| (std::cmp::Reverse(git.commits.time(c)), c));
            let mut grouped = HashSet::new();
            let mut rank = 0u32;
            for c in reached {
                let fresh: Vec<Node> = pairs
                    .iter()
                    .filter(|&&(pc, d)| pc == c && grouped.insert(d))
                    .map(|&(_, d)| d)
                    .collect();
                if fresh.is_empty() {
                    continue;
                }
                if !limit.admits(rank as usize + 1, now_s - git.commits.time(c)) {
                    break;
                }
                rank += 1;
                for d in fresh {
                    slow[d as usize].get_or_insert(walk::KeptBy { git_ref: ri as u32, rank, commit: c });
                }
            }
        }
        prop_assert_eq!(fast, slow);
    }
}
