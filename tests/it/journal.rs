//! `cleanup --journal` and `berth restore` through the binary.
//!
//! The kill test, on the real Distribution registry: two repositories seeded identically;
//! one is cleaned without interruption, the other is cleaned with a journal and killed with
//! SIGKILL mid-deletion (a proxy hook holds the 30th DELETE until the test has killed the
//! process), then cleaned again with the same journal. Both must end in the same state, and
//! restoring the journal must bring back every deleted tag with its original digest.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;

use crate::harness::layout::Layout;
use crate::harness::{self, Auth, FaultProxy, ImageSpec, Output, Seeder, TestRegistry};
use crate::races::{built, cleanup, project};

const CONFIG: &str =
    "keep:\n  built_within: 2h\n  tags: [prod]\n  unlinked: { delete_older_than: 1h }\n";
/// Doomed images, each under two tags.
const DOOMED: usize = 100;
/// The DELETE held while the run is killed.
const HELD: usize = 30;

fn restore(journal: &Path, args: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.arg("restore").arg(journal).args(args);
    harness::run(&mut cmd)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Polls `done` every 20 ms; panics with `what` after a generous limit (ten minutes: the
/// run is serial, and the machine may be busy) rather than hang.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..30_000 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("gave up waiting for {what}");
}

/// Seeds `repo` with images built at `at` (the same instant for both twins, so their digests
/// match).
async fn seed(seeder: &Seeder, repo: &str, at: &str) -> BTreeMap<String, String> {
    let images: Vec<(String, _)> = (0..DOOMED)
        .map(|i| {
            (
                format!("build-{i:03}"),
                ImageSpec::new(&format!("image {i}")).created(at),
            )
        })
        .collect();
    let digests = seeder.push_images(repo, &images).await;
    for (i, d) in digests.iter().enumerate() {
        seeder.tag(repo, &format!("copy-{i:03}"), d).await;
    }
    seeder
        .push_image(repo, "prod", &ImageSpec::new("live").created(at))
        .await;
    seeder.tags(repo).await
}

#[tokio::test]
async fn a_killed_journaled_run_converges_and_its_journal_restores_everything() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let at = (chrono::Utc::now() - chrono::Duration::hours(30)).to_rfc3339();
    let seeded = seed(&seeder, "killed", &at).await;
    assert_eq!(seed(&seeder, "calm", &at).await, seeded, "identical seeds");
    assert_eq!(seeded.len(), 2 * DOOMED + 1);
    let (_f, clone, yaml) = project(CONFIG);
    let dir = harness::temp_dir();
    let journal = dir.path().join("journal.jsonl");
    let journal_arg = journal.display().to_string();

    // The uninterrupted run on the twin.
    let calm = cleanup(
        &format!("{}/calm", registry.host()),
        &clone,
        &yaml,
        &["--force"],
    );
    assert_eq!(calm.code, 0, "{}\n{}", calm.stdout, calm.stderr);
    let calm_after = seeder.tags("calm").await;
    assert_eq!(calm_after.keys().collect::<Vec<_>>(), ["prod"]);

    // The killed run: the HELD-th DELETE waits until the process is gone.
    let proxy = FaultProxy::start(&registry.url(), Vec::new());
    let (release, held) = mpsc::channel::<()>();
    proxy.before("DELETE", "/killed/manifests/", HELD, move || {
        let _ = held.recv_timeout(std::time::Duration::from_secs(600));
    });
    let repo = format!("{}/killed", proxy.host());
    let mut cmd = harness::berth();
    cmd.env("XDG_CACHE_HOME", clone.parent().unwrap().join("cache"))
        .args(["cleanup", "--repo", &repo, "--git-dir"])
        .arg(&clone)
        .arg("--config")
        .arg(&yaml)
        .args(["--force", "--concurrency", "1", "--journal", &journal_arg])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    wait_for("the journal to hold the held deletion's record", || {
        lines(&journal) >= HELD
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        lines(&journal),
        HELD,
        "every record precedes its DELETE, and the run was held at DELETE #{HELD}"
    );
    release.send(()).unwrap();
    wait_for("the held DELETE to reach the registry", || {
        proxy
            .log()
            .iter()
            .filter(|r| r.method == "DELETE" && r.status.is_some())
            .count()
            >= HELD
    });
    let mid = seeder.tags("killed").await;
    assert!(
        mid.len() < seeded.len() && mid.len() > 1,
        "killed mid-way: {} tags left",
        mid.len()
    );

    // Run again with the same journal: the same end state as the uninterrupted run.
    let again = cleanup(
        &repo,
        &clone,
        &yaml,
        &["--force", "--journal", &journal_arg],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(seeder.tags("killed").await, calm_after);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), DOOMED, "one record per deleted manifest");
    assert!(records.iter().all(|r| r["action"] == "delete_manifest"
        && r["schema"] == 1
        && r["tags"].as_array().unwrap().len() == 2));

    // A dry run sends nothing that changes the registry.
    let mutating = |p: &FaultProxy| {
        p.log()
            .iter()
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
            .count()
    };
    let before = mutating(&proxy);
    let dry = restore(&journal, &["--dry-run", "--output", "json"]);
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert_eq!(mutating(&proxy), before);
    let v: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert!(
        v["repos"][0]["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "would_restore")
    );

    // Restore: every deleted tag back on its original digest.
    let out = restore(&journal, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "{repo}: {DOOMED} manifests ({DOOMED} restored), {} tags ({} restored)",
            2 * DOOMED,
            2 * DOOMED
        )),
        "{}",
        out.stdout
    );
    assert_eq!(seeder.tags("killed").await, seeded);

    // Twice is fine: everything is already there, nothing is pushed.
    let before = mutating(&proxy);
    let twice = restore(&journal, &["--output", "json"]);
    assert_eq!(twice.code, 0, "{}\n{}", twice.stdout, twice.stderr);
    assert_eq!(mutating(&proxy), before);
    let v: serde_json::Value = serde_json::from_str(&twice.stdout).unwrap();
    assert!(
        v["repos"][0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "already_present")
    );
}

/// `--tag` restores only the tags named (their manifests come back either way); a tag the
/// journal does not know is a usage error.
#[tokio::test]
async fn restore_tag_picks_tags_and_refuses_unknown_ones() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let a = seeder.push_image("app", "old-a", &built("a", 30)).await;
    let b = seeder.push_image("app", "old-b", &built("b", 30)).await;
    seeder.push_image("app", "prod", &built("live", 30)).await;
    let (_f, clone, yaml) = project(CONFIG);
    let dir = harness::temp_dir();
    let journal = dir.path().join("j.jsonl");
    let j = journal.display().to_string();
    let repo = format!("{}/app", registry.host());
    let out = cleanup(&repo, &clone, &yaml, &["--force", "--journal", &j]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(seeder.tags("app").await.len(), 1);

    let bad = restore(&journal, &["--tag", "nope"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("nope"), "{}", bad.stderr);

    let out = restore(&journal, &["--tag", "old-a"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let tags = seeder.tags("app").await;
    assert_eq!(tags.get("old-a"), Some(&a));
    assert!(!tags.contains_key("old-b"));
    assert!(
        seeder.manifest_exists("app", &b).await,
        "its manifest is back untagged"
    );
}

/// A dry run writes no journal; a journal that cannot be opened stops the run before any
/// change (exit 1).
#[tokio::test]
async fn dry_runs_write_no_journal_and_an_unwritable_one_changes_nothing() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    seeder.push_image("app", "old", &built("old", 30)).await;
    seeder.push_image("app", "prod", &built("live", 30)).await;
    let (_f, clone, yaml) = project(CONFIG);
    let repo = format!("{}/app", registry.host());
    let dir = harness::temp_dir();
    let journal = dir.path().join("j.jsonl");
    let j = journal.display().to_string();

    let dry = cleanup(&repo, &clone, &yaml, &["--dry-run", "--journal", &j]);
    assert_eq!(dry.code, 2, "--dry-run and --journal conflict: {dry:?}");
    assert!(!journal.exists());

    let missing = dir.path().join("no-such-dir/j.jsonl");
    let out = cleanup(
        &repo,
        &clone,
        &yaml,
        &["--journal", &missing.display().to_string()],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no-such-dir/j.jsonl"), "{}", out.stderr);
    assert_eq!(seeder.tags("app").await.len(), 2, "nothing was deleted");
}

/// On an `oci:` layout a deleted manifest's blobs are collected at once: restore says which
/// blob is gone (exit 3), and brings back what an untag removed.
#[test]
fn restore_into_a_layout_names_the_collected_blob() {
    let layout = Layout::new();
    let (_f, clone, yaml) = project(CONFIG);
    layout.images(&[
        ("old".to_string(), built("old", 30)),
        ("prod".to_string(), built("live", 30)),
    ]);
    let dir = harness::temp_dir();
    let journal = dir.path().join("j.jsonl");
    let j = journal.display().to_string();
    let config = yaml.display().to_string();
    let out = layout.cleanup(
        &clone,
        &["--config", &config, "--force", "--journal", &j],
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = restore(&journal, &["--output", "json"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let m = &v["repos"][0]["manifests"][0];
    assert_eq!(m["status"], "blobs_missing", "{v:#}");
    assert!(
        m["message"].as_str().unwrap().contains("blob sha256:"),
        "{v:#}"
    );
    assert_eq!(v["repos"][0]["tags"][0]["status"], "failed");
}
