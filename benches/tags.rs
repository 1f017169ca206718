//! Benchmark of `berth tags` (not a timed test): seeds one repository of the real
//! Distribution registry with 10,000 tags over 5,000 distinct images, runs the release
//! `berth tags --output json` against it, then skopeo (`list-tags` + `inspect --raw` per tag,
//! over a fixed sample because one process per tag is slow) on the same repository, and prints
//! tags/s, the HTTP requests berth made against the minimum (one list page per 1,000 tags + one
//! manifest request per tag, counted from the registry's own access log) and the ratio to
//! skopeo. berth runs twice with one config cache: cold (config blobs fetched, one per
//! distinct image) and warm (served from the cache, as DESIGN §9 asks of a repeat run). A
//! floor is measured too: the harness's own client GETting every manifest with the same
//! concurrency, i.e. what the registry itself can serve here. Run with `scripts/bench.sh tags`.

#[path = "../tests/it/harness/mod.rs"]
#[allow(unused_imports)]
mod harness;

use std::process::Command;
use std::time::Instant;

use harness::{Auth, ImageSpec, Seeder, TestRegistry};

const TAGS: usize = 10_000;
const DIGESTS: usize = 5_000;
const SKOPEO_SAMPLE: usize = 200;
const REPO: &str = "bench/app";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = TestRegistry::start(Auth::None);
    let seed = Seeder::new(&registry);
    let started = Instant::now();
    let images: Vec<(String, ImageSpec)> = (0..TAGS)
        .map(|i| {
            let spec = ImageSpec::new(&format!("image-{}", i % DIGESTS))
                .created("2026-01-01T00:00:00Z")
                .label(
                    "org.opencontainers.image.revision",
                    &format!("{:040x}", i % DIGESTS),
                );
            (format!("tag-{i:05}"), spec)
        })
        .collect();
    runtime.block_on(seed.push_images(REPO, &images));
    println!(
        "seeded {TAGS} tags ({DIGESTS} digests) in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let repo = format!("{}/{REPO}", registry.host());
    let cache = harness::temp_dir();
    let mut runs = Vec::new();
    for label in ["cold", "warm"] {
        let before = registry.access_log().len();
        let started = Instant::now();
        let out = harness::run(
            harness::berth()
                .args(["tags", "--output", "json", &repo])
                .env("XDG_CACHE_HOME", cache.path()),
        );
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(out.code, 0, "berth tags failed: {}", out.stderr);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        let listed = json["tags"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, TAGS, "berth listed {listed} tags");
        let log = registry.access_log();
        let mine: Vec<_> = log[before..]
            .iter()
            .filter(|r| r.user_agent.starts_with("berth/"))
            .collect();
        let manifests = mine
            .iter()
            .filter(|r| r.path.contains("/manifests/"))
            .count();
        let blobs = mine.iter().filter(|r| r.path.contains("/blobs/")).count();
        runs.push((label, secs, mine.len(), manifests, blobs));
    }
    let minimum = TAGS.div_ceil(1000) + TAGS;

    // Floor: an independent client GETting every manifest, 16 in flight (berth's default).
    let started = Instant::now();
    runtime.block_on(async {
        use futures_util::StreamExt;
        futures_util::stream::iter(0..TAGS)
            .map(|i| {
                let seed = &seed;
                async move { seed.get_manifest(REPO, &format!("tag-{i:05}")).await }
            })
            .buffer_unordered(16)
            .for_each(|m| async move {
                assert!(m.is_some());
            })
            .await;
    });
    let floor_secs = started.elapsed().as_secs_f64();

    let skopeo = |args: &[&str]| {
        let out = Command::new("skopeo")
            .args(args)
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let started = Instant::now();
    skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{repo}"),
    ]);
    for i in (0..TAGS).step_by(TAGS / SKOPEO_SAMPLE).take(SKOPEO_SAMPLE) {
        skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{repo}:tag-{i:05}"),
        ]);
    }
    let skopeo_secs = started.elapsed().as_secs_f64();
    let skopeo_rate = SKOPEO_SAMPLE as f64 / skopeo_secs;

    for (label, secs, total, manifests, blobs) in &runs {
        println!(
            "berth tags --output json ({label} config cache): {TAGS} tags in {secs:.2}s = {:.0} tags/s",
            TAGS as f64 / secs
        );
        println!(
            "  HTTP requests: {total} ({manifests} manifest, {blobs} config blob, {} other); minimum {minimum} -> {:.3}x",
            total - manifests - blobs,
            *total as f64 / minimum as f64
        );
    }
    println!(
        "floor (harness client, GET of every manifest, 16 in flight): {TAGS} in {floor_secs:.2}s = {:.0} tags/s",
        TAGS as f64 / floor_secs
    );
    println!(
        "skopeo list-tags + inspect --raw: {SKOPEO_SAMPLE} sampled tags in {skopeo_secs:.2}s = {skopeo_rate:.1} tags/s (one process per tag)"
    );
    let warm_rate = TAGS as f64 / runs[1].1;
    println!(
        "berth (warm) / skopeo throughput: {:.1}x; berth (warm) time / floor time: {:.2}x",
        warm_rate / skopeo_rate,
        runs[1].1 / floor_secs
    );
}
