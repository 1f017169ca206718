//! The git adapter on fixture repositories made with the git CLI (see `fixtures`).

use std::collections::BTreeMap;
use std::path::Path;

use berth::git::{self, CommitId, Error, GitFacts, GitOptions, RefKind};

use crate::fixtures::{BASE_TIME, Fixture, TICK, git};

fn options(dir: &Path) -> GitOptions {
    GitOptions {
        git_dir: Some(dir.to_path_buf()),
        remote: "origin".into(),
        ..GitOptions::default()
    }
}

fn facts(dir: &Path) -> GitFacts {
    git::open(&options(dir)).unwrap().facts().unwrap()
}

/// `(kind, name) -> (tip id, date)` for easy comparison.
fn refs(facts: &GitFacts) -> BTreeMap<(String, String), (String, i64)> {
    facts
        .refs
        .iter()
        .map(|r| {
            let kind = match r.kind {
                RefKind::Branch => "branch".to_string(),
                RefKind::Tag => "tag".to_string(),
                RefKind::PullRequest(n) => format!("pr{n}"),
            };
            (
                (kind, r.name.clone()),
                (facts.commits.id(r.tip).to_hex(), r.date),
            )
        })
        .collect()
}

fn key(kind: &str, name: &str) -> (String, String) {
    (kind.to_string(), name.to_string())
}

fn id(hex: &str) -> CommitId {
    CommitId::from_hex(hex).unwrap()
}

/// main: m1 - m2 - merge(m2, f2); feature/x: m1 - f1 - f2 (pushed); tags v0.1 (lightweight
/// at m1), v1.0 (annotated at m2).
struct Scenario {
    f: Fixture,
    m1: String,
    m2: String,
    f1: String,
    f2: String,
    merge: String,
    v1_date: i64,
}

fn scenario() -> Scenario {
    let f = Fixture::new();
    let m1 = f.commit("main", "m1");
    f.branch("feature/x", "main");
    let f1 = f.commit("feature/x", "f1");
    let m2 = f.commit("main", "m2");
    let f2 = f.commit("feature/x", "f2");
    let merge = f.merge("main", "feature/x", "merge feature/x");
    f.tag("v0.1", &m1);
    let v1_date = f.annotated_tag("v1.0", &m2, "release 1.0");
    f.push_all();
    Scenario {
        f,
        m1,
        m2,
        f1,
        f2,
        merge,
        v1_date,
    }
}

#[test]
fn repo_is_send_and_sync_for_spawn_blocking() {
    fn check<T: Send + Sync + 'static>() {}
    check::<git::Repo>();
}

#[test]
fn ci_clone_reads_remote_tracking_branches_and_tags_with_their_dates() {
    let s = scenario();
    let dir = s.f.clone_ci();
    let repo = git::open(&options(&dir)).unwrap();
    assert!(repo.has_remote());
    assert!(!repo.is_shallow());
    // The detached HEAD of a CI checkout.
    assert_eq!(repo.head().unwrap(), Some(id(&s.merge)));
    let facts = repo.facts().unwrap();
    assert!(!facts.shallow);
    let time_of = |hex: &str| facts.commits.time(facts.commits.find(&id(hex)).unwrap());
    let expected: BTreeMap<_, _> = [
        (key("branch", "feature/x"), (s.f2.clone(), time_of(&s.f2))),
        (key("branch", "main"), (s.merge.clone(), time_of(&s.merge))),
        // Lightweight: the commit's date. Annotated: the tagger's date, a tick after.
        (key("tag", "v0.1"), (s.m1.clone(), time_of(&s.m1))),
        (key("tag", "v1.0"), (s.m2.clone(), s.v1_date)),
    ]
    .into_iter()
    .collect();
    assert_eq!(refs(&facts), expected);
    assert_eq!(time_of(&s.m1), BASE_TIME + TICK);
    assert_eq!(s.v1_date, BASE_TIME + 6 * TICK);
    assert_ne!(s.v1_date, time_of(&s.m2));
    // `origin/HEAD` of a plain clone is symbolic and not a branch of its own.
    let full = facts_of_full_clone(&s.f);
    assert_eq!(refs(&full), expected);
}

fn facts_of_full_clone(f: &Fixture) -> GitFacts {
    let dir = f.clone_full();
    assert!(!git(&dir, &["symbolic-ref", "refs/remotes/origin/HEAD"]).is_empty());
    facts(&dir)
}

#[test]
fn history_has_parents_and_committer_times_of_every_reachable_commit() {
    let s = scenario();
    let facts = facts(&s.f.clone_ci());
    let g = &facts.commits;
    assert_eq!(g.len(), 5);
    let ix = |hex: &str| g.find(&id(hex)).unwrap();
    let mut merge_parents: Vec<u32> = g.parents(ix(&s.merge)).to_vec();
    merge_parents.sort_unstable();
    let mut expected = vec![ix(&s.m2), ix(&s.f2)];
    expected.sort_unstable();
    assert_eq!(merge_parents, expected);
    assert_eq!(g.parents(ix(&s.f2)), &[ix(&s.f1)]);
    assert_eq!(g.parents(ix(&s.f1)), &[ix(&s.m1)]);
    assert!(g.parents(ix(&s.m1)).is_empty());
    // Commits tick in creation order: m1, f1, m2, f2, merge.
    for (k, hex) in [&s.m1, &s.f1, &s.m2, &s.f2, &s.merge]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            g.time(ix(hex)),
            BASE_TIME + (k as i64 + 1) * TICK,
            "commit {k}"
        );
    }
    // Short-SHA lookup over the reachable commits.
    assert_eq!(g.find_prefix(&s.m1[..7]), git::PrefixMatch::One(ix(&s.m1)));
    assert_eq!(
        g.find_prefix(&s.m1[..7].to_uppercase()),
        git::PrefixMatch::One(ix(&s.m1))
    );
}

#[test]
fn commit_graph_file_gives_the_same_history_as_the_objects() {
    let s = scenario();
    let dir = s.f.clone_ci();
    let before = facts(&dir);
    git(&dir, &["commit-graph", "write", "--reachable"]);
    assert!(dir.join(".git/objects/info/commit-graph").is_file());
    // A commit newer than the commit-graph file: the walk mixes both sources.
    let m3 = s.f.commit("main", "m3");
    s.f.push("main");
    git(
        &dir,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    );
    let after = facts(&dir);
    assert_eq!(after.commits.len(), before.commits.len() + 1);
    let describe = |f: &GitFacts| -> BTreeMap<String, (i64, Vec<String>)> {
        (0..f.commits.len() as u32)
            .map(|i| {
                let mut parents: Vec<String> = f
                    .commits
                    .parents(i)
                    .iter()
                    .map(|&p| f.commits.id(p).to_hex())
                    .collect();
                parents.sort();
                (f.commits.id(i).to_hex(), (f.commits.time(i), parents))
            })
            .collect()
    };
    let mut expected = describe(&before);
    expected.insert(m3.clone(), (s.f.now(), vec![s.merge.clone()]));
    assert_eq!(describe(&after), expected);
}

#[test]
fn repository_without_the_remote_uses_local_branches() {
    let s = scenario();
    // `author` has local branches; ask for a remote it does not have.
    let repo = git::open(&GitOptions {
        git_dir: Some(s.f.author().to_path_buf()),
        remote: "upstream".into(),
        ..GitOptions::default()
    })
    .unwrap();
    assert!(!repo.has_remote());
    let facts = repo.facts().unwrap();
    let names: Vec<_> = refs(&facts).into_keys().collect();
    assert_eq!(
        names,
        vec![
            key("branch", "feature/x"),
            key("branch", "main"),
            key("tag", "v0.1"),
            key("tag", "v1.0")
        ]
    );
    // With its real remote, the remote-tracking refs (updated by push) are the branches.
    git(s.f.author(), &["branch", "-q", "local-only", "main"]);
    let facts = facts_with_remote(s.f.author());
    assert!(!refs(&facts).contains_key(&key("branch", "local-only")));
    assert!(refs(&facts).contains_key(&key("branch", "feature/x")));
}

fn facts_with_remote(dir: &Path) -> GitFacts {
    facts(dir)
}

#[test]
fn pull_and_merge_request_refs_are_pull_requests() {
    let s = scenario();
    s.f.pull_request(7, &s.f2);
    s.f.merge_request(9, &s.f1);
    let dir = s.f.clone_ci();
    git(
        &dir,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/pull/*/head:refs/remotes/origin/pull/*/head",
            "+refs/merge-requests/*/head:refs/merge-requests/*/head",
        ],
    );
    let facts = facts(&dir);
    let r = refs(&facts);
    assert_eq!(
        r.get(&key("pr7", "7")).map(|v| v.0.as_str()),
        Some(s.f2.as_str())
    );
    assert_eq!(
        r.get(&key("pr9", "9")).map(|v| v.0.as_str()),
        Some(s.f1.as_str())
    );
    assert!(!r.keys().any(|(_, name)| name.starts_with("pull/")));
}

#[test]
fn tags_on_trees_are_skipped_and_tags_of_tags_peel_to_the_commit() {
    let s = scenario();
    s.f.tag("tree-tag", "main^{tree}");
    let outer_date = s.f.annotated_tag("outer", "v1.0", "tag of a tag");
    s.f.push_all();
    let facts = facts(&s.f.clone_ci());
    let r = refs(&facts);
    assert!(!r.contains_key(&key("tag", "tree-tag")));
    assert_eq!(
        r.get(&key("tag", "outer")),
        Some(&(s.m2.clone(), outer_date))
    );
}

#[test]
fn shallow_clone_is_detected_and_refused_with_the_fix() {
    let s = scenario();
    let dir = s.f.clone_shallow();
    let repo = git::open(&options(&dir)).unwrap();
    assert!(repo.is_shallow());
    let facts = repo.facts().unwrap();
    assert!(facts.shallow);
    // Only main's tip; its parents are beyond the boundary.
    assert_eq!(facts.commits.len(), 1);
    let tip = facts.commits.find(&id(&s.merge)).unwrap();
    assert!(facts.commits.parents(tip).is_empty());
    let err = repo.require_complete().unwrap_err();
    assert!(matches!(err, Error::Shallow { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("fetch-depth: 0"), "{message}");
    assert!(message.contains("GIT_DEPTH: 0"), "{message}");
    assert!(
        message.contains(&dir.file_name().unwrap().to_string_lossy().to_string()),
        "{message}"
    );
}

#[test]
fn fetch_unshallows_a_shallow_clone() {
    let s = scenario();
    let dir = s.f.clone_shallow();
    let repo = git::open(&options(&dir)).unwrap();
    repo.fetch().unwrap();
    assert!(!repo.is_shallow());
    repo.require_complete().unwrap();
    let facts = repo.facts().unwrap();
    assert!(!facts.shallow);
    assert_eq!(facts.commits.len(), 5);
    assert!(refs(&facts).contains_key(&key("branch", "feature/x")));
}

#[test]
fn fetch_prunes_deleted_branches_and_tags_and_forgets_force_pushed_commits() {
    let s = scenario();
    s.f.branch("old", "main");
    let o1 = s.f.commit("old", "o1");
    let r1 = s.f.commit("main", "r1");
    s.f.tag("gone-tag", &o1);
    s.f.push_all();
    let dir = s.f.clone_ci();
    let before = facts(&dir);
    assert!(refs(&before).contains_key(&key("branch", "old")));
    assert!(before.commits.find(&id(&r1)).is_some());

    s.f.delete_remote_branch("old");
    s.f.delete_remote_tag("gone-tag");
    let r2 = s.f.force_push("main", "r1 rewritten");
    let repo = git::open(&options(&dir)).unwrap();
    repo.fetch().unwrap();
    let after = repo.facts().unwrap();
    let r = refs(&after);
    assert!(!r.contains_key(&key("branch", "old")), "{r:?}");
    assert!(!r.contains_key(&key("tag", "gone-tag")), "{r:?}");
    assert_eq!(
        r.get(&key("branch", "main")).map(|v| v.0.as_str()),
        Some(r2.as_str())
    );
    // Neither the deleted branch's commit nor the replaced tip is reachable any more.
    assert!(after.commits.find(&id(&o1)).is_none());
    assert!(after.commits.find(&id(&r1)).is_none());
    assert!(after.commits.find(&id(&s.merge)).is_some());
}

#[test]
fn failed_fetch_shows_git_stderr() {
    let s = scenario();
    let dir = s.f.clone_ci();
    git(
        &dir,
        &[
            "remote",
            "set-url",
            "origin",
            &s.f.root().join("missing.git").display().to_string(),
        ],
    );
    let err = git::open(&options(&dir)).unwrap().fetch().unwrap_err();
    let Error::FetchFailed {
        command, stderr, ..
    } = &err
    else {
        panic!("expected FetchFailed, got {err:?}");
    };
    assert!(
        command.starts_with("git fetch --prune --prune-tags origin "),
        "{command}"
    );
    assert!(stderr.contains("missing.git"), "{stderr}");
    assert!(err.to_string().contains("missing.git"));
}

#[test]
fn a_directory_that_is_no_repository_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = git::open(&options(dir.path())).unwrap_err();
    assert!(
        matches!(&err, Error::NotARepository { path } if path == dir.path()),
        "{err:?}"
    );
    assert!(err.to_string().contains("--git-dir"));
}

/// A checkout owned by another user (as in CI containers): read anyway with reduced trust;
/// the git CLI fetch is refused with the fix unless `trust` is set.
#[test]
fn repository_of_another_owner_is_read_and_fetched_only_when_trusted() {
    let s = scenario();
    let dir = s.f.clone_ci();
    let chown = std::process::Command::new("chown")
        .args(["-R", "4242:4242"])
        .arg(&dir)
        .status()
        .expect("run chown");
    assert!(
        chown.success(),
        "the test needs root to chown a fixture to another uid"
    );

    let repo = git::open(&options(&dir)).unwrap();
    assert!(repo.has_remote());
    let facts = repo.facts().unwrap();
    assert_eq!(refs(&facts).len(), 4);
    let err = repo.fetch().unwrap_err();
    let Error::Untrusted { fix, .. } = &err else {
        panic!("expected Untrusted, got {err:?}");
    };
    assert!(
        fix.contains("git config --global --add safe.directory"),
        "{fix}"
    );
    assert!(fix.contains("--trust-repo"), "{fix}");

    s.f.commit("main", "after chown");
    s.f.push("main");
    let trusted = git::open(&GitOptions {
        trust: true,
        ..options(&dir)
    })
    .unwrap();
    trusted.fetch().unwrap();
    assert_eq!(
        trusted.facts().unwrap().commits.len(),
        facts.commits.len() + 1
    );
}
