//! An OCI image layout on disk written by the harness (not by berth), and `berth cleanup` on it
//! with a git repository: the shape most decision tests need.

use std::collections::BTreeMap;
use std::path::Path;

use super::seed::{OCI_INDEX, OCI_MANIFEST, digest_of};
use super::{ImageSpec, Output};

/// An OCI image layout on disk, written here (not by berth).
pub struct Layout(pub tempfile::TempDir);

impl Layout {
    pub fn new() -> Layout {
        let dir = super::temp_dir();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Layout(dir)
    }

    pub fn blob(&self, bytes: &[u8]) {
        let digest = digest_of(bytes);
        let path = self
            .0
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        std::fs::write(path, bytes).unwrap();
    }

    /// Writes `index.json` with one image per `(tag, spec)`.
    pub fn images(&self, images: &[(String, ImageSpec)]) {
        let mut manifests = Vec::new();
        for (tag, spec) in images {
            let layer = spec.layer();
            self.blob(&layer);
            let config = spec.config(&digest_of(&layer));
            self.blob(&config);
            let manifest = spec.manifest(&config, &layer);
            self.blob(&manifest);
            manifests.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": digest_of(&manifest),
                "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }));
        }
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
        });
        std::fs::write(
            self.0.path().join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    pub fn index(&self) -> Vec<u8> {
        std::fs::read(self.0.path().join("index.json")).unwrap()
    }

    /// `berth cleanup --repo oci:<layout> --git-dir <dir> <args>` with `env` added.
    pub fn cleanup(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = super::berth();
        cmd.envs(env.iter().copied())
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .args(["cleanup", "--repo"])
            .arg(format!("oci:{}", self.0.path().display()))
            .arg("--git-dir")
            .arg(dir)
            .args(args);
        super::run(&mut cmd)
    }

    /// A dry run's planned action per tag; panics with the output unless it exits 0.
    pub fn plan(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> BTreeMap<String, String> {
        self.decisions(dir, args, env)
            .0
            .into_iter()
            .map(|(tag, (action, _))| (tag, action))
            .collect()
    }

    /// A dry run's `(action, reason)` per tag and its notes; panics unless it exits 0.
    pub fn decisions(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (BTreeMap<String, (String, String)>, Vec<String>) {
        let mut all = vec!["--dry-run", "--output", "json"];
        all.extend(args);
        let out = self.cleanup(dir, &all, env);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let tags = report["repos"][0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["tag"].as_str().unwrap().to_string(),
                    (
                        t["action"].as_str().unwrap().to_string(),
                        t["reason"]["message"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect();
        let notes = report["notes"]
            .as_array()
            .map(|n| n.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        (tags, notes)
    }
}
