//! The Harbor provider through the berth binary, against the fake Harbor (`harness::harbor`)
//! in front of the real Distribution registry: the shared cleanup scenario in a nested
//! repository, an account that may not delete, artifact pagination past 100 with a
//! double-encoded repository name, a project policy's 412 retried, and the robot secret kept
//! out of every output.

use base64::Engine;

use crate::cleanup::two_doomed_tags;
use crate::fixtures::Fixture;
use crate::harness::harbor::{HarborFake, READER, READER_SECRET, ROBOT, ROBOT_SECRET};
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::{self, Auth, ImageSpec, Output, Seeder, TestRegistry};

/// The repository of most tests: project `berth`, repository `team/app` (a `/` in it).
const REPO: &str = "berth/team/app";

fn cleanup(fake: &HarborFake, clone: &std::path::Path, extra: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(clone)
        .args(["--container-registry", "harbor"])
        .args(extra);
    harness::run(&mut cmd)
}

/// No robot secret, nor its Basic encoding, in what berth printed.
fn assert_no_secret(out: &Output) {
    let encoded = |user: &str, secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    };
    for s in [
        ROBOT_SECRET.to_string(),
        READER_SECRET.to_string(),
        encoded(ROBOT, ROBOT_SECRET),
        encoded(READER, READER_SECRET),
    ] {
        assert!(
            !out.stdout.contains(&s),
            "a secret in stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(&s),
            "a secret in stderr:\n{}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_behind_harbor_keeps_what_git_needs_and_deletes_the_rest() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HarborFake::start(&registry, REPO);
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_may_not_delete_is_refused_once_and_changes_nothing() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HarborFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let state = RegistryState::of(&registry);
    let (tags_before, manifests_before) = (state.tags(REPO), state.manifests(REPO));
    assert_eq!(tags_before.len(), 3);
    fake.log_in(READER, READER_SECRET);

    let out = cleanup(&fake, &clone, &["-vv"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags(REPO), tags_before, "a tag changed");
    assert_eq!(state.manifests(REPO), manifests_before);
    // One refused request; the other delete failed without asking again.
    assert_eq!(fake.artifact_deletes(), 1, "{}", out.stdout);
    assert_eq!(fake.refused_deletes(), 1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(
        all.matches("the account needs the Maintainer or Project Admin role")
            .count(),
        1,
        "{all}"
    );
    assert!(all.contains("answered 403: FORBIDDEN forbidden"), "{all}");
    assert!(
        all.contains("not sent: Harbor refused an earlier delete"),
        "{all}"
    );
    assert_no_secret(&out);
    fake.assert_no_unexpected();

    // The robot that may delete: both dead branches go with their images, main stays.
    fake.log_in(ROBOT, ROBOT_SECRET);
    let out = cleanup(&fake, &clone, &["-vv"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let left: Vec<String> = state.tags(REPO).into_iter().map(|t| t.name).collect();
    assert_eq!(left, ["main"]);
    assert_eq!(state.manifests(REPO).len(), 1, "the artifacts stayed");
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_policy_violation_is_retried() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HarborFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let state = RegistryState::of(&registry);
    fake.policy_violations(2);
    let out = cleanup(&fake, &clone, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fake.policy_refusals(), 2);
    assert_eq!(fake.artifact_deletes(), 4, "two refused, two done");
    let left: Vec<String> = state.tags(REPO).into_iter().map(|t| t.name).collect();
    assert_eq!(left, ["main"]);

    // A policy that does not let go: berth gives up after its retries and says why.
    let (_g, clone) = two_doomed_tags(&registry, REPO).await;
    fake.policy_violations(100);
    let out = cleanup(&fake, &clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("PROJECTPOLICYVIOLATION"), "{all}");
    assert!(all.contains("a project policy holds the artifact"), "{all}");
    assert_eq!(state.tags(REPO).len(), 3);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_past_a_hundred_artifacts_in_a_nested_repository() {
    let registry = TestRegistry::start(Auth::None);
    let path = "proj/group/sub/app";
    let fake = HarborFake::start(&registry, path);
    let seeder = Seeder::new(&registry);
    let mut expected = Vec::new();
    for i in 0..105 {
        let tag = format!("t{i:03}");
        seeder
            .push_image(path, &tag, &ImageSpec::new(&format!("paged-{i}")))
            .await;
        expected.push(tag);
    }
    // One artifact with two tags, one untagged artifact.
    let digest = seeder
        .push_image(path, "t105", &ImageSpec::new("two-tags"))
        .await;
    seeder.tag(path, "t106", &digest).await;
    seeder
        .push_image(path, "gone", &ImageSpec::new("untagged"))
        .await;
    assert!(RegistryState::of(&registry).remove_tag(path, "gone"));
    expected.extend(["t105".to_string(), "t106".to_string()]);

    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["tags", "--output", "json", "--container-registry", "harbor"])
        .arg(fake.repo_arg());
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut names: Vec<String> = parsed["tags"]
        .as_array()
        .expect("a tag list")
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, expected);
    assert_eq!(fake.list_pages(), 2, "100 + 8 artifacts");

    // The cleanup's scan takes digests and media types from the listing: a dry run reads each
    // tagged artifact's manifest once (for its config's labels), not once per tag, and
    // changes nothing.
    let f = Fixture::new();
    f.commit_ago("main", "main", 5);
    f.push_all();
    let clone = f.clone_ci();
    let gets = fake.manifest_gets();
    let out = cleanup(&fake, &clone, &["--dry-run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fake.list_pages(), 4);
    assert_eq!(
        fake.manifest_gets() - gets,
        106,
        "one read per tagged artifact"
    );
    assert_eq!(fake.mutating_requests(), 0);

    // An unknown repository is Harbor's 404, said as such.
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["tags", "--container-registry", "harbor"])
        .arg(format!("{}/proj/none", fake.host()));
    let out = harness::run(&mut cmd);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("proj/none"), "{}", out.stderr);
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_login_berth_says_to_log_in_and_sends_no_delete() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HarborFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let tags_before = RegistryState::of(&registry).tags(REPO);
    let mut cmd = harness::berth();
    cmd.args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(&clone)
        .args(["--container-registry", "harbor"]);
    let out = harness::run(&mut cmd);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("Harbor API needs a token to list the artifacts of `berth/team/app`")
            && out
                .stderr
                .contains(&format!("docker login {}", fake.host())),
        "{}",
        out.stderr
    );
    assert_eq!(fake.mutating_requests(), 0);
    assert_eq!(RegistryState::of(&registry).tags(REPO), tags_before);
    fake.assert_no_unexpected();
}
