//! `berth cleanup` at scale against the real Distribution registry (not a timed test: it
//! prints figures and ratios measured in the same run).
//!
//! Setup: a git repository with a 50,000-commit history (made by `git fast-import`, with a
//! commit-graph), a Distribution registry on loopback, and 10 repositories of 1,000 images
//! each (`sha-<7>` tags on every 50th commit, each image with its own config blob), plus one
//! more repository identical to the first for the skopeo comparison. The keep policy keeps
//! main's last 500 images, so the real run deletes half of every repository.
//!
//! Phases: a cold dry run (empty config cache), a warm dry run, the real run, and a
//! `skopeo delete` loop over the same deletions in the copy repository. Requests are counted
//! from the registry's own access log (berth's user agent only) and compared with the
//! minimum the plan needs: one tag-list page per repository, one manifest GET per tag, one
//! config blob per deletion candidate (none when the cache is warm), one DELETE per deleted
//! manifest.
//!
//! Run it with `scripts/bench.sh cleanup`. `BENCH_TAGS_PER_REPO` and `BENCH_COMMITS` scale it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

const REPOS: usize = 10;
const BERTH_UA: &str = "berth/";

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

/// A linear history of `n` commits on main, one a minute from 2021-01-01; returns the ids,
/// oldest first.
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
    git(dir, &["commit-graph", "write", "--reachable"]);
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
            std::thread::sleep(Duration::from_millis(200));
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
                (_, p) if p.contains("/tags/list") => "tag list",
                ("GET", p) if p.contains("/manifests/") => "manifest GET",
                ("HEAD", p) if p.contains("/manifests/") => "manifest HEAD",
                ("GET", p) if p.contains("/blobs/") => "blob GET",
                ("DELETE", _) => "DELETE",
                ("PUT", _) => "PUT",
                _ => "other",
            };
            *counts.entry(kind).or_default() += 1;
        }
        (counts, text.len())
    }
}

/// Pushes `images` images per repository (tags `sha-<7>` of every 50th commit from the
/// newest, each with its own config), into every repository of `repos`.
async fn seed(host: &str, repos: &[String], commits: &[String], images: usize) {
    let client = reqwest::Client::new();
    let base = format!("http://{host}");
    let layer = b"bench layer".to_vec();
    let layer_digest = digest_of(&layer);
    let push_blob = |repo: String, bytes: Vec<u8>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let digest = digest_of(&bytes);
            let r = client
                .post(format!("{base}/v2/{repo}/blobs/uploads/"))
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
                .put(format!("{url}{sep}digest={digest}"))
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "blob push: {}", r.status());
        }
    };
    for repo in repos {
        push_blob(repo.clone(), layer.clone()).await;
    }
    let jobs = repos
        .iter()
        .flat_map(|repo| (0..images).map(move |k| (repo.clone(), k)));
    futures_util::stream::iter(jobs.map(|(repo, k)| {
        let client = client.clone();
        let base = base.clone();
        let commit = commits[commits.len() - 1 - k * 50].clone();
        let layer_digest = layer_digest.clone();
        let push_blob = &push_blob;
        async move {
            let config = serde_json::to_vec(&serde_json::json!({
                "created": format!("2021-02-01T00:00:{:02}Z", k % 60),
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"org.opencontainers.image.revision": commit, "bench.k": k.to_string()}},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }))
            .unwrap();
            let config_digest = digest_of(&config);
            let config_len = config.len();
            push_blob(repo.clone(), config).await;
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config_len},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer_digest, "size": 11}],
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
    .buffer_unordered(32)
    .collect::<Vec<()>>()
    .await;
}

fn berth(git_dir: &Path, cache: &Path, repos: &[String], extra: &[&str]) -> (Duration, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["-q", "cleanup", "--git-dir"])
        .arg(git_dir)
        .args(["--output", "json", "--fetch=false"])
        .env("XDG_CACHE_HOME", cache)
        .current_dir(git_dir);
    for r in repos {
        cmd.args(["--repo", r]);
    }
    cmd.args(extra);
    let started = Instant::now();
    let out = cmd.output().expect("run berth");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "berth {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
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

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let images = env_usize("BENCH_TAGS_PER_REPO", 1000);
    let commits_n = env_usize("BENCH_COMMITS", 50_000).max(images * 50);
    let tmp = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir()
        .unwrap();
    let git_dir = tmp.path().join("git");
    std::fs::create_dir_all(&git_dir).unwrap();

    let t = Instant::now();
    let commits = make_history(&git_dir, commits_n);
    println!(
        "setup: {} commits with a commit-graph in {:.1} s",
        commits.len(),
        t.elapsed().as_secs_f64()
    );
    let keep = images / 2;
    std::fs::write(
        git_dir.join("berth.yaml"),
        format!(
            "keep:\n  policies:\n    - references: {{ branch: \"/^main$/\" }}\n      images_per_reference: {{ last: {keep} }}\n"
        ),
    )
    .unwrap();

    let registry = Registry::start(tmp.path());
    let host = registry.host();
    let names: Vec<String> = (0..REPOS).map(|i| format!("bench/app{i}")).collect();
    let mut all = names.clone();
    all.push("bench/skopeo".to_string());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    runtime.block_on(seed(&host, &all, &commits, images));
    println!(
        "setup: {} repositories x {images} tags seeded in {:.1} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    let repos: Vec<String> = names.iter().map(|n| format!("{host}/{n}")).collect();
    let tags = REPOS * images;
    let cache = tmp.path().join("cache");
    let plan_file = tmp.path().join("plan.json");
    let (_, mut mark) = registry.berth_requests(0);

    // 1. Cold dry run.
    let plan_arg = plan_file.display().to_string();
    let (cold, report) = berth(
        &git_dir,
        &cache,
        &repos,
        &["--dry-run", "--plan-out", &plan_arg],
    );
    let (cold_req, m) = registry.berth_requests(mark);
    mark = m;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let planned = report["totals"]["planned_deletions"].as_u64().unwrap() as usize;
    let min_cold = REPOS + tags + planned;
    println!(
        "dry run, cold cache: {:.2} s, {:.0} tags/s; {} requests ({}), minimum {min_cold} \
         (1 list per repo + 1 GET per tag + 1 config per deletion candidate): ratio {:.3}",
        cold.as_secs_f64(),
        tags as f64 / cold.as_secs_f64(),
        total(&cold_req),
        show(&cold_req),
        total(&cold_req) as f64 / min_cold as f64
    );

    // 2. Warm dry run: configs come from the cache.
    let (warm, _) = berth(&git_dir, &cache, &repos, &["--dry-run"]);
    let (warm_req, m) = registry.berth_requests(mark);
    mark = m;
    let min_warm = REPOS + tags;
    println!(
        "dry run, warm cache: {:.2} s, {:.0} tags/s; {} requests ({}), minimum {min_warm}: \
         ratio {:.3}; config blob GETs {}",
        warm.as_secs_f64(),
        tags as f64 / warm.as_secs_f64(),
        total(&warm_req),
        show(&warm_req),
        total(&warm_req) as f64 / min_warm as f64,
        warm_req.get("blob GET").copied().unwrap_or(0)
    );

    // 3. The real run (cache warm): deletes half.
    let (real, report) = berth(&git_dir, &cache, &repos, &[]);
    let (real_req, _) = registry.berth_requests(mark);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let deleted = report["totals"]["deleted"].as_u64().unwrap() as usize;
    let min_real = min_warm + deleted;
    let delete_phase = real.saturating_sub(warm);
    println!(
        "real run: {:.2} s, {deleted} of {tags} tags deleted; {} requests ({}), minimum \
         {min_real}: ratio {:.3}; deletion phase (real - warm dry run) {:.2} s = {:.0} deletions/s",
        real.as_secs_f64(),
        total(&real_req),
        show(&real_req),
        total(&real_req) as f64 / min_real as f64,
        delete_phase.as_secs_f64(),
        deleted as f64 / delete_phase.as_secs_f64().max(1e-9)
    );

    // 4. The same deletions of one repository with a skopeo loop, in the identical copy.
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let first = format!("{host}/{}", names[0]);
    let digests: Vec<String> = plan["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == first.as_str())
        .unwrap()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["decision"]["action"] == "delete")
        .filter_map(|t| t["digest"].as_str().map(str::to_string))
        .collect();
    let started = Instant::now();
    for d in &digests {
        let ok = Command::new("skopeo")
            .args([
                "delete",
                "--tls-verify=false",
                &format!("docker://{host}/bench/skopeo@{d}"),
            ])
            .stdout(Stdio::null())
            .status()
            .expect("run skopeo")
            .success();
        assert!(ok, "skopeo delete {d} failed");
    }
    let skopeo = started.elapsed();
    let skopeo_rate = digests.len() as f64 / skopeo.as_secs_f64();
    let berth_rate = deleted as f64 / delete_phase.as_secs_f64().max(1e-9);
    println!(
        "skopeo delete loop: {} deletions in {:.2} s = {skopeo_rate:.0} deletions/s; berth's \
         deletion phase is {:.1}x faster per deletion",
        digests.len(),
        skopeo.as_secs_f64(),
        berth_rate / skopeo_rate
    );
    drop(registry);
}
