//! What the fakes of hosted platforms (GitHub Packages, GitLab, Docker Hub) share: they stand
//! in front of the real Distribution registry and share its state.
//!
//! - [`RegistryState`] reads that state from the registry's storage directory: every tag and
//!   the digest it names, every manifest revision (tagged or not, which the Distribution API
//!   cannot list), and removes a single tag the way a platform's tag delete does (the registry
//!   2.8 API has no tag delete). A manifest berth pushes through the registry (the dummy untag)
//!   therefore shows up in the fake's listing exactly as a new version or tag would on the
//!   real service.
//! - [`forward`] proxies a `/v2/` request to the real registry unchanged (method, path, query,
//!   headers including `Authorization` and `User-Agent`, body) and rewrites absolute
//!   `Location` URLs back to the fake, so berth talks to one host as it would to ghcr.io.
//! - [`PlatformFake`] is what the cleanup scenario (`tests/it/cleanup.rs`) needs of a fake.

use std::path::PathBuf;
use std::time::SystemTime;

use super::TestRegistry;

/// The `User-Agent` of requests a fake itself sends to the registry (deleting a version,
/// reading a manifest), so that tests can tell them from berth's.
pub const FAKE_USER_AGENT: &str = "berth-test-platform-fake/1";

/// One tag as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTag {
    /// The tag.
    pub name: String,
    /// `sha256:<hex>` of the manifest it names.
    pub digest: String,
    /// When the tag was last written (its `current/link`'s mtime).
    pub pushed: SystemTime,
}

/// One manifest revision as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// `sha256:<hex>`.
    pub digest: String,
    /// When it was first pushed to this repository (its revision link's mtime).
    pub pushed: SystemTime,
}

/// The real registry's state, read from its storage directory.
#[derive(Debug, Clone)]
pub struct RegistryState {
    root: PathBuf,
    url: String,
}

impl RegistryState {
    /// The state of `registry`.
    pub fn of(registry: &TestRegistry) -> RegistryState {
        RegistryState {
            root: registry.storage_dir().join("docker/registry/v2"),
            url: registry.url(),
        }
    }

    /// `http://127.0.0.1:PORT` of the registry, for [`forward`].
    pub fn url(&self) -> &str {
        &self.url
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }

    /// Every repository path (`group/project/app`), sorted.
    pub fn repositories(&self) -> Vec<String> {
        let base = self.root.join("repositories");
        let mut out = Vec::new();
        let mut todo = vec![base.clone()];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.is_dir() {
                    continue;
                }
                if entry.file_name() == "_manifests" {
                    let repo = dir.strip_prefix(&base).expect("below the base");
                    out.push(repo.to_string_lossy().into_owned());
                } else if !entry.file_name().to_string_lossy().starts_with('_') {
                    todo.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// Every tag of `repo` with its digest, sorted by name; empty for an unknown repository.
    pub fn tags(&self, repo: &str) -> Vec<StoredTag> {
        let dir = self.repo_dir(repo).join("_manifests/tags");
        let mut out: Vec<StoredTag> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let link = entry.path().join("current/link");
                let digest = std::fs::read_to_string(&link).ok()?;
                let pushed = std::fs::metadata(&link).ok()?.modified().ok()?;
                Some(StoredTag {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    digest: digest.trim().to_string(),
                    pushed,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every manifest revision of `repo`, tagged or not, oldest push first.
    pub fn manifests(&self, repo: &str) -> Vec<StoredManifest> {
        let dir = self.repo_dir(repo).join("_manifests/revisions/sha256");
        let mut out: Vec<StoredManifest> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let link = entry.path().join("link");
                let pushed = std::fs::metadata(&link).ok()?.modified().ok()?;
                Some(StoredManifest {
                    digest: format!("sha256:{}", entry.file_name().to_string_lossy()),
                    pushed,
                })
            })
            .collect();
        out.sort_by(|a, b| a.pushed.cmp(&b.pushed).then(a.digest.cmp(&b.digest)));
        out
    }

    /// The stored bytes of a manifest (or any blob) by digest.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        std::fs::read(
            self.root
                .join("blobs/sha256")
                .join(&hex[..2])
                .join(hex)
                .join("data"),
        )
        .ok()
    }

    /// Removes one tag of `repo` and leaves its manifest and other tags alone (what the
    /// platforms' tag deletes do). False when there was no such tag.
    pub fn remove_tag(&self, repo: &str, tag: &str) -> bool {
        if tag.contains('/') || tag.starts_with('.') {
            return false;
        }
        std::fs::remove_dir_all(self.repo_dir(repo).join("_manifests/tags").join(tag)).is_ok()
    }

    /// Deletes a manifest by digest through the registry's own API (which also removes every
    /// tag on it), as the fake's user agent. True on 202.
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> bool {
        let reply = reqwest::Client::new()
            .delete(format!("{}/v2/{repo}/manifests/{digest}", self.url))
            .header("user-agent", FAKE_USER_AGENT)
            .send()
            .await
            .expect("the registry answers");
        reply.status().as_u16() == 202
    }
}

/// Proxies one request to the real registry at `upstream` and returns its answer, with
/// absolute `Location` URLs naming the registry rewritten to `public` (the fake's base URL).
pub async fn forward(
    upstream: &str,
    public: &str,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("read the request body");
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("a method");
    let mut out = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .request(method, format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let reply = out
        .body(body.to_vec())
        .send()
        .await
        .expect("the registry answers");
    let mut response = axum::response::Response::builder().status(reply.status().as_u16());
    for (name, value) in reply.headers() {
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        let value = value.to_str().unwrap_or_default();
        let value = if name == "location" || name == "link" {
            value.replace(upstream, public)
        } else {
            value.to_string()
        };
        response = response.header(name.as_str(), value);
    }
    let bytes = reply.bytes().await.expect("the registry's body");
    response
        .body(axum::body::Body::from(bytes))
        .expect("a response")
}

/// What the cleanup scenario needs of a platform fake.
pub trait PlatformFake: Send + Sync {
    /// The `--container-registry` value (`github`, `gitlab`, `dockerhub`).
    fn kind(&self) -> &'static str;
    /// The repository path on the registry the scenario pushes to (`octo/app`).
    fn path(&self) -> String;
    /// The `--repo` berth is given (the fake's host and that path).
    fn repo_arg(&self) -> String;
    /// Variables that point berth at the fake with a token that may delete.
    fn env(&self) -> Vec<(String, String)>;
    /// Mutating requests berth sent to the fake (API and registry side).
    fn mutating_requests(&self) -> usize;
    /// Requests berth sent to the platform's API so far, by kind (`list page`, `delete`, …);
    /// the registry side is counted from the registry's own access log.
    fn api_requests(&self) -> std::collections::BTreeMap<String, usize>;
    /// Panics listing requests the real service would not know.
    fn assert_no_unexpected(&self);
}
