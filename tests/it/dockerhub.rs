//! The Docker Hub provider through the berth binary, against the fake Hub
//! (`harness::dockerhub`) in front of the real Distribution registry: the shared cleanup
//! scenario, a token that may not delete, pagination past 100 tags with a rate limit on the
//! way, logins (PAT, legacy endpoint, 2FA), Hub's repository naming, and secrets kept out of
//! every output.

use crate::cleanup::two_doomed_tags;
use crate::fixtures::Fixture;
use crate::harness::dockerhub::{
    HubFake, PASSWORD, PAT_DELETE, PAT_READ_WRITE, RateLimit, STATIC_JWT,
};
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::{self, Auth, ImageSpec, Output, Seeder, TestRegistry};

fn tags(fake: &HubFake, repo: &str, env: &[(String, String)], extra: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .args([
            "tags",
            "--output",
            "json",
            "--container-registry",
            "dockerhub",
        ])
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

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_behind_docker_hub_keeps_what_git_needs_and_deletes_the_rest() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HubFake::start(&registry, "team/app");
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_delete_scope_is_refused_once_and_changes_nothing() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = HubFake::start(&registry, "team/app");
    let (_f, clone) = two_doomed_tags(&registry, "team/app").await;
    let state = RegistryState::of(&registry);
    let (tags_before, manifests_before) = (state.tags("team/app"), state.manifests("team/app"));
    assert_eq!(tags_before.len(), 3);
    fake.use_login(PAT_READ_WRITE);

    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(&clone)
        .args(["--container-registry", "dockerhub"]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags("team/app"), tags_before, "a tag changed");
    assert_eq!(state.manifests("team/app"), manifests_before);
    // One refused request; the other delete failed without asking again.
    assert_eq!(fake.tag_deletes(), 1, "{}", out.stdout);
    assert_eq!(fake.refused_deletes(), 1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(
        all.matches("personal access token with the Read, Write, Delete scope")
            .count(),
        1,
        "{all}"
    );
    // Which of the two deletes went first is up to the scheduler: with the tag names, digests
    // and port masked, and sorted, the lines are the same every run.
    let masks = [
        (r"127\.0\.0\.1:\d+", "[HUB]"),
        (r"\b[0-9a-f]{12}\b", "[DIGEST]"),
        (r"feature-[xy]", "feature-?"),
        (r"feature/[xy]", "feature/?"),
    ];
    let mut failed: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| l.contains("FAILED"))
        .map(|l| {
            masks.iter().fold(l.trim().to_string(), |text, (re, to)| {
                regex::Regex::new(re)
                    .unwrap()
                    .replace_all(&text, *to)
                    .into_owned()
            })
        })
        .collect();
    failed.sort();
    insta::assert_snapshot!("dockerhub_no_delete_scope", failed.join("\n"));
    assert!(!all.contains(PAT_READ_WRITE), "{all}");
    fake.assert_no_unexpected();

    // The same run with a PAT that may delete: both dead branches go, main stays.
    fake.use_login(PAT_DELETE);
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(&clone)
        .args(["--container-registry", "dockerhub"]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let left: Vec<String> = state.tags("team/app").into_iter().map(|t| t.name).collect();
    assert_eq!(left, ["main"]);
    assert_eq!(
        state.manifests("team/app").len(),
        1,
        "the untagged images stayed"
    );
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_refuses_manifest_deletes_leaves_them_untagged_for_retention() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HubFake::start(&registry, "team/app");
    fake.manifest_delete_unsupported();
    let (_f, clone) = two_doomed_tags(&registry, "team/app").await;
    let state = RegistryState::of(&registry);
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["cleanup", "--output", "json", "--repo", &fake.repo_arg()])
        .arg("--git-dir")
        .arg(&clone)
        .args(["--container-registry", "dockerhub", "-v"]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["totals"]["failed"], 0, "{}", out.stdout);
    let left: Vec<String> = state.tags("team/app").into_iter().map(|t| t.name).collect();
    assert_eq!(left, ["main"]);
    // The manifests stay, untagged, for Hub's retention; the log says so.
    assert_eq!(state.manifests("team/app").len(), 3);
    assert!(
        out.stderr.contains("untagged-image retention"),
        "{}",
        out.stderr
    );
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_past_a_hundred_tags_and_waits_out_rate_limits() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HubFake::start(&registry, "library/app");
    let seeder = Seeder::new(&registry);
    let digest = seeder
        .push_image("library/app", "t000", &ImageSpec::new("paged"))
        .await;
    let mut expected = vec!["t000".to_string()];
    for i in 1..230 {
        let tag = format!("t{i:03}");
        seeder.tag("library/app", &tag, &digest).await;
        expected.push(tag);
    }

    // A bare name on Hub is `library/<name>`; the first page is refused once with only
    // X-RateLimit-Reset, which berth waits out.
    fake.rate_limit_once(RateLimit::Reset);
    let out = tags(&fake, "app", &fake.env(), &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out), expected);
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(fake.list_pages(), 3, "100 + 100 + 30");

    // The cleanup's scan takes digests and media types from the listing: one manifest read
    // for the one image (its config's labels), not one per tag.
    let f = Fixture::new();
    f.commit_ago("main", "main", 5);
    f.push_all();
    let clone = f.clone_ci();
    let gets = fake.manifest_gets();
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args([
            "cleanup",
            "--dry-run",
            "--repo",
            &format!("{}/app", fake.host()),
        ])
        .arg("--git-dir")
        .arg(&clone)
        .args(["--container-registry", "dockerhub"]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fake.list_pages(), 6);
    assert_eq!(fake.manifest_gets() - gets, 1, "{}", out.stderr);
    assert_eq!(fake.mutating_requests(), 0);

    // Retry-After works the same; the explicit namespace is the same repository.
    fake.rate_limit_once(RateLimit::RetryAfter);
    let out = tags(&fake, "library/app", &fake.env(), &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out).len(), 230);
    assert_eq!(fake.rate_limited(), 2);
    assert_eq!(fake.list_pages(), 9);

    // The JWT expires after the first page: berth logs in again once and reads on.
    let logins = fake.logins();
    fake.expire_tokens_after_pages(1);
    let out = tags(&fake, "app", &fake.env(), &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out).len(), 230);
    assert_eq!(fake.logins() - logins, 2);

    // Nested repositories do not exist on Hub: refused before any request.
    let pages = fake.list_pages();
    let out = tags(&fake, "library/app/sub", &fake.env(), &[]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "Docker Hub does not support nested repositories (REGISTRY/REPO/SUBREPO); use NAMESPACE/REPO"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(fake.list_pages(), pages);

    // An unknown repository is the Hub's 404, said as such.
    let out = tags(&fake, "team/none", &fake.env(), &[]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("team/none"), "{}", out.stderr);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_a_token_the_legacy_endpoint_and_two_factor_accounts() {
    let registry = TestRegistry::start(Auth::None);
    let fake = HubFake::start(&registry, "team/app");
    Seeder::new(&registry)
        .push_image("team/app", "v1", &ImageSpec::new("login"))
        .await;

    // A ready token needs no login.
    let out = tags(&fake, "team/app", &fake.token_env(STATIC_JWT), &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(listed(&out), ["v1"]);
    assert_eq!(fake.logins(), 0);

    // A password login, at /v2/users/login where /v2/auth/token is not there.
    fake.legacy_login_only();
    let out = tags(&fake, "team/app", &fake.login_env(PAT_DELETE), &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fake.logins(), 1);

    // A 2FA account's password cannot log in: berth says to use a PAT.
    fake.two_factor();
    let out = tags(&fake, "team/app", &fake.login_env(PASSWORD), &[]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("two-factor") && out.stderr.contains("personal access token"),
        "{}",
        out.stderr
    );

    // No credentials: listing a private repository says which variables to set.
    let anonymous = vec![(
        "BERTH_DOCKERHUB_API_URL".to_string(),
        fake.env()[0].1.clone(),
    )];
    let out = tags(&fake, "team/app", &anonymous, &[]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("BERTH_DOCKERHUB_TOKEN")
            && out.stderr.contains("BERTH_DOCKERHUB_USERNAME"),
        "{}",
        out.stderr
    );
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn hub_secrets_never_appear_in_output() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = HubFake::start(&registry, "team/app");
    let (_f, clone) = two_doomed_tags(&registry, "team/app").await;
    let secrets = [PASSWORD, PAT_READ_WRITE, STATIC_JWT, "issued-", "eyJhbGci"];
    let check = |out: &Output| {
        for s in secrets {
            assert!(!out.stdout.contains(s), "{s} in stdout:\n{}", out.stdout);
            assert!(!out.stderr.contains(s), "{s} in stderr:\n{}", out.stderr);
        }
    };
    // Trace logging of a dry run and of a refused run, by password, PAT and token.
    for secret in [PAT_READ_WRITE, PASSWORD] {
        fake.use_login(secret);
        for extra in [&["--dry-run"][..], &[][..]] {
            let mut cmd = harness::berth();
            cmd.envs(fake.env())
                .args(["-vv", "cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
                .arg(&clone)
                .args(["--container-registry", "dockerhub"])
                .args(extra);
            let out = harness::run(&mut cmd);
            assert!(
                out.code == 0 || out.code == 3,
                "{}\n{}",
                out.stdout,
                out.stderr
            );
            check(&out);
        }
    }
    // A token the fake does not know is rejected; the message names the variable only.
    let wrong = "eyJhbGciOiJIUzI1NiJ9.d3Jvbmc.d3Jvbmctc2ln";
    let out = tags(&fake, "team/app", &fake.token_env(wrong), &["-vv"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("BERTH_DOCKERHUB_TOKEN"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(wrong) && !out.stdout.contains(wrong));
    check(&out);
    fake.assert_no_unexpected();
}
