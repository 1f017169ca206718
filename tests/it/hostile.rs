//! Issue 10 through the binary: registries that lie, loop, flood and echo secrets
//! ([`Hostile`]), and malformed references. Each test names the case it guards.
//!
//! Cleanup scenarios share one world: a git clone with one commit on main, and a berth.yaml
//! that protects `latest` and deletes unlinked images older than an hour, so an old image the
//! hostile server tags `old` is doomed and everything else depends on what the server says.

use std::path::PathBuf;

use serde_json::Value;

use crate::fixtures::Fixture;
use crate::harness::hostile::{Answer, Hostile, image_bytes};
use crate::harness::seed::{OCI_INDEX, OCI_MANIFEST, digest_of};
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

    /// `berth cleanup --repo HOST/app --force …` against the hostile server.
    fn cleanup(&self, hostile: &Hostile, args: &[&str]) -> Output {
        let mut cmd = harness::berth();
        cmd.env("XDG_CACHE_HOME", self.clone.parent().unwrap().join("cache"))
            .args(["cleanup", "--repo", &format!("{}/app", hostile.host())])
            .arg("--git-dir")
            .arg(&self.clone)
            .arg("--config")
            .arg(&self.config)
            .arg("--force")
            .args(args);
        harness::run(&mut cmd)
    }

    /// A JSON cleanup that must exit 0; returns the report.
    fn json(&self, hostile: &Hostile, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend(args);
        let out = self.cleanup(hostile, &all);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
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

fn reason(report: &Value, name: &str) -> String {
    tag(report, name)["reason"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

fn mutations(hostile: &Hostile) -> Vec<String> {
    hostile
        .log()
        .into_iter()
        .filter(|s| !matches!(s.method.as_str(), "GET" | "HEAD"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

/// Case 4: `lat\nest` and `../../victim/manifests/prod` in a listing are never put in a
/// request; they are reported as kept (unresolved), which makes the repository's deletions
/// untag-only, and the protected `latest` is untouched.
#[test]
fn listed_names_outside_the_tag_grammar_are_never_requested() {
    let hostile = Hostile::start();
    let w = World::new();
    let latest = hostile.image("app", &["latest"], "latest", OLD);
    let old = hostile.image("app", &["old"], "old", OLD);
    let evil = ["lat\nest", "../../victim/manifests/prod"];
    hostile.tags("app", &["latest", "old", evil[0], evil[1]]);
    hostile.route("*", "/v2/victim/*", vec![Answer::status(201)]);

    let report = w.json(&hostile, &[]);
    for name in evil {
        assert_eq!(tag(&report, name)["action"], "keep", "{report:#}");
        let why = reason(&report, name);
        assert!(why.contains("not a valid tag"), "{why}");
    }
    assert_eq!(tag(&report, "latest")["action"], "keep");
    let old_tag = tag(&report, "old");
    assert_eq!(old_tag["action"], "delete", "{report:#}");
    assert_eq!(old_tag["how"], "untag_only", "{report:#}");
    for seen in hostile.log() {
        assert!(
            seen.path == "/v2/" || seen.path.starts_with("/v2/app/"),
            "a request left the repository: {seen:?}"
        );
        assert!(
            !seen.path.contains("victim") && !seen.path.contains("%0A"),
            "{seen:?}"
        );
    }
    let changed = mutations(&hostile);
    assert_eq!(changed, ["DELETE /v2/app/manifests/old"], "{changed:?}");
    assert!(
        !changed
            .iter()
            .any(|m| m.contains(&latest) || m.contains(&old))
    );
}

/// Case 6: `Retry-After: 18446744073709551615` does not panic; the wait is capped and the
/// request retried, so the listing arrives.
#[test]
fn a_huge_retry_after_is_waited_at_the_cap_and_retried() {
    let hostile = Hostile::start();
    hostile.image("app", &["v1"], "v1", OLD);
    hostile.route(
        "GET",
        "/v2/app/tags/list",
        vec![
            Answer::status(429).header("retry-after", "18446744073709551615"),
            Answer::json(serde_json::json!({"name": "app", "tags": ["v1"]})),
        ],
    );
    let mut cmd = harness::berth();
    cmd.args(["tags", &format!("{}/app", hostile.host())]);
    let out = harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(hostile.count("GET", "/v2/app/tags/list"), 2);
}

/// Case 7: a `Link` that names the page itself stops at once with that URL; nothing is
/// deleted.
#[test]
fn a_link_to_the_same_page_stops_with_the_url() {
    let hostile = Hostile::start();
    let w = World::new();
    hostile.image("app", &["old"], "old", OLD);
    hostile.route(
        "GET",
        "/v2/app/tags/list",
        vec![
            Answer::json(serde_json::json!({"name": "app", "tags": ["old"]}))
                .header("link", r#"</v2/app/tags/list?n=1000>; rel="next""#),
        ],
    );
    let out = w.cleanup(&hostile, &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let page = format!("{}/v2/app/tags/list?n=1000", hostile.url());
    assert!(out.stderr.contains(&page), "{}", out.stderr);
    assert!(out.stderr.contains("loops"), "{}", out.stderr);
    // The link names the page just read: berth stops without asking for it again.
    assert_eq!(hostile.count("GET", "/v2/app/tags/list"), 1);
    assert!(mutations(&hostile).is_empty());
}

/// Case 8: a manifest over 4 MiB, declared or streamed without a length, is not read: its
/// tag is kept with a reason that names the limit, and berth stops reading a 200 MB body
/// long before its end.
#[test]
fn an_oversized_manifest_is_kept_without_being_read() {
    let hostile = Hostile::start();
    let w = World::new();
    hostile.image("app", &["old"], "old", OLD);
    hostile.tags("app", &["old", "endless", "declared"]);
    hostile.route(
        "GET",
        "/v2/app/manifests/endless",
        vec![
            Answer::status(200)
                .header("content-type", OCI_MANIFEST)
                .stream(200 * 1024 * 1024, b' '),
        ],
    );
    hostile.route(
        "GET",
        "/v2/app/manifests/declared",
        vec![
            Answer::status(200)
                .header("content-type", OCI_MANIFEST)
                .header("content-length", &(5 * 1024 * 1024).to_string())
                .stream(5 * 1024 * 1024, b' '),
        ],
    );
    let report = w.json(&hostile, &["--dry-run"]);
    for name in ["endless", "declared"] {
        assert_eq!(tag(&report, name)["action"], "keep", "{report:#}");
        let why = reason(&report, name);
        assert!(why.contains("4194304 bytes"), "{name}: {why}");
        assert!(why.contains("manifest"), "{name}: {why}");
    }
    assert!(
        hostile.streamed() < 64 * 1024 * 1024,
        "berth read {} bytes of the oversized bodies",
        hostile.streamed()
    );
}

/// Case 9: a chain of 40 nested indexes is followed 8 levels deep, then the tag is kept with
/// the reason; an index child with a digest that is not sha256/sha512 is never requested.
#[test]
fn nested_indexes_are_followed_to_the_depth_limit() {
    let hostile = Hostile::start();
    let w = World::new();
    hostile.image("app", &["old"], "old", OLD);
    let (_, image, config) = image_bytes("bottom", OLD);
    hostile.route(
        "GET",
        &format!("/v2/app/blobs/{}", digest_of(&config)),
        vec![Answer::status(200).body(config)],
    );
    let mut child = (OCI_MANIFEST, image);
    let mut chain = Vec::new();
    for _ in 0..40 {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": child.0, "digest": digest_of(&child.1), "size": child.1.len()}],
        }))
        .unwrap();
        chain.push(child);
        child = (OCI_INDEX, index);
    }
    chain.push(child);
    for (media_type, bytes) in &chain {
        hostile.route(
            "GET",
            &format!("/v2/app/manifests/{}", digest_of(bytes)),
            vec![Answer::manifest(media_type, bytes)],
        );
    }
    let top = &chain.last().unwrap().1;
    hostile.route(
        "GET",
        "/v2/app/manifests/deep",
        vec![Answer::manifest(OCI_INDEX, top)],
    );
    let odd = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": format!("md5:{}", "a".repeat(32)), "size": 1}],
    }))
    .unwrap();
    hostile.route(
        "GET",
        "/v2/app/manifests/odd",
        vec![Answer::manifest(OCI_INDEX, &odd)],
    );
    hostile.tags("app", &["old", "deep", "odd"]);

    let report = w.json(&hostile, &["--dry-run"]);
    assert_eq!(tag(&report, "deep")["action"], "keep", "{report:#}");
    let why = reason(&report, "deep");
    assert!(why.contains("nested more than 8 levels"), "{why}");
    assert_eq!(tag(&report, "odd")["action"], "keep", "{report:#}");
    // The tag's GET and 8 levels below it; nothing deeper.
    let index_reads = hostile
        .log()
        .iter()
        .filter(|s| s.method == "GET" && s.path.starts_with("/v2/app/manifests/sha256:"))
        .count();
    assert!(index_reads <= 9, "{index_reads} index reads");
    assert!(!hostile.log().iter().any(|s| s.path.contains("md5")));
}

/// A docker config dir with `user:password` for `host`.
fn docker_config(host: &str, user: &str, password: &str) -> tempfile::TempDir {
    use base64::Engine;
    let dir = harness::temp_dir();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&serde_json::json!({"auths": {host: {"auth": auth}}})).unwrap(),
    )
    .unwrap();
    dir
}

/// Case 18: a token service that echoes the Authorization header and the password in its
/// error body: berth's error names the token service and quotes none of it.
#[test]
fn token_service_errors_never_quote_credentials() {
    use base64::Engine;
    let (user, password) = ("ci-bot", "Pa55-w0rd-echoed");
    let pair = format!("{user}:{password}");
    let pair64 = base64::engine::general_purpose::STANDARD.encode(&pair);
    for status in [400, 401, 403, 501] {
        let hostile = Hostile::start();
        let realm = format!("{}/token", hostile.url());
        hostile.route(
            "*",
            "/v2/*",
            vec![Answer::status(401).header(
                "www-authenticate",
                &format!(r#"Bearer realm="{realm}",service="hostile""#),
            )],
        );
        let echoed = pair.clone();
        hostile.route_fn("GET", "/token", move |seen| {
            let echo = format!(
                "denied: you sent Authorization: {} (that is {echoed}, password {password})",
                seen.header("authorization").unwrap_or("nothing"),
            );
            Answer::status(status)
                .header("content-type", "application/json")
                .body(
                    serde_json::to_vec(&serde_json::json!({
                        "errors": [{"code": "DENIED", "message": echo}],
                        "details": echo,
                    }))
                    .unwrap(),
                )
        });
        let config = docker_config(&hostile.host(), user, password);
        let mut cmd = harness::berth();
        cmd.env("DOCKER_CONFIG", config.path())
            .args(["tags", &format!("{}/app", hostile.host())]);
        let out = harness::run(&mut cmd);
        assert_eq!(out.code, 1, "{status}: {}\n{}", out.stdout, out.stderr);
        assert!(
            hostile.count("GET", "/token") > 0,
            "{status}: no token request"
        );
        let all = format!("{}{}", out.stdout, out.stderr);
        for secret in [password, &pair, &pair64, "Basic "] {
            assert!(!all.contains(secret), "{status}: {secret} leaked: {all}");
        }
        assert!(all.contains(&hostile.host()), "{status}: {all}");
    }
}

/// Case 20: a 401 whose challenge is Negotiate, NTLM, empty or missing is an unsupported
/// scheme, not rejected credentials, for `tags` (with or without credentials configured,
/// since none were sent) and for `login`.
#[test]
fn unsupported_challenges_say_so() {
    for (header, named) in [
        (Some("Negotiate"), "`Negotiate`"),
        (Some("NTLM"), "`NTLM`"),
        (Some(""), "empty WWW-Authenticate"),
        (None, "no WWW-Authenticate"),
    ] {
        let hostile = Hostile::start();
        let answer = match header {
            Some(h) => Answer::status(401).header("www-authenticate", h),
            None => Answer::status(401),
        };
        hostile.route("*", "/v2/*", vec![answer]);
        let config = docker_config(&hostile.host(), "someone", "pw-not-sent");
        for with_config in [false, true] {
            let mut cmd = harness::berth();
            if with_config {
                cmd.env("DOCKER_CONFIG", config.path());
            }
            cmd.args(["tags", &format!("{}/app", hostile.host())]);
            let out = harness::run(&mut cmd);
            assert_eq!(out.code, 1, "{header:?}: {}", out.stderr);
            assert!(
                out.stderr
                    .contains("authentication scheme berth does not support"),
                "{header:?}: {}",
                out.stderr
            );
            assert!(out.stderr.contains(named), "{header:?}: {}", out.stderr);
            assert!(
                !out.stderr.contains("rejected"),
                "{header:?}: {}",
                out.stderr
            );
        }
        let mut cmd = harness::berth();
        cmd.env("BERTH_PASSWORD", "pw")
            .args(["login", &hostile.host(), "--username", "someone"]);
        let login_dir = harness::temp_dir();
        cmd.env("DOCKER_CONFIG", login_dir.path());
        let out = harness::run(&mut cmd);
        assert_ne!(out.code, 0, "{header:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("authentication scheme berth does not support"),
            "{header:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("rejected"),
            "{header:?}: {}",
            out.stderr
        );
    }
}

/// Case 21: a malformed reference is a usage error (exit 2) naming the input and the form
/// expected, for `tags` and for `cleanup --repo`.
#[test]
fn malformed_references_are_usage_errors() {
    let w = World::new();
    for reference in [
        "127.0.0.1:99999/app",
        "localhost:0/app",
        "ghcr.io/a//b",
        "ghcr.io/team/App",
        "ghcr.io/app/",
    ] {
        let mut cmd = harness::berth();
        cmd.args(["tags", reference]);
        let out = harness::run(&mut cmd);
        assert_eq!(out.code, 2, "{reference}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("`{reference}`")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("expected e.g."), "{}", out.stderr);

        let mut cmd = harness::berth();
        cmd.args(["cleanup", "--dry-run", "--repo", reference, "--git-dir"])
            .arg(&w.clone);
        let out = harness::run(&mut cmd);
        assert_eq!(out.code, 2, "{reference}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("`{reference}`")),
            "{}",
            out.stderr
        );
    }
}

/// Case 1: a protected tag whose manifest cannot be read (the registry keeps failing it)
/// shares its digest with a doomed tag: the shared manifest is not deleted, the doomed tag is
/// only untagged, and the report says which unresolved tag made it so.
#[test]
fn an_unreadable_protected_tag_still_protects_its_digest() {
    let hostile = Hostile::start();
    let w = World::new();
    let shared = hostile.image("app", &["latest", "old"], "shared", OLD);
    hostile.route(
        "GET",
        "/v2/app/manifests/latest",
        vec![Answer::status(400).body(b"try again later".to_vec())],
    );
    hostile.tags("app", &["latest", "old"]);

    let report = w.json(&hostile, &[]);
    assert_eq!(tag(&report, "latest")["action"], "keep", "{report:#}");
    let old = tag(&report, "old");
    assert_eq!(old["how"], "untag_only", "{report:#}");
    assert_eq!(old["reason"]["details"]["untag_only_because"], "latest");
    let changed = mutations(&hostile);
    assert!(!changed.iter().any(|m| m.contains(&shared)), "{changed:?}");
    assert!(
        !changed.iter().any(|m| m.ends_with("/latest")),
        "{changed:?}"
    );
}

/// Case 2: a plan made earlier, applied while re-resolving its tag fails: nothing of that
/// digest is deleted, and the report says the deletion was skipped.
#[test]
fn apply_keeps_what_it_cannot_re_resolve() {
    let hostile = Hostile::start();
    let w = World::new();
    let old = hostile.image("app", &["old"], "old", OLD);
    hostile.tags("app", &["old"]);
    let plan = w.clone.parent().unwrap().join("plan.json");
    let report = w.json(
        &hostile,
        &["--dry-run", "--plan-out", plan.to_str().unwrap()],
    );
    assert_eq!(tag(&report, "old")["how"], "delete_manifest", "{report:#}");
    for method in ["GET", "HEAD"] {
        hostile.route(
            method,
            "/v2/app/manifests/old",
            vec![Answer::status(400).body(b"slow down".to_vec())],
        );
    }
    let mut cmd = harness::berth();
    cmd.env("XDG_CACHE_HOME", w.clone.parent().unwrap().join("cache"))
        .args(["cleanup", "--output", "json", "--apply"])
        .arg(&plan);
    let out = harness::run(&mut cmd);
    assert_ne!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let changed = mutations(&hostile);
    assert!(!changed.iter().any(|m| m.contains(&old)), "{changed:?}");
    assert!(!changed.iter().any(|m| m.ends_with("/old")), "{changed:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let repo = &report["repos"][0];
    let skipped = serde_json::to_string(&repo["skipped"]).unwrap();
    assert!(skipped.contains("old"), "{report:#}");
}

/// Case 3: a `Docker-Content-Digest` that names another (untagged) image: that image is not
/// deleted, and the lying tag is kept with the mismatch as its reason.
#[test]
fn a_wrong_digest_header_links_nothing_and_deletes_nothing() {
    let hostile = Hostile::start();
    let w = World::new();
    let other = hostile.image("app", &[], "untagged-other", OLD);
    let (_, bytes, config) = image_bytes("liar", OLD);
    hostile.route(
        "GET",
        &format!("/v2/app/blobs/{}", digest_of(&config)),
        vec![Answer::status(200).body(config)],
    );
    for method in ["GET", "HEAD"] {
        hostile.route(
            method,
            "/v2/app/manifests/old",
            vec![
                Answer::status(200)
                    .header("content-type", OCI_MANIFEST)
                    .header("docker-content-digest", &other)
                    .body(bytes.clone()),
            ],
        );
    }
    hostile.route("DELETE", "/v2/app/manifests/*", vec![Answer::status(202)]);
    hostile.tags("app", &["old"]);

    let report = w.json(&hostile, &[]);
    let old = tag(&report, "old");
    assert_eq!(old["action"], "keep", "{report:#}");
    let why = reason(&report, "old");
    assert!(why.contains(&other), "{why}");
    let changed = mutations(&hostile);
    assert!(!changed.iter().any(|m| m.contains(&other)), "{changed:?}");
}
