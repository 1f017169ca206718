//! Builders for planner tests: commit graphs with readable names, refs, and repository scans
//! with images, indexes and signatures. No git, no registry: the planner is pure.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest as _, Sha256};

use super::{Decision, How, ManifestFacts, Plan, PlanInput, PullRequests, RepoScan, ScannedTag};
use crate::git::facts::CommitGraphBuilder;
use crate::git::{CommitId, GitFacts, GitRef, RefKind};
use crate::policy::CleanupConfig;
use crate::registry::model::media_type;
use crate::registry::{Digest, ImageConfig};

/// The fixed "now" of every test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// `now` minus `hours`, as unix seconds.
pub fn hours_ago(hours: i64) -> i64 {
    now().timestamp() - hours * 3600
}

/// A commit id derived from a name (stable, realistic hex).
pub fn cid(name: &str) -> CommitId {
    let h = Sha256::digest(format!("commit {name}").as_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(&h[..20]);
    CommitId(out)
}

/// A digest derived from a name.
pub fn dig(name: &str) -> Digest {
    Digest::of_bytes(format!("manifest {name}").as_bytes())
}

/// A git history under construction.
#[derive(Default)]
pub struct History {
    commits: Vec<(CommitId, i64, Vec<CommitId>)>,
    refs: Vec<(String, RefKind, CommitId, Option<i64>)>,
    pub shallow: bool,
}

impl History {
    /// Adds commit `name` at `time` with parents.
    pub fn commit(&mut self, name: &str, time: i64, parents: &[&str]) -> &mut Self {
        self.commits
            .push((cid(name), time, parents.iter().map(|p| cid(p)).collect()));
        self
    }

    /// A linear chain `prefix1..=prefixN` on top of `base`, one hour apart ending at `end`.
    pub fn chain(&mut self, prefix: &str, n: usize, base: Option<&str>, end: i64) -> &mut Self {
        let mut parent = base.map(str::to_string);
        for k in 1..=n {
            let name = format!("{prefix}{k}");
            let time = end - (n - k) as i64 * 3600;
            let parents: Vec<&str> = parent.iter().map(String::as_str).collect();
            self.commit(&name, time, &parents);
            parent = Some(name);
        }
        self
    }

    /// A branch at commit `at`.
    pub fn branch(&mut self, name: &str, at: &str) -> &mut Self {
        self.refs
            .push((name.into(), RefKind::Branch, cid(at), None));
        self
    }

    /// A git tag at commit `at` (date: the commit's, unless `date` is given).
    pub fn tag(&mut self, name: &str, at: &str, date: Option<i64>) -> &mut Self {
        self.refs.push((name.into(), RefKind::Tag, cid(at), date));
        self
    }

    /// An open pull request `n` at commit `at`.
    pub fn pr(&mut self, n: u64, at: &str) -> &mut Self {
        self.refs
            .push((n.to_string(), RefKind::PullRequest(n), cid(at), None));
        self
    }

    /// The facts.
    pub fn facts(&self) -> GitFacts {
        let mut b = CommitGraphBuilder::with_capacity(self.commits.len());
        for (id, t, p) in &self.commits {
            b.push(*id, *t, p.clone());
        }
        let commits = b.finish();
        let refs = self
            .refs
            .iter()
            .map(|(name, kind, at, date)| {
                let tip = commits.find(at).expect("ref at a known commit");
                GitRef {
                    name: name.clone(),
                    kind: *kind,
                    tip,
                    date: date.unwrap_or_else(|| commits.time(tip)),
                }
            })
            .collect();
        GitFacts {
            refs,
            commits,
            shallow: self.shallow,
            ..Default::default()
        }
    }
}

/// A repository scan under construction.
pub struct Scan(pub RepoScan);

impl Scan {
    pub fn new(repo: &str) -> Scan {
        Scan(RepoScan {
            repo: repo.into(),
            ..RepoScan::default()
        })
    }

    /// An image manifest `name` built `age_h` hours ago with labels (config read).
    pub fn image(&mut self, name: &str, age_h: i64, labels: &[(&str, &str)]) -> Digest {
        let d = dig(name);
        self.0.manifests.insert(
            d.clone(),
            ManifestFacts {
                media_type: media_type::OCI_MANIFEST.into(),
                config: Some(ImageConfig {
                    created: Some(now() - chrono::Duration::hours(age_h)),
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                }),
                ..ManifestFacts::default()
            },
        );
        d
    }

    /// An image manifest whose config has not been read.
    pub fn unread_image(&mut self, name: &str) -> Digest {
        let d = dig(name);
        self.0.manifests.insert(
            d.clone(),
            ManifestFacts {
                media_type: media_type::OCI_MANIFEST.into(),
                ..ManifestFacts::default()
            },
        );
        d
    }

    /// An index `name` over `children`.
    pub fn index(&mut self, name: &str, children: &[&Digest]) -> Digest {
        let d = dig(name);
        self.0.manifests.insert(
            d.clone(),
            ManifestFacts {
                media_type: media_type::OCI_INDEX.into(),
                children: children.iter().map(|c| (*c).clone()).collect(),
                ..ManifestFacts::default()
            },
        );
        d
    }

    /// A referrer (signature, SBOM) `name` of `subject`, without a config.
    pub fn referrer(&mut self, name: &str, subject: &Digest) -> Digest {
        let d = dig(name);
        self.0.manifests.insert(
            d.clone(),
            ManifestFacts {
                media_type: media_type::OCI_MANIFEST.into(),
                subject: Some(subject.clone()),
                config: Some(ImageConfig::default()),
                ..ManifestFacts::default()
            },
        );
        self.0
            .manifests
            .get_mut(subject)
            .expect("subject first")
            .referrers
            .push(d.clone());
        d
    }

    /// Tags `tag` → `digest`.
    pub fn tag(&mut self, tag: &str, digest: &Digest) -> &mut Self {
        self.0.tags.push(ScannedTag {
            name: tag.into(),
            digest: Ok(digest.clone()),
        });
        self
    }

    /// A cosign `.sig` tag for `subject`, pointing at a signature referrer.
    pub fn cosign(&mut self, subject: &Digest) -> Digest {
        let sig = self.referrer(&format!("sig of {subject}"), subject);
        let tag = format!("sha256-{}.sig", subject.hex());
        self.tag(&tag, &sig);
        sig
    }
}

/// The sha7 tag of a named commit.
pub fn sha7(name: &str) -> String {
    format!("sha-{}", &cid(name).to_hex()[..7])
}

/// Runs the planner on one repository.
pub fn plan_one(git: &GitFacts, config: &CleanupConfig, scan: &RepoScan) -> Plan {
    plan_with(git, config, scan, &offline())
}

/// Runs the planner on one repository with what the forge said.
pub fn plan_with(
    git: &GitFacts,
    config: &CleanupConfig,
    scan: &RepoScan,
    pulls: &PullRequests,
) -> Plan {
    let scans = vec![scan.clone()];
    super::plan(&PlanInput {
        scans: &scans,
        git,
        config,
        pulls,
        now: now(),
    })
}

/// No forge access, every pull-request ref in the clone.
pub fn offline() -> PullRequests {
    PullRequests::Unknown {
        hint: "set BERTH_GITHUB_TOKEN".into(),
        refs_complete: true,
    }
}

/// The forge lists these open pull requests `(number, head commit name, branch)`.
pub fn forge(open: &[(u64, &str, &str)]) -> PullRequests {
    PullRequests::Known {
        forge: "GitHub".into(),
        open: open
            .iter()
            .map(|&(number, head, branch)| super::OpenPull {
                number,
                head: cid(head),
                branch: branch.into(),
            })
            .collect(),
    }
}

/// tag → (keep?, how, reason text) of a one-repo plan.
pub fn decisions(plan: &Plan) -> HashMap<String, (bool, Option<How>, String)> {
    plan.repos[0]
        .tags
        .iter()
        .map(|t| {
            let v = match &t.decision {
                Decision::Keep { reason } => (true, None, reason.to_string()),
                Decision::Delete { reason, how } => (false, Some(*how), reason.to_string()),
            };
            (t.tag.clone(), v)
        })
        .collect()
}
