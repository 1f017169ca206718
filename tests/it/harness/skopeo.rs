//! skopeo (containers/image) as a second client, independent of both berth and the seeder:
//! images are written as an OCI image layout on disk and copied into a [`TestRegistry`] with
//! `skopeo copy`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::registry::TestRegistry;
use super::seed::{Format, ImageSpec, OCI_MANIFEST, digest_of};
use super::{run, temp_dir};

/// `skopeo` with a clean environment (only `PATH`, a temporary `HOME` and `TMPDIR`) and an
/// accept-anything signature policy, so neither the host's containers configuration nor the
/// user's login state affects a test.
pub fn skopeo() -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let home = tempfile::Builder::new()
        .prefix("skopeo-home-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create a temporary HOME for skopeo")
        .keep();
    cmd.env("TMPDIR", &home).env("HOME", &home);
    cmd.arg("--policy").arg(policy_file());
    cmd
}

/// An `insecureAcceptAnything` policy: the tests push unsigned images.
fn policy_file() -> &'static Path {
    static POLICY: OnceLock<PathBuf> = OnceLock::new();
    POLICY.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skopeo-policy.json");
        let policy = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;
        std::fs::write(&path, policy).expect("write the skopeo policy");
        path
    })
}

/// Writes the image of `spec` as an OCI image layout in `dir` (`oci-layout`, `index.json`
/// naming it `tag`, blobs) and returns its manifest digest. The layout always holds an OCI
/// manifest; [`skopeo_push`] converts on copy when `spec` asks for Docker.
pub fn write_oci_layout(dir: &Path, tag: &str, spec: &ImageSpec) -> String {
    let spec = ImageSpec {
        format: Format::Oci,
        ..spec.clone()
    };
    let layer = spec.layer();
    let config = spec.config(&digest_of(&layer));
    let manifest = spec.manifest(&config, &layer);
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).expect("create the layout's blob dir");
    for blob in [&layer, &config, &manifest] {
        let digest = digest_of(blob);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), blob).expect("write a blob");
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    let digest = digest_of(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write index.json");
    digest
}

/// Pushes the image of `spec` to `registry` as `repo:tag` with `skopeo copy` (with the
/// registry's credentials, over plain HTTP); returns the manifest digest the registry stored.
/// Panics with skopeo's output when the copy fails.
pub fn skopeo_push(registry: &TestRegistry, repo: &str, tag: &str, spec: &ImageSpec) -> String {
    let layout = temp_dir();
    write_oci_layout(layout.path(), tag, spec);
    let digest_file = layout.path().join("pushed.digest");
    let mut cmd = skopeo();
    cmd.arg("copy")
        .arg("--dest-tls-verify=false")
        .arg("--digestfile")
        .arg(&digest_file);
    if spec.format == Format::Docker {
        cmd.args(["--format", "v2s2"]);
    } else {
        cmd.arg("--preserve-digests");
    }
    if let Some((user, pass)) = registry.credentials() {
        cmd.arg("--dest-creds").arg(format!("{user}:{pass}"));
    }
    cmd.arg(format!("oci:{}:{tag}", layout.path().display()))
        .arg(format!("docker://{}/{repo}:{tag}", registry.host()));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "skopeo copy failed: {out:?}");
    std::fs::read_to_string(&digest_file)
        .expect("skopeo wrote the digest file")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::registry::Auth;
    use super::super::seed::{DOCKER_MANIFEST, Seeder};
    use super::*;

    #[tokio::test]
    async fn skopeo_pushes_oci_and_docker_images() {
        let registry = TestRegistry::start(Auth::Htpasswd);
        let spec = ImageSpec::new("skopeo").label("org.opencontainers.image.revision", "abc");
        let layout = temp_dir();
        let local = write_oci_layout(layout.path(), "v1", &spec);
        let oci = skopeo_push(&registry, "team/sk", "v1", &spec);
        assert_eq!(oci, local, "--preserve-digests keeps the layout's digest");
        let docker = skopeo_push(
            &registry,
            "team/sk",
            "v2",
            &spec.clone().format(Format::Docker),
        );
        assert_ne!(docker, oci);
        let seeder = Seeder::new(&registry);
        let tags = seeder.tags("team/sk").await;
        assert_eq!(tags.get("v1"), Some(&oci));
        assert_eq!(tags.get("v2"), Some(&docker));
        let info = seeder.manifest_info("team/sk", "v2").await.unwrap();
        assert_eq!(info.media_type, DOCKER_MANIFEST);
    }

    #[tokio::test]
    async fn skopeo_pushes_through_the_token_issuer() {
        let registry = TestRegistry::start(Auth::Token);
        let digest = skopeo_push(&registry, "tok", "v1", &ImageSpec::new("t"));
        assert!(Seeder::new(&registry).manifest_exists("tok", &digest).await);
        let requests = registry.token_requests();
        assert!(
            requests
                .iter()
                .any(|r| r.contains("repository:tok:") && r.contains("push")),
            "{requests:?}"
        );
    }
}
