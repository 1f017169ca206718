//! Cleanup decisions that must hold in real CI (issue 9): pull-request state from the forge,
//! the producers' exact tag forms, werf's image counting and date order, build times that
//! reproducible builds write, and reasons that name what decided. Each case is a real git
//! repository (bare origin, CI-style clone), an OCI layout written by the harness, and the
//! berth binary's JSON dry run. Dates are relative to now, so the policies judge them as a
//! live project's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};

use crate::fixtures::{Fixture, git};
use crate::harness::ImageSpec;
use crate::harness::forge::{ForgeFake, Pr};
use crate::harness::layout::Layout;

type Decisions = BTreeMap<String, (String, String)>;

/// An image built `hours` ago (five minutes after a commit of that age).
fn built(unique: &str, hours: i64) -> ImageSpec {
    let at = Utc::now() - Duration::hours(hours) + Duration::minutes(5);
    ImageSpec::new(unique).created(&at.to_rfc3339())
}

fn sha7(commit: &str) -> String {
    format!("sha-{}", &commit[..7])
}

fn keeps(d: &Decisions, tag: &str) -> bool {
    d.get(tag)
        .unwrap_or_else(|| panic!("no decision for {tag}: {d:?}"))
        .0
        == "keep"
}

fn reason<'a>(d: &'a Decisions, tag: &str) -> &'a str {
    &d[tag].1
}

/// A fixture, its layout, and a berth.yaml.
struct Case {
    f: Fixture,
    layout: Layout,
    config: PathBuf,
}

impl Case {
    fn new(yaml: &str) -> Case {
        let f = Fixture::new();
        let config = f.root().join("berth.yaml");
        std::fs::write(&config, yaml).unwrap();
        Case {
            f,
            layout: Layout::new(),
            config,
        }
    }

    /// Pushes everything, writes the layout, clones as CI does.
    fn publish(&self, images: &[(String, ImageSpec)]) -> PathBuf {
        self.f.git(&["checkout", "-q", "main"]);
        self.f.push_all();
        self.layout.images(images);
        self.f.clone_ci()
    }

    fn plan(&self, clone: &Path, args: &[&str], env: &[(&str, &str)]) -> (Decisions, Vec<String>) {
        let config = self.config.display().to_string();
        let mut all = vec!["--config", config.as_str()];
        all.extend(args);
        self.layout.decisions(clone, &all, env)
    }
}

/// Pushes `commit` to origin as `refs/pull/<n>/head` only, as a pull request from a fork
/// leaves it: no branch of the repository holds the commit.
fn fork_pull_request(f: &Fixture, n: u64, commit: &str) {
    f.git(&[
        "push",
        "-q",
        "origin",
        &format!("{commit}:refs/pull/{n}/head"),
    ]);
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Cases 1 and 3: a fork's pull request (its branch is not in the repository, only
/// `refs/pull/7/head`). Offline its state is unknown: kept, with the variable to set. The
/// forge says open: kept as an open pull request. The forge says closed: gone, although the
/// ref stays.
#[test]
fn pull_request_state_comes_from_the_forge() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    let m1 = c.f.commit_ago("main", "m1", 48);
    let p1 = c.f.commit_ago("fork/feature", "p1", 6);
    c.f.git(&["checkout", "-q", "main"]);
    c.f.push("main");
    fork_pull_request(&c.f, 7, &p1);
    let images = vec![
        (sha7(&m1), built("m1", 48)),
        (
            sha7(&p1),
            built("p1", 6).label("org.opencontainers.image.revision", &p1),
        ),
        (
            "pr-7".to_string(),
            built("pr7", 6)
                .label("org.opencontainers.image.revision", &p1)
                .label("berth.git.ref", "refs/pull/7/head"),
        ),
    ];
    c.layout.images(&images);
    let clone = c.f.clone_ci();

    let (d, notes) = c.plan(&clone, &["--fetch"], &[]);
    for tag in ["pr-7", &sha7(&p1)] {
        assert!(keeps(&d, tag), "{tag}: {}", reason(&d, tag));
        assert!(
            reason(&d, tag).contains("pull request #7"),
            "{}",
            reason(&d, tag)
        );
        assert!(
            reason(&d, tag).contains("BERTH_GITHUB_TOKEN"),
            "{}",
            reason(&d, tag)
        );
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("pull-request state unknown")),
        "{notes:?}"
    );

    let fake = ForgeFake::github(vec![Pr::open(7, "feature").with_sha(&p1)]);
    let env = fake.env();
    let (d, notes) = c.plan(&clone, &["--fetch"], &as_refs(&env));
    assert_eq!(reason(&d, "pr-7"), "kept: tag of open pull request #7");
    assert!(
        reason(&d, &sha7(&p1)).contains("of pull request #7"),
        "{}",
        reason(&d, &sha7(&p1))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("1 open, as GitHub lists them")),
        "{notes:?}"
    );
    fake.assert_no_unexpected();

    fake.close(7);
    let (d, _) = c.plan(&clone, &["--fetch"], &as_refs(&env));
    assert!(!keeps(&d, "pr-7"));
    assert!(
        reason(&d, "pr-7").contains("pull request #7 is not open"),
        "{}",
        reason(&d, "pr-7")
    );
    assert!(!keeps(&d, &sha7(&p1)), "{}", reason(&d, &sha7(&p1)));
    assert!(keeps(&d, &sha7(&m1)));
}

/// Case 2: fresh pull requests do not take a branch policy's `limit: {last: N}` slots.
#[test]
fn pull_requests_never_take_branch_slots() {
    let c = Case::new(
        "keep:\n  built_within: 2h\n  policies:\n    \
         - references: { branch: /.*/, limit: { last: 2 } }\n      \
         images_per_reference: { last: 1 }\n    \
         - references: { pull_request: /.*/ }\n      images_per_reference: { last: 1 }\n",
    );
    let m1 = c.f.commit_ago("main", "m1", 50);
    let a1 = c.f.commit_ago("feature/a", "a1", 40);
    let mut images = vec![(sha7(&m1), built("m1", 50)), (sha7(&a1), built("a1", 40))];
    let mut prs = Vec::new();
    for n in 1..=3u64 {
        let p =
            c.f.commit_ago(&format!("pr/{n}"), &format!("p{n}"), 10 + n as i64);
        c.f.git(&["checkout", "-q", "main"]);
        images.push((sha7(&p), built(&format!("p{n}"), 10 + n as i64)));
        prs.push(Pr::open(n, &format!("pr/{n}")).with_sha(&p));
        fork_pull_request(&c.f, n, &p);
    }
    c.f.push("main");
    c.f.push("feature/a");
    c.layout.images(&images);
    let clone = c.f.clone_ci();
    let fake = ForgeFake::github(prs);
    let env = fake.env();
    let (d, _) = c.plan(&clone, &["--fetch"], &as_refs(&env));
    for (tag, _) in &images {
        assert!(keeps(&d, tag), "{tag}: {}", reason(&d, tag));
    }
    assert!(
        reason(&d, &sha7(&m1)).contains("branch main"),
        "{}",
        reason(&d, &sha7(&m1))
    );
    assert!(reason(&d, &sha7(&a1)).contains("branch feature/a"));
}

/// Case 6: metadata-action keeps case, GitLab downcases Unicode per character, berth writes
/// lowercase: each is a live branch's tag.
#[test]
fn every_producer_slug_of_a_live_branch_is_recognised() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    c.f.commit_ago("main", "m1", 30);
    c.f.commit_ago("Feature/Upper", "u1", 6);
    c.f.commit_ago("feature/größe", "g1", 6);
    let images: Vec<(String, ImageSpec)> = [
        ("Feature-Upper", "Feature/Upper"),
        ("feature-upper", "Feature/Upper"),
        ("feature-gr--e", "feature/größe"),
        ("feature-gr-e", "feature/größe"),
    ]
    .iter()
    .map(|(tag, branch)| {
        let spec = built(tag, 6).label("berth.git.ref", &format!("refs/heads/{branch}"));
        (tag.to_string(), spec)
    })
    .collect();
    let clone = c.publish(&images);
    let (d, _) = c.plan(&clone, &[], &[]);
    for (tag, branch) in [
        ("Feature-Upper", "Feature/Upper"),
        ("feature-upper", "Feature/Upper"),
        ("feature-gr--e", "feature/größe"),
        ("feature-gr-e", "feature/größe"),
    ] {
        assert_eq!(
            reason(&d, tag),
            format!("kept: tag of live branch {branch}")
        );
    }
}

/// Case 7: an existing git tag's name wins over `{branch}-{sha7}` reading it as a commit.
#[test]
fn an_existing_git_tag_is_never_read_as_a_commit() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    let m1 = c.f.commit_ago("main", "m1", 30);
    c.f.tag("build-1000002", &m1);
    let clone = c.publish(&[("build-1000002".into(), built("b", 30))]);
    let (d, _) = c.plan(&clone, &[], &[]);
    assert_eq!(
        reason(&d, "build-1000002"),
        "kept: tag of live git tag build-1000002"
    );
}

/// Case 8: GitLab's 8-character short SHA and metadata-action's semver forms link without
/// configuration; a floating `1.2` lives while a git tag of its line lives.
#[test]
fn gitlab_short_shas_and_semver_forms_link_by_default() {
    let c = Case::new("keep:\n  built_within: 2h\n  unlinked: { delete_older_than: 1h }\n");
    let m1 = c.f.commit_ago("main", "m1", 30);
    let m2 = c.f.commit_ago("main", "m2", 20);
    c.f.tag("v1.2.3", &m2);
    let images = vec![
        (m1[..8].to_string(), built("m1", 30)),
        (format!("main-{}", &m2[..8]), built("m2", 20)),
        ("1.2.3".into(), built("v", 20)),
        ("1.2".into(), built("v", 20)),
        ("1".into(), built("v", 20)),
    ];
    let clone = c.publish(&images);
    let (d, _) = c.plan(&clone, &[], &[]);
    for (tag, _) in &images {
        assert!(keeps(&d, tag), "{tag}: {}", reason(&d, tag));
    }
    assert!(
        reason(&d, &m1[..8]).contains("of branch main"),
        "{}",
        reason(&d, &m1[..8])
    );
    assert_eq!(reason(&d, "1.2.3"), "kept: tag of live git tag v1.2.3");
    assert_eq!(
        reason(&d, "1.2"),
        "kept: release line of live git tags v1.2.3"
    );
}

/// Case 9: `last: 2` counts images, not commits: a digest that later docs-only commits
/// reuse is one image, grouped under its newest commit.
#[test]
fn images_per_reference_counts_images() {
    let c = Case::new(
        "keep:\n  built_within: 2h\n  policies:\n    - references: { branch: main }\n      \
         images_per_reference: { last: 2 }\n",
    );
    let commits: Vec<String> = (1..=4)
        .map(|k| c.f.commit_ago("main", &format!("c{k}"), 50 - 10 * k))
        .collect();
    let reused = built("reused", 30);
    let mut images = vec![(sha7(&commits[0]), built("first", 40))];
    for commit in &commits[1..] {
        images.push((sha7(commit), reused.clone()));
    }
    let clone = c.publish(&images);
    let (d, _) = c.plan(&clone, &[], &[]);
    for (tag, _) in &images {
        assert!(keeps(&d, tag), "{tag}: {}", reason(&d, tag));
    }
    assert!(
        reason(&d, &sha7(&commits[0])).contains("is 2 of the last 2 images of branch main"),
        "{}",
        reason(&d, &sha7(&commits[0]))
    );
}

/// Case 10: committer dates that go backwards (a cherry-pick keeps its old date) do not end
/// the `in` walk: every commit is judged by its own date.
#[test]
fn dates_that_go_backwards_do_not_end_the_walk() {
    let c = Case::new(
        "keep:\n  built_within: 2h\n  policies:\n    - references: { branch: main }\n      \
         images_per_reference: { in: 24h }\n",
    );
    let c1 = c.f.commit_ago("main", "c1", 10);
    let c2 = c.f.commit_ago("main", "cherry-picked", 24 * 30);
    let c3 = c.f.commit_ago("main", "c3", 3);
    let images = vec![
        (sha7(&c1), built("c1", 10)),
        (sha7(&c2), built("c2", 9)),
        (sha7(&c3), built("c3", 3)),
    ];
    let clone = c.publish(&images);
    let (d, _) = c.plan(&clone, &[], &[]);
    assert!(keeps(&d, &sha7(&c1)), "{}", reason(&d, &sha7(&c1)));
    assert!(keeps(&d, &sha7(&c3)));
    assert!(!keeps(&d, &sha7(&c2)), "{}", reason(&d, &sha7(&c2)));
}

/// Case 11: a policy without `images_per_reference` keeps every image its refs reach.
#[test]
fn a_policy_without_images_per_reference_keeps_every_image() {
    let c =
        Case::new("keep:\n  built_within: 2h\n  policies:\n    - references: { branch: main }\n");
    let images: Vec<(String, ImageSpec)> = (1..=5)
        .map(|k| {
            let commit = c.f.commit_ago("main", &format!("c{k}"), 24 * (40 - k));
            (sha7(&commit), built(&format!("c{k}"), 24 * (40 - k)))
        })
        .collect();
    let clone = c.publish(&images);
    let (d, _) = c.plan(&clone, &[], &[]);
    for (tag, _) in &images {
        assert!(keeps(&d, tag), "{tag}: {}", reason(&d, tag));
    }
}

/// Case 12: a config `created` of the epoch (reproducible builds) is an unknown build time:
/// `built_within` cannot be checked, so the image stays.
#[test]
fn an_epoch_build_time_is_unknown() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    c.f.commit_ago("main", "m1", 30);
    let gone = c.f.commit_ago("feature/old", "o1", 30);
    c.f.git(&["checkout", "-q", "main"]);
    c.f.push("main");
    let images = vec![
        (
            "feature-old".to_string(),
            ImageSpec::new("ko")
                .created("1970-01-01T00:00:00Z")
                .label("org.opencontainers.image.revision", &gone)
                .label("berth.git.ref", "refs/heads/feature/old"),
        ),
        (
            "feature-old-dated".to_string(),
            built("dated", 30)
                .label("org.opencontainers.image.revision", &gone)
                .label("berth.git.ref", "refs/heads/feature/old-dated"),
        ),
    ];
    c.layout.images(&images);
    let clone = c.f.clone_ci();
    let (d, _) = c.plan(&clone, &[], &[]);
    assert!(keeps(&d, "feature-old"), "{}", reason(&d, "feature-old"));
    assert!(reason(&d, "feature-old").contains("before 1980"));
    // The control: a real build time lets the dead branch's image go.
    assert!(
        !keeps(&d, "feature-old-dated"),
        "{}",
        reason(&d, "feature-old-dated")
    );
}

/// Case 16: a live branch no policy selects is named as such, also under
/// `unlinked: delete_older_than`; a kept commit is credited to the ref whose policy kept it.
#[test]
fn reasons_name_the_branch_no_policy_selects() {
    for unlinked in ["keep", "{ delete_older_than: 1d }"] {
        let c = Case::new(&format!(
            "keep:\n  built_within: 2h\n  unlinked: {unlinked}\n  policies:\n    \
             - references: {{ branch: main }}\n"
        ));
        let m1 = c.f.commit_ago("main", "m1", 60);
        c.f.commit_ago("feature/x", "x1", 50);
        let images = vec![
            ("feature-x".to_string(), built("x", 50)),
            (sha7(&m1), built("m1", 60)),
        ];
        let clone = c.publish(&images);
        let (d, _) = c.plan(&clone, &[], &[]);
        assert_eq!(
            reason(&d, "feature-x"),
            "deleted: tag of branch feature/x, which exists but no keep policy selects (see \
             keep.policies)"
        );
        assert!(
            reason(&d, &sha7(&m1)).contains("of branch main"),
            "{}",
            reason(&d, &sha7(&m1))
        );
    }
}

/// `--fetch` brings the remote's pull-request refs into the clone, so a fork's pull request
/// has its commits there.
#[test]
fn fetch_brings_pull_request_refs() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    c.f.commit_ago("main", "m1", 30);
    let p = c.f.commit_ago("fork/x", "p", 5);
    c.f.git(&["checkout", "-q", "main"]);
    c.f.push("main");
    fork_pull_request(&c.f, 3, &p);
    c.layout.images(&[]);
    let clone = c.f.clone_ci();
    c.plan(&clone, &["--fetch"], &[]);
    let listed = git(&clone, &["for-each-ref", "--format=%(refname)"]);
    assert!(listed.contains("pull/3/head"), "{listed}");
}

/// Case 13: a cosign signature whose image is no longer in the repository goes once it is
/// older than `built_within`; one whose image is still there stays.
#[test]
fn a_signature_of_a_gone_image_goes() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    let m1 = c.f.commit_ago("main", "m1", 30);
    let gone = crate::harness::seed::digest_of(b"an image an earlier cleanup deleted");
    let sig_tag = format!("sha256-{}.sig", gone.trim_start_matches("sha256:"));
    let clone = c.publish(&[
        (sha7(&m1), built("m1", 30)),
        (sig_tag.clone(), built("signature of a gone image", 30)),
    ]);
    let (d, _) = c.plan(&clone, &[], &[]);
    assert!(!keeps(&d, &sig_tag), "{}", reason(&d, &sig_tag));
    assert!(
        reason(&d, &sig_tag).contains("is no longer in the repository"),
        "{}",
        reason(&d, &sig_tag)
    );
    assert!(keeps(&d, &sha7(&m1)));
}

/// The same through GitLab: a merge request's ref `refs/merge-requests/N/head`, its state from
/// GitLab's API (the job token is sent as `JOB-TOKEN`); merged, its images go.
#[test]
fn merge_request_state_comes_from_gitlab() {
    let c = Case::new("keep:\n  built_within: 2h\n");
    let m1 = c.f.commit_ago("main", "m1", 48);
    let r1 = c.f.commit_ago("feature/mr", "r1", 6);
    c.f.git(&["checkout", "-q", "main"]);
    c.f.push("main");
    c.f.git(&[
        "push",
        "-q",
        "origin",
        &format!("{r1}:refs/merge-requests/12/head"),
    ]);
    c.layout.images(&[
        (sha7(&m1), built("m1", 48)),
        (r1[..8].to_string(), built("r1", 6)),
        ("pr-12".into(), built("mr", 6)),
    ]);
    let clone = c.f.clone_ci();
    let fake = ForgeFake::gitlab(vec![Pr::open(12, "feature/mr").with_sha(&r1)]);
    let env: Vec<(&'static str, String)> = vec![
        (
            "CI_PROJECT_ID",
            crate::harness::forge::GITLAB_PROJECT_ID.to_string(),
        ),
        ("CI_API_V4_URL", fake.url()),
        (
            "CI_JOB_TOKEN",
            crate::harness::forge::GITLAB_JOB_TOKEN.to_string(),
        ),
    ];
    let (d, notes) = c.plan(&clone, &["--fetch"], &as_refs(&env));
    assert_eq!(reason(&d, "pr-12"), "kept: tag of open pull request #12");
    assert!(keeps(&d, &r1[..8]), "{}", reason(&d, &r1[..8]));
    assert!(
        notes.iter().any(|n| n.contains("as GitLab lists them")),
        "{notes:?}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.auth.as_deref() == Some("job-token"))
    );
    fake.assert_no_unexpected();

    fake.merge(12);
    let (d, _) = c.plan(&clone, &["--fetch"], &as_refs(&env));
    assert!(reason(&d, "pr-12").contains("GitLab lists it as closed or merged"));
    assert!(!keeps(&d, &r1[..8]), "{}", reason(&d, &r1[..8]));
}
