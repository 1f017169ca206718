//! Example tests: each werf default policy, each link kind, branch deletion, force-push,
//! shared digests, nested indexes, signatures, age and evidence guards.

use std::time::Duration;

use super::testkit::*;
use super::*;
use crate::policy::CleanupConfig;

fn config(yaml: &str) -> CleanupConfig {
    CleanupConfig::parse(yaml, "berth.yaml").unwrap()
}

/// Defaults without the age guard, so examples judge links and policies only.
fn no_age() -> CleanupConfig {
    CleanupConfig::default().with_built_within(Duration::ZERO)
}

/// Images for m3..=m12, so that with main's `last: 10` the commits m1 and m2 fall out.
fn ten_newer(s: &mut Scan) {
    for k in 3..=12 {
        let c = format!("m{k}");
        let d = s.image(&format!("newer {c}"), 24 * 70, &[]);
        s.tag(&sha7(&c), &d);
    }
}

fn keeps(d: &HashMap<String, (bool, Option<How>, String)>, tag: &str) -> bool {
    d.get(tag)
        .unwrap_or_else(|| panic!("no decision for {tag}"))
        .0
}

fn reason<'a>(d: &'a HashMap<String, (bool, Option<How>, String)>, tag: &str) -> &'a str {
    &d[tag].2
}

#[test]
fn default_policy_keeps_the_last_ten_git_tags() {
    let mut h = History::default();
    h.chain("c", 12, None, hours_ago(24 * 30));
    for k in 1..=12 {
        h.tag(&format!("v1.{k}"), &format!("c{k}"), None);
    }
    let git = h.facts();
    let mut s = Scan::new("r");
    for k in 1..=12 {
        let d = s.image(&format!("i{k}"), 24 * 40, &[]);
        s.tag(&sha7(&format!("c{k}")), &d);
    }
    let plan = plan_one(&git, &no_age(), &s.0);
    let d = decisions(&plan);
    for k in 3..=12 {
        let tag = sha7(&format!("c{k}"));
        assert!(keeps(&d, &tag), "{tag}: {}", reason(&d, &tag));
        assert!(reason(&d, &tag).contains(&format!("git tag v1.{k}")));
    }
    for k in 1..=2 {
        let tag = sha7(&format!("c{k}"));
        assert!(!keeps(&d, &tag), "{tag}");
        assert!(reason(&d, &tag).starts_with("deleted: no keep policy keeps commit"));
    }
    assert_eq!(plan.repos[0].totals.delete, 2);
}

#[test]
fn default_policy_keeps_two_recent_images_per_recent_branch() {
    let mut h = History::default();
    h.chain("m", 3, None, hours_ago(24 * 60))
        .branch("main", "m3");
    // A fresh feature branch with four built commits, one hour apart.
    h.chain("f", 4, Some("m3"), hours_ago(5))
        .branch("feature/x", "f4");
    // A stale branch: last commit 10 days ago, outside `in: 168h`.
    h.chain("s", 2, Some("m3"), hours_ago(240))
        .branch("stale", "s2");
    let git = h.facts();
    let mut s = Scan::new("r");
    for c in ["f1", "f2", "f3", "f4", "s1", "s2"] {
        let d = s.image(c, 300, &[]);
        s.tag(&sha7(c), &d);
    }
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert!(keeps(&d, &sha7("f4")));
    assert_eq!(
        reason(&d, &sha7("f4")),
        format!(
            "kept: commit {} is 1 of the last 2 images within 7d of branch feature/x",
            cid("f4").short()
        )
    );
    assert!(reason(&d, &sha7("f3")).contains("is 2 of the last 2 images"));
    assert!(!keeps(&d, &sha7("f2")));
    assert!(!keeps(&d, &sha7("f1")));
    assert!(!keeps(&d, &sha7("s1")) && !keeps(&d, &sha7("s2")));
}

#[test]
fn default_policy_keeps_ten_images_of_main_at_any_age() {
    let mut h = History::default();
    h.chain("m", 14, None, hours_ago(24 * 90))
        .branch("main", "m14");
    let git = h.facts();
    let mut s = Scan::new("r");
    for k in 1..=14 {
        let d = s.image(&format!("m{k}"), 24 * 100, &[]);
        s.tag(&sha7(&format!("m{k}")), &d);
    }
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    let kept: Vec<bool> = (1..=14)
        .map(|k| keeps(&d, &sha7(&format!("m{k}"))))
        .collect();
    assert_eq!(kept.iter().filter(|k| **k).count(), 10);
    assert!(kept[4..].iter().all(|k| *k) && kept[..4].iter().all(|k| !*k));
    assert!(reason(&d, &sha7("m5")).contains("is 10 of the last 10 images of branch main"));
}

#[test]
fn several_tags_on_one_commit_count_as_one_image_group() {
    let mut h = History::default();
    h.chain("f", 3, None, hours_ago(3)).branch("dev", "f3");
    let git = h.facts();
    let mut s = Scan::new("r");
    for c in ["f1", "f2", "f3"] {
        let a = s.image(&format!("{c}-amd"), 300, &[]);
        let b = s.image(&format!("{c}-dbg"), 300, &[]);
        s.tag(&sha7(c), &a);
        s.tag(&format!("dev-{}", &cid(c).to_hex()[..7]), &b);
    }
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    for c in ["f3", "f2"] {
        assert!(keeps(&d, &sha7(c)));
        assert!(keeps(&d, &format!("dev-{}", &cid(c).to_hex()[..7])));
    }
    assert!(!keeps(&d, &sha7("f1")));
}

#[test]
fn every_link_kind_has_its_reason() {
    let mut h = History::default();
    h.chain("m", 2, None, hours_ago(10)).branch("main", "m2");
    h.tag("v2.0.0", "m2", None).pr(7, "m2");
    let git = h.facts();
    let cfg = config(
        "keep:\n  built_within: 0\n  tags: [latest]\n  unlinked: { delete_older_than: 30d }\n",
    );
    let mut s = Scan::new("r");
    let img = s.image("main", 300, &[]);
    s.tag("latest", &img)
        .tag("main", &img)
        .tag("v2.0.0", &img)
        .tag("pr-7", &img);
    let labelled = s.image(
        "labelled",
        24 * 5,
        &[("org.opencontainers.image.revision", &cid("m1").to_hex())],
    );
    s.tag("custom-build", &labelled);
    let gone = s.image(
        "gone",
        24 * 5,
        &[("berth.git.ref", "refs/heads/feature/old")],
    );
    s.tag("feature-old", &gone);
    let old = s.image("old-unlinked", 24 * 40, &[]);
    s.tag("nightly-2026-09", &old);
    let young = s.image("young-unlinked", 24 * 2, &[]);
    s.tag("nightly-2026-10", &young);
    s.0.tags.push(ScannedTag {
        name: "broken".into(),
        digest: Err("manifest unknown".into()),
    });
    let offline = decisions(&plan_one(&git, &cfg, &s.0));
    assert_eq!(
        reason(&offline, "pr-7"),
        "kept: tag of pull request #7, whose state (open or closed) berth cannot know: set \
         BERTH_GITHUB_TOKEN"
    );
    let d = decisions(&plan_with(&git, &cfg, &s.0, &forge(&[(7, "m2", "feat")])));
    assert_eq!(reason(&d, "latest"), "kept: matches keep.tags `latest`");
    assert_eq!(reason(&d, "main"), "kept: tag of live branch main");
    assert_eq!(reason(&d, "v2.0.0"), "kept: tag of live git tag v2.0.0");
    assert_eq!(reason(&d, "pr-7"), "kept: tag of open pull request #7");
    assert_eq!(
        reason(&d, "custom-build"),
        format!(
            "kept: commit {} is 1 of the last 10 images of branch main",
            cid("m1").short()
        )
    );
    assert_eq!(
        reason(&d, "feature-old"),
        "deleted: branch feature/old no longer exists"
    );
    assert!(reason(&d, "nightly-2026-09").starts_with(
        "deleted: not linked to git and built 40d ago, more than unlinked.delete_older_than 30d"
    ));
    assert!(keeps(&d, "nightly-2026-10"));
    assert_eq!(
        reason(&d, "broken"),
        "kept: the tag could not be resolved (manifest unknown)"
    );
    // The default unlinked rule keeps.
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert_eq!(
        reason(&d, "nightly-2026-09"),
        "kept: not linked to git (no template, revision label or ref fits)"
    );
}

#[test]
fn force_pushed_commit_images_go_and_ambiguous_prefixes_stay() {
    let mut h = History::default();
    h.chain("m", 2, None, hours_ago(10)).branch("main", "m2");
    let git = h.facts();
    let mut s = Scan::new("r");
    let a = s.image("rewritten", 300, &[]);
    // A commit that a force-push removed: the clone no longer has it.
    let lost = cid("lost-after-force-push").to_hex();
    s.tag(&format!("sha-{}", &lost[..7]), &a);
    s.tag(&lost, &a);
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    let tag = format!("sha-{}", &lost[..7]);
    assert_eq!(
        reason(&d, &tag),
        format!(
            "deleted: commit {} is no longer in any branch or tag",
            &lost[..7]
        )
    );
    assert_eq!(d[&tag].1, Some(How::DeleteManifest));
    assert!(!keeps(&d, &lost));
}

#[test]
fn ambiguous_sha_prefix_keeps() {
    // Two commits whose ids share 7 hex digits (a birthday search over 28 bits).
    let mut seen: HashMap<String, String> = HashMap::new();
    let (a, b) = (0..400_000)
        .find_map(|k| {
            let name = format!("x{k}");
            let p = cid(&name).to_hex()[..7].to_string();
            seen.insert(p, name.clone()).map(|other| (other, name))
        })
        .expect("7-hex prefixes collide within 400k names");
    let mut h = History::default();
    h.commit(&a, hours_ago(2), &[])
        .commit(&b, hours_ago(1), &[&a]);
    h.branch("main", &b);
    let git = h.facts();
    let mut s = Scan::new("r");
    let img = s.image("amb", 300, &[]);
    let tag = sha7(&a);
    assert_eq!(tag, sha7(&b));
    s.tag(&tag, &img);
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert!(keeps(&d, &tag));
    assert!(
        reason(&d, &tag).contains("names more than one commit"),
        "{}",
        reason(&d, &tag)
    );
}

#[test]
fn two_refs_with_one_tag_form_are_ambiguous() {
    let mut h = History::default();
    h.chain("m", 1, None, hours_ago(10));
    h.branch("feature/x", "m1").branch("feature-x", "m1");
    let git = h.facts();
    let mut s = Scan::new("r");
    let d0 = s.image("x", 300, &[]);
    s.tag("feature-x", &d0);
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert_eq!(
        reason(&d, "feature-x"),
        "kept: ambiguous: the tag form of branch feature/x and branch feature-x"
    );
}

#[test]
fn shared_digest_is_untagged_not_deleted() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let old = s.image("old", 24 * 70, &[]);
    s.tag(&sha7("m1"), &old).tag("stable", &old);
    let gone = s.image("gone", 24 * 70, &[]);
    s.tag(&sha7("m2"), &gone)
        .tag(&format!("main-{}", &cid("m2").to_hex()[..7]), &gone);
    let cfg = config("keep:\n  built_within: 0\n  tags: [stable]\n");
    let d = decisions(&plan_one(&git, &cfg, &s.0));
    assert!(keeps(&d, "stable"));
    assert_eq!(d[&sha7("m1")].1, Some(How::UntagOnly));
    // Every tag of `gone` goes: both carry DeleteManifest (the executor deletes it once).
    assert_eq!(d[&sha7("m2")].1, Some(How::DeleteManifest));
    assert_eq!(
        d[&format!("main-{}", &cid("m2").to_hex()[..7])].1,
        Some(How::DeleteManifest)
    );
}

#[test]
fn a_registry_that_cannot_untag_keeps_a_doomed_tag_on_a_kept_digest() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    s.0.cannot_untag = true;
    ten_newer(&mut s);
    let old = s.image("old", 24 * 70, &[]);
    s.tag(&sha7("m1"), &old).tag("stable", &old);
    let gone = s.image("gone", 24 * 70, &[]);
    s.tag(&sha7("m2"), &gone);
    let cfg = config("keep:\n  built_within: 0\n  tags: [stable]\n");
    let plan = plan_one(&git, &cfg, &s.0);
    let d = decisions(&plan);
    assert!(keeps(&d, "stable"));
    assert!(keeps(&d, &sha7("m1")));
    let why = reason(&d, &sha7("m1"));
    assert!(
        why.starts_with("kept: would be deleted (no keep policy keeps commit "),
        "{why}"
    );
    assert!(
        why.ends_with(
            "but its manifest is also tagged stable, which stays, and this registry cannot \
             delete a single tag (only a manifest with all its tags)"
        ),
        "{why}"
    );
    let kept = plan.repos[0]
        .tags
        .iter()
        .find(|t| t.tag == sha7("m1"))
        .unwrap();
    assert_eq!(
        kept.decision.reason().details.get("kept_tag"),
        Some("stable")
    );
    // A manifest whose tags all go is still deleted by digest.
    assert_eq!(d[&sha7("m2")].1, Some(How::DeleteManifest));
}

#[test]
fn nested_index_children_of_kept_tags_stay() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let amd = s.image("amd", 24 * 70, &[]);
    let arm = s.image("arm", 24 * 70, &[]);
    let inner = s.index("inner", &[&amd, &arm]);
    let outer = s.index("outer", &[&inner]);
    s.tag("main", &outer);
    // An old commit's tag that happens to point at a platform image of the kept index.
    s.tag(&sha7("m1"), &arm);
    // And an old index of its own, whose image child nothing else needs.
    let lone = s.image("lone", 24 * 70, &[]);
    let old_index = s.index("old-index", &[&lone]);
    s.tag(&sha7("m2"), &old_index);
    let plan = plan_one(&git, &no_age(), &s.0);
    let d = decisions(&plan);
    assert!(keeps(&d, "main"));
    assert_eq!(d[&sha7("m1")].1, Some(How::UntagOnly));
    assert_eq!(d[&sha7("m2")].1, Some(How::DeleteManifest));
    assert!(plan.repos[0].manifest_deletions.is_empty());
    // With `untagged: delete` the old index's child goes along, the kept index's do not.
    let cfg = config("keep:\n  built_within: 0\n  untagged: delete\n");
    let plan = plan_one(&git, &cfg, &s.0);
    let gone: Vec<&Digest> = plan.repos[0]
        .manifest_deletions
        .iter()
        .map(|m| &m.digest)
        .collect();
    assert_eq!(gone, vec![&lone]);
    // Where the registry lists untagged manifests (GitHub's versions), the same happens under
    // `untagged: keep`: the old index's child would linger as a version nothing names.
    let mut listed = s.0.clone();
    listed.untagged_listed = true;
    let plan = plan_one(&git, &no_age(), &listed);
    let gone: Vec<(&Digest, String)> = plan.repos[0]
        .manifest_deletions
        .iter()
        .map(|m| (&m.digest, m.reason.to_string()))
        .collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].0, &lone);
    assert!(gone[0].1.contains("untagged version"), "{}", gone[0].1);
}

#[test]
fn signatures_of_a_deleted_index_children_go_with_them() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let amd = s.image("old amd", 24 * 70, &[]);
    let arm = s.image("old arm", 24 * 70, &[]);
    let index = s.index("old index", &[&amd, &arm]);
    s.tag(&sha7("m1"), &index);
    s.cosign(&index);
    s.cosign(&amd);
    let sig = |x: &Digest| format!("sha256-{}.sig", x.hex());
    // `untagged: delete`: the children go with the index, and so do their signatures.
    let cfg = config("keep:\n  built_within: 0\n  untagged: delete\n");
    let d = decisions(&plan_one(&git, &cfg, &s.0));
    assert!(!keeps(&d, &sha7("m1")));
    assert!(!keeps(&d, &sig(&index)));
    assert_eq!(
        reason(&d, &sig(&amd)),
        format!("deleted: signature of deleted image {}", amd.short())
    );
    // `untagged: keep`: the children stay, so their signatures do, saying why.
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert!(keeps(&d, &sig(&amd)));
    assert!(
        reason(&d, &sig(&amd)).contains("untagged: keep"),
        "{}",
        reason(&d, &sig(&amd))
    );
}

#[test]
fn a_signature_goes_once_its_image_is_gone_and_it_is_old_enough() {
    let mut h = History::default();
    h.chain("m", 3, None, hours_ago(24 * 60))
        .branch("main", "m3");
    let git = h.facts();
    let mut s = Scan::new("r");
    let gone = dig("deleted in an earlier run");
    s.0.manifests.insert(
        gone.clone(),
        ManifestFacts {
            absent: true,
            ..ManifestFacts::default()
        },
    );
    let sig = s.image("old signature", 24 * 30, &[]);
    let tag = format!("sha256-{}.sig", gone.hex());
    s.tag(&tag, &sig);
    let d = decisions(&plan_one(&git, &CleanupConfig::default(), &s.0));
    assert_eq!(
        reason(&d, &tag),
        format!(
            "deleted: its signed image {} is no longer in the repository",
            gone.short()
        )
    );
    // A young signature of a gone image waits for keep.built_within.
    let mut young = Scan::new("r");
    young.0.manifests = s.0.manifests.clone();
    let fresh = young.image("fresh signature", 1, &[]);
    young.tag(&tag, &fresh);
    let d = decisions(&plan_one(&git, &CleanupConfig::default(), &young.0));
    assert!(keeps(&d, &tag), "{}", reason(&d, &tag));
    // A subject that is still there, untagged, keeps its signature.
    s.0.manifests.get_mut(&gone).unwrap().absent = false;
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert!(keeps(&d, &tag));
}

/// Issue 10 case 1: a protected tag that did not resolve (one 429) may share its digest with a
/// doomed tag: the doomed tag is only untagged, and nothing goes by digest.
#[test]
fn an_unresolved_tag_keeps_every_manifest_of_its_repository() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let shared = s.image("shared", 24 * 70, &[]);
    s.tag(&sha7("m1"), &shared);
    s.referrer("sbom of shared", &shared);
    s.0.tags.push(ScannedTag {
        name: "prod".into(),
        digest: Err("HTTP 429 Too Many Requests".into()),
    });
    let cfg = config("keep:\n  built_within: 0\n  tags: [prod]\n");
    let plan = plan_one(&git, &cfg, &s.0);
    let d = decisions(&plan);
    assert!(keeps(&d, "prod"));
    assert_eq!(d[&sha7("m1")].1, Some(How::UntagOnly));
    assert!(plan.repos[0].manifest_deletions.is_empty());
}

#[test]
fn signatures_follow_their_subject_both_ways() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let kept = s.image("kept", 24 * 70, &[]);
    s.tag("main", &kept);
    let kept_sig = s.cosign(&kept);
    let old = s.image("old", 24 * 70, &[]);
    s.tag(&sha7("m1"), &old);
    s.cosign(&old);
    let sbom = s.referrer("sbom of old", &old);
    let orphan = dig("never tagged");
    s.tag(&format!("sha256-{}.att", orphan.hex()), &kept_sig);
    let plan = plan_one(&git, &no_age(), &s.0);
    let d = decisions(&plan);
    let sig = |x: &Digest| format!("sha256-{}.sig", x.hex());
    assert!(keeps(&d, &sig(&kept)));
    assert_eq!(
        reason(&d, &sig(&kept)),
        format!("kept: signature of kept image {}", kept.short())
    );
    assert!(!keeps(&d, &sig(&old)));
    assert_eq!(d[&sig(&old)].1, Some(How::DeleteManifest));
    assert!(keeps(&d, &format!("sha256-{}.att", orphan.hex())));
    // The untagged SBOM referrer goes with its subject; the tagged signature goes by its tag.
    let md = &plan.repos[0].manifest_deletions;
    assert_eq!(md.len(), 1);
    assert_eq!(md[0].digest, sbom);
    assert_eq!(
        md[0].reason.to_string(),
        format!("deleted: refers to deleted manifest {}", old.short())
    );
}

#[test]
fn young_or_undated_images_are_not_deleted() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let young = s.image("young", 1, &[]);
    s.tag(&sha7("m1"), &young);
    let unread = s.unread_image("unread");
    s.tag(&sha7("m2"), &unread);
    let old = s.image("old", 3, &[]);
    let lost = format!("sha-{}", &cid("lost").to_hex()[..7]);
    s.tag(&lost, &old);
    let d = decisions(&plan_one(&git, &CleanupConfig::default(), &s.0));
    assert_eq!(
        reason(&d, &sha7("m1")),
        "kept: built 1h ago, within keep.built_within 2h"
    );
    assert!(reason(&d, &sha7("m2")).starts_with("kept: the config of"));
    assert!(!keeps(&d, &lost));
}

/// Issue 11: a config with no usable `created` (the epoch of a reproducible build) takes the
/// provider's push time as its build time; without one the image stays as undated.
#[test]
fn the_push_time_stands_in_for_an_epoch_created() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let epoch = |s: &mut Scan, name: &str, pushed_h: Option<i64>| {
        let d = s.image(name, 0, &[]);
        let f = s.0.manifests.get_mut(&d).unwrap();
        f.config.as_mut().unwrap().created = Some(DateTime::<Utc>::UNIX_EPOCH);
        f.pushed = pushed_h.map(|h| now() - chrono::Duration::hours(h));
        d
    };
    let young = epoch(&mut s, "young", Some(1));
    s.tag(&sha7("m1"), &young);
    let old = epoch(&mut s, "old", Some(24 * 30));
    s.tag(&sha7("m2"), &old);
    let undated = epoch(&mut s, "undated", None);
    // A listing that copies the epoch `created` as its push time says nothing either.
    let copied = s.image("copied", 0, &[]);
    {
        let f = s.0.manifests.get_mut(&copied).unwrap();
        f.config.as_mut().unwrap().created = Some(DateTime::<Utc>::UNIX_EPOCH);
        f.pushed = Some(DateTime::<Utc>::UNIX_EPOCH);
    }
    let copied_tag = format!("sha-{}", &cid("copied").to_hex()[..7]);
    s.tag(&copied_tag, &copied);
    let lost = format!("sha-{}", &cid("lost").to_hex()[..7]);
    s.tag(&lost, &undated);
    let d = decisions(&plan_one(&git, &CleanupConfig::default(), &s.0));
    assert_eq!(
        reason(&d, &sha7("m1")),
        "kept: built 1h ago, within keep.built_within 2h"
    );
    assert!(!keeps(&d, &sha7("m2")), "{}", reason(&d, &sha7("m2")));
    for t in [&lost, &copied_tag] {
        assert!(
            reason(&d, t).contains("build time is unknown"),
            "{}",
            reason(&d, t)
        );
    }
}

#[test]
fn configs_needed_asks_for_labels_then_build_times() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    // Open tag: its labels are needed first.
    let open = s.unread_image("open");
    s.tag("custom", &open);
    // A live-ref tag needs nothing; a kept commit tag needs nothing.
    let live = s.unread_image("live");
    s.tag("main", &live);
    // A deletion candidate by template: its build time is needed.
    let old = s.unread_image("old");
    s.tag(&sha7("m1"), &old);
    let cfg = CleanupConfig::default();
    let mut scans = vec![s.0];
    let input = |scans: &[RepoScan]| {
        configs_needed(&PlanInput {
            scans,
            git: &git,
            config: &cfg,
            pulls: &offline(),
            now: now(),
        })
    };
    let round1 = input(&scans);
    assert_eq!(round1, {
        let mut v = vec![(0, open.clone()), (0, old.clone())];
        v.sort();
        v
    });
    // The open tag's label names an old commit of main: round two asks for nothing new
    // except... its build time, since it becomes a deletion candidate.
    let fill = |scans: &mut Vec<RepoScan>, d: &Digest, labels: &[(&str, &str)], age: i64| {
        scans[0].manifests.get_mut(d).unwrap().config = Some(ImageConfig {
            created: Some(now() - chrono::Duration::hours(age)),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    };
    let m2 = cid("m2").to_hex();
    fill(&mut scans, &open, &[("vcs-ref", &m2)], 24 * 70);
    fill(&mut scans, &old, &[], 24 * 70);
    assert!(input(&scans).is_empty());
    let plan = super::plan(&PlanInput {
        scans: &scans,
        git: &git,
        config: &cfg,
        pulls: &offline(),
        now: now(),
    });
    let d = decisions(&plan);
    assert!(!keeps(&d, "custom") && !keeps(&d, &sha7("m1")));
    assert!(keeps(&d, "main"));
}

#[test]
fn shallow_facts_judge_nothing_and_are_refused() {
    let mut h = History::default();
    h.chain("m", 2, None, hours_ago(24 * 60))
        .branch("main", "m2");
    h.shallow = true;
    let git = h.facts();
    let mut s = Scan::new("r");
    let lost = cid("elsewhere").to_hex();
    let d0 = s.image("x", 24 * 70, &[]);
    s.tag(&format!("sha-{}", &lost[..7]), &d0);
    let plan = plan_one(&git, &no_age(), &s.0);
    assert_eq!(plan.repos[0].totals.delete, 0);
    assert_eq!(
        check_guards(
            &plan,
            &git,
            &Guards {
                force: true,
                ..Guards::default()
            }
        ),
        Err(Refusal::Shallow)
    );
}

#[test]
fn guards_refuse_zero_refs_and_large_deletions_unless_forced() {
    let git = GitFacts::default();
    let mut s = Scan::new("r");
    for k in 0..5 {
        let d0 = s.image(&format!("i{k}"), 24 * 70, &[]);
        s.tag(
            &format!("sha-{}", &cid(&format!("gone{k}")).to_hex()[..7]),
            &d0,
        );
    }
    let plan = plan_one(&git, &no_age(), &s.0);
    assert_eq!(plan.repos[0].totals.delete, 5);
    let err = check_guards(&plan, &git, &Guards::default()).unwrap_err();
    assert_eq!(err, Refusal::NoRefs);
    assert!(err.to_string().contains("--force"));
    assert!(
        check_guards(
            &plan,
            &git,
            &Guards {
                force: true,
                ..Guards::default()
            }
        )
        .is_ok()
    );

    let mut h = History::default();
    h.chain("m", 1, None, hours_ago(24)).branch("main", "m1");
    let git = h.facts();
    let plan = plan_one(&git, &no_age(), &s.0);
    let err = check_guards(&plan, &git, &Guards::default()).unwrap_err();
    assert!(matches!(
        err,
        Refusal::DeleteRatio {
            deleted: 5,
            total: 5,
            ..
        }
    ));
    assert!(err.to_string().contains("--max-delete-ratio"));
    let loose = Guards {
        max_delete_ratio: 1.0,
        force: false,
    };
    assert!(check_guards(&plan, &git, &loose).is_ok());
}

#[test]
fn plan_serialises_with_schema_and_round_trips() {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 60))
        .branch("main", "m12");
    let git = h.facts();
    let mut s = Scan::new("r");
    ten_newer(&mut s);
    let a = s.image("a", 24 * 70, &[]);
    let b = s.image("b", 24 * 70, &[]);
    s.tag(&sha7("m1"), &a).tag("main", &b);
    let plan = plan_one(&git, &no_age(), &s.0);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["schema"], 1);
    let m1 = json["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == sha7("m1").as_str())
        .unwrap();
    assert_eq!(m1["decision"]["action"], "delete");
    assert_eq!(m1["decision"]["how"], "delete_manifest");
    assert_eq!(m1["decision"]["reason"]["kind"], "policy");
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
}

/// One repository with every kind of tag: the plan as `--dry-run` would list it.
fn fixture_plan() -> Plan {
    let mut h = History::default();
    h.chain("m", 12, None, hours_ago(24 * 20))
        .branch("main", "m12");
    h.tag("v1.0.0", "m12", None);
    h.chain("f", 3, Some("m12"), hours_ago(6))
        .branch("feature/login", "f3");
    h.pr(42, "f3");
    let git = h.facts();
    let cfg = config(
        "keep:\n  built_within: 2h\n  tags: [latest]\n  unlinked: { delete_older_than: 30d }\n",
    );
    let mut s = Scan::new("registry.example.com/team/app");
    for k in 1..=12 {
        let c = format!("m{k}");
        let d = s.image(&c, 24 * 21 - k, &[]);
        s.tag(&sha7(&c), &d);
    }
    let release = s.image("release", 24 * 10, &[]);
    s.tag("latest", &release)
        .tag("v1.0.0", &release)
        .tag("main", &release);
    s.cosign(&release);
    for c in ["f1", "f2", "f3"] {
        let d = s.image(c, 5, &[]);
        s.tag(&format!("feature-login-{}", &cid(c).to_hex()[..7]), &d);
    }
    let young = s.image("young", 1, &[]);
    s.tag("pr-42", &young);
    let dead = s.image(
        "dead",
        24 * 9,
        &[("berth.git.ref", "refs/heads/feature/old")],
    );
    s.tag("feature-old", &dead);
    s.cosign(&dead);
    let lost = cid("force-pushed").to_hex();
    let rewritten = s.image("rewritten", 24 * 8, &[]);
    s.tag(&format!("sha-{}", &lost[..7]), &rewritten);
    s.referrer("sbom of rewritten", &rewritten);
    let stray = s.image("stray", 24 * 60, &[]);
    s.tag("debug-build", &stray);
    plan_one(&git, &cfg, &s.0)
}

/// The text a person reviews: one line per tag, then the untagged manifests that go.
fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for rp in &plan.repos {
        out.push_str(&format!(
            "{}: {} tags, {} kept, {} deleted\n",
            rp.repo, rp.totals.tags, rp.totals.keep, rp.totals.delete
        ));
        for t in &rp.tags {
            let how = match &t.decision {
                Decision::Keep { .. } => "",
                Decision::Delete {
                    how: How::DeleteManifest,
                    ..
                } => " [delete manifest]",
                Decision::Delete {
                    how: How::UntagOnly,
                    ..
                } => " [untag]",
            };
            out.push_str(&format!("  {:<24} {}{how}\n", t.tag, t.decision.reason()));
        }
        for m in &rp.manifest_deletions {
            out.push_str(&format!("  @{:<23} {}\n", m.digest.short(), m.reason));
        }
    }
    out
}

#[test]
fn fixture_plan_snapshot() {
    let plan = fixture_plan();
    insta::assert_snapshot!("fixture_plan_text", render(&plan));
    insta::assert_json_snapshot!("fixture_plan_json", plan);
}

#[test]
fn deleted_branches_merged_or_not() {
    let mut h = History::default();
    h.chain("m", 3, None, hours_ago(24 * 30));
    // feature/a was merged into main, then its branch deleted; feature/b was deleted unmerged.
    h.chain("a", 2, Some("m3"), hours_ago(24 * 20));
    h.commit("merge", hours_ago(24 * 19), &["m3", "a2"]);
    h.branch("main", "merge");
    let git = h.facts();
    let mut s = Scan::new("r");
    for c in ["a1", "a2"] {
        let d = s.image(c, 24 * 21, &[]);
        s.tag(&format!("feature-a-{}", &cid(c).to_hex()[..7]), &d);
    }
    let b = s.image("b1", 24 * 21, &[]);
    let unmerged = cid("b1-never-merged").to_hex();
    s.tag(&format!("feature-b-{}", &unmerged[..7]), &b);
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    // Merged commits are still in main's history: main's policy judges (and keeps) them.
    for c in ["a1", "a2"] {
        let tag = format!("feature-a-{}", &cid(c).to_hex()[..7]);
        assert!(
            reason(&d, &tag).ends_with("images of branch main"),
            "{}",
            reason(&d, &tag)
        );
    }
    let tag = format!("feature-b-{}", &unmerged[..7]);
    assert!(reason(&d, &tag).contains("is no longer in any branch or tag"));
}

#[test]
fn or_keeps_the_last_images_and_everything_recent() {
    let mut h = History::default();
    h.chain("d", 6, None, hours_ago(1)).branch("dev", "d6");
    let git = h.facts();
    let cfg = config(
        "keep:\n  built_within: 0\n  policies:\n    - references: { branch: dev }\n      images_per_reference: { last: 1, in: 3h, operator: Or }\n",
    );
    let mut s = Scan::new("r");
    for k in 1..=6 {
        let c = format!("d{k}");
        let d0 = s.image(&c, 24, &[]);
        s.tag(&sha7(&c), &d0);
    }
    let d = decisions(&plan_one(&git, &cfg, &s.0));
    // d6..d4 are within 3h (1h, 2h, 3h old); d3..d1 are older and beyond `last: 1`.
    let kept: Vec<bool> = (1..=6)
        .map(|k| keeps(&d, &sha7(&format!("d{k}"))))
        .collect();
    assert_eq!(kept, vec![false, false, false, true, true, true]);
    assert!(
        reason(&d, &sha7("d5")).contains("committed within the last 3h"),
        "{}",
        reason(&d, &sha7("d5"))
    );
    let and = config(
        "keep:\n  built_within: 0\n  policies:\n    - references: { branch: dev }\n      images_per_reference: { last: 2, in: 3h }\n",
    );
    let d = decisions(&plan_one(&git, &and, &s.0));
    let kept: Vec<bool> = (1..=6)
        .map(|k| keeps(&d, &sha7(&format!("d{k}"))))
        .collect();
    assert_eq!(kept, vec![false, false, false, false, true, true]);
}

#[test]
fn reason_details_are_a_json_object_in_key_order_and_read_back() {
    let reason = Reason::kept("policy", "commit 1a2b3c4 is 1 of the last 2 images")
        .with("ref", "main")
        .with("commit", "1a2b3c4d")
        .with("policy", "2")
        .with("ref", "feature/x");
    let json = serde_json::to_string(&reason).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"policy","message":"kept: commit 1a2b3c4 is 1 of the last 2 images","details":{"commit":"1a2b3c4d","policy":"2","ref":"feature/x"}}"#
    );
    assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), reason);
    let bare = serde_json::to_string(&Reason::kept("unlinked", "not linked")).unwrap();
    assert!(!bare.contains("details"), "{bare}");
    let read: Reason = serde_json::from_str(&bare).unwrap();
    assert!(read.details.is_empty());
}

#[test]
fn monorepo_images_are_linked_after_their_prefix_and_counted_one_by_one() {
    let mut h = History::default();
    h.chain("f", 4, None, hours_ago(5))
        .branch("feature/x", "f4");
    let git = h.facts();
    let mut s = Scan::new("r");
    s.0.image_prefixes = vec!["web-".into(), "web-api-".into(), String::new()];
    for c in ["f1", "f2", "f3", "f4"] {
        for image in ["web-", "web-api-"] {
            let d = s.image(&format!("{image}{c}"), 300, &[]);
            s.tag(&format!("{image}{}", sha7(c)), &d);
        }
    }
    let plain = s.image("unnamed f1", 300, &[]);
    s.tag(&sha7("f1"), &plain);
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    // `last: 2` per image: each image keeps its own two newest, not two between them.
    for image in ["web-", "web-api-"] {
        for (c, kept) in [("f4", true), ("f3", true), ("f2", false), ("f1", false)] {
            let tag = format!("{image}{}", sha7(c));
            assert_eq!(keeps(&d, &tag), kept, "{tag}: {}", reason(&d, &tag));
        }
    }
    // The unnamed image's only image is its newest.
    assert!(keeps(&d, &sha7("f1")), "{}", reason(&d, &sha7("f1")));

    // Without an unnamed image, a tag with no image prefix is unlinked (and kept).
    s.0.image_prefixes.pop();
    let d = decisions(&plan_one(&git, &no_age(), &s.0));
    assert!(keeps(&d, &sha7("f1")));
    assert!(
        reason(&d, &sha7("f1")).contains("starts with none of the images' prefixes"),
        "{}",
        reason(&d, &sha7("f1"))
    );
}
