//! The ACR provider through the berth binary, against the fake ACR (`harness::acr`) in front of
//! the real Distribution registry, and its fake Azure AD: the shared cleanup scenario in a
//! nested repository, a read-only repository token (refused, roles named, nothing deleted), a
//! locked tag (only it fails), listings past a page, each Azure AD login (client secret,
//! workload identity, `az`), the docker config's login winning over them, and the secrets
//! kept out of every output.

use crate::cleanup::two_doomed_tags;
use crate::fixtures::Fixture;
use crate::harness::acr::{
    ADMIN, ADMIN_PASSWORD, AZ_TOKEN, AcrFake, CLIENT_SECRET, FEDERATED_TOKEN, READER,
    READER_PASSWORD, fake_az,
};
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::{self, Auth, ImageSpec, Output, Seeder, TestRegistry};

/// A nested repository, as ACR allows.
const REPO: &str = "team/app";

fn cleanup(fake: &AcrFake, clone: &std::path::Path, env: &[(String, String)]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(clone)
        .args(["--container-registry", "acr", "-v"]);
    harness::run(&mut cmd)
}

/// No password, AAD secret or token in what berth printed.
fn assert_no_secret(out: &Output) {
    for s in [
        ADMIN_PASSWORD,
        READER_PASSWORD,
        CLIENT_SECRET,
        FEDERATED_TOKEN,
        AZ_TOKEN,
        "acr-refresh-",
        "acr-access-",
        "aad-access-",
    ] {
        assert!(
            !out.stdout.contains(s),
            "a secret in stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(s),
            "a secret in stderr:\n{}",
            out.stderr
        );
    }
}

fn left(registry: &TestRegistry) -> Vec<String> {
    RegistryState::of(registry)
        .tags(REPO)
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_behind_acr_keeps_what_git_needs_and_deletes_the_rest() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_token_is_refused_with_the_roles_named_and_changes_nothing() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let state = RegistryState::of(&registry);
    let (tags_before, manifests_before) = (state.tags(REPO), state.manifests(REPO));
    assert_eq!(tags_before.len(), 3);
    fake.log_in(READER, READER_PASSWORD);

    let out = cleanup(&fake, &clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags(REPO), tags_before, "a tag changed");
    assert_eq!(state.manifests(REPO), manifests_before);
    // One delete tried: the client asks for a fresh token once after the first refusal, as
    // for any registry; the other delete failed without a request.
    assert_eq!(fake.refused_deletes(), 2, "{}", out.stdout);
    assert_eq!(fake.manifest_deletes() + fake.tag_deletes(), 0);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(
        all.matches("needs the AcrDelete, Contributor or Owner role")
            .count(),
        1,
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "`{READER}`, the docker config's login for {}",
            fake.host()
        )),
        "{all}"
    );
    assert!(
        all.contains("not sent: ACR refused an earlier delete"),
        "{all}"
    );
    assert_no_secret(&out);
    fake.assert_no_unexpected();

    // The admin may delete: both dead branches go with their images, main stays.
    fake.log_in(ADMIN, ADMIN_PASSWORD);
    let out = cleanup(&fake, &clone, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(left(&registry), ["main"]);
    assert_eq!(state.manifests(REPO).len(), 1);
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_tag_fails_alone_and_says_how_to_unlock_it() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let state = RegistryState::of(&registry);
    let locked = state
        .tags(REPO)
        .into_iter()
        .find(|t| t.name == "feature-x")
        .unwrap();
    fake.lock(REPO, "feature-x");

    let out = cleanup(&fake, &clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(left(&registry), ["feature-x", "main"]);
    assert!(
        state
            .manifests(REPO)
            .iter()
            .any(|m| m.digest == locked.digest),
        "the locked image is gone"
    );
    assert_eq!(fake.locked_refusals(), 1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("REGISTRY_DISALLOWED_OPERATION"), "{all}");
    assert!(
        all.contains(
            "its tag `feature-x` is locked (deleteEnabled=false): unlock it with `az acr repository update --name <registry name> --image team/app:feature-x --delete-enabled true`"
        ),
        "{all}"
    );
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_page_past_a_hundred_in_a_nested_repository() {
    let registry = TestRegistry::start(Auth::None);
    let path = "group/sub/app";
    let fake = AcrFake::start(&registry, path);
    let seeder = Seeder::new(&registry);
    let mut expected = Vec::new();
    for i in 0..103 {
        let tag = format!("t{i:03}");
        seeder
            .push_image(path, &tag, &ImageSpec::new(&format!("paged-{i}")))
            .await;
        expected.push(tag);
    }
    let digest = seeder
        .push_image(path, "t103", &ImageSpec::new("two-tags"))
        .await;
    seeder.tag(path, "t104", &digest).await;
    expected.extend(["t103".to_string(), "t104".to_string()]);

    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["tags", "--output", "json", "--container-registry", "acr"])
        .arg(fake.repo_arg());
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tags = parsed["tags"].as_array().expect("a tag list");
    let mut names: Vec<String> = tags
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, expected);
    let t104 = tags.iter().find(|t| t["tag"] == "t104").unwrap();
    assert_eq!(t104["digest"], digest.as_str(), "{t104}");
    assert_eq!(fake.tag_pages(), 2, "105 tags, 100 a page");

    // The cleanup's scan takes digests and media types from the listings (104 manifests, 100
    // a page): a dry run reads each image's manifest once (for its config's labels), not once
    // per tag, and changes nothing.
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
            "--container-registry",
            "acr",
            "--repo",
        ])
        .arg(fake.repo_arg())
        .arg("--git-dir")
        .arg(&clone);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!((fake.tag_pages(), fake.manifest_pages()), (4, 2));
    assert_eq!(fake.manifest_gets() - gets, 104, "one read per image");
    assert_eq!(fake.mutating_requests(), 0);

    // An unknown repository is ACR's 404, said as such.
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["tags", "--container-registry", "acr"])
        .arg(format!("{}/group/none", fake.host()));
    let out = harness::run(&mut cmd);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("repository `group/none` not found"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_principal_logs_in_through_azure_ad() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    fake.log_out();

    // A wrong secret: Azure AD's refusal, the variables named, nothing deleted.
    let out = cleanup(
        &fake,
        &clone,
        &fake.aad_secret_env("not-the-secret-0123456789"),
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("Azure AD: getting a token for the service principal")
            && out.stderr.contains("AADSTS7000215")
            && out.stderr.contains("AZURE_CLIENT_SECRET"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("not-the-secret-0123456789"),
        "{}",
        out.stderr
    );
    assert_eq!(left(&registry).len(), 3);
    assert_eq!(fake.exchanges(), 0);

    let out = cleanup(&fake, &clone, &fake.aad_secret_env(CLIENT_SECRET));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(left(&registry), ["main"]);
    assert_eq!(fake.aad_requests(), 2, "one refused, one granted");
    assert_eq!(fake.exchanges(), 1);
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_identity_logs_in_with_its_federated_token() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    fake.log_out();
    let dir = harness::temp_dir();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, format!("{FEDERATED_TOKEN}\n")).unwrap();

    let out = cleanup(&fake, &clone, &fake.aad_federated_env(&file));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(left(&registry), ["main"]);
    assert_eq!((fake.aad_requests(), fake.exchanges()), (1, 1));
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_az_cli_gives_the_token_when_nothing_else_does() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    fake.log_out();
    let bin = harness::temp_dir();
    let dir = fake_az(bin.path());
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = cleanup(&fake, &clone, &[("PATH".to_string(), path)]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(left(&registry), ["main"]);
    assert_eq!(fake.aad_requests(), 0, "az, not the authority");
    assert_eq!(fake.exchanges(), 1);
    let log = std::fs::read_to_string(dir.join("az.log")).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["account get-access-token --resource https://containerregistry.azure.net --output json"]
    );
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docker_config_login_wins_over_azure_ad() {
    let registry = TestRegistry::start(Auth::None);
    let fake = AcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    // Both an admin login and a service principal: the docker config is asked first.
    let out = cleanup(&fake, &clone, &fake.aad_secret_env(CLIENT_SECRET));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(left(&registry), ["main"]);
    assert_eq!((fake.aad_requests(), fake.exchanges()), (0, 0));
    assert_no_secret(&out);
    fake.assert_no_unexpected();
}
