//! Git benchmark (not a timed test): berth's git facts loading (`git::open` + `facts()`: the
//! refs and ONE history walk) and the keep-set computation (the planner on `--linked` tags,
//! default 50,000, each naming a commit by a default template) against
//! `git rev-list --all --count` on the same generated repository, in the same run; then the
//! planner alone on `--planner-tags` tags (default 100,000).
//!
//! The repository is made with `git fast-import`: `--commits` commits (default 100,000) of
//! which half are on `main`, `--branches` branches (default 1,000) forking off `main` with
//! equal shares of the other half, every tenth merged back, and `--tags` tags (default 500,
//! half annotated) on `main`. Branches are remote-tracking refs of `origin`, as in a CI
//! clone. Then `git commit-graph write --reachable`.
//!
//! Each ratio's two sides run alternately (rev-list, berth, rev-list, berth, …), so a slow
//! spell of a shared machine falls on both. The planner uses every core; the CPU figures
//! (user + sys of all threads) are printed next to the wall times.
//!
//! `cargo bench --bench git -- [--dir DIR] [--commits N] [--branches N] [--tags N] [--runs N]`
//! (`scripts/bench.sh git` runs it). The measurements run in a child process so its peak
//! memory (VmHWM) is the facts loading's, not the generator's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use berth::cleanup::plan::{self, ManifestFacts, PlanInput, RepoScan, ScannedTag};
use berth::git::{self, GitFacts, GitOptions};
use berth::policy::CleanupConfig;
use berth::registry::model::media_type;
use berth::registry::{Digest, ImageConfig};
use chrono::{DateTime, TimeZone, Utc};

/// Unix seconds of the first generated commit.
const T0: i64 = 1_600_000_000;

struct Shape {
    commits: usize,
    branches: usize,
    tags: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number =
        |name: &str, default: usize| value(name).map_or(default, |v| v.parse().expect("a number"));
    let runs = number("--runs", 5);
    let linked = number("--linked", 50_000);
    let planner_tags = number("--planner-tags", 100_000);
    if let Some(dir) = value("--measure") {
        measure(Path::new(&dir), runs, linked, planner_tags);
        return;
    }
    let shape = Shape {
        commits: number("--commits", 100_000),
        branches: number("--branches", 1_000),
        tags: number("--tags", 500),
    };
    let dir = value("--dir").map_or_else(
        || std::env::temp_dir().join("berth-bench-git"),
        PathBuf::from,
    );
    let repo = dir.join(format!(
        "repo-{}c-{}b-{}t",
        shape.commits, shape.branches, shape.tags
    ));
    if repo.join("objects/info/commit-graph").is_file() {
        println!("reusing {}", repo.display());
    } else {
        let started = Instant::now();
        generate(&repo, &shape);
        println!(
            "generated {} in {:.1} s",
            repo.display(),
            started.elapsed().as_secs_f64()
        );
    }

    let exe = std::env::current_exe().expect("own path");
    let status = Command::new(exe)
        .args([
            "--measure",
            &repo.display().to_string(),
            "--runs",
            &runs.to_string(),
            "--linked",
            &linked.to_string(),
            "--planner-tags",
            &planner_tags.to_string(),
        ])
        .status()
        .expect("run the measuring child");
    assert!(status.success(), "measuring failed");
}

/// Writes the fast-import stream for `shape` into a new bare repository at `repo`.
fn generate(repo: &Path, shape: &Shape) {
    if repo.exists() {
        std::fs::remove_dir_all(repo).expect("remove a partial repository");
    }
    git(
        None,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &repo.display().to_string(),
        ],
    );
    git(
        Some(repo),
        &[
            "remote",
            "add",
            "origin",
            "https://example.invalid/bench.git",
        ],
    );
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--done"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start git fast-import");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());

    let branches = shape.branches.max(1);
    let main_len = (shape.commits / 2).max(1);
    let per_branch = (shape.commits - main_len) / branches;
    let fork_every = (main_len / branches).max(1);
    let tag_every = (main_len / shape.tags.max(1)).max(1);
    let mut mark = 0usize;
    let mut main_marks = Vec::with_capacity(main_len);
    // (main index at which it merges, last mark of the branch)
    let mut pending_merges: Vec<(usize, usize)> = Vec::new();
    let mut tags_made = 0usize;
    let mut branch = 0usize;
    for i in 0..main_len {
        mark += 1;
        let time = T0 + i as i64 * 600;
        writeln!(out, "commit refs/remotes/origin/main\nmark :{mark}").unwrap();
        writeln!(out, "committer Bench <bench@example.com> {time} +0000").unwrap();
        writeln!(out, "data <<EOM\nmain {i}\nEOM").unwrap();
        if let Some(&prev) = main_marks.last() {
            writeln!(out, "from :{prev}").unwrap();
        }
        if let Some(k) = pending_merges.iter().position(|&(at, _)| at == i) {
            let (_, from) = pending_merges.swap_remove(k);
            writeln!(out, "merge :{from}").unwrap();
        }
        out.write_all(b"\n").unwrap();
        main_marks.push(mark);
        let here = mark;

        if i % tag_every == 0 && tags_made < shape.tags {
            if tags_made % 2 == 0 {
                write!(
                    out,
                    "tag v{tags_made}\nfrom :{here}\ntagger Bench <bench@example.com> {} +0000\ndata <<EOM\nrelease {tags_made}\nEOM\n\n",
                    time + 60
                )
                .unwrap();
            } else {
                write!(out, "reset refs/tags/l{tags_made}\nfrom :{here}\n\n").unwrap();
            }
            tags_made += 1;
        }

        if i % fork_every == 0 && branch < branches {
            let name = format!("refs/remotes/origin/feature/b{branch}");
            let mut parent = here;
            for j in 0..per_branch {
                mark += 1;
                let t = time + 5 + j as i64;
                writeln!(out, "commit {name}\nmark :{mark}").unwrap();
                writeln!(out, "committer Bench <bench@example.com> {t} +0000").unwrap();
                write!(
                    out,
                    "data <<EOM\nbranch {branch} {j}\nEOM\nfrom :{parent}\n\n"
                )
                .unwrap();
                parent = mark;
            }
            if per_branch == 0 {
                write!(out, "reset {name}\nfrom :{here}\n\n").unwrap();
            }
            if branch % 10 == 0 && i + 200 < main_len {
                pending_merges.push((i + 200, parent));
            }
            branch += 1;
        }
    }
    out.write_all(b"done\n").unwrap();
    out.flush().unwrap();
    drop(out);
    assert!(child.wait().unwrap().success(), "git fast-import failed");
    git(Some(repo), &["symbolic-ref", "HEAD", "refs/heads/main"]);
    git(
        Some(repo),
        &["update-ref", "refs/heads/main", "refs/remotes/origin/main"],
    );
    git(Some(repo), &["pack-refs", "--all"]);
    git(Some(repo), &["commit-graph", "write", "--reachable"]);
}

/// Times both sides and prints the figures.
fn measure(repo: &Path, runs: usize, linked: usize, planner_tags: usize) {
    let options = GitOptions {
        git_dir: Some(repo.to_path_buf()),
        remote: "origin".into(),
        ..GitOptions::default()
    };
    // Warm the page cache for both before timing either.
    let git_count: usize = git(Some(repo), &["rev-list", "--all", "--count"])
        .parse()
        .unwrap();
    let facts = git::open(&options).unwrap().facts().unwrap();
    let branches = facts
        .refs
        .iter()
        .filter(|r| r.kind == git::RefKind::Branch)
        .count();
    println!(
        "repository: {} commits (git rev-list: {git_count}), {branches} branches, {} tags, commit-graph present",
        facts.commits.len(),
        facts.refs.len() - branches
    );
    assert_eq!(
        facts.commits.len(),
        git_count,
        "berth and git disagree on the commit count"
    );
    println!(
        "(wall: median of {runs} runs; cpu: mean user+sys per run, 10 ms ticks; the two sides \
         of each ratio run alternately)"
    );
    let rev_list_count = || {
        git(Some(repo), &["rev-list", "--all", "--count"]);
    };
    let (rev_list, load) = timed_pair(runs, rev_list_count, || {
        let facts = git::open(&options).unwrap().facts().unwrap();
        std::hint::black_box(facts);
    });
    rev_list.print("git rev-list --all --count");
    load.print("berth open + facts()");
    load.ratio("facts loading / git rev-list", &rev_list, None);

    without_commit_graph(repo, &options, runs.min(3));

    let config = CleanupConfig::default();
    let pulls = plan::PullRequests::Unknown {
        hint: "offline benchmark".into(),
        refs_complete: true,
    };
    let now = newest(&facts) + chrono::Duration::days(1);
    let scan = linked_scan(&facts, linked);
    let (rev_list, keep_set) = timed_pair(runs, rev_list_count, || {
        let facts = git::open(&options).unwrap().facts().unwrap();
        let plan = plan::plan(&PlanInput {
            scans: std::slice::from_ref(&scan),
            git: &facts,
            config: &config,
            pulls: &pulls,
            now,
        });
        std::hint::black_box(plan);
    });
    let sample = plan::plan(&PlanInput {
        scans: std::slice::from_ref(&scan),
        git: &facts,
        config: &config,
        pulls: &pulls,
        now,
    });
    let totals = sample.repos[0].totals;
    rev_list.print("git rev-list --all --count (alternating with the keep set)");
    keep_set.print(&format!(
        "keep set: open + facts() + plan, {} linked tags ({} kept, {} deleted)",
        totals.tags, totals.keep, totals.delete
    ));
    keep_set.ratio("keep set / git rev-list", &rev_list, Some(2.0));
    println!("peak memory (VmHWM) so far: {} MB", vm_hwm_kb() / 1024);
    drop(sample);
    drop(scan);

    let big = linked_scan(&facts, planner_tags);
    let planner = timed(runs, || {
        let plan = plan::plan(&PlanInput {
            scans: std::slice::from_ref(&big),
            git: &facts,
            config: &config,
            pulls: &pulls,
            now,
        });
        std::hint::black_box(plan);
    });
    planner.print(&format!(
        "planner alone, {} tags (target < 1000 ms)",
        big.tags.len()
    ));
    println!(
        "peak memory (VmHWM) of the measuring process: {} MB  (target < 300 MB)",
        vm_hwm_kb() / 1024
    );
}

/// Both sides again with the commit-graph file moved away (restored afterwards): every
/// commit is then decoded from the packs.
fn without_commit_graph(repo: &Path, options: &GitOptions, runs: usize) {
    let file = repo.join("objects/info/commit-graph");
    let aside = repo.join("objects/info/commit-graph.bench-off");
    std::fs::rename(&file, &aside).expect("move the commit-graph file aside");
    let (rev_list, load) = timed_pair(
        runs,
        || {
            git(Some(repo), &["rev-list", "--all", "--count"]);
        },
        || {
            let facts = git::open(options).unwrap().facts().unwrap();
            std::hint::black_box(facts);
        },
    );
    std::fs::rename(&aside, &file).expect("restore the commit-graph file");
    rev_list.print("no commit-graph: git rev-list --all --count");
    load.print("no commit-graph: berth open + facts()");
    load.ratio(
        "no commit-graph: facts loading / git rev-list",
        &rev_list,
        None,
    );
}

/// Wall and CPU time of one measured step.
struct Timing {
    wall: Duration,
    cpu: Duration,
}

impl Timing {
    fn print(&self, what: &str) {
        println!(
            "{what:<70} wall {:>8.1} ms   cpu {:>8.1} ms",
            ms(self.wall),
            ms(self.cpu)
        );
    }

    fn ratio(&self, what: &str, base: &Timing, target: Option<f64>) {
        let target = target.map_or(String::new(), |t| format!("  (target <= {t:.2})"));
        println!(
            "ratio {what}: wall {:.2}, cpu {:.2}{target}",
            self.wall.as_secs_f64() / base.wall.as_secs_f64(),
            self.cpu.as_secs_f64() / base.cpu.as_secs_f64().max(1e-9),
        );
    }
}

/// Runs `f` `runs` times: the median wall time, and the mean CPU time of this process and
/// its waited-for children (so a spawned `git` counts), which other load on the machine
/// does not inflate.
fn timed(runs: usize, mut f: impl FnMut()) -> Timing {
    let runs = runs.max(1);
    let before = cpu_ticks();
    let mut walls: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    let ticks = cpu_ticks() - before;
    walls.sort();
    Timing {
        wall: walls[walls.len() / 2],
        // Linux reports these in USER_HZ = 100 ticks per second.
        cpu: Duration::from_millis(ticks * 10 / runs as u64),
    }
}

/// Like [`timed`] for two steps, run alternately (a, b, a, b, …) so that a slow spell of a
/// shared machine falls on both sides of their ratio.
fn timed_pair(runs: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (Timing, Timing) {
    let runs = runs.max(1);
    let mut walls = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    let mut ticks = [0u64; 2];
    for _ in 0..runs {
        for side in 0..2 {
            let before = cpu_ticks();
            let started = Instant::now();
            if side == 0 {
                a()
            } else {
                b()
            }
            walls[side].push(started.elapsed());
            ticks[side] += cpu_ticks() - before;
        }
    }
    let [a, b] = [0, 1].map(|side| {
        walls[side].sort();
        Timing {
            wall: walls[side][runs / 2],
            cpu: Duration::from_millis(ticks[side] * 10 / runs as u64),
        }
    });
    (a, b)
}

/// utime + stime + cutime + cstime of this process, in ticks (/proc/self/stat).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after `pid (comm) `; comm may contain spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14..=17 of the line, 11..=14 here.
    fields[11..=14]
        .iter()
        .map(|f| f.parse::<u64>().expect("a tick count"))
        .sum()
}

/// The committer date of the newest commit.
fn newest(facts: &GitFacts) -> DateTime<Utc> {
    let secs = (0..facts.commits.len() as u32)
        .map(|i| facts.commits.time(i))
        .max()
        .unwrap_or(0);
    Utc.timestamp_opt(secs, 0).single().expect("a valid time")
}

/// `count` tags spread evenly over the commits, alternating the default templates
/// `sha-{sha7}` and `{sha}`, each on its own image built five minutes after its commit.
fn linked_scan(facts: &GitFacts, count: usize) -> RepoScan {
    let n = facts.commits.len();
    let mut scan = RepoScan {
        repo: "registry.example/bench".into(),
        tags: Vec::with_capacity(count),
        manifests: HashMap::with_capacity(count),
        untagged_listed: false,
        cannot_untag: false,
        image_prefixes: Vec::new(),
    };
    for k in 0..count {
        // Spread over all commits; past one tag per commit, the extra tags share commits.
        let i = ((k as u64 * n as u64) / count.max(1) as u64) as u32 % n.max(1) as u32;
        let hex = facts.commits.id(i).to_hex();
        let name = if k % 2 == 0 {
            format!("sha-{}", &hex[..7])
        } else {
            hex.clone()
        };
        let digest = Digest::of_bytes(format!("image {k}").as_bytes());
        let created = Utc
            .timestamp_opt(facts.commits.time(i) + 300, 0)
            .single()
            .expect("a valid time");
        scan.manifests.insert(
            digest.clone(),
            ManifestFacts {
                media_type: media_type::OCI_MANIFEST.into(),
                config: Some(ImageConfig {
                    created: Some(created),
                    labels: Default::default(),
                }),
                ..ManifestFacts::default()
            },
        );
        scan.tags.push(ScannedTag {
            name,
            digest: Ok(digest),
        });
    }
    scan
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn git(dir: Option<&Path>, args: &[&str]) -> String {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
