//! `berth cleanup` end to end: the berth binary against the real Distribution registry and
//! against an OCI image layout, with a git fixture (bare origin, CI-style clone) whose dates
//! are relative to now, so the default keep policies (`in: 168h`, `built_within: 2h`) judge
//! them as they would a live project. Also `berth demo` through the binary.
//!
//! One scenario, built identically in both stores, covers: a deleted branch's images go;
//! main keeps its last 10; a feature branch keeps 2; release tags keep the last 10; a tag
//! shared with a kept tag is untagged; a kept multi-arch index keeps its children; a signature
//! follows its subject both ways; unlinked tags stay; `built_within` protects a fresh image;
//! a force-pushed commit's image goes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::fixtures::{self, Fixture};
use crate::harness::platform::{FAKE_USER_AGENT, PlatformFake};
use crate::harness::seed::{COSIGN_PAYLOAD, OCI_INDEX, OCI_MANIFEST, digest_of};
use crate::harness::{
    self, Auth, Fault, FaultProxy, ImageSpec, Match, Output, Seeder, TestRegistry,
};

const REPO: &str = "app";

/// Where the scenario's images live: the real registry (alone, or behind the fake of a hosted
/// platform that shares its state), or an OCI layout on disk written by this file (not by
/// berth), so what berth reads does not depend on berth's own writer.
pub(crate) enum Store {
    Registry {
        registry: Box<TestRegistry>,
        seeder: Seeder,
        /// The platform fake berth talks to instead of the registry itself.
        fake: Option<Box<dyn PlatformFake>>,
    },
    Layout(tempfile::TempDir),
}

impl Store {
    fn registry() -> Store {
        let registry = TestRegistry::start(Auth::None);
        let seeder = Seeder::new(&registry);
        Store::Registry {
            registry: Box::new(registry),
            seeder,
            fake: None,
        }
    }

    /// The real registry behind `fake`, which was started in front of `registry`.
    pub(crate) fn platform(registry: TestRegistry, fake: Box<dyn PlatformFake>) -> Store {
        let seeder = Seeder::new(&registry);
        Store::Registry {
            registry: Box::new(registry),
            seeder,
            fake: Some(fake),
        }
    }

    /// The repository path the images are pushed to.
    fn path(&self) -> String {
        match self {
            Store::Registry {
                fake: Some(fake), ..
            } => fake.path(),
            _ => REPO.to_string(),
        }
    }

    /// What berth needs besides `--repo` to reach the fake: `--container-registry` and the
    /// variables naming its API and token.
    fn fake_args(&self) -> (Vec<String>, Vec<(String, String)>) {
        match self {
            Store::Registry {
                fake: Some(fake), ..
            } => (
                vec!["--container-registry".into(), fake.kind().into()],
                fake.env(),
            ),
            _ => (Vec::new(), Vec::new()),
        }
    }

    fn layout() -> Store {
        let dir = harness::temp_dir();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("index.json"),
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
            }))
            .unwrap(),
        )
        .unwrap();
        Store::Layout(dir)
    }

    /// The `--repo` argument.
    fn repo_arg(&self) -> String {
        match self {
            Store::Registry {
                fake: Some(fake), ..
            } => fake.repo_arg(),
            Store::Registry { registry, .. } => format!("{}/{REPO}", registry.host()),
            Store::Layout(dir) => format!("oci:{}", dir.path().display()),
        }
    }

    async fn put_blob(&self, bytes: &[u8]) -> String {
        match self {
            Store::Registry { seeder, .. } => seeder.push_blob(&self.path(), bytes).await,
            Store::Layout(dir) => {
                let digest = digest_of(bytes);
                let hex = digest.trim_start_matches("sha256:");
                std::fs::write(dir.path().join("blobs/sha256").join(hex), bytes).unwrap();
                digest
            }
        }
    }

    /// Stores a manifest, tagged `tag` or untagged (`None`); returns its digest.
    async fn put_manifest(&self, tag: Option<&str>, media_type: &str, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        match self {
            Store::Registry { seeder, .. } => {
                seeder
                    .push_manifest(&self.path(), tag.unwrap_or(&digest), media_type, bytes)
                    .await
            }
            Store::Layout(dir) => {
                self.put_blob(bytes).await;
                let path = dir.path().join("index.json");
                let mut index: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let entries = index["manifests"].as_array_mut().unwrap();
                let mut entry = serde_json::json!({
                    "mediaType": media_type, "digest": digest, "size": bytes.len(),
                });
                match tag {
                    Some(t) => {
                        entries
                            .retain(|e| e["annotations"]["org.opencontainers.image.ref.name"] != t);
                        entry["annotations"] =
                            serde_json::json!({"org.opencontainers.image.ref.name": t});
                    }
                    None => entries.retain(|e| e["digest"] != digest.as_str()),
                }
                entries.push(entry);
                std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
                digest
            }
        }
    }

    /// Every tag and its digest.
    async fn tags(&self) -> BTreeMap<String, String> {
        match self {
            Store::Registry { seeder, .. } => seeder.tags(&self.path()).await,
            Store::Layout(dir) => {
                let index: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap())
                        .unwrap();
                index["manifests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| {
                        let tag = e["annotations"]["org.opencontainers.image.ref.name"].as_str()?;
                        Some((tag.to_string(), e["digest"].as_str()?.to_string()))
                    })
                    .collect()
            }
        }
    }

    /// Whether the manifest is still stored.
    async fn exists(&self, digest: &str) -> bool {
        match self {
            Store::Registry { seeder, .. } => seeder.manifest_exists(&self.path(), digest).await,
            Store::Layout(dir) => dir
                .path()
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"))
                .exists(),
        }
    }

    /// Pushes an image (untagged when `tag` is None); returns its digest.
    async fn image(&self, tag: Option<&str>, spec: &ImageSpec) -> String {
        let layer = spec.layer();
        let layer_digest = self.put_blob(&layer).await;
        let config = spec.config(&layer_digest);
        self.put_blob(&config).await;
        let manifest = spec.manifest(&config, &layer);
        self.put_manifest(tag, OCI_MANIFEST, &manifest).await
    }

    /// Tags an existing manifest again.
    async fn tag(&self, tag: &str, digest: &str, media_type: &str, bytes: &[u8]) {
        assert_eq!(digest_of(bytes), digest);
        self.put_manifest(Some(tag), media_type, bytes).await;
    }

    /// A cosign-style signature of `subject`, tagged `sha256-<hex>.sig`; returns its digest.
    async fn sign(&self, subject: &str) -> String {
        let payload = serde_json::to_vec(&serde_json::json!({
            "critical": {"image": {"docker-manifest-digest": subject}},
        }))
        .unwrap();
        let layer = self.put_blob(&payload).await;
        let config = br#"{"architecture":"","os":"","config":{}}"#;
        let config_digest = self.put_blob(config).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": COSIGN_PAYLOAD, "digest": layer, "size": payload.len()}],
        }))
        .unwrap();
        let tag = format!("{}.sig", subject.replacen(':', "-", 1));
        self.put_manifest(Some(&tag), OCI_MANIFEST, &manifest).await
    }
}

/// The git side: commits dated relative to `now`, pushed to a bare origin, read through a
/// CI-style clone.
struct Git {
    f: Fixture,
    now: DateTime<Utc>,
}

impl Git {
    fn new(now: DateTime<Utc>) -> Git {
        Git {
            f: Fixture::new(),
            now,
        }
    }

    /// An empty commit on `branch` (created at `from` when missing), `hours` before now.
    fn commit(&self, branch: &str, from: &str, message: &str, hours: i64) -> String {
        let exists = !self.f.git(&["branch", "--list", branch]).trim().is_empty();
        let born = !self
            .f
            .git(&["rev-parse", "-q", "--verify", "HEAD"])
            .is_empty();
        if exists {
            self.f.git(&["checkout", "-q", branch]);
        } else if born {
            self.f.git(&["checkout", "-q", "-b", branch, from]);
        }
        let at = (self.now - Duration::hours(hours)).timestamp();
        fixtures::git_dated(
            self.f.author(),
            &["commit", "-q", "--allow-empty", "-m", message],
            at,
        );
        self.f.rev("HEAD")
    }
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// RFC 3339 time `hours` before `now`, plus a few minutes of build time.
fn built(now: DateTime<Utc>, hours: i64) -> String {
    (now - Duration::hours(hours) + Duration::minutes(5)).to_rfc3339()
}

fn spec(now: DateTime<Utc>, unique: &str, revision: &str, git_ref: &str, hours: i64) -> ImageSpec {
    ImageSpec::new(unique)
        .created(&built(now, hours))
        .label("org.opencontainers.image.revision", revision)
        .label("berth.git.ref", git_ref)
}

/// What the scenario expects.
#[derive(Default)]
struct Expect {
    /// Tags that must be gone after the run.
    deleted: Vec<String>,
    /// Tags that must stay, with their digest.
    kept: Vec<String>,
    /// Manifests that must stay (untagged children, shared digests).
    manifests_kept: Vec<String>,
    /// Manifests that must be gone.
    manifests_gone: Vec<String>,
}

/// Builds the git history and the images; returns the CI clone and the expectations.
async fn scenario(store: &Store, now: DateTime<Utc>) -> (Git, PathBuf, Expect) {
    let git = Git::new(now);
    let mut ex = Expect::default();

    // main: 12 commits, one a day, the newest 3 hours ago. The last 10 are kept.
    let mut main = Vec::new();
    for i in 1..=12 {
        let hours = (12 - i) * 24 + 3;
        main.push((
            git.commit("main", "main", &format!("main {i}"), hours),
            hours,
        ));
    }
    for (i, (c, hours)) in main.iter().enumerate().take(10) {
        let tag = format!("sha-{}", short(c));
        store
            .image(
                Some(&tag),
                &spec(now, &format!("main{i}"), c, "main", *hours),
            )
            .await;
        if i < 2 {
            ex.deleted.push(tag)
        } else {
            ex.kept.push(tag)
        }
    }
    // main's 11th commit was built on feature/gone, fast-forwarded into main, and the branch
    // deleted: `feature-gone` goes by untagging, `sha-…` and the digest stay.
    let (m11, m11_hours) = &main[10];
    let m11_spec = spec(now, "main10", m11, "feature/gone", *m11_hours);
    let m11_tag = format!("sha-{}", short(m11));
    let m11_digest = store.image(Some(&m11_tag), &m11_spec).await;
    let bytes = manifest_bytes(&m11_spec);
    store
        .tag("feature-gone", &m11_digest, OCI_MANIFEST, &bytes)
        .await;
    ex.deleted.push("feature-gone".into());
    ex.kept.push(m11_tag);
    ex.manifests_kept.push(m11_digest);
    // main's tip: a multi-arch index tagged `main` and `sha-…`, signed.
    let (tip, tip_hours) = &main[11];
    let amd = store
        .image(None, &spec(now, "tip-amd64", tip, "main", *tip_hours))
        .await;
    let arm_spec = spec(now, "tip-arm64", tip, "main", *tip_hours)
        .platform(crate::harness::Platform::new("linux", "arm64"));
    let arm = store.image(None, &arm_spec).await;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd, "size": 0,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm, "size": 0,
             "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    // Descriptor sizes must be right for the registry: fill them in from the stored bytes.
    let index = fix_sizes(store, index).await;
    let index_digest = store.put_manifest(Some("main"), OCI_INDEX, &index).await;
    store
        .tag(
            &format!("sha-{}", short(tip)),
            &index_digest,
            OCI_INDEX,
            &index,
        )
        .await;
    let tip_sig = store.sign(&index_digest).await;
    ex.kept.extend([
        "main".to_string(),
        format!("sha-{}", short(tip)),
        format!("{}.sig", index_digest.replacen(':', "-", 1)),
    ]);
    ex.manifests_kept.extend([amd, arm, tip_sig]);

    // release/1.0: eleven commits, 20+ days old, each tagged v1.0.k; the last 10 tags stay.
    for k in 0..11 {
        let hours = 24 * 40 - k * 24;
        let c = git.commit("release/1.0", &main[0].0, &format!("release {k}"), hours);
        git.f.tag(&format!("v1.0.{k}"), &c);
        let s = spec(now, &format!("rel{k}"), &c, "release/1.0", hours);
        let d = store.image(Some(&format!("v1.0.{k}")), &s).await;
        let (mt, bytes) = (OCI_MANIFEST, manifest_bytes(&s));
        store
            .tag(&format!("sha-{}", short(&c)), &d, mt, &bytes)
            .await;
        let tags = [format!("v1.0.{k}"), format!("sha-{}", short(&c))];
        if k == 0 {
            ex.deleted.extend(tags)
        } else {
            ex.kept.extend(tags)
        }
    }

    // feature/a: three commits in the last 3 days; the newest 2 images stay.
    let base = main[9].0.clone();
    for (n, hours) in [(1, 72), (2, 48), (3, 24)] {
        let c = git.commit("feature/a", &base, &format!("a{n}"), hours);
        let tag = format!("sha-{}", short(&c));
        let d = store
            .image(
                Some(&tag),
                &spec(now, &format!("a{n}"), &c, "feature/a", hours),
            )
            .await;
        if n == 1 {
            ex.deleted.push(tag);
            ex.manifests_gone.push(d);
        } else {
            ex.kept.push(tag);
        }
    }

    // feature/b was force-pushed: the replaced commit's image goes, the new one stays.
    let b1 = git.commit("feature/b", &base, "b1", 30);
    let replaced = git.commit("feature/b", &base, "b2 first try", 20);
    let tag = format!("sha-{}", short(&replaced));
    store
        .image(
            Some(&tag),
            &spec(now, "b-replaced", &replaced, "feature/b", 20),
        )
        .await;
    ex.deleted.push(tag);
    git.f.push_all();
    git.f.git(&["checkout", "-q", "feature/b"]);
    git.f.git(&["reset", "-q", "--hard", &b1]);
    let b2 = git.commit("feature/b", &base, "b2 second try", 10);
    let tag = format!("sha-{}", short(&b2));
    store
        .image(Some(&tag), &spec(now, "b2", &b2, "feature/b", 10))
        .await;
    ex.kept.push(tag);

    // feature/old: built 9 days ago, branch deleted: everything goes, its signature after it.
    let o1 = git.commit("feature/old", &main[3].0, "old", 24 * 9);
    let old_spec = spec(now, "old", &o1, "feature/old", 24 * 9);
    let old = store.image(Some("feature-old"), &old_spec).await;
    let bytes = manifest_bytes(&old_spec);
    store
        .tag(&format!("sha-{}", short(&o1)), &old, OCI_MANIFEST, &bytes)
        .await;
    let old_sig = store.sign(&old).await;
    ex.deleted.extend([
        "feature-old".to_string(),
        format!("sha-{}", short(&o1)),
        format!("{}.sig", old.replacen(':', "-", 1)),
    ]);
    ex.manifests_gone.extend([old, old_sig]);

    // An experiment built 30 minutes ago, branch already gone: protected by built_within.
    let x = git.commit("experiment", &main[11].0, "experiment", 1);
    let tag = format!("sha-{}", short(&x));
    let fresh = ImageSpec::new("fresh")
        .created(&(now - Duration::minutes(30)).to_rfc3339())
        .label("org.opencontainers.image.revision", &x);
    store.image(Some(&tag), &fresh).await;
    ex.kept.push(tag);

    // A tag nothing ties to git.
    store
        .image(
            Some("debug"),
            &ImageSpec::new("debug").created(&built(now, 24 * 50)),
        )
        .await;
    ex.kept.push("debug".into());

    git.f.git(&["checkout", "-q", "main"]);
    git.f.push_all();
    for branch in ["feature/old", "experiment"] {
        git.f.delete_remote_branch(branch);
    }
    let clone = git.f.clone_ci();
    (git, clone, ex)
}

/// The manifest bytes an [`ImageSpec`] gives (same as what [`Store::image`] stored).
fn manifest_bytes(spec: &ImageSpec) -> Vec<u8> {
    let layer = spec.layer();
    let config = spec.config(&digest_of(&layer));
    spec.manifest(&config, &layer)
}

/// Replaces each index entry's size with the stored manifest's real size.
async fn fix_sizes(store: &Store, index: Vec<u8>) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&index).unwrap();
    for m in v["manifests"].as_array_mut().unwrap() {
        let digest = m["digest"].as_str().unwrap().to_string();
        let size = match store {
            Store::Registry { seeder, .. } => {
                seeder
                    .manifest_info(&store.path(), &digest)
                    .await
                    .unwrap()
                    .size
            }
            Store::Layout(dir) => std::fs::metadata(
                dir.path()
                    .join("blobs/sha256")
                    .join(digest.trim_start_matches("sha256:")),
            )
            .unwrap()
            .len(),
        };
        m["size"] = size.into();
    }
    serde_json::to_vec(&v).unwrap()
}

/// Runs berth cleanup with `args` (blocking the test thread: the registry is a separate
/// process, and the binary talks to it directly).
fn cleanup(store: &Store, git_dir: &Path, args: &[&str]) -> Output {
    cleanup_env(store, git_dir, args, &[])
}

/// [`cleanup`] with extra environment variables.
fn cleanup_env(store: &Store, git_dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = harness::berth();
    let (fake_args, fake_env) = store.fake_args();
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.envs(fake_env);
    cmd.env("XDG_CACHE_HOME", git_dir.parent().unwrap().join("cache"))
        .args(["cleanup", "--repo", &store.repo_arg(), "--git-dir"])
        .arg(git_dir)
        .args(fake_args)
        .args(args);
    harness::run(&mut cmd)
}

/// The scenario through `berth cleanup`: a dry run that changes nothing, the real run, and a
/// second run with nothing left to do.
pub(crate) async fn end_to_end(store: Store) {
    let now = Utc::now();
    let (git, clone, ex) = scenario(&store, now).await;
    let before = store.tags().await;
    for t in ex.deleted.iter().chain(&ex.kept) {
        assert!(
            before.contains_key(t),
            "scenario tag {t} missing: {before:#?}"
        );
    }

    // Dry run: the plan, and not one change.
    let mutating_before = mutating(&store);
    let plan_file = git.f.root().join("plan.json");
    let mut args = vec!["--dry-run", "--output", "json", "--plan-out"];
    let plan_path = plan_file.display().to_string();
    args.push(&plan_path);
    let out = cleanup(&store, &clone, &args);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(store.tags().await, before, "the dry run changed the tags");
    assert_eq!(
        mutating(&store),
        mutating_before,
        "the dry run sent a mutating request"
    );
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["mode"], "dry_run");
    let actions: BTreeMap<String, String> = report["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_string(),
                t["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for t in &ex.deleted {
        assert_eq!(actions[t], "delete", "{t}: {}", out.stdout);
    }
    for t in &ex.kept {
        assert_eq!(actions[t], "keep", "{t}: {}", out.stdout);
    }
    assert!(plan_file.exists());

    // The real run.
    let summary = git.f.root().join("step-summary.md");
    let out = cleanup_env(
        &store,
        &clone,
        &["--output", "json"],
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.starts_with("## berth cleanup\n"), "{markdown}");
    assert!(markdown.contains("| `feature-gone` |"), "{markdown}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let results: BTreeMap<String, String> = report["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| {
            Some((
                t["tag"].as_str()?.to_string(),
                t["result"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(results["feature-gone"], "untagged", "{}", out.stdout);
    assert_eq!(results["feature-old"], "deleted", "{}", out.stdout);
    assert_eq!(results.len(), ex.deleted.len(), "{results:?}");
    assert_eq!(report["totals"]["failed"], 0);
    let after = store.tags().await;
    for t in &ex.deleted {
        assert!(!after.contains_key(t), "{t} survived:\n{}", out.stdout);
    }
    for t in &ex.kept {
        assert_eq!(after.get(t), before.get(t), "{t} changed:\n{}", out.stdout);
    }
    for d in &ex.manifests_kept {
        assert!(
            store.exists(d).await,
            "manifest {d} is gone:\n{}",
            out.stdout
        );
    }
    for d in &ex.manifests_gone {
        assert!(
            !store.exists(d).await,
            "manifest {d} survived:\n{}",
            out.stdout
        );
    }

    // A second run has nothing left to do.
    let out = cleanup(&store, &clone, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(store.tags().await, after);
    if let Store::Registry {
        fake: Some(fake), ..
    } = &store
    {
        fake.assert_no_unexpected();
    }
}

/// Two dead branches' images (`feature-x`, `feature-y`) and a live `main` in `repo`, pushed to
/// the registry; returns the fixture and its CI clone. The small case the platform tests
/// (refused tokens, pagination) start from.
pub(crate) async fn two_doomed_tags(registry: &TestRegistry, repo: &str) -> (Fixture, PathBuf) {
    let f = Fixture::new();
    let main = f.commit_ago("main", "main", 48);
    let now = Utc::now();
    let built = |hours: i64| (now - Duration::hours(hours)).to_rfc3339();
    let seeder = Seeder::new(registry);
    seeder
        .push_image(
            repo,
            "main",
            &ImageSpec::new("main")
                .created(&built(47))
                .label("org.opencontainers.image.revision", &main)
                .label("berth.git.ref", "main"),
        )
        .await;
    for branch in ["x", "y"] {
        f.branch(&format!("feature/{branch}"), "main");
        let c = f.commit_ago(&format!("feature/{branch}"), branch, 30);
        seeder
            .push_image(
                repo,
                &format!("feature-{branch}"),
                &ImageSpec::new(branch)
                    .created(&built(29))
                    .label("org.opencontainers.image.revision", &c)
                    .label("berth.git.ref", &format!("feature/{branch}")),
            )
            .await;
    }
    f.push_all();
    f.delete_remote_branch("feature/x");
    f.delete_remote_branch("feature/y");
    let clone = f.clone_ci();
    (f, clone)
}

/// Mutating requests berth sent: to the registry (not the seeder's or a fake's own), and to
/// the platform fake's API.
fn mutating(store: &Store) -> usize {
    match store {
        Store::Registry { registry, fake, .. } => {
            let to_registry = registry
                .access_log()
                .iter()
                .filter(|r| {
                    r.is_mutating()
                        && r.user_agent != crate::harness::seed::USER_AGENT
                        && r.user_agent != FAKE_USER_AGENT
                })
                .count();
            to_registry + fake.as_ref().map_or(0, |f| f.mutating_requests())
        }
        Store::Layout(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_on_the_registry_keeps_what_git_needs_and_deletes_the_rest() {
    end_to_end(Store::registry()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_on_an_oci_layout_keeps_what_git_needs_and_deletes_the_rest() {
    let store = Store::layout();
    end_to_end(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_skips_a_tag_that_moved_since_the_plan() {
    let store = Store::registry();
    let now = Utc::now();
    let (git, clone, _) = scenario(&store, now).await;
    let plan = git.f.root().join("plan.json");
    let plan_arg = plan.display().to_string();
    let out = cleanup(&store, &clone, &["--dry-run", "--plan-out", &plan_arg]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // `feature-old` is planned for deletion; it now points at main's index.
    let tags = store.tags().await;
    let main = tags["main"].clone();
    let Store::Registry { seeder, .. } = &store else {
        unreachable!()
    };
    seeder.tag(REPO, "feature-old", &main).await;
    let mut cmd = harness::berth();
    cmd.args(["cleanup", "--apply", &plan_arg, "--output", "json"]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["mode"], "apply");
    let skipped = &report["repos"][0]["skipped"];
    assert_eq!(skipped[0]["tag"], "feature-old", "{}", out.stdout);
    assert_eq!(skipped[0]["current"], main.as_str());
    let after = store.tags().await;
    assert_eq!(after.get("feature-old"), Some(&main));
    assert!(store.exists(&main).await);
    assert!(!after.keys().any(|t| t.starts_with("v1.0.0")), "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_deletions_are_reported_and_exit_3() {
    let store = Store::registry();
    let now = Utc::now();
    let (_git, clone, ex) = scenario(&store, now).await;
    let Store::Registry { registry, .. } = &store else {
        unreachable!()
    };
    let proxy = FaultProxy::start(
        &registry.url(),
        vec![Fault::Status {
            when: Match::requests("DELETE", "/manifests/", 2),
            status: 405,
            retry_after: None,
        }],
    );
    let mut cmd = harness::berth();
    cmd.args([
        "cleanup",
        "--repo",
        &format!("{}/{REPO}", proxy.host()),
        "--git-dir",
    ])
    .arg(&clone);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("FAILED"), "{}", out.stdout);
    // The rest went on: most planned deletions happened.
    let after = store.tags().await;
    let gone = ex
        .deleted
        .iter()
        .filter(|t| !after.contains_key(*t))
        .count();
    assert!(
        gone > 0 && gone >= ex.deleted.len() - 5,
        "{gone} of {}",
        ex.deleted.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guards_refuse_with_the_flag_that_overrides_them() {
    let store = Store::registry();
    let now = Utc::now();
    let (git, clone, _) = scenario(&store, now).await;
    let before = store.tags().await;

    let out = cleanup(&store, &clone, &["--max-delete-ratio", "0.05"]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--max-delete-ratio"), "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);

    let shallow = git.f.clone_shallow();
    let out = cleanup(&store, &shallow, &["--fetch=false"]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--fetch"), "{}", out.stderr);

    // A CI clone read through a remote that does not exist: no branches, and (removing the
    // tags) no refs at all.
    for t in git.f.git(&["tag", "--list"]).lines() {
        fixtures::git(&clone, &["tag", "-d", t]);
    }
    let out = cleanup(&store, &clone, &["--remote", "nosuch"]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);

    assert_eq!(
        store.tags().await,
        before,
        "a refused run changed the registry"
    );
}

#[test]
fn demo_runs_the_real_cleanup_and_changes_its_layout() {
    let started = std::time::Instant::now();
    let mut cmd = harness::berth();
    cmd.arg("demo");
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(out.stdout.contains("dry run"), "{}", out.stdout);
    assert!(out.stdout.contains("feature-old"), "{}", out.stdout);
    assert!(out.stdout.contains("[manifest deleted]"), "{}", out.stdout);
    assert!(out.stdout.contains("[untagged]"), "{}", out.stdout);
    assert!(out.stdout.contains("[would untag]"), "{}", out.stdout);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("The layout had"))
        .expect("a closing line");
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers[2] < numbers[0], "no tag deleted: {line}");
    assert!(numbers[3] < numbers[1], "no blob collected: {line}");
}

/// The text and markdown reports of a small fixed world (fixture dates are fixed, so commit
/// ids are too; the layout's temp path and the digests are filtered).
#[tokio::test(flavor = "multi_thread")]
async fn reports_of_a_fixed_world_are_stable() {
    let store = Store::layout();
    let f = Fixture::new();
    let mut commits = Vec::new();
    for i in 1..=3 {
        commits.push(("main", f.commit("main", &format!("main {i}"))));
    }
    f.tag("v1", &commits[0].1);
    commits.push(("feature/x", f.commit("feature/x", "x")));
    commits.push(("feature/y", f.commit("feature/y", "y")));
    f.push_all();
    f.git(&["checkout", "-q", "main"]);
    f.delete_remote_branch("feature/y");
    let clone = f.clone_ci();
    for (i, (branch, c)) in commits.iter().enumerate() {
        let spec = ImageSpec::new(&format!("fixed{i}"))
            .created("2023-11-15T00:00:00Z")
            .label("org.opencontainers.image.revision", c)
            .label("berth.git.ref", branch);
        let d = store.image(Some(&format!("sha-{}", short(c))), &spec).await;
        let bytes = manifest_bytes(&spec);
        let slug = branch.replace('/', "-");
        store.tag(&slug, &d, OCI_MANIFEST, &bytes).await;
    }
    store
        .image(
            Some("debug"),
            &ImageSpec::new("debug").created("2023-11-01T00:00:00Z"),
        )
        .await;
    let Store::Layout(dir) = &store else {
        unreachable!()
    };
    let layout = dir.path().display().to_string();
    for format in ["text", "markdown"] {
        let out = cleanup(&store, &clone, &["--dry-run", "--output", format]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        // Digests depend on the harness's image bytes, which may change; commit ids do not.
        let filters = [
            (regex_escape(&layout), "[LAYOUT]"),
            (r"\b[0-9a-f]{12}\b".to_string(), "[DIGEST]"),
        ];
        let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        insta::with_settings!({filters => filters}, {
            insta::assert_snapshot!(format!("fixed_world_{format}"), out.stdout);
        });
    }
}

fn regex_escape(text: &str) -> String {
    regex::escape(text)
}
