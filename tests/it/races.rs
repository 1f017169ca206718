//! Race-proof deletion through the binary, on the real Distribution registry: a tag that
//! moves between the scan and the first deletion (a rollback re-tags `prod` onto an old image,
//! exactly what a cleanup deletes) cancels that deletion.
//!
//! The move happens at a deterministic moment: a proxy hook runs it when berth lists the tags
//! the second time (the check right before deleting), before that listing is answered.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};

use crate::fixtures::Fixture;
use crate::harness::{self, Auth, FaultProxy, ImageSpec, Output, Seeder, TestRegistry};

const REPO: &str = "app";

/// Protected `prod`; tags no template links are deleted once older than an hour.
const CONFIG: &str =
    "keep:\n  built_within: 2h\n  tags: [prod]\n  unlinked: { delete_older_than: 1h }\n";

/// An image built `hours` ago.
pub(crate) fn built(unique: &str, hours: i64) -> ImageSpec {
    let at = Utc::now() - Duration::hours(hours);
    ImageSpec::new(unique).created(&at.to_rfc3339())
}

/// A git repository with one old commit on main, cloned as CI does, and a berth.yaml.
pub(crate) fn project(config: &str) -> (Fixture, PathBuf, PathBuf) {
    let f = Fixture::new();
    f.commit_ago("main", "m1", 48);
    f.push_all();
    let clone = f.clone_ci();
    let yaml = f.root().join("berth.yaml");
    std::fs::write(&yaml, config).unwrap();
    (f, clone, yaml)
}

/// `berth cleanup --repo REPO --git-dir CLONE --config YAML ARGS`.
pub(crate) fn cleanup(repo: &str, clone: &Path, yaml: &Path, args: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.env("XDG_CACHE_HOME", clone.parent().unwrap().join("cache"))
        .args(["cleanup", "--repo", repo, "--git-dir"])
        .arg(clone)
        .arg("--config")
        .arg(yaml)
        .args(args);
    harness::run(&mut cmd)
}

/// PUTs manifest bytes under a tag with a client and runtime of its own (a proxy hook runs on
/// a blocking thread of the proxy's runtime).
fn put_tag(base: &str, tag: &str, media_type: &str, bytes: Vec<u8>) {
    let url = format!("{base}/v2/{REPO}/manifests/{tag}");
    let media_type = media_type.to_string();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let resp = reqwest::Client::new()
                .put(&url)
                .header("content-type", media_type)
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "PUT {url}: {}", resp.status());
        });
}

/// The brief's case: the plan deletes `old`; before the first deletion `prod` (protected) is
/// re-tagged onto it. `old`'s manifest stays (its own tag is untagged, since the plan deleted
/// that tag), the unrelated `junk` still goes, the report says `prod` drifted with both
/// digests, and the exit code is 0: the check did its job, nothing failed.
#[tokio::test]
async fn a_rollback_between_scan_and_deletion_keeps_the_image() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let old = seeder.push_image(REPO, "old", &built("old", 30)).await;
    let junk = seeder.push_image(REPO, "junk", &built("junk", 30)).await;
    let live = seeder.push_image(REPO, "prod", &built("live", 30)).await;
    let (media_type, bytes) = seeder.get_manifest(REPO, &old).await.unwrap();
    let (_f, clone, yaml) = project(CONFIG);

    let proxy = FaultProxy::start(&registry.url(), Vec::new());
    let upstream = registry.url();
    proxy.before("GET", "/tags/list", 2, move || {
        put_tag(&upstream, "prod", &media_type, bytes);
    });
    let repo = format!("{}/{REPO}", proxy.host());
    let out = cleanup(&repo, &clone, &yaml, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let r = &report["repos"][0];
    let decision = |tag: &str| {
        r["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .unwrap()["action"]
            .clone()
    };
    assert_eq!(decision("old"), "delete", "the plan deletes old: {r:#}");
    assert_eq!(r["drifted"][0]["tag"], "prod", "{r:#}");
    assert_eq!(r["drifted"][0]["planned"], live.as_str());
    assert_eq!(r["drifted"][0]["current"], old.as_str());
    assert_eq!(r["drifted"][0]["cancelled"], serde_json::json!([old]));
    assert_eq!(r["totals"]["drifted"], 1);
    // The check lists once and resolves only what can move: prod (not the doomed tags).
    assert_eq!(r["recheck"]["listed"], 3, "{r:#}");
    assert_eq!(r["recheck"]["resolved"], 1, "{r:#}");

    let after = seeder.tags(REPO).await;
    assert_eq!(after.get("prod"), Some(&old), "{after:?}");
    assert!(
        !after.contains_key("old") && !after.contains_key("junk"),
        "{after:?}"
    );
    assert!(
        seeder.manifest_exists(REPO, &old).await,
        "the rolled-back image was deleted"
    );
    assert!(!seeder.manifest_exists(REPO, &junk).await);
    assert!(seeder.manifest_exists(REPO, &live).await);
}

/// What the check before deleting costs on a 1,000-tag repository (requests counted at the
/// proxy, no timing): one listing (one page of 1,000) and one HEAD per kept tag that can move,
/// here 900 unlinked tags kept as younger than `delete_older_than`; the 100 doomed tags are
/// not resolved again. Commit-pinned kept tags (`sha-{sha7}`) would cost nothing.
#[tokio::test]
async fn the_check_before_deleting_costs_one_listing_and_one_head_per_movable_kept_tag() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let mut images: Vec<(String, ImageSpec)> = (0..100)
        .map(|i| (format!("old-{i:03}"), built(&format!("old {i}"), 30)))
        .collect();
    // Younger than `delete_older_than: 12h`, older than `built_within`: kept as unlinked.
    images.extend((0..900).map(|i| (format!("kept-{i:03}"), built(&format!("kept {i}"), 3))));
    seeder.push_images(REPO, &images).await;
    let (_f, clone, yaml) =
        project("keep:\n  built_within: 2h\n  unlinked: { delete_older_than: 12h }\n");
    let proxy = FaultProxy::start(&registry.url(), Vec::new());
    let repo = format!("{}/{REPO}", proxy.host());
    let out = cleanup(&repo, &clone, &yaml, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let r = &report["repos"][0];
    assert_eq!(r["totals"]["deleted"], 100, "{:#}", r["totals"]);
    assert_eq!(r["recheck"]["listed"], 1000);
    assert_eq!(r["recheck"]["resolved"], 900);
    assert_eq!(r["recheck"]["manifests_read"], 0);
    let log = proxy.log();
    let lists = log.iter().filter(|q| q.path.contains("/tags/list")).count();
    let heads = log.iter().filter(|q| q.method == "HEAD").count();
    // The scan lists once and resolves with GETs; the check lists once more and HEADs.
    assert_eq!(lists, 2, "one page each for the scan and the check");
    assert_eq!(heads, 900);
}
