//! Platform providers: `berth cleanup` through the fakes of GitHub Packages, GitLab, Docker
//! Hub, Harbor, Quay, ACR and Google (the integration tests' fakes, in front of the real
//! Distribution registry and sharing its state) against the plain Distribution path on the same images (not
//! a timed test: it prints figures and ratios measured in the same run).
//!
//! Setup per platform: a history of `BENCH_TAGS / 2` commits on main (`git fast-import`), and
//! one image per commit tagged `sha-<sha7>` and `main-<sha7>` (one layer and one config shared
//! by all), pushed to the real registry; berth.yaml keeps main's last 50 images with no age
//! guard, so no config blob is needed.
//!
//! Figures, per platform: the dry-run scan time through the provider and through the
//! Distribution API on the same repository (one manifest GET per tag), their ratio; then the
//! real run's requests (the platform API as the fake counts them, plus berth's requests to the
//! registry from its access log) against the minimum that plan needs: the listing's pages twice
//! (the scan, and the check before deleting), the manifests the graph needs (one per image
//! where the listing gives no media type), and the deletions the platform's API demands.
//!
//! Run it with `scripts/bench.sh providers`. `BENCH_TAGS` scales it (default 5,000);
//! `BENCH_ONLY=harbor,quay` runs some platforms only.

// The harness is shared with the integration tests; this benchmark uses part of it, and its
// own test modules (compiled here too) are never run from a benchmark.
#![allow(dead_code, unused_imports)]

#[path = "../tests/it/harness/mod.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use futures_util::StreamExt;
use harness::platform::PlatformFake;
use harness::seed::{OCI_MANIFEST, digest_of};
use harness::{Auth, Seeder, TestRegistry};

const KEEP: usize = 50;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare origin with `n` commits on main, a minute apart, and a clone of it; the clone's
/// path and the commit ids, oldest first.
fn history(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<String>) {
    let origin = dir.join("origin.git");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&origin)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        let start = chrono::Utc::now().timestamp() - n as i64 * 60 - 3600;
        for i in 1..=n {
            let t = start + i as i64 * 60;
            let msg = format!("commit {i}\n");
            write!(
                stdin,
                "commit refs/heads/main\nmark :{i}\ncommitter bench <bench@berth.invalid> {t} +0000\ndata {}\n{msg}",
                msg.len()
            )
            .unwrap();
            if i > 1 {
                writeln!(stdin, "from :{}", i - 1).unwrap();
            }
            writeln!(stdin).unwrap();
        }
    }
    assert!(child.wait().unwrap().success(), "git fast-import failed");
    let clone = dir.join("clone");
    git(
        dir,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    std::fs::write(
        clone.join("berth.yaml"),
        format!(
            "keep:\n  built_within: 0\n  policies:\n    - references: {{ branch: \"/^main$/\" }}\n      images_per_reference: {{ last: {KEEP} }}\n"
        ),
    )
    .unwrap();
    let mut ids: Vec<String> = git(&clone, &["rev-list", "origin/main"])
        .lines()
        .map(str::to_string)
        .collect();
    ids.reverse();
    (clone, ids)
}

/// One image per commit, tagged `sha-<7>` and `main-<7>`, 32 pushes in flight.
async fn seed(registry: &TestRegistry, repo: &str, commits: &[String]) {
    let seeder = Seeder::new(registry);
    let layer = b"bench layer".to_vec();
    let layer_digest = seeder.push_blob(repo, &layer).await;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2021-02-01T00:00:00Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = seeder.push_blob(repo, &config).await;
    let jobs = commits
        .iter()
        .flat_map(|c| [("sha", c.clone()), ("main", c.clone())]);
    futures_util::stream::iter(jobs.map(|(prefix, commit)| {
        let seeder = &seeder;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer.len()}],
            "annotations": {"bench.image": commit},
        }))
        .unwrap();
        async move {
            let tag = format!("{prefix}-{}", &commit[..7]);
            seeder
                .push_manifest(repo, &tag, OCI_MANIFEST, &manifest)
                .await;
            assert_eq!(digest_of(&manifest).len(), 71);
        }
    }))
    .buffer_unordered(32)
    .collect::<Vec<()>>()
    .await;
}

/// berth's requests to the registry by kind (its access log, berth's user agent only), from
/// entry `from` on.
fn registry_requests(registry: &TestRegistry, from: usize) -> (BTreeMap<String, usize>, usize) {
    let log = registry.access_log();
    let mut counts = BTreeMap::new();
    for r in log[from.min(log.len())..]
        .iter()
        .filter(|r| r.user_agent.starts_with("berth/"))
    {
        let kind = match (r.method.as_str(), r.path.as_str()) {
            (_, p) if p.contains("/tags/list") => "registry tag list",
            ("GET", p) if p.contains("/manifests/") => "registry manifest GET",
            ("HEAD", p) if p.contains("/manifests/") => "registry manifest HEAD",
            ("GET", p) if p.contains("/blobs/") => "registry blob GET",
            ("GET", "/v2/") => "registry ping",
            ("DELETE", _) => "registry DELETE",
            ("PUT" | "POST" | "PATCH", _) => "registry push",
            _ => "registry other",
        };
        *counts.entry(kind.to_string()).or_default() += 1;
    }
    (counts, log.len())
}

fn sum(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().sum()
}

fn show(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn diff(
    after: &BTreeMap<String, usize>,
    before: &BTreeMap<String, usize>,
) -> BTreeMap<String, usize> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// `berth cleanup` on `repo`; its wall time in seconds and its JSON report.
fn cleanup(
    clone: &Path,
    repo: &str,
    kind: &str,
    env: &[(String, String)],
    dry_run: bool,
) -> (f64, serde_json::Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", clone.parent().unwrap())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(clone)
        .args([
            "-q",
            "cleanup",
            "--repo",
            repo,
            "--container-registry",
            kind,
        ])
        .args(["--git-dir", clone.to_str().unwrap(), "--output", "json"])
        .args(["--max-delete-ratio", "1"]);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let started = Instant::now();
    let out = cmd.output().expect("run berth");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "berth cleanup {repo} ({kind}) failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        secs,
        serde_json::from_slice(&out.stdout).expect("a JSON report"),
    )
}

/// What the real run needs at the least on one platform, by kind of request.
struct Minimum {
    /// The scan's listing (pages, plus lookups such as the owner's type or a login).
    scan: usize,
    /// The check before deleting: one more listing, as cheap as the platform allows.
    recheck: usize,
    /// Manifests the graph needs.
    manifests: usize,
    /// Deleting requests for the deleted images (two tags each).
    deletions: usize,
}

fn bench_platform(
    name: &str,
    tags: usize,
    start: fn(&TestRegistry) -> Box<dyn PlatformFake>,
    minimum: fn(images: usize, deleted: usize) -> Minimum,
) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-bench-providers-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let images = tags / 2;
    let (clone, commits) = history(tmp.path(), images);
    let registry = TestRegistry::start(Auth::None);
    let fake = start(&registry);
    let path = fake.path();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    runtime.block_on(seed(&registry, &path, &commits));
    println!(
        "{name}: {tags} tags on {images} images seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let env = fake.env();

    // The same images through the Distribution API, straight at the registry.
    let (_, mark) = registry_requests(&registry, 0);
    let direct = format!("{}/{path}", registry.host());
    let (plain_secs, _) = cleanup(&clone, &direct, "default", &[], true);
    let (plain_req, mark) = registry_requests(&registry, mark);

    let api_before = fake.api_requests();
    let (dry_secs, report) = cleanup(&clone, &fake.repo_arg(), fake.kind(), &env, true);
    let dry_api = diff(&fake.api_requests(), &api_before);
    let (dry_reg, mark) = registry_requests(&registry, mark);
    let planned = report["totals"]["planned_deletions"].as_u64().unwrap_or(0) as usize;
    println!(
        "{name}: dry run {dry_secs:.2} s ({} requests: {}; {}) vs Distribution {plain_secs:.2} s \
         ({} requests: {}): time ratio {:.2}, request ratio {:.3}; {planned} tag deletions planned",
        sum(&dry_api) + sum(&dry_reg),
        show(&dry_api),
        show(&dry_reg),
        sum(&plain_req),
        show(&plain_req),
        dry_secs / plain_secs,
        (sum(&dry_api) + sum(&dry_reg)) as f64 / sum(&plain_req) as f64,
    );

    let api_before = fake.api_requests();
    let (run_secs, report) = cleanup(&clone, &fake.repo_arg(), fake.kind(), &env, false);
    let run_api = diff(&fake.api_requests(), &api_before);
    let (run_reg, _) = registry_requests(&registry, mark);
    assert_eq!(report["totals"]["failed"], 0, "{report}");
    let deleted_images = images - KEEP;
    let m = minimum(images, deleted_images);
    let min = m.scan + m.recheck + m.manifests + m.deletions;
    let made = sum(&run_api) + sum(&run_reg);
    println!(
        "{name}: real run {run_secs:.2} s, {made} requests ({}; {}); minimum {min} ({} \
         listing + {} check listing + {} manifests + {} deletions): ratio {:.4}",
        show(&run_api),
        show(&run_reg),
        m.scan,
        m.recheck,
        m.manifests,
        m.deletions,
        made as f64 / min as f64
    );
    fake.assert_no_unexpected();
}

fn main() {
    let tags = env_usize("BENCH_TAGS", 5000);
    // `BENCH_ONLY=harbor,quay` runs those platforms only (by the start of their names).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| {
        only.is_empty()
            || only
                .split(',')
                .any(|w| !w.is_empty() && name.starts_with(w))
    };
    for (name, start, minimum) in platforms() {
        if wanted(name) {
            bench_platform(name, tags, start, minimum);
        }
    }
}

type Platform = (
    &'static str,
    fn(&TestRegistry) -> Box<dyn PlatformFake>,
    fn(usize, usize) -> Minimum,
);

/// The platforms, each with how to start its fake and what a run needs at the least.
fn platforms() -> Vec<Platform> {
    vec![
        (
            "github (ghcr.io REST)",
            |registry| {
                Box::new(harness::github::GitHubFake::rest(
                    registry, "octo/app", true,
                ))
            },
            // The owner's type, then 100 versions a page (the check reads the pages again);
            // versions give no media type, so every image's manifest is read once; one
            // version DELETE per deleted image.
            |images, deleted| Minimum {
                scan: 1 + images.div_ceil(100),
                recheck: images.div_ceil(100),
                manifests: images,
                deletions: deleted,
            },
        ),
        (
            "gitlab",
            |registry| {
                Box::new(harness::gitlab::GitLabFake::start(
                    registry,
                    "group/project/app",
                ))
            },
            // The open merge requests (the job's project is set, so the forge asks), the
            // project's repositories, 100 tag names a page (read again by the check); the
            // names carry no digest, so one registry GET per tag gives digest and manifest at
            // once; one registry DELETE by digest per deleted image.
            |images, deleted| Minimum {
                scan: 1 + 1 + (2 * images).div_ceil(100),
                recheck: (2 * images).div_ceil(100),
                manifests: 2 * images,
                deletions: deleted,
            },
        ),
        (
            "dockerhub",
            |registry| Box::new(harness::dockerhub::HubFake::start(registry, "team/app")),
            // One login, 100 tags a page with digests and media types (read again by the
            // check): no manifest is read; each deleted image loses its two tags through the
            // API, then its manifest on the registry.
            |images, deleted| Minimum {
                scan: 1 + (2 * images).div_ceil(100),
                recheck: (2 * images).div_ceil(100),
                manifests: 0,
                deletions: 3 * deleted,
            },
        ),
        (
            "harbor",
            |registry| {
                Box::new(harness::harbor::HarborFake::start(
                    registry,
                    "berth/team/app",
                ))
            },
            // 100 artifacts a page, each with both its tags, digest and media type (read again
            // by the check): no manifest is read; one artifact DELETE per deleted image takes
            // both its tags.
            |images, deleted| Minimum {
                scan: images.div_ceil(100),
                recheck: images.div_ceil(100),
                manifests: 0,
                deletions: deleted,
            },
        ),
        (
            "quay",
            |registry| Box::new(harness::quay::QuayFake::start(registry, "org/app")),
            // 100 tags a page with digests and the manifest-list flag (read again by the
            // check): no manifest is read; each deleted image loses its two tags through the
            // API, then its manifest on the registry.
            |images, deleted| Minimum {
                scan: (2 * images).div_ceil(100),
                recheck: (2 * images).div_ceil(100),
                manifests: 0,
                deletions: 3 * deleted,
            },
        ),
        (
            "acr",
            |registry| Box::new(harness::acr::AcrFake::start(registry, "team/app")),
            // One 401 and one token (the listings' metadata_read), 100 tags a page with
            // digests and push times plus 100 manifests a page for the media types (the check
            // reads the tag pages again): no manifest is read; one registry DELETE by digest
            // per deleted image takes both its tags.
            |images, deleted| Minimum {
                scan: 2 + (2 * images).div_ceil(100) + images.div_ceil(100),
                recheck: (2 * images).div_ceil(100),
                manifests: 0,
                deletions: deleted,
            },
        ),
        (
            "gcr",
            |registry| {
                Box::new(harness::gcr::GcrFake::start(
                    registry,
                    "test-project/team/app",
                ))
            },
            // One `tags/list?n=10000` page with Google's manifest map (digests, media types,
            // upload times; read again by the check): no manifest is read; each deleted image
            // loses its two tags (untag), then its digest.
            |images, deleted| Minimum {
                scan: (2 * images).div_ceil(10_000),
                recheck: (2 * images).div_ceil(10_000),
                manifests: 0,
                deletions: 3 * deleted,
            },
        ),
    ]
}
