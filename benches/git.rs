//! Git benchmark (not a timed test): berth's git facts loading (`git::open` + `facts()`: the
//! refs and ONE history walk) against `git rev-list --all --count` on the same generated
//! repository, in the same run.
//!
//! The repository is made with `git fast-import`: `--commits` commits (default 100,000) of
//! which half are on `main`, `--branches` branches (default 1,000) forking off `main` with
//! equal shares of the other half, every tenth merged back, and `--tags` tags (default 500,
//! half annotated) on `main`. Branches are remote-tracking refs of `origin`, as in a CI
//! clone. Then `git commit-graph write --reachable`.
//!
//! `cargo bench --bench git -- [--dir DIR] [--commits N] [--branches N] [--tags N] [--runs N]`
//! (`scripts/bench.sh git` runs it). The measurements run in a child process so its peak
//! memory (VmHWM) is the facts loading's, not the generator's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth::git::{self, GitOptions};

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
    if let Some(dir) = value("--measure") {
        measure(Path::new(&dir), runs);
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
fn measure(repo: &Path, runs: usize) {
    let options = GitOptions {
        git_dir: Some(repo.to_path_buf()),
        remote: "origin".into(),
        trust: false,
    };
    // Warm the page cache for both before timing either.
    let git_count: usize = git(Some(repo), &["rev-list", "--all", "--count"])
        .parse()
        .unwrap();
    let facts = git::open(&options).unwrap().facts().unwrap();
    let rev_list = median(runs, || {
        git(Some(repo), &["rev-list", "--all", "--count"]);
    });
    let berth = median(runs, || {
        let facts = git::open(&options).unwrap().facts().unwrap();
        std::hint::black_box(facts);
    });
    let branches = facts
        .refs
        .iter()
        .filter(|r| r.kind == git::RefKind::Branch)
        .count();
    let tags = facts.refs.len() - branches;
    println!(
        "repository: {} commits (git rev-list: {git_count}), {branches} branches, {tags} tags, commit-graph present",
        facts.commits.len()
    );
    assert_eq!(
        facts.commits.len(),
        git_count,
        "berth and git disagree on the commit count"
    );
    println!(
        "git rev-list --all --count   median of {runs}: {:>8.1} ms",
        ms(rev_list)
    );
    println!(
        "berth open + facts()          median of {runs}: {:>8.1} ms",
        ms(berth)
    );
    println!(
        "ratio berth / git rev-list: {:.2}  (target <= 2.00)",
        berth.as_secs_f64() / rev_list.as_secs_f64()
    );
    println!(
        "peak memory (VmHWM) of the measuring process: {} MB",
        vm_hwm_kb() / 1024
    );
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
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
