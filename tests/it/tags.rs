//! `berth tags` through the binary against the real registry: text and JSON snapshots,
//! credentials from a docker credential helper, and usage errors.

use crate::harness::{
    Auth, Format, ImageSpec, PASSWORD, Platform, Seeder, TestRegistry, USER, berth, run,
};

async fn seed_catalogue(registry: &TestRegistry) {
    let seed = Seeder::new(registry);
    let oci = ImageSpec::new("one")
        .created("2026-01-02T03:04:05Z")
        .label("org.opencontainers.image.revision", "1a2b3c4d5e6f");
    let oci_digest = seed.push_image("team/app", "main-1a2b3c4", &oci).await;
    seed.tag("team/app", "latest", &oci_digest).await;
    let docker = ImageSpec::new("two")
        .format(Format::Docker)
        .created("2026-02-03T04:05:06Z");
    seed.push_image("team/app", "v1.0.0", &docker).await;
    let arm = ImageSpec::new("arm")
        .created("2026-03-04T05:06:07Z")
        .platform(Platform::new("linux", "arm64"))
        .label("org.opencontainers.image.revision", "fedcba987654");
    let arm_digest = seed.push_image("team/app", "arm-only", &arm).await;
    let amd = ImageSpec::new("amd").created("2026-03-04T05:06:07Z");
    let amd_digest = seed.push_image("team/app", "amd-only", &amd).await;
    seed.push_index(
        "team/app",
        "multi",
        Format::Oci,
        &[
            (arm_digest, Platform::new("linux", "arm64")),
            (amd_digest, Platform::default()),
        ],
    )
    .await;
    seed.push_cosign_signature("team/app", &oci_digest).await;
}

fn filters(registry: &TestRegistry) -> Vec<(String, String)> {
    vec![(regex::escape(&registry.host()), "[REGISTRY]".to_string())]
}

#[tokio::test(flavor = "multi_thread")]
async fn text_and_json_reports() {
    let registry = TestRegistry::start(Auth::None);
    seed_catalogue(&registry).await;
    let repo = format!("{}/team/app", registry.host());

    let text = run(berth().args(["tags", &repo]));
    assert_eq!(text.code, 0, "{}", text.stderr);
    let json = run(berth().args(["tags", "--output", "json", &repo]));
    assert_eq!(json.code, 0, "{}", json.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed["schema"], 1);
    assert_eq!(parsed["tags"].as_array().map(Vec::len), Some(7));

    let filters = filters(&registry);
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("tags_text", text.stdout);
        insta::assert_snapshot!("tags_json", json.stdout);
    });

    // The env twin of the argument works too.
    let env = run(berth()
        .args(["tags", "-o", "json"])
        .env("BERTH_REPO", &repo));
    assert_eq!(env.stdout, json.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_a_docker_credential_helper() {
    use std::os::unix::fs::PermissionsExt;

    let registry = TestRegistry::start(Auth::Htpasswd);
    Seeder::new(&registry)
        .push_image("h/app", "v1", &ImageSpec::new("helper"))
        .await;
    let dir = crate::harness::temp_dir();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = dir.path().join("calls");
    // The helper protocol: `get` with the server URL on stdin, JSON on stdout.
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\necho \"$server\" >> {calls}\n\
         case \"$server\" in\n  {host}) printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\" ;;\n\
         *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        calls = calls.display(),
        host = registry.host(),
    );
    let helper = bin.join("docker-credential-fake");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let repo = format!("{}/h/app", registry.host());

    for config in [
        r#"{"credsStore":"fake"}"#.to_string(),
        format!(r#"{{"credHelpers":{{"{}":"fake"}}}}"#, registry.host()),
    ] {
        let docker = dir.path().join("docker");
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(docker.join("config.json"), config).unwrap();
        let out = run(berth()
            .args(["tags", &repo])
            .env("PATH", &path)
            .env("DOCKER_CONFIG", &docker));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("v1"), "{}", out.stdout);
        assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
    }
    let asked = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(asked.lines().collect::<Vec<_>>(), vec![registry.host(); 2]);

    // A helper that is not installed: a clear error naming it.
    let docker = dir.path().join("docker");
    std::fs::write(docker.join("config.json"), r#"{"credsStore":"missing"}"#).unwrap();
    let out = run(berth().args(["tags", &repo]).env("DOCKER_CONFIG", &docker));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("docker-credential-missing"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_reference_is_a_usage_error() {
    let out = run(berth().args(["tags", "localhost:5000/Team/App"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`localhost:5000/Team/App`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("lowercase"), "{}", out.stderr);
}

#[test]
fn works_on_an_oci_layout() {
    use berth::registry::ocidir::OciDir;

    let dir = crate::harness::temp_dir();
    let layout = OciDir::create(&dir.path().join("layout")).expect("layout");
    let spec = ImageSpec::new("disk")
        .created("2026-05-06T07:08:09Z")
        .label("org.opencontainers.image.revision", "0123456789ab");
    let layer = spec.layer();
    let layer_desc = layout
        .put_blob("application/vnd.oci.image.layer.v1.tar", &layer)
        .unwrap();
    let config = spec.config(layer_desc.digest.as_str());
    layout
        .put_blob("application/vnd.oci.image.config.v1+json", &config)
        .unwrap();
    let digest = layout
        .put_manifest(&spec.manifest(&config, &layer), Some("v1"))
        .unwrap();
    let repo = format!("oci:{}", layout.path().display());
    let out = run(berth().args(["tags", "-o", "json", &repo]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["repository"], repo);
    assert_eq!(json["tags"][0]["tag"], "v1");
    assert_eq!(json["tags"][0]["digest"], digest.as_str());
    assert_eq!(json["tags"][0]["created"], "2026-05-06T07:08:09Z");
    assert_eq!(json["tags"][0]["revision"], "0123456789ab");
}
