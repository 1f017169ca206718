//! Faults at scale: a cleanup of 5,000 tags (10 repositories × 500, discovered with
//! `--all-repos`) through the fault proxy in front of the real Distribution registry, with a
//! steady share of 429s, 503s, resets before the registry saw the request, resets after it
//! acted (the answer lost; on reads and pushes, see [`transient`]), and slow bodies, on every
//! kind of request. A few deletions are
//! refused for good. Whatever happens: nothing the plan keeps is deleted, the report matches
//! the registry afterwards exactly (every deleted tag gone, every other tag at its digest,
//! every failure listed), and the exit code is 3 exactly when some deletion failed, else 0.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::harness::{Auth, Fault, FaultProxy, Match, Seeder, TestRegistry};
use crate::repos::{History, seed, tag_of};

const REPOS: usize = 10;
const TAGS: usize = 500;
const KEEP: usize = 475;

type Tags = BTreeMap<String, BTreeMap<String, String>>;

/// Faults a registry under load answers with now and then; every one is worth a retry. A
/// DELETE whose answer is lost after the registry acted makes berth's retry meet a 404, which
/// must count as deleted (the manifest is absent), as must Distribution's own occasional 500
/// after deleting under concurrent deletes in one repository.
fn transient() -> Vec<Fault> {
    let status = |when, status| Fault::Status {
        when,
        status,
        retry_after: None,
    };
    // Rates and pauses are set for a steady stream of faults at a bounded cost.
    vec![
        Fault::too_many(Match::every("GET", "/_catalog", 2), Some("0")),
        status(Match::every("GET", "/tags/list", 3), 503),
        Fault::too_many(Match::every("GET", "/manifests/", 29), Some("0")),
        status(Match::every("GET", "/manifests/", 97), 503),
        Fault::SlowBody {
            when: Match::every("GET", "/manifests/", 53),
            pause: Duration::from_millis(20),
        },
        Fault::Reset {
            when: Match::every("", "/manifests/", 89),
        },
        Fault::ResetAfterForward {
            when: Match::every("GET", "/manifests/", 113),
        },
        Fault::too_many(Match::every("DELETE", "/manifests/", 7), Some("0")),
        status(Match::every("DELETE", "/manifests/", 11), 503),
        Fault::ResetAfterForward {
            when: Match::every("DELETE", "/manifests/", 13),
        },
        status(Match::every("PUT", "/manifests/", 3), 502),
        Fault::ResetAfterForward {
            when: Match::every("PUT", "/manifests/", 4),
        },
    ]
}

/// Every tag of every repository, as the registry has them now.
async fn snapshot(seeder: &Seeder, repos: &[String]) -> Tags {
    let mut out = BTreeMap::new();
    for repo in repos {
        out.insert(repo.clone(), seeder.tags(repo).await);
    }
    out
}

/// Checks the report of one run against the registry before and after it; returns the
/// failed tags.
async fn report_matches_registry(
    report: &serde_json::Value,
    host: &str,
    seeder: &Seeder,
    before: &Tags,
    after: &Tags,
) -> BTreeSet<(String, String)> {
    let mut failed = BTreeSet::new();
    let repos = report["repos"].as_array().unwrap();
    assert_eq!(repos.len(), before.len(), "every repository is reported");
    for r in repos {
        let name = r["repo"].as_str().unwrap();
        let path = name.strip_prefix(&format!("{host}/")).unwrap();
        let (was, now) = (&before[path], &after[path]);
        let listed_failures: BTreeSet<&str> = r["failures"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["tags"].as_array().unwrap().iter())
            .map(|t| t.as_str().unwrap())
            .collect();
        let mut reported = BTreeSet::new();
        for t in r["tags"].as_array().unwrap() {
            let tag = t["tag"].as_str().unwrap();
            reported.insert(tag.to_string());
            let result = t["result"].as_str();
            let gone = match (t["action"].as_str().unwrap(), result) {
                ("keep", None) => false,
                ("delete", Some("deleted" | "untagged")) => true,
                ("delete", Some("failed")) => {
                    assert!(
                        listed_failures.contains(tag),
                        "{path}:{tag} failed, unlisted"
                    );
                    failed.insert((path.to_string(), tag.to_string()));
                    false
                }
                ("delete", Some("skipped")) => false,
                other => panic!("{path}:{tag}: unexpected action and result {other:?}"),
            };
            if gone {
                assert!(
                    !now.contains_key(tag),
                    "{path}:{tag} reported gone, still there"
                );
            } else {
                assert_eq!(now.get(tag), was.get(tag), "{path}:{tag} must stay put");
            }
        }
        // The report covers every tag, and no tag appeared (no dummy left behind).
        assert_eq!(reported, was.keys().cloned().collect(), "{path}");
        assert!(now.keys().all(|t| was.contains_key(t)), "{path}: {now:?}");
        for m in r["manifest_deletions"].as_array().unwrap() {
            let digest = m["digest"].as_str().unwrap();
            let exists = seeder.manifest_exists(path, digest).await;
            match m["result"].as_str() {
                Some("deleted") => assert!(!exists, "{path}@{digest} reported deleted"),
                _ => assert!(exists, "{path}@{digest} reported not deleted"),
            }
        }
    }
    assert_eq!(
        report["totals"]["failed"].as_u64().unwrap() as usize,
        failed.len()
    );
    failed
}

#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_tags_through_faults_keep_the_report_true() {
    let history = History::new(TAGS, KEEP);
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let repos: Vec<String> = (0..REPOS).map(|k| format!("faults/r{k}")).collect();
    let mut before = seed(&seeder, &repos, &history.commits).await;
    // `latest` (protected) on each repository's oldest image: its `sha-` tag is only untagged.
    let oldest = tag_of(&history.commits[0]);
    for repo in &repos {
        let digest = before[repo][&oldest].clone();
        seeder.tag(repo, "latest", &digest).await;
        before
            .get_mut(repo)
            .unwrap()
            .insert("latest".into(), digest);
    }
    let doomed = history.doomed(KEEP);
    // Refused for good: two manifest deletions and one untag (its dummy push).
    let refused_delete = [
        (repos[2].clone(), tag_of(&history.commits[10])),
        (repos[7].clone(), tag_of(&history.commits[20])),
    ];
    let refused_untag = (repos[5].clone(), oldest.clone());
    let mut faults: Vec<Fault> = refused_delete
        .iter()
        .map(|(repo, tag)| Fault::Status {
            when: Match::requests("DELETE", &before[repo][tag], usize::MAX),
            status: 403,
            retry_after: None,
        })
        .collect();
    faults.push(Fault::Status {
        when: Match::requests(
            "PUT",
            &format!("/v2/{}/manifests/{}", refused_untag.0, refused_untag.1),
            usize::MAX,
        ),
        status: 403,
        retry_after: None,
    });
    faults.extend(transient());
    let proxy = FaultProxy::start(&registry.url(), faults);

    let out = crate::harness::run(&mut history.cleanup(&["--all-repos", "--repo", &proxy.host()]));
    let report: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let injected = proxy.log().iter().filter(|r| r.injected).count();
    assert!(injected > 200, "only {injected} faults injected");
    // The plan is the fault-free one: retried reads resolved every tag.
    for r in report["repos"].as_array().unwrap() {
        let planned: BTreeSet<String> = r["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["action"] == "delete")
            .map(|t| t["tag"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(planned, doomed, "{}", r["repo"]);
    }
    let after = snapshot(&seeder, &repos).await;
    let failed = report_matches_registry(&report, &proxy.host(), &seeder, &before, &after).await;
    let mut want: BTreeSet<(String, String)> = refused_delete.iter().cloned().collect();
    want.insert(refused_untag.clone());
    assert_eq!(failed, want, "{}", out.stderr);
    assert_eq!(out.code, 3, "{}", out.stderr);
    for repo in &repos {
        assert_eq!(after[repo]["latest"], before[repo]["latest"]);
    }

    // Again, through the transient faults only, on the repositories where something failed:
    // it goes now, and the run exits 0.
    let proxy = FaultProxy::start(&registry.url(), transient());
    let again: BTreeSet<String> = want.iter().map(|(repo, _)| repo.clone()).collect();
    // One deletion in each of three repositories: no two race in one repository.
    let mut args = Vec::new();
    for repo in &again {
        args.extend(["--repo".to_string(), format!("{}/{repo}", proxy.host())]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = crate::harness::run(&mut history.cleanup(&args));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let again: Vec<String> = again.into_iter().collect();
    let was: Tags = again
        .iter()
        .map(|r| (r.clone(), after[r].clone()))
        .collect();
    let last = snapshot(&seeder, &again).await;
    let failed = report_matches_registry(&report, &proxy.host(), &seeder, &was, &last).await;
    assert!(failed.is_empty());
    let totals = &report["totals"];
    let gone = totals["deleted"].as_u64().unwrap() + totals["untagged"].as_u64().unwrap();
    assert_eq!(gone, 3, "{report}");
    for repo in &again {
        assert_eq!(
            last[repo].len(),
            KEEP + 1,
            "{repo}: {:?}",
            last[repo].keys()
        );
    }
}
