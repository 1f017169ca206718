//! Benchmark of `berth tags` (not a timed test): seeds one repository of the real
//! Distribution registry with 10,000 tags over 5,000 distinct images, runs the release
//! `berth tags --output json` against it, then skopeo (`list-tags` + `inspect --raw` per tag,
//! over a fixed sample because one process per tag is slow) on the same repository, and prints
//! tags/s, the HTTP requests berth made against the minimum (one list page per 1,000 tags + one
//! manifest request per tag, counted from the registry's own access log) and the ratio to
//! skopeo. Run with `scripts/bench.sh tags`.

#[path = "../tests/it/harness/mod.rs"]
#[allow(dead_code, unused_imports)]
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
                .label("org.opencontainers.image.revision", &format!("{:040x}", i % DIGESTS));
            (format!("tag-{i:05}"), spec)
        })
        .collect();
    runtime.block_on(seed.push_images(REPO, &images));
    println!(
        "seeded {TAGS} tags ({DIGESTS} digests) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let before = registry.access_log().len();

    let repo = format!("{}/{REPO}", registry.host());
    let started = Instant::now();
    let out = harness::run(harness::berth().args(["tags", "--output", "json", &repo]));
    let berth_secs = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "berth tags failed: {}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let listed = json["tags"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, TAGS, "berth listed {listed} tags");
    let log = registry.access_log();
    let berth_requests: Vec<_> = log[before..]
        .iter()
        .filter(|r| r.user_agent.starts_with("berth/"))
        .collect();
    let manifest_requests = berth_requests
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .count();
    let blob_requests = berth_requests
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .count();
    let minimum = TAGS.div_ceil(1000) + TAGS;
    let berth_rate = TAGS as f64 / berth_secs;

    let skopeo = |args: &[&str]| {
        let out = Command::new("skopeo").args(args).output().expect("run skopeo");
        assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let started = Instant::now();
    skopeo(&["list-tags", "--tls-verify=false", &format!("docker://{repo}")]);
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

    println!("berth tags --output json: {TAGS} tags in {berth_secs:.2}s = {berth_rate:.0} tags/s");
    println!(
        "  HTTP requests: {} ({} manifest, {} config blob, {} other); minimum {minimum} -> {:.3}x",
        berth_requests.len(),
        manifest_requests,
        blob_requests,
        berth_requests.len() - manifest_requests - blob_requests,
        berth_requests.len() as f64 / minimum as f64
    );
    println!(
        "  excluding the {blob_requests} config blobs (one per distinct image, for created/revision): {:.3}x",
        (berth_requests.len() - blob_requests) as f64 / minimum as f64
    );
    println!(
        "skopeo list-tags + inspect --raw: {SKOPEO_SAMPLE} sampled tags in {skopeo_secs:.2}s = {skopeo_rate:.1} tags/s (one process per tag)"
    );
    println!("berth / skopeo throughput: {:.1}x", berth_rate / skopeo_rate);
}
