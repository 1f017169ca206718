//! The registry client against the real Distribution registry (no auth, htpasswd, token), the
//! harness's fault proxy in front of it, skopeo as an independent pusher, and a small fake only
//! for the `Link` pagination that Distribution 2.8 never sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::registry::client::Client;
use berth::registry::{Connector, Digest, Error, RegistryOptions, Repository, UntagMethod};
use berth::secret::Secret;

use crate::harness::proxy::{Fault, FaultProxy, Match};
use crate::harness::{Auth, Format, ImageSpec, PASSWORD, Platform, Seeder, TestRegistry, USER};

fn options(registry: &TestRegistry) -> RegistryOptions {
    RegistryOptions {
        docker_config: Some(registry.docker_config_dir()),
        ..RegistryOptions::default()
    }
}

fn open(registry: &TestRegistry, repo: &str) -> (Arc<Client>, Arc<dyn Repository>) {
    let connector = Connector::new(options(registry));
    let client = connector.client(&registry.host()).expect("client");
    (client.clone(), client.repository(repo))
}

fn digest(text: &str) -> Digest {
    Digest::parse(text).expect("digest")
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_every_kind_of_manifest_anonymously() {
    let registry = TestRegistry::start(Auth::None);
    let seed = Seeder::new(&registry);
    let docker = ImageSpec::new("docker")
        .format(Format::Docker)
        .created("2026-01-02T03:04:05Z")
        .label("org.opencontainers.image.revision", "abc123");
    let docker_digest = seed.push_image("app", "docker", &docker).await;
    let amd = seed.push_image("app", "oci", &ImageSpec::new("amd")).await;
    let arm_spec = ImageSpec::new("arm").platform(Platform::new("linux", "arm64"));
    let arm = seed.push_image("app", "arm", &arm_spec).await;
    let index = seed
        .push_index(
            "app",
            "multi",
            Format::Oci,
            &[
                (amd.clone(), Platform::default()),
                (arm.clone(), Platform::new("linux", "arm64")),
            ],
        )
        .await;
    let nested = seed
        .push_index(
            "app",
            "nested",
            Format::Oci,
            &[(index.clone(), Platform::default())],
        )
        .await;
    seed.tag("app", "docker-too", &docker_digest).await;
    let sig = seed.push_cosign_signature("app", &amd).await;
    let referrer = seed
        .push_referrer("app", &amd, "application/vnd.example.sbom")
        .await;

    let connector = Connector::new(RegistryOptions::default());
    let repo = connector
        .open(&format!("{}/app", registry.host()))
        .expect("open");
    assert_eq!(repo.name(), format!("{}/app", registry.host()));
    let mut tags = repo.list_tags().await.expect("tags");
    tags.sort();
    for want in [
        "arm",
        "docker",
        "docker-too",
        "multi",
        "nested",
        "oci",
        sig.as_str(),
    ] {
        assert!(
            tags.iter().any(|t| t == want),
            "{want} missing from {tags:?}"
        );
    }

    let m = repo.manifest("docker").await.expect("docker manifest");
    assert_eq!(m.digest, digest(&docker_digest));
    assert_eq!(m.digest, Digest::of_bytes(&m.bytes));
    assert_eq!(m.media_type, Format::Docker.manifest_type());
    let config = repo
        .config(m.config().expect("image"))
        .await
        .expect("config");
    assert_eq!(config.labels["org.opencontainers.image.revision"], "abc123");
    assert_eq!(
        config.created.expect("created").to_rfc3339(),
        "2026-01-02T03:04:05+00:00"
    );

    let multi = repo.manifest("multi").await.expect("index");
    assert!(multi.is_index());
    let children: Vec<_> = multi
        .children()
        .iter()
        .map(|c| c.digest.to_string())
        .collect();
    assert_eq!(children, vec![amd.clone(), arm.clone()]);
    let outer = repo.manifest("nested").await.expect("nested");
    assert_eq!(outer.digest, digest(&nested));
    let inner = repo
        .manifest(outer.children()[0].digest.as_str())
        .await
        .expect("inner index by digest");
    assert_eq!(inner.digest, digest(&index));
    assert_eq!(inner.children().len(), 2);

    assert_eq!(
        repo.resolve_digest("multi").await.expect("head"),
        digest(&index)
    );
    let art = repo.manifest(&referrer).await.expect("referrer by digest");
    assert_eq!(art.subject.expect("subject").digest, digest(&amd));
    // Distribution 2.8 has no referrers API: an empty list, and cosign tags stay in the list.
    assert!(
        repo.referrers(&digest(&amd))
            .await
            .expect("referrers")
            .is_empty()
    );

    let missing = repo.manifest("nope").await.expect_err("missing tag");
    assert!(missing.is_not_found(), "{missing}");
    assert!(missing.to_string().contains("nope"), "{missing}");
    let unknown = connector
        .open(&format!("{}/no/such", registry.host()))
        .unwrap()
        .list_tags()
        .await
        .expect_err("unknown repository");
    assert!(
        unknown.is_not_found() && unknown.to_string().contains("no/such"),
        "{unknown}"
    );

    // Every request carried berth's user agent.
    let log = registry.access_log();
    assert!(
        log.iter().any(|r| r.user_agent.starts_with("berth/")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_2500_tags_and_counts_requests() {
    let registry = TestRegistry::start(Auth::None);
    let seed = Seeder::new(&registry);
    let first = seed
        .push_image("big", "t0000", &ImageSpec::new("big"))
        .await;
    let images: Vec<(String, ImageSpec)> = (1..2500)
        .map(|i| (format!("t{i:04}"), ImageSpec::new("big")))
        .collect();
    let digests = seed.push_images("big", &images).await;
    assert!(digests.iter().all(|d| *d == first));
    let (client, repo) = open(&registry, "big");
    let before = client.request_counts();
    let tags = repo.list_tags().await.expect("tags");
    assert_eq!(tags.len(), 2500);
    let spent = client.request_counts().total() - before.total();
    // The scheme probe and one page: Distribution 2.8 ignores `n` and sends everything.
    assert!(spent <= 2, "{spent} requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn untag_keeps_the_other_tag_of_the_digest() {
    let registry = TestRegistry::start(Auth::None);
    let seed = Seeder::new(&registry);
    let oci = seed.push_image("u", "a", &ImageSpec::new("oci")).await;
    seed.tag("u", "b", &oci).await;
    let docker = seed
        .push_image("u", "d1", &ImageSpec::new("docker").format(Format::Docker))
        .await;
    seed.tag("u", "d2", &docker).await;
    let list = seed
        .push_index(
            "u",
            "l1",
            Format::Docker,
            &[(docker.clone(), Platform::default())],
        )
        .await;
    seed.tag("u", "l2", &list).await;
    let (_, repo) = open(&registry, "u");
    for (gone, kept, digest_text) in [("a", "b", &oci), ("d1", "d2", &docker), ("l1", "l2", &list)]
    {
        let current = repo.manifest(gone).await.expect("current");
        let method = repo.untag(gone, &current).await.expect("untag");
        // Distribution 2.8 has no OCI tag delete: the dummy manifest path is the one used.
        assert_eq!(method, UntagMethod::DummyManifest);
        let tags = seed.tags("u").await;
        assert!(!tags.contains_key(gone), "{gone} still there: {tags:?}");
        assert_eq!(tags.get(kept), Some(digest_text), "{kept} lost: {tags:?}");
        assert!(seed.manifest_exists("u", digest_text).await);
    }
    let tags = seed.tags("u").await;
    assert_eq!(tags.len(), 3, "the dummies left tags behind: {tags:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_by_digest_removes_its_tags() {
    let registry = TestRegistry::start(Auth::None);
    let seed = Seeder::new(&registry);
    let gone = seed.push_image("d", "x", &ImageSpec::new("gone")).await;
    seed.tag("d", "y", &gone).await;
    let stays = seed.push_image("d", "z", &ImageSpec::new("stays")).await;
    let (client, repo) = open(&registry, "d");
    repo.delete_manifest(&digest(&gone)).await.expect("delete");
    let tags = seed.tags("d").await;
    assert_eq!(tags.keys().collect::<Vec<_>>(), vec!["z"]);
    assert_eq!(tags["z"], stays);
    assert!(!seed.manifest_exists("d", &gone).await);
    let again = repo
        .delete_manifest(&digest(&gone))
        .await
        .expect_err("twice");
    assert!(again.is_not_found(), "{again}");
    assert_eq!(client.request_counts().delete, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn htpasswd_credentials_from_docker_config_and_wrong_password() {
    let registry = TestRegistry::start(Auth::Htpasswd);
    let seed = Seeder::new(&registry);
    let d = seed.push_image("h", "v1", &ImageSpec::new("h")).await;
    let (_, repo) = open(&registry, "h");
    assert_eq!(repo.list_tags().await.expect("tags"), vec!["v1"]);
    assert_eq!(repo.resolve_digest("v1").await.expect("head"), digest(&d));

    let anonymous = Connector::new(RegistryOptions {
        docker_config: Some(crate::harness::temp_dir().path().to_path_buf()),
        ..RegistryOptions::default()
    });
    let err = anonymous
        .open(&format!("{}/h", registry.host()))
        .unwrap()
        .list_tags()
        .await
        .expect_err("no credentials");
    assert!(matches!(err, Error::NoCredentials { .. }), "{err}");
    assert!(err.to_string().contains("berth login"), "{err}");

    let connector = Connector::new(RegistryOptions::default());
    connector
        .verify_login(&registry.host(), USER, &Secret::new(PASSWORD))
        .await
        .expect("right password");
    let wrong = connector
        .verify_login(&registry.host(), USER, &Secret::new("wrong-horse"))
        .await
        .expect_err("wrong password");
    assert!(matches!(wrong, Error::WrongCredentials { .. }), "{wrong}");
    assert!(wrong.to_string().contains(USER) && !wrong.to_string().contains("wrong-horse"));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_accumulates_scopes_and_deletes() {
    let registry = TestRegistry::start(Auth::Token);
    let seed = Seeder::new(&registry);
    let d = seed
        .push_image("team/app", "v1", &ImageSpec::new("t"))
        .await;
    seed.tag("team/app", "v2", &d).await;
    let (client, repo) = open(&registry, "team/app");
    assert_eq!(repo.list_tags().await.expect("tags").len(), 2);
    let m = repo.manifest("v1").await.expect("manifest");
    repo.config(m.config().unwrap()).await.expect("config");
    repo.untag("v1", &m).await.expect("untag");
    assert_eq!(
        seed.tags("team/app").await.keys().collect::<Vec<_>>(),
        vec!["v2"]
    );
    let scopes = registry.token_requests();
    assert_eq!(
        scopes.first().map(String::as_str),
        Some("repository:team/app:pull")
    );
    assert!(
        scopes
            .iter()
            .any(|s| s == "repository:team/app:pull,push,delete"),
        "{scopes:?}"
    );
    // Tokens are reused: one per widening, not one per request.
    assert!(scopes.len() <= 4, "{scopes:?}");
    assert!(client.request_counts().total() >= 6);

    Connector::new(RegistryOptions::default())
        .verify_login(&registry.host(), USER, &Secret::new(PASSWORD))
        .await
        .expect("token login");
    let wrong = Connector::new(RegistryOptions::default())
        .verify_login(&registry.host(), USER, &Secret::new("nope-nope"))
        .await
        .expect_err("wrong token login");
    assert!(matches!(wrong, Error::WrongCredentials { .. }), "{wrong}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_without_delete_gives_a_clear_error() {
    let registry = TestRegistry::start_token_with(&["pull", "push"]);
    let seed = Seeder::new(&registry);
    let d = seed.push_image("ro", "v1", &ImageSpec::new("ro")).await;
    let (_, repo) = open(&registry, "ro");
    assert_eq!(repo.list_tags().await.expect("pull works"), vec!["v1"]);
    let err = repo
        .delete_manifest(&digest(&d))
        .await
        .expect_err("no delete");
    assert!(matches!(err, Error::Denied { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("delete") && text.contains("`ro`"), "{text}");
    assert!(seed.manifest_exists("ro", &d).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_errors_are_distinct() {
    let connector = Connector::new(RegistryOptions {
        retry_budget: Duration::from_secs(2),
        ..RegistryOptions::default()
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = connector
        .verify_login(&format!("127.0.0.1:{port}"), "u", &Secret::new("p"))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");

    let not_registry = crate::harness::spawn_server(axum::Router::new());
    let err = connector
        .verify_login(&not_registry.addr().to_string(), "u", &Secret::new("p"))
        .await
        .expect_err("not a registry");
    assert!(matches!(err, Error::NotARegistry { .. }), "{err}");

    // No TLS server runs here (loopback falls back to plain HTTP), so the TLS advice is
    // checked on the error itself.
    let tls = Error::Tls {
        host: "registry.internal:5000".into(),
        detail: "invalid peer certificate".into(),
    };
    assert!(
        tls.to_string()
            .contains("--insecure-registry registry.internal:5000")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_faults_within_the_retry_budget() {
    let registry = TestRegistry::start(Auth::None);
    let seed = Seeder::new(&registry);
    let d = seed.push_image("f", "v1", &ImageSpec::new("f")).await;
    let proxy = FaultProxy::start(
        &registry.url(),
        vec![
            Fault::too_many(Match::requests("GET", "/tags/list", 1), Some("1")),
            Fault::Status {
                when: Match::requests("GET", "/tags/list", 1),
                status: 503,
                retry_after: None,
            },
            Fault::Reset {
                when: Match::requests("GET", "/manifests/", 2),
            },
        ],
    );
    let connector = Connector::new(RegistryOptions {
        retry_budget: Duration::from_secs(10),
        ..RegistryOptions::default()
    });
    let repo = connector.open(&format!("{}/f", proxy.host())).unwrap();
    let started = Instant::now();
    assert_eq!(
        repo.list_tags().await.expect("tags through faults"),
        vec!["v1"]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(
        repo.manifest("v1").await.expect("manifest").digest,
        digest(&d)
    );
    let counts = connector.request_counts();
    assert!(counts.get >= 6, "{counts:?}");

    // Beyond the budget: reported, naming the URL and the attempts.
    let short = Connector::new(RegistryOptions {
        retry_budget: Duration::from_secs(1),
        ..RegistryOptions::default()
    });
    proxy.add_fault(Fault::Status {
        when: Match::requests("GET", "/tags/list", 1000),
        status: 503,
        retry_after: None,
    });
    let err = short
        .open(&format!("{}/f", proxy.host()))
        .unwrap()
        .list_tags()
        .await
        .expect_err("gives up");
    assert!(
        matches!(err, Error::RetriesExhausted { attempts, .. } if attempts > 1),
        "{err}"
    );
    assert!(err.to_string().contains("/v2/f/tags/list"), "{err}");

    // A Retry-After beyond the budget fails at once instead of sleeping for an hour.
    proxy.add_fault(Fault::too_many(
        Match::requests("GET", "/manifests/", 1000),
        Some("3600"),
    ));
    let started = Instant::now();
    let err = short
        .open(&format!("{}/f", proxy.host()))
        .unwrap()
        .manifest("v1")
        .await
        .expect_err("gives up");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("3600"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_an_image_pushed_by_skopeo() {
    let registry = TestRegistry::start(Auth::None);
    let dir = crate::harness::temp_dir();
    let layout = dir.path().join("layout");
    let spec = ImageSpec::new("skopeo")
        .created("2026-03-04T05:06:07Z")
        .label("org.opencontainers.image.revision", "feedbeef");
    let layer = spec.layer();
    let config = spec.config(&crate::harness::seed::digest_of(&layer));
    let manifest = spec.manifest(&config, &layer);
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    for blob in [&layer, &config, &manifest] {
        let d = crate::harness::seed::digest_of(blob);
        std::fs::write(layout.join("blobs/sha256").join(&d[7..]), blob).unwrap();
    }
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": crate::harness::seed::digest_of(&manifest),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"}
        }]
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let out = crate::harness::run(
        std::process::Command::new("skopeo")
            .arg("copy")
            .arg("--dest-tls-verify=false")
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!("docker://{}/sk/app:v1", registry.host())),
    );
    assert_eq!(out.code, 0, "skopeo failed: {}", out.stderr);
    let (_, repo) = open(&registry, "sk/app");
    assert_eq!(repo.list_tags().await.expect("tags"), vec!["v1"]);
    let m = repo.manifest("v1").await.expect("manifest");
    assert_eq!(m.digest, Digest::of_bytes(&m.bytes));
    let c = repo
        .config(m.config().expect("image"))
        .await
        .expect("config");
    assert_eq!(c.labels["org.opencontainers.image.revision"], "feedbeef");
}

#[tokio::test(flavor = "multi_thread")]
async fn follows_relative_and_absolute_links_and_null_tags() {
    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    use axum::routing::get;
    use std::collections::HashMap;

    async fn tags(
        State(base): State<Arc<std::sync::Mutex<String>>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> (HeaderMap, String) {
        let mut headers = HeaderMap::new();
        let base = base.lock().unwrap().clone();
        let body = match q.get("last").map(String::as_str) {
            None => {
                assert_eq!(q.get("n").map(String::as_str), Some("1000"));
                headers.insert(
                    "link",
                    r#"</v2/r/tags/list?last=b&n=2>; rel="next""#.parse().unwrap(),
                );
                r#"{"name":"r","tags":["a","b"]}"#
            }
            Some("b") => {
                let link = format!(r#"<{base}/v2/r/tags/list?last=c&n=2>; rel="next""#);
                headers.insert("link", link.parse().unwrap());
                r#"{"name":"r","tags":["c"]}"#
            }
            Some(_) => r#"{"name":"r","tags":null}"#,
        };
        (headers, body.to_string())
    }
    let base = Arc::new(std::sync::Mutex::new(String::new()));
    let server = crate::harness::spawn_server(
        axum::Router::new()
            .route("/v2/r/tags/list", get(tags))
            .with_state(base.clone()),
    );
    *base.lock().unwrap() = server.url();
    let connector = Connector::new(RegistryOptions::default());
    let repo = connector.open(&format!("{}/r", server.addr())).unwrap();
    assert_eq!(repo.list_tags().await.expect("pages"), vec!["a", "b", "c"]);
}
