//! `berth cleanup` on OCI image layouts in the states real tools leave them: an index whose
//! platform children's blobs were never copied (`skopeo copy --all` gone wrong, a partial
//! copy), untagged children deleted with `untagged: delete`, a tag on a child of a kept
//! index, a signature of a platform child. Layouts are written here by hand, not by berth,
//! and checked afterwards on disk: `index.json` entries and the blobs present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fixtures::Fixture;
use crate::harness::seed::{COSIGN_PAYLOAD, OCI_INDEX, OCI_MANIFEST, digest_of};
use crate::harness::{self, ImageSpec, Output, Platform};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI layout on disk.
struct Layout(tempfile::TempDir);

impl Layout {
    fn new() -> Layout {
        let dir = harness::temp_dir();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let layout = Layout(dir);
        layout.write_entries(&[]);
        layout
    }

    fn arg(&self) -> String {
        format!("oci:{}", self.0.path().display())
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.0
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn put_blob(&self, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        std::fs::write(self.blob_path(&digest), bytes).unwrap();
        digest
    }

    fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).exists()
    }

    fn entries(&self) -> Vec<serde_json::Value> {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.0.path().join("index.json")).unwrap())
                .unwrap();
        index["manifests"].as_array().unwrap().clone()
    }

    fn write_entries(&self, entries: &[serde_json::Value]) {
        std::fs::write(
            self.0.path().join("index.json"),
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
            }))
            .unwrap(),
        )
        .unwrap();
    }

    /// Adds an `index.json` entry for a manifest already stored (or deliberately absent).
    fn add_entry(&self, tag: Option<&str>, media_type: &str, digest: &str, size: usize) {
        let mut entry =
            serde_json::json!({"mediaType": media_type, "digest": digest, "size": size});
        if let Some(t) = tag {
            entry["annotations"] = serde_json::json!({ REF_NAME: t });
        }
        let mut entries = self.entries();
        entries.push(entry);
        self.write_entries(&entries);
    }

    /// Stores a manifest blob with an entry, tagged or untagged; returns its digest.
    fn put_manifest(&self, tag: Option<&str>, media_type: &str, bytes: &[u8]) -> String {
        let digest = self.put_blob(bytes);
        self.add_entry(tag, media_type, &digest, bytes.len());
        digest
    }

    /// Stores an image's blobs (manifest, config, layer) without an entry; returns the
    /// manifest's digest, its bytes and its config's digest.
    fn image_blobs(&self, spec: &ImageSpec) -> (String, Vec<u8>, String) {
        let layer = spec.layer();
        let layer_digest = self.put_blob(&layer);
        let config = spec.config(&layer_digest);
        let config_digest = self.put_blob(&config);
        let manifest = spec.manifest(&config, &layer);
        (self.put_blob(&manifest), manifest, config_digest)
    }

    /// Tags the entries of `digest` carry, and how many entries it has.
    fn entries_of(&self, digest: &str) -> (Vec<String>, usize) {
        let of: Vec<serde_json::Value> = self
            .entries()
            .into_iter()
            .filter(|e| e["digest"] == digest)
            .collect();
        let tags = of
            .iter()
            .filter_map(|e| e["annotations"][REF_NAME].as_str().map(str::to_string))
            .collect();
        (tags, of.len())
    }
}

/// The bytes of an index of `children` (digest, size, architecture).
fn index_of(children: &[(&str, usize, &str)]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|(digest, size, arch)| {
            serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
    }))
    .unwrap()
}

/// A signature-like manifest: its own config and payload blobs, optionally with a `subject`.
/// Returns its bytes and the digests of its config and payload.
fn signature(layout: &Layout, of: &str, subject: Option<(&str, usize)>) -> (Vec<u8>, [String; 2]) {
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {"image": {"docker-manifest-digest": of}},
    }))
    .unwrap();
    let payload_digest = layout.put_blob(&payload);
    let config = format!(r#"{{"architecture":"","os":"","config":{{}},"signs":"{of}"}}"#);
    let config_digest = layout.put_blob(config.as_bytes());
    let mut manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": COSIGN_PAYLOAD, "digest": payload_digest, "size": payload.len()}],
    });
    if let Some((digest, size)) = subject {
        manifest["subject"] =
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size});
    }
    (
        serde_json::to_vec(&manifest).unwrap(),
        [config_digest, payload_digest],
    )
}

/// Git: `main` with one commit (live), `feature/y` with one commit whose branch is gone.
/// Returns the CI clone and the two commits.
fn git() -> (Fixture, PathBuf, String, String) {
    let f = Fixture::new();
    let main = f.commit("main", "main 1");
    let gone = f.commit("feature/y", "y");
    f.push_all();
    f.git(&["checkout", "-q", "main"]);
    f.delete_remote_branch("feature/y");
    let clone = f.clone_ci();
    (f, clone, main, gone)
}

fn spec(unique: &str, commit: &str, arch: &str) -> ImageSpec {
    ImageSpec::new(unique)
        .created("2023-11-15T00:00:00Z")
        .label("org.opencontainers.image.revision", commit)
        .platform(Platform::new("linux", arch))
}

fn cleanup(layout: &Layout, clone: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let mut cmd = harness::berth();
    cmd.env("XDG_CACHE_HOME", clone.parent().unwrap().join("cache"))
        .args([
            "cleanup",
            "--output",
            "json",
            "--repo",
            &layout.arg(),
            "--git-dir",
        ])
        .arg(clone)
        .args(args);
    let out = harness::run(&mut cmd);
    let report = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", out.stdout, out.stderr));
    (out, report)
}

/// `tag → result` of the report's tags that have one.
fn tag_results(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| Some((t["tag"].as_str()?.into(), t["result"].as_str()?.into())))
        .collect()
}

/// `digest → result` of the report's untagged manifest deletions.
fn manifest_results(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["repos"][0]["manifest_deletions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let result = m["result"].as_str().unwrap_or("none");
            (m["digest"].as_str().unwrap().into(), result.into())
        })
        .collect()
}

/// `keep: { untagged: delete }` as a berth.yaml next to the clone.
fn untagged_delete(clone: &Path) -> String {
    let path = clone.parent().unwrap().join("berth.yaml");
    std::fs::write(&path, "keep:\n  untagged: delete\n").unwrap();
    path.display().to_string()
}

#[test]
fn a_deletion_next_to_an_index_with_missing_children_is_done_and_its_signature_goes() {
    let (_f, clone, main, gone) = git();
    let layout = Layout::new();
    // `main`: an index whose arm64 child was never copied into `blobs/`.
    let (amd, amd_bytes, amd_config) = layout.image_blobs(&spec("main-amd", &main, "amd64"));
    let missing = digest_of(b"the arm64 manifest that was never copied");
    let index = index_of(&[(&amd, amd_bytes.len(), "amd64"), (&missing, 1234, "arm64")]);
    let index_digest = layout.put_manifest(Some("main"), OCI_INDEX, &index);
    // The deleted branch's image and its cosign signature.
    let (old, old_bytes, old_config) = layout.image_blobs(&spec("gone", &gone, "amd64"));
    let old_tag = format!("sha-{}", &gone[..7]);
    layout.add_entry(Some(&old_tag), OCI_MANIFEST, &old, old_bytes.len());
    let (sig_bytes, sig_blobs) = signature(&layout, &old, None);
    let sig_tag = format!("{}.sig", old.replacen(':', "-", 1));
    let sig = layout.put_manifest(Some(&sig_tag), OCI_MANIFEST, &sig_bytes);

    let (out, report) = cleanup(&layout, &clone, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let results = tag_results(&report);
    assert_eq!(results[&old_tag], "deleted", "{}", out.stdout);
    assert_eq!(results[&sig_tag], "deleted", "{}", out.stdout);
    assert_eq!(report["totals"]["failed"], 0);
    assert!(out.stderr.contains(missing.as_str()), "{}", out.stderr);
    for d in [&old, &old_config, &sig, &sig_blobs[0], &sig_blobs[1]] {
        assert!(!layout.has_blob(d), "{d} survived:\n{}", out.stdout);
    }
    for d in [&index_digest, &amd, &amd_config] {
        assert!(layout.has_blob(d), "{d} is gone:\n{}", out.stdout);
    }
    assert_eq!(layout.entries_of(&index_digest).0, ["main"]);
    assert_eq!(layout.entries().len(), 1, "{:#?}", layout.entries());
}

#[test]
fn untagged_delete_removes_the_children_of_a_deleted_index_in_a_layout() {
    let (_f, clone, main, gone) = git();
    let config = untagged_delete(&clone);
    let layout = Layout::new();
    let (kept, kept_bytes, kept_config) = layout.image_blobs(&spec("main", &main, "amd64"));
    layout.add_entry(Some("main"), OCI_MANIFEST, &kept, kept_bytes.len());
    let (amd, amd_bytes, amd_config) = layout.image_blobs(&spec("y-amd", &gone, "amd64"));
    let (arm, arm_bytes, arm_config) = layout.image_blobs(&spec("y-arm", &gone, "arm64"));
    let index = index_of(&[
        (&amd, amd_bytes.len(), "amd64"),
        (&arm, arm_bytes.len(), "arm64"),
    ]);
    let old_tag = format!("sha-{}", &gone[..7]);
    let index_digest = layout.put_manifest(Some(&old_tag), OCI_INDEX, &index);

    let (out, report) = cleanup(&layout, &clone, &["--config", &config]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(tag_results(&report)[&old_tag], "deleted", "{}", out.stdout);
    let children = manifest_results(&report);
    assert_eq!(children.len(), 2, "{}", out.stdout);
    assert_eq!(children[&amd], "deleted", "{}", out.stdout);
    assert_eq!(children[&arm], "deleted", "{}", out.stdout);
    assert_eq!(report["totals"]["failed"], 0);
    for d in [&index_digest, &amd, &amd_config, &arm, &arm_config] {
        assert!(!layout.has_blob(d), "{d} survived:\n{}", out.stdout);
    }
    for d in [&kept, &kept_config] {
        assert!(layout.has_blob(d), "{d} is gone:\n{}", out.stdout);
    }
    assert_eq!(layout.entries().len(), 1, "{:#?}", layout.entries());
}

#[test]
fn untagging_a_child_of_a_kept_index_leaves_no_unnamed_entry() {
    let (_f, clone, _main, gone) = git();
    let layout = Layout::new();
    // The index is kept as the tag of live branch `main`; its amd64 child was built from the
    // gone commit, its arm64 child names no commit.
    let (amd, amd_bytes, amd_config) = layout.image_blobs(&spec("main-amd", &gone, "amd64"));
    let arm_spec = ImageSpec::new("main-arm")
        .created("2023-11-15T00:00:00Z")
        .platform(Platform::new("linux", "arm64"));
    let (arm, arm_bytes, _) = layout.image_blobs(&arm_spec);
    let index = index_of(&[
        (&amd, amd_bytes.len(), "amd64"),
        (&arm, arm_bytes.len(), "arm64"),
    ]);
    let index_digest = layout.put_manifest(Some("main"), OCI_INDEX, &index);
    // A tag of the deleted branch names the amd64 child; an unlinked tag (kept) names arm64.
    layout.add_entry(Some("feature-y"), OCI_MANIFEST, &amd, amd_bytes.len());
    layout.add_entry(Some("debug-arm"), OCI_MANIFEST, &arm, arm_bytes.len());

    let (out, report) = cleanup(&layout, &clone, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let results = tag_results(&report);
    assert_eq!(
        results.get("feature-y").map(String::as_str),
        Some("untagged"),
        "{}",
        out.stdout
    );
    assert_eq!(results.get("debug-arm"), None, "{}", out.stdout);
    assert_eq!(
        layout.entries_of(&amd),
        (vec![], 0),
        "{:#?}",
        layout.entries()
    );
    assert_eq!(layout.entries_of(&index_digest).0, ["main"]);
    for d in [&index_digest, &amd, &amd_config, &arm] {
        assert!(layout.has_blob(d), "{d} is gone:\n{}", out.stdout);
    }
    assert_eq!(layout.entries_of(&arm), (vec!["debug-arm".to_string()], 1));
    assert!(
        !layout
            .entries()
            .iter()
            .any(|e| e["annotations"][REF_NAME].is_null()),
        "an unnamed entry is left: {:#?}",
        layout.entries()
    );
}

#[test]
fn a_referrer_of_a_platform_child_goes_with_its_deleted_index() {
    let (_f, clone, main, gone) = git();
    let config = untagged_delete(&clone);
    let layout = Layout::new();
    let (kept, kept_bytes, _) = layout.image_blobs(&spec("main", &main, "amd64"));
    layout.add_entry(Some("main"), OCI_MANIFEST, &kept, kept_bytes.len());
    let (amd, amd_bytes, _) = layout.image_blobs(&spec("y-amd", &gone, "amd64"));
    let (arm, arm_bytes, _) = layout.image_blobs(&spec("y-arm", &gone, "arm64"));
    let index = index_of(&[
        (&amd, amd_bytes.len(), "amd64"),
        (&arm, arm_bytes.len(), "arm64"),
    ]);
    let old_tag = format!("sha-{}", &gone[..7]);
    let index_digest = layout.put_manifest(Some(&old_tag), OCI_INDEX, &index);
    // An OCI referrer (a signature with `subject`) of the amd64 child, as an untagged entry.
    let (sig_bytes, sig_blobs) = signature(&layout, &amd, Some((&amd, amd_bytes.len())));
    let sig = layout.put_manifest(None, OCI_MANIFEST, &sig_bytes);

    let (out, report) = cleanup(&layout, &clone, &["--config", &config]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let deletions = manifest_results(&report);
    assert_eq!(
        deletions.get(&sig).map(String::as_str),
        Some("deleted"),
        "{}",
        out.stdout
    );
    assert_eq!(
        layout.entries_of(&sig),
        (vec![], 0),
        "{:#?}",
        layout.entries()
    );
    for d in [&index_digest, &amd, &sig, &sig_blobs[0], &sig_blobs[1]] {
        assert!(!layout.has_blob(d), "{d} survived:\n{}", out.stdout);
    }
    assert_eq!(layout.entries_of(&kept).0, ["main"]);
    assert_eq!(layout.entries().len(), 1, "{:#?}", layout.entries());
}
