//! The Quay provider through the berth binary, against the fake Quay (`harness::quay`) in front
//! of the real Distribution registry: the shared cleanup scenario with an OAuth token and
//! without one (the registry alone), a read-only token, pagination past 100 tags with the tag
//! history left out, Quay's flat naming, and the token kept out of every output.

use crate::cleanup::two_doomed_tags;
use crate::fixtures::Fixture;
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::quay::{QuayFake, TOKEN_READ, TOKEN_WRITE};
use crate::harness::{self, Auth, ImageSpec, Output, Seeder, TestRegistry};

fn tags(fake: &QuayFake, repo: &str, extra: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["tags", "--output", "json", "--container-registry", "quay"])
        .arg(format!("{}/{repo}", fake.host()))
        .args(extra);
    harness::run(&mut cmd)
}

fn listed(out: &Output) -> Vec<String> {
    let parsed: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr));
    let mut names: Vec<String> = parsed["tags"]
        .as_array()
        .expect("a tag list")
        .iter()
        .map(|t| t["tag"].as_str().expect("a tag name").to_string())
        .collect();
    names.sort();
    names
}

fn cleanup(fake: &QuayFake, clone: &std::path::Path, extra: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(clone)
        .args(["--container-registry", "quay"])
        .args(extra);
    harness::run(&mut cmd)
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_behind_quay_keeps_what_git_needs_and_deletes_the_rest() {
    let registry = TestRegistry::start(Auth::None);
    let fake = QuayFake::start(&registry, "org/app");
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_behind_quay_without_a_token_uses_the_registry_alone() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = QuayFake::start(&registry, "org/app");
    fake.use_token(None);
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_token_is_refused_once_and_changes_nothing() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = QuayFake::start(&registry, "org/app");
    let (_f, clone) = two_doomed_tags(&registry, "org/app").await;
    let state = RegistryState::of(&registry);
    let (tags_before, manifests_before) = (state.tags("org/app"), state.manifests("org/app"));
    assert_eq!(tags_before.len(), 3);
    fake.use_token(Some(TOKEN_READ));

    let out = cleanup(&fake, &clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags("org/app"), tags_before, "a tag changed");
    assert_eq!(state.manifests("org/app"), manifests_before);
    // One refused request; the other delete failed without asking again.
    assert_eq!(fake.tag_deletes(), 1, "{}", out.stdout);
    assert_eq!(fake.refused_deletes(), 1);
    assert_eq!(fake.mutating_requests(), 1, "only the refused API delete");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(
        all.matches("OAuth application token with the repo:write scope")
            .count(),
        1,
        "{all}"
    );
    assert!(all.contains("answered 403: Unauthorized"), "{all}");
    assert!(!all.contains(TOKEN_READ), "{all}");
    fake.assert_no_unexpected();

    // The same run with a token that may write: both dead branches go through the API's tag
    // delete, main stays, and the images are untagged (Quay's garbage collection takes them).
    fake.use_token(Some(TOKEN_WRITE));
    let out = cleanup(&fake, &clone, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let left: Vec<String> = state.tags("org/app").into_iter().map(|t| t.name).collect();
    assert_eq!(left, ["main"]);
    assert_eq!(fake.registry_tag_deletes(), 0);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_past_a_hundred_tags_and_leaves_the_tag_history_out() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = QuayFake::start(&registry, "org/app");
    let seeder = Seeder::new(&registry);
    let digest = seeder
        .push_image("org/app", "t000", &ImageSpec::new("paged"))
        .await;
    let mut expected = vec!["t000".to_string()];
    for i in 1..230 {
        let tag = format!("t{i:03}");
        seeder.tag("org/app", &tag, &digest).await;
        expected.push(tag);
    }
    let out = tags(&fake, "org/app", &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out), expected);
    assert_eq!(fake.list_pages(), 3, "100 + 100 + 30");

    // A tag deleted through the API stays in Quay's history: berth never lists it.
    let reply = reqwest::Client::new()
        .delete(format!(
            "http://{}/api/v1/repository/org/app/tag/t229",
            fake.host()
        ))
        .bearer_auth(TOKEN_WRITE)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 204);
    let history: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/repository/org/app/tag/?page=3&limit=100",
            fake.host()
        ))
        .bearer_auth(TOKEN_WRITE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        history["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "t229"),
        "the fake shows history without onlyActiveTags"
    );
    expected.pop();
    let out = tags(&fake, "org/app", &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out), expected);
    assert_eq!(fake.history_pages(), 1, "only the test's own request");

    // The cleanup's scan takes digests from the listing: one manifest read for the one image
    // (its config's labels), not one per tag; the dry run changes nothing.
    let f = Fixture::new();
    f.commit_ago("main", "main", 5);
    f.push_all();
    let clone = f.clone_ci();
    let (gets, mutating) = (fake.manifest_gets(), fake.mutating_requests());
    let out = cleanup(&fake, &clone, &["--dry-run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fake.manifest_gets() - gets, 1, "{}", out.stderr);
    assert_eq!(fake.mutating_requests(), mutating);

    // Without a token: the registry's own listing, with a warning that says what is lost.
    fake.use_token(None);
    let pages = fake.list_pages();
    let out = tags(&fake, "org/app", &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out), expected);
    assert_eq!(fake.list_pages(), pages, "no API request without a token");
    assert_eq!(
        out.stderr.matches("BERTH_QUAY_TOKEN is not set").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no push times"), "{}", out.stderr);

    // Quay does not nest repositories: refused before any request.
    fake.use_token(Some(TOKEN_WRITE));
    let out = tags(&fake, "org/app/sub", &[]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("Quay repositories are NAMESPACE/REPO"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.list_pages(), pages);

    // An unknown repository is Quay's 404, said as such.
    let out = tags(&fake, "org/none", &[]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("org/none"), "{}", out.stderr);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quay_token_never_appears_in_output() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = QuayFake::start(&registry, "org/app");
    let (_f, clone) = two_doomed_tags(&registry, "org/app").await;
    let check = |out: &Output| {
        for s in [TOKEN_READ, TOKEN_WRITE, "s3cret"] {
            assert!(!out.stdout.contains(s), "{s} in stdout:\n{}", out.stdout);
            assert!(!out.stderr.contains(s), "{s} in stderr:\n{}", out.stderr);
        }
    };
    for token in [TOKEN_READ, TOKEN_WRITE] {
        fake.use_token(Some(token));
        for extra in [&["-vv", "--dry-run"][..], &["-vv"][..]] {
            let out = cleanup(&fake, &clone, extra);
            assert!(
                out.code == 0 || out.code == 3,
                "{}\n{}",
                out.stdout,
                out.stderr
            );
            check(&out);
        }
    }
    // A token Quay does not know is rejected; the message names the variable only.
    fake.use_token(Some("quay-oauth-WRONG-s3cret-000"));
    let out = tags(&fake, "org/app", &["-vv"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("BERTH_QUAY_TOKEN"), "{}", out.stderr);
    check(&out);
    fake.assert_no_unexpected();
}
