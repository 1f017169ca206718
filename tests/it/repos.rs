//! Many repositories through the binary: `--all-repos` and `--repo-prefix` discover them from
//! the real Distribution registry's catalog, `--shard I/N` takes a stable share, and what
//! cannot be discovered or sharded is a usage error. The seeding helpers here are also what
//! the fault-injection tests (`faults.rs`) use for their thousands of tags.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use futures_util::StreamExt;

use crate::fixtures::Fixture;
use crate::harness::seed::{OCI_MANIFEST, tar_one_file};
use crate::harness::{self, Auth, Output, Seeder, TestRegistry};

/// A git history of commits on main, as a CI clone, with a berth.yaml beside it.
pub(crate) struct History {
    fixture: Fixture,
    /// The CI clone cleanup reads.
    pub clone: PathBuf,
    /// Commit ids, oldest first.
    pub commits: Vec<String>,
}

impl History {
    /// `n` empty commits on main, a minute apart in 2024 (`git fast-import`, so thousands take
    /// a moment), pushed to the fixture's origin; berth.yaml keeps main's newest `keep` images
    /// and every `latest` tag, and has no age guard, so configs are never needed.
    pub fn new(n: usize, keep: usize) -> History {
        let fixture = Fixture::new();
        let mut child = Command::new("git")
            .args(["fast-import", "--quiet"])
            .current_dir(fixture.author())
            .envs(crate::fixtures::isolated_env())
            .stdin(Stdio::piped())
            .spawn()
            .expect("run git fast-import");
        {
            let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
            for i in 1..=n {
                let at = 1_704_067_200 + i as i64 * 60;
                let msg = format!("commit {i}\n");
                write!(
                    stdin,
                    "commit refs/heads/main\nmark :{i}\ncommitter t <t@example.com> {at} +0000\ndata {}\n{msg}",
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
        fixture.push("main");
        let mut commits: Vec<String> = fixture
            .git(&["rev-list", "main"])
            .lines()
            .map(str::to_string)
            .collect();
        commits.reverse();
        std::fs::write(
            fixture.root().join("berth.yaml"),
            format!(
                "keep:\n  built_within: 0\n  tags: [latest]\n  policies:\n    - references: {{ branch: \"/^main$/\" }}\n      images_per_reference: {{ last: {keep} }}\n"
            ),
        )
        .unwrap();
        let clone = fixture.clone_ci();
        History {
            fixture,
            clone,
            commits,
        }
    }

    /// `berth --config … cleanup --git-dir CLONE ARGS`, with `--output json` unless ARGS
    /// choose a format.
    pub fn cleanup(&self, args: &[&str]) -> Command {
        let mut cmd = harness::berth();
        cmd.env("XDG_CACHE_HOME", self.fixture.root().join("cache"))
            .arg("--config")
            .arg(self.fixture.root().join("berth.yaml"))
            .args(["cleanup", "--git-dir"])
            .arg(&self.clone)
            .args(args);
        if !args.contains(&"--output") {
            cmd.args(["--output", "json"]);
        }
        cmd
    }

    /// The tags `sha-<7>` of the commits the policy deletes (all but the newest `keep`).
    pub fn doomed(&self, keep: usize) -> BTreeSet<String> {
        self.commits[..self.commits.len() - keep]
            .iter()
            .map(|c| tag_of(c))
            .collect()
    }
}

/// The tag of commit `sha` in the default `sha-{sha7}` scheme.
pub(crate) fn tag_of(sha: &str) -> String {
    format!("sha-{}", &sha[..7])
}

/// Seeds every repository of `repos` with one image per commit, tagged `sha-<7>`: one layer
/// and one config blob per repository, then one small manifest per tag (made distinct by an
/// annotation naming the repository's last path component and the commit, so repositories
/// with the same last component get identical bytes), 32 PUTs in flight over all
/// repositories. Returns repository → tag → digest.
pub(crate) async fn seed(
    seeder: &Seeder,
    repos: &[String],
    commits: &[String],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let layer = tar_one_file("layer.txt", b"many repositories");
    let mut configs = BTreeMap::new();
    for repo in repos {
        let layer_digest = seeder.push_blob(repo, &layer).await;
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .unwrap();
        let config_digest = seeder.push_blob(repo, &config).await;
        configs.insert(
            repo.clone(),
            serde_json::json!({
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer_digest, "size": layer.len()}],
            }),
        );
    }
    let jobs = repos
        .iter()
        .flat_map(|repo| commits.iter().map(move |c| (repo, c)));
    let pushed: Vec<(String, String, String)> = futures_util::stream::iter(jobs)
        .map(|(repo, commit)| {
            let parts = &configs[repo];
            async move {
                let short = repo.rsplit('/').next().unwrap();
                let manifest = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": parts["config"], "layers": parts["layers"],
                    "annotations": {"berth.test.image": format!("{short}-{commit}")},
                }))
                .unwrap();
                let tag = tag_of(commit);
                let digest = seeder
                    .push_manifest(repo, &tag, OCI_MANIFEST, &manifest)
                    .await;
                (repo.clone(), tag, digest)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (repo, tag, digest) in pushed {
        out.entry(repo).or_default().insert(tag, digest);
    }
    out
}

/// The `repo` names of a JSON report, in report order.
pub(crate) fn report_repos(report: &serde_json::Value) -> Vec<String> {
    report["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repo"].as_str().unwrap().to_string())
        .collect()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}\n{}", out.stdout, out.stderr))
}

/// Mutating requests berth (not the seeder) sent to the registry.
fn berth_mutations(registry: &TestRegistry) -> Vec<String> {
    registry
        .access_log()
        .into_iter()
        .filter(|r| r.user_agent.starts_with("berth/") && r.is_mutating())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn names(host: &str, paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| format!("{host}/{p}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn all_repos_discovers_the_catalog_and_prefixes_stop_at_a_component_boundary() {
    let history = History::new(5, 3);
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let host = registry.host();
    let paths = ["solo", "team", "team/a", "team/b/c", "teammate/d"];
    let repos: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    let before = seed(&seeder, &repos, &history.commits).await;

    let out = harness::run(&mut history.cleanup(&["--all-repos", "--repo", &host, "--dry-run"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = json(&out);
    assert_eq!(report_repos(&report), names(&host, &paths));
    assert_eq!(report["totals"]["planned_deletions"], 2 * paths.len());
    let notes = report["notes"].to_string();
    assert!(
        notes.contains(&format!("5 repositories discovered under {host}")),
        "{notes}"
    );
    assert!(notes.contains("this one git repository"), "{notes}");
    assert!(berth_mutations(&registry).is_empty());

    // `host/team` is the namespace and what lies under it, never `host/teammate`.
    let team = format!("{host}/team");
    let want = names(&host, &["team", "team/a", "team/b/c"]);
    let out = harness::run(&mut history.cleanup(&["--repo-prefix", &team, "--dry-run"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(report_repos(&json(&out)), want);
    let out = harness::run(&mut history.cleanup(&["--all-repos", "--repo", &team, "--dry-run"]));
    assert_eq!(report_repos(&json(&out)), want);
    // A listed repository and a prefix: the union, each repository once.
    let out = harness::run(&mut history.cleanup(&[
        "--repo",
        &format!("{host}/team/a"),
        "--repo",
        &format!("{host}/solo"),
        "--repo-prefix",
        &team,
        "--dry-run",
    ]));
    assert_eq!(
        report_repos(&json(&out)),
        names(&host, &["team/a", "solo", "team", "team/b/c"])
    );
    // The text report names every repository it cleans.
    let out = harness::run(&mut history.cleanup(&[
        "--repo-prefix",
        &team,
        "--dry-run",
        "--output",
        "text",
    ]));
    for name in &want {
        assert!(
            out.stdout.contains(&format!("{name}:")),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }

    // The real run under the prefix deletes there and nowhere else.
    let out = harness::run(&mut history.cleanup(&["--repo-prefix", &team]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doomed = history.doomed(3);
    for path in paths {
        let after = seeder.tags(path).await;
        let mut expected = before[path].clone();
        if path.starts_with("team/") || path == "team" {
            expected.retain(|tag, _| !doomed.contains(tag));
            assert_eq!(expected.len(), 3);
        }
        assert_eq!(after, expected, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovering_nothing_and_a_refused_catalog_fail_before_any_change() {
    let history = History::new(3, 3);
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    seed(&seeder, &["team/app".to_string()], &history.commits).await;
    let nothing = format!("{}/nothing", registry.host());
    let out = harness::run(&mut history.cleanup(&["--repo-prefix", &nothing]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "--repo-prefix {nothing}: the registry's catalog lists no repository under {nothing}"
        )),
        "{}",
        out.stderr
    );
    // `host/tea` is no namespace of `host/team/app`.
    let tea = format!("{}/tea", registry.host());
    let out = harness::run(&mut history.cleanup(&["--all-repos", "--repo", &tea]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("--repo {tea}")),
        "{}",
        out.stderr
    );
    assert!(berth_mutations(&registry).is_empty());

    // A token registry whose issuer grants no `registry:catalog:*`.
    let locked = TestRegistry::start_token_with(&["pull", "push", "delete"]);
    seed(
        &Seeder::new(&locked),
        &["app".to_string()],
        &history.commits,
    )
    .await;
    let mut cmd = history.cleanup(&["--all-repos", "--repo", &locked.host()]);
    cmd.env("DOCKER_CONFIG", locked.docker_config_dir());
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    for needle in [
        format!("--repo {}", locked.host()),
        "/v2/_catalog".to_string(),
        "`registry:catalog:*`".to_string(),
        "list the repositories with --repo".to_string(),
    ] {
        assert!(out.stderr.contains(&needle), "{needle}: {}", out.stderr);
    }
    assert!(!out.stderr.contains(harness::PASSWORD), "{}", out.stderr);
    assert!(berth_mutations(&locked).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn four_shards_clean_exactly_what_one_unsharded_run_cleans() {
    let history = History::new(5, 3);
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let host = registry.host();
    let (one, two): (Vec<String>, Vec<String>) = (0..12)
        .map(|k| (format!("one/r{k}"), format!("two/r{k}")))
        .unzip();
    let all: Vec<String> = one.iter().chain(&two).cloned().collect();
    let before = seed(&seeder, &all, &history.commits).await;
    for k in 0..12 {
        // Identical namespaces: the same bytes under the same tags.
        assert_eq!(before[&one[k]], before[&two[k]]);
    }

    let out =
        harness::run(&mut history.cleanup(&["--all-repos", "--repo", &format!("{host}/one")]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let unsharded = json(&out);
    assert_eq!(unsharded["totals"]["deleted"], 24);

    // The four jobs of a matrix, at the same time.
    let root = format!("{host}/two");
    let jobs: Vec<_> = (1..=4)
        .map(|i| {
            let mut cmd = history.cleanup(&["--all-repos", "--repo", &root]);
            cmd.env("BERTH_SHARD", format!("{i}/4"));
            std::thread::spawn(move || harness::run(&mut cmd))
        })
        .collect();
    let mut cleaned = Vec::new();
    let mut deleted = 0;
    for (i, job) in jobs.into_iter().enumerate() {
        let out = job.join().unwrap();
        assert_eq!(
            out.code,
            0,
            "shard {}: {}\n{}",
            i + 1,
            out.stdout,
            out.stderr
        );
        let report = json(&out);
        let repos = report_repos(&report);
        let notes = report["notes"].to_string();
        assert!(
            notes.contains(&format!(
                "shard {}/4: {} of the 12 repositories",
                i + 1,
                repos.len()
            )),
            "{notes}"
        );
        deleted += report["totals"]["deleted"].as_u64().unwrap();
        cleaned.extend(repos);
    }
    // Every repository in exactly one shard.
    cleaned.sort();
    let mut want = names(&host, &two.iter().map(String::as_str).collect::<Vec<_>>());
    want.sort();
    assert_eq!(cleaned, want);
    assert_eq!(deleted, 24);
    for k in 0..12 {
        let (a, b) = (seeder.tags(&one[k]).await, seeder.tags(&two[k]).await);
        assert_eq!(a.len(), 3, "{}", one[k]);
        assert_eq!(a, b, "r{k}");
    }
}

#[test]
fn what_cannot_be_sharded_or_discovered_is_a_usage_error_naming_it() {
    let tmp = harness::temp_dir();
    let plan = tmp.path().join("plan.json");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = harness::berth();
        cmd.current_dir(tmp.path()).arg("cleanup").args(args);
        cmd.envs(env.iter().copied());
        harness::run(&mut cmd)
    };
    for bad in ["0/4", "5/4", "1/0", "x"] {
        let out = run(&["--repo", "127.0.0.1:1/app", "--shard", bad], &[]);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("--shard `{bad}`")),
            "{}",
            out.stderr
        );
        let out = run(&["--repo", "127.0.0.1:1/app"], &[("BERTH_SHARD", bad)]);
        assert_eq!(out.code, 2, "BERTH_SHARD={bad}: {}", out.stderr);
    }
    let oci = format!("oci:{}", tmp.path().display());
    let out = run(&["--all-repos", "--repo", &oci], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("--repo {oci}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("cannot be discovered"),
        "{}",
        out.stderr
    );
    let out = run(&["--repo-prefix", "acme/team"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("docker.io/acme/team"), "{}", out.stderr);
    let out = run(&["--all-repos"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--repo HOST"), "{}", out.stderr);
    let out = run(
        &["--apply", &plan.display().to_string(), "--all-repos"],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(
        &["--apply", &plan.display().to_string()],
        &[("BERTH_SHARD", "1/2")],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}
