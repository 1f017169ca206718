//! The GitLab provider through the binary, against the GitLab fake in front of the real
//! registry: the shared cleanup scenario on a sub-image (`group/project/app`), the root image
//! (`group/project`) by numeric project id, a project derived from the image path with
//! listings of several pages, a job token that cannot delete (said once, nothing changed), a
//! protected tag, and tokens that never show in the output.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};

use crate::fixtures::Fixture;
use crate::harness::gitlab::{GitLabFake, JOB_TOKEN, PRIVATE_TOKEN, PROJECT_ID, PROJECT_PATH};
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::{self, Auth, ImageSpec, Output, Seeder, TestRegistry};

/// The hint the issue asks for, word for word.
const JOB_TOKEN_HINT: &str = "CI_JOB_TOKEN cannot delete registry tags; set BERTH_GITLAB_TOKEN to a project access token with the api scope";

#[tokio::test(flavor = "multi_thread")]
async fn the_cleanup_scenario_runs_behind_gitlab_on_a_sub_image() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GitLabFake::start(&registry, &format!("{PROJECT_PATH}/app"));
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

/// A git origin with `main` (its image tagged `main`) and three deleted branches whose images
/// are also tagged `keep-N`, which nothing ties to git: each `feature-gone-N` is untagged
/// and its digest stays. Returns the CI clone.
async fn world(seeder: &Seeder, image: &str) -> (Fixture, PathBuf) {
    let f = Fixture::new();
    let main = f.commit_ago("main", "main", 100);
    let old = (Utc::now() - Duration::days(5)).to_rfc3339();
    seeder
        .push_image(
            image,
            "main",
            &ImageSpec::new("main")
                .created(&old)
                .label("org.opencontainers.image.revision", &main)
                .label("berth.git.ref", "main"),
        )
        .await;
    for n in 1..=3 {
        let branch = format!("feature/gone-{n}");
        f.commit_ago(&branch, &format!("gone {n}"), 90);
        let digest = seeder
            .push_image(
                image,
                &format!("keep-{n}"),
                &ImageSpec::new(&format!("gone{n}"))
                    .created(&old)
                    .label("berth.git.ref", &branch),
            )
            .await;
        seeder
            .tag(image, &format!("feature-gone-{n}"), &digest)
            .await;
    }
    f.git(&["checkout", "-q", "main"]);
    f.push_all();
    for n in 1..=3 {
        f.delete_remote_branch(&format!("feature/gone-{n}"));
    }
    let clone = f.clone_ci();
    (f, clone)
}

fn cleanup(
    fake: &GitLabFake,
    image: &str,
    clone: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("XDG_CACHE_HOME", clone.parent().unwrap().join("cache"))
        .args(["cleanup", "--container-registry", "gitlab", "--repo"])
        .arg(format!("{}/{image}", fake.host()))
        .arg("--git-dir")
        .arg(clone)
        .args(args);
    harness::run(&mut cmd)
}

fn assert_no_token(out: &Output) {
    for token in [PRIVATE_TOKEN, JOB_TOKEN] {
        assert!(
            !out.stdout.contains(token) && !out.stderr.contains(token),
            "a token leaked:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_image_is_cleaned_by_numeric_project_id_through_tag_deletes() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let fake = GitLabFake::start(&registry, PROJECT_PATH);
    let (_f, clone) = world(&seeder, PROJECT_PATH).await;
    let state = RegistryState::of(&registry);
    let manifests_before = state.manifests(PROJECT_PATH);
    let env = vec![
        ("CI_API_V4_URL".to_string(), fake.api_url()),
        ("CI_PROJECT_ID".to_string(), PROJECT_ID.to_string()),
        ("BERTH_GITLAB_TOKEN".to_string(), PRIVATE_TOKEN.to_string()),
        ("RUST_LOG".to_string(), "berth=trace".to_string()),
    ];
    let out = cleanup(&fake, PROJECT_PATH, &clone, &env, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_no_token(&out);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["totals"]["failed"], 0, "{}", out.stdout);
    let tags: Vec<String> = state
        .tags(PROJECT_PATH)
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        tags,
        ["keep-1", "keep-2", "keep-3", "main"],
        "{}",
        out.stdout
    );
    // Tag deletes through the API only: every manifest stays, no registry-side change.
    assert_eq!(fake.deletes(), 3);
    assert_eq!(fake.registry_mutating(), 0);
    assert_eq!(state.manifests(PROJECT_PATH), manifests_before);
    // The project was named: no lookup by path.
    assert_eq!(fake.project_lookups(), 0);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_token_cannot_delete_and_says_so_once_leaving_everything_as_it_was() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let image = format!("{PROJECT_PATH}/app");
    let fake = GitLabFake::start(&registry, &image);
    let (_f, clone) = world(&seeder, &image).await;
    let state = RegistryState::of(&registry);
    let (tags_before, manifests_before) = (state.tags(&image), state.manifests(&image));
    let out = cleanup(&fake, &image, &clone, &fake.job_token_env(), &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(all.matches(JOB_TOKEN_HINT).count(), 1, "{all}");
    assert!(all.contains("403 Forbidden"), "{all}");
    assert_no_token(&out);
    assert_eq!(state.tags(&image), tags_before);
    assert_eq!(state.manifests(&image), manifests_before);
    // The refusal is remembered: one delete asked, the others never sent.
    assert_eq!(fake.deletes(), 1);
    assert_eq!(fake.registry_mutating(), 0);
    // The forge adapter asked the same API for open merge requests.
    assert!(fake.merge_request_pages() >= 1);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_tag_fails_alone_and_the_others_go() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let image = format!("{PROJECT_PATH}/app");
    let fake = GitLabFake::start(&registry, &image);
    let (_f, clone) = world(&seeder, &image).await;
    fake.protect("feature-gone-2");
    let out = cleanup(&fake, &image, &clone, &fake.env(), &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Protected tag rule"), "{}", out.stdout);
    let state = RegistryState::of(&registry);
    let tags: Vec<String> = state.tags(&image).into_iter().map(|t| t.name).collect();
    assert_eq!(
        tags,
        ["feature-gone-2", "keep-1", "keep-2", "keep-3", "main"],
        "{}",
        out.stdout
    );
    assert_eq!(fake.deletes(), 3);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_project_is_derived_from_the_image_path_and_every_page_is_read() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let image = format!("{PROJECT_PATH}/nested/app");
    let fake = GitLabFake::start(&registry, &image);
    // A sibling image the repository listing shows too.
    seeder
        .push_image(
            &format!("{PROJECT_PATH}/other"),
            "x",
            &ImageSpec::new("other"),
        )
        .await;
    let f = Fixture::new();
    f.commit_ago("main", "main", 100);
    f.push_all();
    let clone = f.clone_ci();
    let digest = seeder
        .push_image(
            &image,
            "build_1.0-a",
            &ImageSpec::new("many").created("2024-01-02T03:04:05Z"),
        )
        .await;
    let mut names = vec!["build_1.0-a".to_string()];
    for n in 0..249 {
        let tag = format!("build.{n:03}");
        seeder.tag(&image, &tag, &digest).await;
        names.push(tag);
    }
    let env = vec![
        ("CI_API_V4_URL".to_string(), fake.api_url()),
        ("BERTH_GITLAB_TOKEN".to_string(), PRIVATE_TOKEN.to_string()),
    ];
    let out = cleanup(
        &fake,
        &image,
        &clone,
        &env,
        &["--dry-run", "--output", "json", "-vv"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_no_token(&out);
    assert!(
        out.stderr.contains("derived it from the image path"),
        "{}",
        out.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut listed: Vec<String> = report["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    names.sort();
    assert_eq!(listed, names);
    // group%2Fproject%2Fnested%2Fapp, group%2Fproject%2Fnested: 404; group%2Fproject: found.
    assert_eq!(fake.project_lookups(), 3);
    assert_eq!(fake.list_pages(), 3, "250 tags at 100 a page");
    // The names carry no digest: one registry GET per tag gives digest and manifest at once,
    // and no tag-details call (which would give the digest alone) is made.
    assert_eq!(fake.tag_detail_calls(), 0);
    assert_eq!(fake.registry_manifest_gets(), 250);
    assert_eq!(fake.mutating_requests(), 0);
    fake.assert_no_unexpected();
}
