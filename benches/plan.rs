//! Planner benchmark (not a timed test): synthetic git facts with 100,000 commits and 1,000
//! branches, one repository with 100,000 tags on 50,000 commits, then `plan()`.
//!
//! Prints the time and the peak heap growth of `plan()` with werf's default policies and with
//! a heavy policy set (every branch selected, 5 images each), next to a baseline measured in
//! the same run: the time to build the inputs. Targets (DESIGN §9): < 1 s, < 300 MB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use berth::cleanup::plan::{ManifestFacts, PlanInput, PullRequests, RepoScan, ScannedTag, plan};
use berth::git::facts::CommitGraphBuilder;
use berth::git::{CommitId, GitFacts, GitRef, RefKind};
use berth::policy::CleanupConfig;
use berth::registry::{Digest, ImageConfig};
use chrono::{TimeZone, Utc};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const COMMITS: usize = 100_000;
const BRANCHES: usize = 1_000;
const PER_BRANCH: usize = 40;
const GIT_TAGS: usize = 500;
const LINKED_COMMITS: usize = 50_000;

/// A deterministic pseudo-random commit id.
fn id(n: u64) -> CommitId {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = [0u8; 20];
    for chunk in out.chunks_mut(8) {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    CommitId(out)
}

fn build(now: i64) -> (GitFacts, RepoScan) {
    let trunk = COMMITS - BRANCHES * PER_BRANCH;
    let mut b = CommitGraphBuilder::with_capacity(COMMITS);
    // The trunk: one commit every 10 minutes, the newest a minute ago.
    let trunk_time = |i: usize| now - 60 - (trunk - 1 - i) as i64 * 600;
    for i in 0..trunk {
        let parents = if i == 0 {
            vec![]
        } else {
            vec![id(i as u64 - 1)]
        };
        b.push(id(i as u64), trunk_time(i), parents);
    }
    let mut tips = Vec::with_capacity(BRANCHES);
    let mut n = trunk as u64;
    for br in 0..BRANCHES {
        let base = (br * 7919) % trunk;
        let mut parent = id(base as u64);
        let mut t = trunk_time(base);
        for _ in 0..PER_BRANCH {
            t += 300;
            b.push(id(n), t.min(now), vec![parent]);
            parent = id(n);
            n += 1;
        }
        tips.push(parent);
    }
    let commits = b.finish();
    let mut refs = vec![GitRef {
        name: "main".into(),
        kind: RefKind::Branch,
        tip: commits.find(&id(trunk as u64 - 1)).unwrap(),
        date: trunk_time(trunk - 1),
    }];
    for (k, tip) in tips.iter().enumerate() {
        let tip = commits.find(tip).unwrap();
        refs.push(GitRef {
            name: format!("feature/f{k}"),
            kind: RefKind::Branch,
            tip,
            date: commits.time(tip),
        });
    }
    for k in 0..GIT_TAGS {
        let tip = commits.find(&id((k * 97 % trunk) as u64)).unwrap();
        refs.push(GitRef {
            name: format!("v1.{k}"),
            kind: RefKind::Tag,
            tip,
            date: commits.time(tip),
        });
    }
    let git = GitFacts {
        refs,
        commits,
        shallow: false,
        ..Default::default()
    };

    // Two tags per linked commit (sha-{sha7} and main-{sha7}), each on its own image.
    let mut scan = RepoScan {
        repo: "registry.example.com/bench/app".into(),
        tags: Vec::with_capacity(2 * LINKED_COMMITS),
        manifests: HashMap::with_capacity(2 * LINKED_COMMITS),
        untagged_listed: false,
        cannot_untag: false,
        image_prefixes: Vec::new(),
    };
    for k in 0..LINKED_COMMITS {
        let c = (k as u64 * 2) % COMMITS as u64;
        let hex = id(c).to_hex();
        for tag in [format!("sha-{}", &hex[..7]), format!("main-{}", &hex[..7])] {
            let d = Digest::of_bytes(tag.as_bytes());
            scan.manifests.insert(
                d.clone(),
                ManifestFacts {
                    media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                    config: Some(ImageConfig {
                        created: Utc.timestamp_opt(now - 30 * 86_400, 0).single(),
                        labels: Default::default(),
                    }),
                    ..ManifestFacts::default()
                },
            );
            scan.tags.push(ScannedTag {
                name: tag,
                digest: Ok(d),
            });
        }
    }
    (git, scan)
}

/// On-CPU time (user + system) of the whole process, every thread the planner started
/// included, so a loaded machine shows the work done and not the time spent waiting for a
/// core; 10 ms resolution (Linux `/proc/self/stat`); `None` elsewhere.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after `pid (comm) `; utime and stime are the 14th and 15th of the line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `baseline`: wall and CPU seconds of building the inputs.
fn run(
    label: &str,
    git: &GitFacts,
    scans: &[RepoScan],
    config: &CleanupConfig,
    baseline: (f64, Option<f64>),
) {
    let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let cpu_start = cpu_secs();
    let start = Instant::now();
    let pulls = PullRequests::Unknown {
        hint: "offline benchmark".into(),
        refs_complete: true,
    };
    let p = plan(&PlanInput {
        scans,
        git,
        config,
        pulls: &pulls,
        now,
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_start.zip(cpu_secs()).map(|(a, b)| b - a);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let t = p.repos[0].totals;
    println!(
        "plan ({label}): {secs:.3} s wall, {} CPU, peak heap +{:.1} MB, {} tags ({} kept, {} deleted); {:.2}x the input build ({:.2}x in CPU time)",
        cpu.map_or("n/a".to_string(), |c| format!("{c:.3} s")),
        mb(peak),
        t.tags,
        t.keep,
        t.delete,
        secs / baseline.0,
        cpu.zip(baseline.1).map_or(f64::NAN, |(c, b)| c / b),
    );
}

fn main() {
    let now = 1_800_000_000;
    let cpu_start = cpu_secs();
    let start = Instant::now();
    let (git, scan) = build(now);
    let baseline = (
        start.elapsed().as_secs_f64(),
        cpu_start.zip(cpu_secs()).map(|(a, b)| b - a),
    );
    let inputs = LIVE.load(Ordering::Relaxed);
    println!(
        "inputs: {} commits, {} refs ({} branches, {} git tags), {} tags; built in {:.3} s wall, {} CPU (baseline), {:.1} MB",
        git.commits.len(),
        git.refs.len(),
        BRANCHES + 1,
        GIT_TAGS,
        scan.tags.len(),
        baseline.0,
        baseline
            .1
            .map_or("n/a".to_string(), |c| format!("{c:.3} s")),
        mb(inputs)
    );
    let scans = vec![scan];
    run(
        "werf default policies",
        &git,
        &scans,
        &CleanupConfig::default(),
        baseline,
    );
    let heavy = CleanupConfig::parse(
        "keep:\n  policies:\n    - references: { tag: \"/.*/\" }\n    - references: { branch: \"/.*/\" }\n      images_per_reference: { last: 5 }\n",
        "bench.yaml",
    )
    .expect("valid");
    run(
        "every branch and tag, 5 images each",
        &git,
        &scans,
        &heavy,
        baseline,
    );
}
