//! The Google (`gcr`) provider through the berth binary, against the fake Google registry
//! (`harness::gcr`) in front of the real Distribution registry: the shared cleanup scenario,
//! a reader's credential (refused, named, nothing deleted), each login source (access token,
//! service-account key through a loopback `token_uri`, `gcloud` on PATH, and the docker
//! config winning over them), Google's listing across a page boundary, and no secret in output.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};

use crate::cleanup::two_doomed_tags;
use crate::fixtures::Fixture;
use crate::harness::gcr::{
    ACCESS_FROM_KEY, ACCESS_READ, ACCESS_WRITE, GcrFake, SA_EMAIL, service_account_key,
};
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::seed::{Format, OCI_MANIFEST, Platform, digest_of};
use crate::harness::{self, Auth, ImageSpec, Output, Seeder, TestRegistry};

const REPO: &str = "test-project/team/app";

fn berth(fake: &GcrFake, args: &[&str], extra_env: &[(&str, String)]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .envs(extra_env.iter().map(|(k, v)| (*k, v.clone())))
        .args(args);
    harness::run(&mut cmd)
}

fn cleanup(fake: &GcrFake, clone: &Path, extra: &[&str], env: &[(&str, String)]) -> Output {
    let clone = clone.display().to_string();
    let repo = fake.repo_arg();
    let mut args = vec!["cleanup", "--repo", &repo, "--git-dir", &clone];
    args.extend(["--container-registry", "gcr"]);
    args.extend(extra);
    berth(fake, &args, env)
}

fn no_secrets(out: &Output) {
    for s in [
        ACCESS_READ,
        ACCESS_WRITE,
        ACCESS_FROM_KEY,
        "s3cret",
        "PRIVATE KEY",
    ] {
        assert!(!out.stdout.contains(s), "{s} in stdout:\n{}", out.stdout);
        assert!(!out.stderr.contains(s), "{s} in stderr:\n{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_behind_google_keeps_what_git_needs_and_deletes_the_rest() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GcrFake::start(&registry, REPO);
    crate::cleanup::end_to_end(crate::cleanup::Store::platform(registry, Box::new(fake))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_is_refused_with_the_permission_named_and_nothing_deleted() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = GcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let state = RegistryState::of(&registry);
    let (tags, manifests) = (state.tags(REPO), state.manifests(REPO));
    fake.use_env(&[("GOOGLE_OAUTH_ACCESS_TOKEN", ACCESS_READ)]);
    let out = cleanup(&fake, &clone, &["-vv"], &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags(REPO), tags);
    assert_eq!(state.manifests(REPO), manifests);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("artifactregistry.repositories.deleteArtifacts"),
        "{all}"
    );
    assert!(all.contains("roles/artifactregistry.repoAdmin"), "{all}");
    assert!(all.contains("GOOGLE_OAUTH_ACCESS_TOKEN"), "{all}");
    assert!(fake.refused() >= 1);
    no_secrets(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_google_login_source_works_and_the_docker_config_wins() {
    let registry = TestRegistry::start(Auth::None);
    let mut fake = GcrFake::start(&registry, REPO);
    let seeder = Seeder::new(&registry);
    seeder
        .push_image(REPO, "v1", &ImageSpec::new("login"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let tags = ["tags", "--output", "json", "--container-registry", "gcr"];
    let repo = fake.repo_arg();
    let mut args = tags.to_vec();
    args.push(&repo);

    // No login at all (and no gcloud): Google's 401, nothing listed.
    fake.use_env(&[]);
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let out = berth(&fake, &args, &[("PATH", empty.display().to_string())]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert_eq!(fake.tokens(), 0);

    // A service-account key: the JWT bearer grant at the key's token_uri.
    let key = dir.path().join("key.json");
    std::fs::write(
        &key,
        serde_json::json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "0123",
            "private_key": service_account_key(),
            "client_email": SA_EMAIL,
            "token_uri": fake.token_uri(),
        })
        .to_string(),
    )
    .unwrap();
    let key_env = ("GOOGLE_APPLICATION_CREDENTIALS", key.display().to_string());
    let out = berth(&fake, &args, &[key_env]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("\"v1\""), "{}", out.stdout);
    assert_eq!(fake.oauth_grants(), 1);
    no_secrets(&out);

    // A key signed by another key is refused by Google's endpoint, said with the account.
    let other = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .unwrap();
    let forged = dir.path().join("forged.json");
    std::fs::write(
        &forged,
        serde_json::json!({
            "type": "service_account",
            "private_key": String::from_utf8(other.stdout).unwrap(),
            "client_email": SA_EMAIL,
            "token_uri": fake.token_uri(),
        })
        .to_string(),
    )
    .unwrap();
    let out = berth(
        &fake,
        &args,
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            forged.display().to_string(),
        )],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("Invalid JWT Signature"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(SA_EMAIL), "{}", out.stderr);
    assert_eq!(fake.oauth_grants(), 1);

    // A user's login file is refused with what to use instead.
    let user = dir.path().join("user.json");
    std::fs::write(
        &user,
        r#"{"type":"authorized_user","refresh_token":"1//s3cret"}"#,
    )
    .unwrap();
    let out = berth(
        &fake,
        &args,
        &[("GOOGLE_APPLICATION_CREDENTIALS", user.display().to_string())],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("authorized_user"), "{}", out.stderr);
    no_secrets(&out);

    // `gcloud auth print-access-token` from a gcloud on PATH.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let gcloud = bin.join("gcloud");
    std::fs::write(
        &gcloud,
        format!(
            "#!/bin/sh\n[ \"$*\" = \"auth print-access-token\" ] || exit 2\necho {ACCESS_WRITE}\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let tokens = fake.tokens();
    let out = berth(&fake, &args, &[("PATH", path.clone())]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fake.tokens(), tokens + 1);
    no_secrets(&out);

    // The docker config's login (a reader) wins over GOOGLE_OAUTH_ACCESS_TOKEN (a writer):
    // its delete is refused.
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let config = dir.path().join("docker");
    std::fs::create_dir(&config).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("oauth2accesstoken:{ACCESS_READ}"),
    );
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, fake.host()),
    )
    .unwrap();
    fake.use_env(&[("GOOGLE_OAUTH_ACCESS_TOKEN", ACCESS_WRITE)]);
    let state = RegistryState::of(&registry);
    let before = state.tags(REPO);
    let docker = ("DOCKER_CONFIG", config.display().to_string());
    let out = cleanup(&fake, &clone, &[], &[docker]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags(REPO), before);
    // Without the docker config the access token is used, and the dead tags go.
    let out = cleanup(&fake, &clone, &[], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(state.tags(REPO).len() < before.len());
    no_secrets(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listing_takes_digests_and_times_from_google_across_pages() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GcrFake::start(&registry, REPO);
    let seeder = Seeder::new(&registry);
    let digest = seeder
        .push_image(REPO, "t000", &ImageSpec::new("paged"))
        .await;
    let mut expected = vec!["t000".to_string()];
    for i in 1..25 {
        let tag = format!("t{i:03}");
        seeder.tag(REPO, &tag, &digest).await;
        expected.push(tag);
    }
    fake.page_at(10);
    let repo = fake.repo_arg();
    let out = berth(
        &fake,
        &[
            "tags",
            "--output",
            "json",
            "--container-registry",
            "gcr",
            &repo,
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut names: Vec<String> = parsed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, expected);
    assert_eq!(fake.list_pages(), 3, "10 + 10 + 5");
    assert!(out.stdout.contains(&digest), "{}", out.stdout);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_pushed_after_the_listing_stops_that_image_and_is_named() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GcrFake::start(&registry, REPO);
    let (_f, clone) = two_doomed_tags(&registry, REPO).await;
    let seeder = Seeder::new(&registry);
    let tags = seeder.tags(REPO).await;
    let doomed = tags["feature-x"].clone();
    seeder.tag(REPO, "pushed-later", &doomed).await;
    fake.hide("pushed-later");
    let out = cleanup(&fake, &clone, &[], &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("GOOGLE_MANIFEST_DANGLING_TAG"), "{all}");
    assert!(all.contains("pushed-later"), "{all}");
    assert_eq!(fake.dangling(), 1);
    let state = RegistryState::of(&registry);
    let left: Vec<String> = state.tags(REPO).into_iter().map(|t| t.name).collect();
    // The other dead image went; the refused one kept its manifest and the new tag.
    assert_eq!(left, ["main", "pushed-later"]);
    assert!(state.manifests(REPO).iter().any(|m| m.digest == doomed));
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_index_takes_its_untagged_children_and_a_kept_one_keeps_them() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GcrFake::start(&registry, REPO);
    let seeder = Seeder::new(&registry);
    let git = Fixture::new();
    let now = Utc::now();
    let mut children = BTreeMap::new();
    for (branch, hours) in [("main", 30), ("feature/x", 24 * 9)] {
        let c = git.commit_ago(branch, branch, hours);
        let mut platforms = Vec::new();
        for arch in ["amd64", "arm64"] {
            let spec = ImageSpec::new(&format!("{branch}-{arch}"))
                .created(&(now - Duration::hours(hours)).to_rfc3339())
                .label("org.opencontainers.image.revision", &c)
                .label("berth.git.ref", branch)
                .platform(Platform::new("linux", arch));
            let layer = spec.layer();
            seeder.push_blob(REPO, &layer).await;
            let config = spec.config(&digest_of(&layer));
            seeder.push_blob(REPO, &config).await;
            let manifest = spec.manifest(&config, &layer);
            let child = seeder
                .push_manifest(REPO, &digest_of(&manifest), OCI_MANIFEST, &manifest)
                .await;
            platforms.push((child, Platform::new("linux", arch)));
        }
        let tag = format!("sha-{}", &c[..7]);
        let index = seeder.push_index(REPO, &tag, Format::Oci, &platforms).await;
        children.insert(
            branch,
            (
                index,
                platforms.into_iter().map(|(d, _)| d).collect::<Vec<_>>(),
            ),
        );
    }
    git.git(&["checkout", "-q", "main"]);
    git.push_all();
    git.delete_remote_branch("feature/x");
    let clone = git.clone_ci();
    let out = cleanup(&fake, &clone, &[], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let stored: Vec<String> = RegistryState::of(&registry)
        .manifests(REPO)
        .into_iter()
        .map(|m| m.digest)
        .collect();
    let (kept_index, kept_children) = &children["main"];
    let (gone_index, gone_children) = &children["feature/x"];
    for d in std::iter::once(kept_index).chain(kept_children) {
        assert!(stored.contains(d), "{d} is gone:\n{}", out.stdout);
    }
    for d in std::iter::once(gone_index).chain(gone_children) {
        assert!(!stored.contains(d), "{d} survived:\n{}", out.stdout);
    }
    // The index's tag is untagged first (Google refuses a tagged digest), then three digests.
    assert_eq!(fake.tag_deletes(), 1, "{}", out.stdout);
    assert_eq!(fake.digest_deletes(), 3, "{}", out.stdout);
    assert_eq!(fake.dangling(), 0);
    fake.assert_no_unexpected();
}
