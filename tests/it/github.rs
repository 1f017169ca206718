//! GitHub Packages through the binary: the fake of ghcr.io's REST packages API (and of the
//! legacy docker.pkg.github.com GraphQL API) in front of the real registry, sharing its state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};

use crate::cleanup::{Store, end_to_end};
use crate::fixtures::Fixture;
use crate::harness::github::{Fault, GitHubFake, TOKEN, TokenMode};
use crate::harness::platform::{PlatformFake, RegistryState};
use crate::harness::seed::{OCI_MANIFEST, digest_of};
use crate::harness::{self, Auth, Format, ImageSpec, Output, Platform, Seeder, TestRegistry};

/// The hint's words that must appear once however many deletions the token could not make.
const HINT_WORDS: &str = "Manage Actions access";

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_through_ghcr_keeps_what_git_needs_and_deletes_the_rest() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GitHubFake::rest(&registry, "octo/app", true);
    end_to_end(Store::platform(registry, Box::new(fake))).await;
}

/// A small project: main's image (kept), optionally an image of main built on a deleted
/// branch and tagged `feature-gone` too (untagged), and `doomed` images of a deleted branch.
struct Small {
    registry: TestRegistry,
    fake: GitHubFake,
    clone: PathBuf,
    _git: Fixture,
    kept: Vec<String>,
    deleted: Vec<String>,
}

async fn small(fake_of: impl Fn(&TestRegistry) -> GitHubFake, untag: bool, doomed: usize) -> Small {
    let registry = TestRegistry::start(Auth::None);
    let fake = fake_of(&registry);
    let path = fake.path();
    let seeder = Seeder::new(&registry);
    let git = Fixture::new();
    let now = Utc::now();
    let spec = |unique: &str, commit: &str, git_ref: &str, hours: i64| {
        ImageSpec::new(unique)
            .created(&(now - Duration::hours(hours)).to_rfc3339())
            .label("org.opencontainers.image.revision", commit)
            .label("berth.git.ref", git_ref)
    };
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    let m1 = git.commit_ago("main", "m1", 30);
    let tag = format!("sha-{}", &m1[..7]);
    seeder
        .push_image(&path, &tag, &spec("m1", &m1, "main", 30))
        .await;
    kept.push(tag);
    if untag {
        let m2 = git.commit_ago("main", "m2", 20);
        let tag = format!("sha-{}", &m2[..7]);
        let digest = seeder
            .push_image(&path, &tag, &spec("m2", &m2, "feature/gone", 20))
            .await;
        seeder.tag(&path, "feature-gone", &digest).await;
        kept.push(tag);
        deleted.push("feature-gone".to_string());
    }
    for n in 0..doomed {
        let c = git.commit_ago("feature/x", &format!("x{n}"), 24 * 9);
        let tag = format!("sha-{}", &c[..7]);
        seeder
            .push_image(
                &path,
                &tag,
                &spec(&format!("x{n}"), &c, "feature/x", 24 * 9),
            )
            .await;
        deleted.push(tag);
    }
    git.git(&["checkout", "-q", "main"]);
    git.push_all();
    if doomed > 0 {
        git.delete_remote_branch("feature/x");
    }
    let clone = git.clone_ci();
    Small {
        registry,
        fake,
        clone,
        _git: git,
        kept,
        deleted,
    }
}

fn cleanup(fake: &GitHubFake, clone: &Path, args: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .args(["cleanup", "--repo", &fake.repo_arg(), "--git-dir"])
        .arg(clone)
        .args(["--container-registry", "github"])
        .args(args);
    harness::run(&mut cmd)
}

fn assert_no_token(out: &Output) {
    assert!(
        !out.stdout.contains(TOKEN),
        "token in stdout:\n{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(TOKEN),
        "token in stderr:\n{}",
        out.stderr
    );
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

fn all_output(out: &Output) -> String {
    format!("{}\n{}", out.stdout, out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_may_not_delete_changes_nothing_and_says_why_once() {
    let s = small(|r| GitHubFake::rest(r, "octo/app", true), false, 3).await;
    s.fake.set_mode(TokenMode::Integration);
    let state = RegistryState::of(&s.registry);
    let (tags, manifests) = (state.tags("octo/app"), state.manifests("octo/app"));
    let out = cleanup(&s.fake, &s.clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags("octo/app"), tags, "the tags changed");
    assert_eq!(
        state.manifests("octo/app"),
        manifests,
        "the manifests changed"
    );
    let text = all_output(&out);
    assert!(
        text.contains("Resource not accessible by integration"),
        "{text}"
    );
    assert!(text.contains("delete:packages"), "{text}");
    assert!(text.contains("permissions: packages: write"), "{text}");
    assert_eq!(text.matches(HINT_WORDS).count(), 1, "{text}");
    for t in &s.deleted {
        assert!(
            out.stdout.contains(t.as_str()),
            "{t} not reported:\n{}",
            out.stdout
        );
    }
    assert_eq!(
        s.fake.deletes(),
        1,
        "deletes after the first refusal were sent"
    );
    assert_no_token(&out);
    s.fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_classic_token_without_delete_scope_sends_no_mutation() {
    let s = small(|r| GitHubFake::rest(r, "octo/app", true), true, 2).await;
    s.fake.set_mode(TokenMode::ReadOnlyClassic);
    let state = RegistryState::of(&s.registry);
    let (tags, manifests) = (state.tags("octo/app"), state.manifests("octo/app"));
    let out = cleanup(&s.fake, &s.clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags("octo/app"), tags, "the tags changed");
    assert_eq!(
        state.manifests("octo/app"),
        manifests,
        "the manifests changed"
    );
    assert_eq!(s.fake.mutating_requests(), 0, "a mutating request was sent");
    let text = all_output(&out);
    assert!(
        text.contains("`read:packages`, without `delete:packages`"),
        "{text}"
    );
    assert_eq!(text.matches(HINT_WORDS).count(), 1, "{text}");
    assert_no_token(&out);
    s.fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untag_whose_dummy_cannot_be_deleted_puts_the_tag_back() {
    let s = small(|r| GitHubFake::rest(r, "octo/app", true), true, 0).await;
    s.fake.set_mode(TokenMode::Integration);
    let state = RegistryState::of(&s.registry);
    let digests = |state: &RegistryState| {
        state
            .tags("octo/app")
            .into_iter()
            .map(|t| (t.name, t.digest))
            .collect::<Vec<_>>()
    };
    let before = digests(&state);
    let out = cleanup(&s.fake, &s.clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(digests(&state), before, "a tag names something else now");
    let text = all_output(&out);
    assert!(text.contains("back over `feature-gone`"), "{text}");
    assert!(
        text.contains("Resource not accessible by integration"),
        "{text}"
    );
    assert_eq!(s.fake.deletes(), 1);
    assert_no_token(&out);
    s.fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn untagging_and_deleting_through_package_versions() {
    let s = small(|r| GitHubFake::rest(r, "octo/app", true), true, 2).await;
    let state = RegistryState::of(&s.registry);
    let out = cleanup(&s.fake, &s.clone, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let after: Vec<String> = state.tags("octo/app").into_iter().map(|t| t.name).collect();
    assert_eq!(after, sorted(&s.kept), "{}", out.stdout);
    // main's image (two tags before) and the kept image, nothing else: the dummy and the
    // deleted branch's images are gone.
    assert_eq!(state.manifests("octo/app").len(), 2, "{}", out.stdout);
    // Two digest deletions, and one for the dummy of the untag.
    assert_eq!(s.fake.deletes(), 3);
    assert_eq!(s.fake.owner_lookups(), 1);
    let again = cleanup(&s.fake, &s.clone, &[]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(s.fake.deletes(), 3, "the second run deleted something");
    assert_no_token(&out);
    s.fake.assert_no_unexpected();
    assert!(!s.deleted.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_follow_pages_of_100_for_a_nested_package_of_a_user_on_enterprise_through_rate_limits()
 {
    let registry = TestRegistry::start(Auth::None);
    let path = "someone/team/app";
    let fake = GitHubFake::enterprise(&registry, path, false);
    let seeder = Seeder::new(&registry);
    let images: Vec<(String, ImageSpec)> = (0..250)
        .map(|i| (format!("t-{i:03}"), ImageSpec::new(&format!("page{i}"))))
        .collect();
    seeder.push_images(path, &images).await;
    fake.fail_next(vec![Fault::PrimaryRateLimit, Fault::SecondaryRateLimit]);
    let mut cmd = harness::berth();
    cmd.envs(fake.env())
        .env("RUST_LOG", "debug")
        .args(["tags", &fake.repo_arg(), "--container-registry", "github"])
        .args(["--output", "json"]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tags = json["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 250, "{}", out.stdout);
    let stored = RegistryState::of(&registry).tags(path);
    for t in tags {
        let name = t["tag"].as_str().unwrap();
        let want = stored.iter().find(|s| s.name == name).unwrap();
        assert_eq!(t["digest"], want.digest.as_str(), "{name}");
    }
    assert_eq!(fake.list_pages(), 3, "pages of 100 for 250 versions");
    assert_eq!(fake.owner_lookups(), 1);
    assert_no_token(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_package_names_the_owner_and_package_looked_for() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GitHubFake::rest(&registry, "octo/app", true);
    Seeder::new(&registry)
        .push_image("octo/app", "v1", &ImageSpec::new("one"))
        .await;
    let mut cmd = harness::berth();
    cmd.envs(fake.env()).args([
        "tags",
        &format!("{}/octo/missing/img", fake.host()),
        "--container-registry",
        "github",
    ]);
    let out = harness::run(&mut cmd);
    assert_ne!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("container package `missing/img` of `octo`"),
        "{}",
        out.stderr
    );
    assert_no_token(&out);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_registry_deletes_tags_through_graphql_and_says_public_packages_cannot() {
    let s = small(|r| GitHubFake::graphql(r, "octo/repo/app"), true, 2).await;
    let state = RegistryState::of(&s.registry);
    let before = state.tags("octo/repo/app");
    s.fake.set_public(true);
    let out = cleanup(&s.fake, &s.clone, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state.tags("octo/repo/app"), before);
    for t in &s.deleted {
        let line = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("FAILED") && l.contains(t.as_str()))
            .unwrap_or_else(|| panic!("no failure for {t}:\n{}", out.stdout));
        assert!(line.contains("public packages cannot be deleted"), "{line}");
    }

    s.fake.set_public(false);
    let mutations = s.fake.graphql_mutations();
    let out = cleanup(&s.fake, &s.clone, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let after: Vec<String> = state
        .tags("octo/repo/app")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(after, sorted(&s.kept), "{}", out.stdout);
    assert_eq!(s.fake.graphql_mutations() - mutations, s.deleted.len());
    assert!(s.fake.graphql_queries() >= 2);
    assert_no_token(&out);
    s.fake.assert_no_unexpected();
}

/// Pushes an image by digest only (an index's platform child); returns its digest.
async fn push_untagged(seeder: &Seeder, path: &str, spec: &ImageSpec) -> String {
    let layer = spec.layer();
    seeder.push_blob(path, &layer).await;
    let config = spec.config(&digest_of(&layer));
    seeder.push_blob(path, &config).await;
    let manifest = spec.manifest(&config, &layer);
    seeder
        .push_manifest(path, &digest_of(&manifest), OCI_MANIFEST, &manifest)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_index_takes_its_untagged_children_and_a_kept_one_keeps_them() {
    let registry = TestRegistry::start(Auth::None);
    let path = "octo/multi";
    let fake = GitHubFake::rest(&registry, path, true);
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
            platforms.push((
                push_untagged(&seeder, path, &spec).await,
                Platform::new("linux", arch),
            ));
        }
        let tag = format!("sha-{}", &c[..7]);
        let index = seeder.push_index(path, &tag, Format::Oci, &platforms).await;
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
    let config = git.root().join("berth.yaml");
    // The default, spelled out: GitHub lists untagged versions, so the children of a deleted
    // index go with it all the same (they would linger as versions nothing names).
    std::fs::write(&config, "keep:\n  untagged: keep\n").unwrap();
    let out = cleanup(&fake, &clone, &["--config", &config.display().to_string()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let stored: Vec<String> = RegistryState::of(&registry)
        .manifests(path)
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
    // One version each: the index, then its two untagged children.
    assert_eq!(fake.deletes(), 3, "{}", out.stdout);
    assert!(out.stdout.contains("untagged version"), "{}", out.stdout);
    fake.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_listing_names_the_variables_and_sends_nothing() {
    let registry = TestRegistry::start(Auth::None);
    let fake = GitHubFake::rest(&registry, "octo/app", true);
    Seeder::new(&registry)
        .push_image("octo/app", "v1", &ImageSpec::new("one"))
        .await;
    let mut cmd = harness::berth();
    cmd.envs(
        fake.env()
            .into_iter()
            .filter(|(k, _)| k != "BERTH_GITHUB_TOKEN"),
    )
    .args(["tags", &fake.repo_arg(), "--container-registry", "github"]);
    let out = harness::run(&mut cmd);
    assert_ne!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("set BERTH_GITHUB_TOKEN or GITHUB_TOKEN"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.list_pages() + fake.owner_lookups(), 0);
    fake.assert_no_unexpected();
}
