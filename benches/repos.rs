//! Many repositories: `berth cleanup --all-repos --dry-run` over 1,000 repositories × 100 tags
//! of the real Distribution registry, as one job and as four `--shard I/4` jobs running at the
//! same time (not a timed test: it prints figures and ratios measured in the same run).
//!
//! Setup: a 100-commit history on main (`git fast-import`) whose berth.yaml keeps main's last
//! 50 images with no age guard, so a dry run needs no config blob; a registry on loopback
//! with its storage on tmpfs; one layer and one config pushed once and mounted into every
//! repository, then one small manifest per tag (distinct by an annotation), PUT by tag, 64 in
//! flight.
//!
//! Figures: wall time of the whole (one job; the four jobs from the first start to the last
//! exit), peak memory (VmHWM, from `/usr/bin/time -f %M`) of each process, and the requests
//! berth sent (the registry's access log, berth's user agent only) against the minimum the
//! plan needs: every job reads the catalog (one page per 1,000 repositories), then one tag
//! list per repository and one manifest GET per tag.
//!
//! Run it with `scripts/bench.sh repos`. `BENCH_REPOS` and `BENCH_TAGS` scale it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

const BERTH_UA: &str = "berth/";
const SHARDS: u32 = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
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

/// `n` commits on main, a minute apart; their ids, oldest first.
fn make_history(dir: &Path, n: usize) -> Vec<String> {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        for i in 1..=n {
            let t = 1_609_459_200 + i as i64 * 60;
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
    let mut ids: Vec<String> = git(dir, &["rev-list", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    ids.reverse();
    ids
}

struct Registry {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .args(["serve", &config.display().to_string()])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start /usr/bin/docker-registry");
        let r = Registry { child, port, log };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return r;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "the registry did not start: {}",
            std::fs::read_to_string(&r.log).unwrap()
        );
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests berth sent, by kind, from the access log after byte `from`; and the new end.
    fn berth_requests(&self, from: usize) -> (BTreeMap<&'static str, usize>, usize) {
        // The registry writes each line right after answering: let the log settle.
        let mut text = std::fs::read_to_string(&self.log).unwrap();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let again = std::fs::read_to_string(&self.log).unwrap();
            if again.len() == text.len() {
                break;
            }
            text = again;
        }
        let mut counts = BTreeMap::new();
        for line in text[from..].lines() {
            if !line.contains(BERTH_UA) {
                continue;
            }
            let Some(req) = line.split('"').nth(1) else {
                continue;
            };
            let mut parts = req.split(' ');
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let kind = match (method, path) {
                (_, p) if p.contains("/_catalog") => "catalog",
                (_, p) if p.contains("/tags/list") => "tag list",
                ("GET", p) if p.contains("/manifests/") => "manifest GET",
                ("HEAD", p) if p.contains("/manifests/") => "manifest HEAD",
                ("GET", p) if p.contains("/blobs/") => "blob GET",
                ("GET", "/v2/") => "ping",
                ("DELETE" | "PUT" | "POST" | "PATCH", _) => "mutating",
                _ => "other",
            };
            *counts.entry(kind).or_default() += 1;
        }
        (counts, text.len())
    }
}

/// One layer and one config pushed into the first repository and mounted into the others,
/// then one manifest per (repository, commit), tagged `sha-<7>`, 64 PUTs in flight.
async fn seed(host: &str, repos: &[String], commits: &[String]) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let base = format!("http://{host}");
    let layer = b"bench layer".to_vec();
    let layer_digest = digest_of(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2021-02-01T00:00:00Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = digest_of(&config);
    let first = &repos[0];
    for blob in [&layer, &config] {
        let r = client
            .post(format!("{base}/v2/{first}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("{base}{location}")
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = client
            .put(format!("{url}{sep}digest={}", digest_of(blob)))
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "blob push: {}", r.status());
    }
    let mounts = repos[1..]
        .iter()
        .flat_map(|repo| [(repo, &layer_digest), (repo, &config_digest)]);
    futures_util::stream::iter(mounts.map(|(repo, digest)| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let r = client
                .post(format!(
                    "{base}/v2/{repo}/blobs/uploads/?mount={digest}&from={first}"
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201, "mount {digest} into {repo}");
        }
    }))
    .buffer_unordered(64)
    .collect::<Vec<()>>()
    .await;
    let descriptors = serde_json::json!({
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer.len()}],
    });
    let jobs = repos
        .iter()
        .flat_map(|repo| commits.iter().map(move |c| (repo, c)));
    futures_util::stream::iter(jobs.map(|(repo, commit)| {
        let (client, base) = (client.clone(), base.clone());
        let descriptors = &descriptors;
        async move {
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": descriptors["config"], "layers": descriptors["layers"],
                "annotations": {"bench.image": format!("{repo}-{commit}")},
            }))
            .unwrap();
            let r = client
                .put(format!("{base}/v2/{repo}/manifests/sha-{}", &commit[..7]))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(manifest)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "manifest push: {}", r.status());
        }
    }))
    .buffer_unordered(64)
    .collect::<Vec<()>>()
    .await;
}

/// A berth dry run under `/usr/bin/time`; its report, and its peak resident memory in KiB.
struct Job {
    child: std::process::Child,
    time_file: PathBuf,
}

fn spawn(git_dir: &Path, host: &str, shard: Option<u32>, work: &Path) -> Job {
    let name = shard.map_or("all".to_string(), |i| format!("shard{i}"));
    let time_file = work.join(format!("{name}.time"));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&time_file)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(["-q", "cleanup", "--all-repos", "--repo", host, "--git-dir"])
        .arg(git_dir)
        .args(["--dry-run", "--output", "json", "--fetch=false"])
        .env("XDG_CACHE_HOME", work.join("cache"))
        .current_dir(git_dir)
        .stdout(Stdio::piped());
    if let Some(i) = shard {
        cmd.args(["--shard", &format!("{i}/{SHARDS}")]);
    }
    Job {
        child: cmd
            .spawn()
            .expect("run /usr/bin/time berth (apt-get install time)"),
        time_file,
    }
}

impl Job {
    /// Waits; the report and the peak memory in MiB.
    fn finish(self) -> (serde_json::Value, f64) {
        let out = self.child.wait_with_output().expect("wait for berth");
        assert!(out.status.success(), "berth failed: {:?}", out.status);
        let report = serde_json::from_slice(&out.stdout).expect("a JSON report");
        let kib: f64 = std::fs::read_to_string(&self.time_file)
            .unwrap()
            .trim()
            .lines()
            .last()
            .unwrap()
            .parse()
            .expect("/usr/bin/time wrote the peak RSS");
        (report, kib / 1024.0)
    }
}

fn total(c: &BTreeMap<&str, usize>) -> usize {
    c.values().sum()
}

fn show(c: &BTreeMap<&str, usize>) -> String {
    c.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn repos_of(report: &serde_json::Value) -> Vec<String> {
    report["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repo"].as_str().unwrap().to_string())
        .collect()
}

fn main() {
    let repo_count = env_usize("BENCH_REPOS", 1000);
    let tags = env_usize("BENCH_TAGS", 100);
    let tmp = tempfile::Builder::new()
        .prefix("berth-bench-repos-")
        .tempdir_in("/dev/shm")
        .or_else(|_| {
            tempfile::Builder::new()
                .prefix("berth-bench-repos-")
                .tempdir()
        })
        .unwrap();
    let git_dir = tmp.path().join("git");
    std::fs::create_dir_all(&git_dir).unwrap();
    let commits = make_history(&git_dir, tags);
    std::fs::write(
        git_dir.join("berth.yaml"),
        format!(
            "keep:\n  built_within: 0\n  policies:\n    - references: {{ branch: \"/^main$/\" }}\n      images_per_reference: {{ last: {} }}\n",
            tags / 2
        ),
    )
    .unwrap();

    let registry = Registry::start(tmp.path());
    let host = registry.host();
    let names: Vec<String> = (0..repo_count).map(|i| format!("org/app{i:04}")).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    runtime.block_on(seed(&host, &names, &commits));
    let all_tags = repo_count * tags;
    println!(
        "setup: {repo_count} repositories x {tags} tags = {all_tags} tags seeded in {:.1} s \
         ({:.0} manifest PUTs/s)",
        t.elapsed().as_secs_f64(),
        all_tags as f64 / t.elapsed().as_secs_f64()
    );
    let (_, mut mark) = registry.berth_requests(0);
    let catalog_pages = repo_count.div_ceil(1000);
    let min_one = catalog_pages + repo_count + all_tags;
    let min_sharded = SHARDS as usize * catalog_pages + repo_count + all_tags;

    // One job.
    let started = Instant::now();
    let (report, one_mib) = spawn(&git_dir, &host, None, tmp.path()).finish();
    let one_wall = started.elapsed();
    let (one_req, m) = registry.berth_requests(mark);
    mark = m;
    assert_eq!(repos_of(&report).len(), repo_count);
    let planned = report["totals"]["planned_deletions"].as_u64().unwrap();
    println!(
        "1 job: {:.1} s wall, {:.0} tags/s, peak {one_mib:.1} MiB; {} requests ({}), minimum \
         {min_one} (1 catalog page per 1,000 repositories + 1 tag list per repository + 1 \
         manifest GET per tag): ratio {:.4}; {planned} deletions planned",
        one_wall.as_secs_f64(),
        all_tags as f64 / one_wall.as_secs_f64(),
        total(&one_req),
        show(&one_req),
        total(&one_req) as f64 / min_one as f64
    );

    // Four jobs at once, as a CI matrix runs them.
    let started = Instant::now();
    let jobs: Vec<Job> = (1..=SHARDS)
        .map(|i| spawn(&git_dir, &host, Some(i), tmp.path()))
        .collect();
    let results: Vec<(serde_json::Value, f64)> = jobs.into_iter().map(Job::finish).collect();
    let sharded_wall = started.elapsed();
    let (sharded_req, _) = registry.berth_requests(mark);
    let mut seen: Vec<String> = results.iter().flat_map(|(r, _)| repos_of(r)).collect();
    let per_shard: Vec<usize> = results.iter().map(|(r, _)| repos_of(r).len()).collect();
    seen.sort();
    let mut want = repos_of(&report);
    want.sort();
    assert_eq!(seen, want, "the shards must partition the repositories");
    let sharded_planned: u64 = results
        .iter()
        .map(|(r, _)| r["totals"]["planned_deletions"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sharded_planned, planned,
        "the shards plan what one job plans"
    );
    let peaks: Vec<String> = results.iter().map(|(_, m)| format!("{m:.1}")).collect();
    let max_peak = results.iter().map(|(_, m)| *m).fold(0.0, f64::max);
    println!(
        "{SHARDS} jobs in parallel: {:.1} s wall for the whole, {:.0} tags/s; repositories per \
         shard {per_shard:?}; peak MiB per process [{}]; {} requests ({}), minimum \
         {min_sharded} ({SHARDS} catalog reads): ratio {:.4}",
        sharded_wall.as_secs_f64(),
        all_tags as f64 / sharded_wall.as_secs_f64(),
        peaks.join(", "),
        total(&sharded_req),
        show(&sharded_req),
        total(&sharded_req) as f64 / min_sharded as f64
    );
    println!(
        "ratios, {SHARDS} shards vs 1 job: wall {:.2}x, largest peak memory per process {:.2}x, \
         requests {:.4}x",
        sharded_wall.as_secs_f64() / one_wall.as_secs_f64(),
        max_peak / one_mib,
        total(&sharded_req) as f64 / total(&one_req) as f64
    );
    drop(registry);
}
