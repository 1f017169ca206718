//! Nexus (`--container-registry nexus`) through the binary: Nexus can delete a manifest only
//! by digest, with every tag on it, and neither deletes a single tag nor untags reliably
//! through a dummy, so a doomed tag that shares its manifest with a kept tag is kept, with a
//! reason naming that tag, while a manifest whose tags all go is still deleted by digest.

use std::path::PathBuf;

use serde_json::Value;

use crate::fixtures::Fixture;
use crate::harness::hostile::Hostile;
use crate::harness::{self, Output};

const OLD: &str = "2020-01-01T00:00:00Z";
const CONFIG: &str =
    "keep:\n  built_within: 0\n  tags: [\"latest\"]\n  unlinked: { delete_older_than: 1h }\n";

struct World {
    _f: Fixture,
    clone: PathBuf,
    config: PathBuf,
}

impl World {
    fn new() -> World {
        let f = Fixture::new();
        f.commit("main", "m1");
        f.git(&["checkout", "-q", "main"]);
        f.push("main");
        let clone = f.clone_ci();
        let config = f.root().join("berth.yaml");
        std::fs::write(&config, CONFIG).unwrap();
        World {
            _f: f,
            clone,
            config,
        }
    }

    fn cleanup(&self, server: &Hostile, args: &[&str]) -> Output {
        let mut cmd = harness::berth();
        cmd.env("XDG_CACHE_HOME", self.clone.parent().unwrap().join("cache"))
            .args(["cleanup", "--repo", &format!("{}/app", server.host())])
            .arg("--git-dir")
            .arg(&self.clone)
            .arg("--config")
            .arg(&self.config)
            .args(["--force", "--output", "json"])
            .args(args);
        harness::run(&mut cmd)
    }
}

fn tag<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == name)
        .unwrap_or_else(|| panic!("no decision for {name:?}: {report:#}"))
}

fn report(out: &Output) -> Value {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn a_doomed_tag_sharing_a_kept_manifest_stays_and_a_whole_manifest_goes_by_digest() {
    let w = World::new();
    let server = Hostile::start();
    server.image("app", &["latest", "old"], "shared", OLD);
    let lone = server.image("app", &["older"], "lone", OLD);
    server.tags("app", &["latest", "old", "older"]);

    // Where the registry can untag, `old` loses only its tag: the baseline the rule changes.
    let plain = report(&w.cleanup(&server, &["--dry-run"]));
    assert_eq!(tag(&plain, "old")["how"], "untag_only", "{plain:#}");

    let out = w.cleanup(&server, &["--container-registry", "nexus"]);
    let nexus = report(&out);
    assert_eq!(tag(&nexus, "latest")["action"], "keep", "{nexus:#}");
    let old = tag(&nexus, "old");
    assert_eq!(old["action"], "keep", "{nexus:#}");
    assert_eq!(old["reason"]["kind"], "cannot_untag", "{nexus:#}");
    assert_eq!(old["reason"]["details"]["kept_tag"], "latest", "{nexus:#}");
    let message = old["reason"]["message"].as_str().unwrap();
    assert!(
        message.contains("also tagged latest, which stays")
            && message.contains("this registry cannot delete a single tag"),
        "{message}"
    );
    let older = tag(&nexus, "older");
    assert_eq!(older["action"], "delete", "{nexus:#}");
    assert_eq!(older["how"], "delete_manifest", "{nexus:#}");

    // The only mutation: the lone manifest, by digest. No tag delete, no dummy pushed.
    let mutations: Vec<String> = server
        .log()
        .iter()
        .filter(|s| s.method != "GET" && s.method != "HEAD")
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        mutations,
        [format!("DELETE /v2/app/manifests/{lone}")],
        "{}",
        out.stderr
    );
}
