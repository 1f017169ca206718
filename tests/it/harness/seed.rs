//! Pushes content into a [`TestRegistry`] through the Distribution API with the harness's own
//! minimal client (reqwest; independent of berth's registry code): blobs, image manifests in
//! OCI and Docker formats, indexes (nestable), extra tags, OCI referrers (with the referrers
//! tag fallback a client must maintain on registries without the referrers API, such as
//! Distribution 2.8) and cosign-style signatures.
//!
//! Authentication follows the registry's mode: none, Basic, or Bearer tokens fetched from the
//! harness's issuer (cached per repository, refreshed on 401).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt;
use reqwest::{Method, RequestBuilder, StatusCode};
use sha2::{Digest as _, Sha256};

use super::registry::{Auth, PASSWORD, TestRegistry, USER};
use super::token::SEEDER_CLIENT_ID;

/// The `User-Agent` of every seeder request (to tell them apart in the access log).
pub const USER_AGENT: &str = "berth-harness-seeder";
/// How many requests the batch helpers keep in flight.
pub const CONCURRENCY: usize = 16;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type (`{}`), used as config of artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The cosign simple-signing payload media type.
pub const COSIGN_PAYLOAD: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// Every manifest type, for `Accept`.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Manifest family of a pushed image or index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// OCI image manifest / OCI index.
    #[default]
    Oci,
    /// Docker schema 2 manifest / manifest list.
    Docker,
}

impl Format {
    /// The image manifest media type.
    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_MANIFEST,
            Format::Docker => DOCKER_MANIFEST,
        }
    }

    /// The index / manifest list media type.
    pub fn index_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_INDEX,
            Format::Docker => DOCKER_LIST,
        }
    }

    fn config_type(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.config.v1+json",
            Format::Docker => "application/vnd.docker.container.image.v1+json",
        }
    }

    fn layer_type(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.layer.v1.tar",
            Format::Docker => "application/vnd.docker.image.rootfs.diff.tar",
        }
    }
}

/// An image's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `v8` for arm64.
    pub variant: Option<String>,
}

impl Platform {
    /// `os/architecture` without variant.
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut p = serde_json::json!({ "architecture": self.architecture, "os": self.os });
        if let Some(v) = &self.variant {
            p["variant"] = v.clone().into();
        }
        p
    }
}

impl Default for Platform {
    /// linux/amd64.
    fn default() -> Self {
        Platform::new("linux", "amd64")
    }
}

/// What an image pushed by [`Seeder::push_image`] looks like. Equal specs give equal digests;
/// `unique` goes into the config (its `history`), so differing specs give differing digests.
/// Every image of a format shares one small layer (a real tar with one file): an image then
/// costs one new blob, which keeps seeding 10,000 tags fast.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSpec {
    /// Manifest family.
    pub format: Format,
    /// The config's `created` (RFC 3339), if any.
    pub created: Option<String>,
    /// The config's `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// The config's os/architecture/variant.
    pub platform: Platform,
    /// Content mixed into the config, to tell images apart.
    pub unique: String,
}

impl ImageSpec {
    /// An OCI linux/amd64 image told apart by `unique`.
    pub fn new(unique: &str) -> ImageSpec {
        ImageSpec {
            unique: unique.to_string(),
            ..ImageSpec::default()
        }
    }

    /// Sets the manifest family.
    pub fn format(mut self, format: Format) -> ImageSpec {
        self.format = format;
        self
    }

    /// Sets `created` (RFC 3339).
    pub fn created(mut self, created: &str) -> ImageSpec {
        self.created = Some(created.to_string());
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> ImageSpec {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the platform.
    pub fn platform(mut self, platform: Platform) -> ImageSpec {
        self.platform = platform;
        self
    }

    /// The layer blob, shared by every spec: an uncompressed tar holding `hello.txt`.
    pub fn layer(&self) -> Vec<u8> {
        tar_one_file("hello.txt", b"hello from the berth test harness\n")
    }

    /// The config blob for a given layer digest (its diff id, the layer being uncompressed).
    pub fn config(&self, layer_digest: &str) -> Vec<u8> {
        let mut config = self.platform.json();
        if let Some(created) = &self.created {
            config["created"] = created.clone().into();
        }
        config["config"] = serde_json::json!({ "Labels": self.labels });
        config["rootfs"] = serde_json::json!({ "type": "layers", "diff_ids": [layer_digest] });
        config["history"] = serde_json::json!([{
            "created_by": format!("berth test harness: {}", self.unique),
        }]);
        serde_json::to_vec(&config).expect("serialize the config")
    }

    /// The manifest for the given config and layer blobs.
    pub fn manifest(&self, config: &[u8], layer: &[u8]) -> Vec<u8> {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": self.format.manifest_type(),
            "config": {
                "mediaType": self.format.config_type(),
                "digest": digest_of(config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": self.format.layer_type(),
                "digest": digest_of(layer),
                "size": layer.len(),
            }],
        });
        serde_json::to_vec(&manifest).expect("serialize the manifest")
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An uncompressed ustar archive with one regular file (fixed mode, owner and mtime, so the
/// bytes depend only on name and content).
pub fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100, "tar name too long: {name}");
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A manifest's type and size, as a descriptor needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// `Content-Type` of the manifest.
    pub media_type: String,
    /// Its length in bytes.
    pub size: u64,
    /// Its digest.
    pub digest: String,
}

enum SeedAuth {
    None,
    Basic,
    Bearer { realm: String },
}

/// One blob's upload, done once however many pushes ask for it at the same time.
type BlobUpload = Arc<tokio::sync::OnceCell<()>>;

/// The seeding client for one registry.
pub struct Seeder {
    client: reqwest::Client,
    base: String,
    auth: SeedAuth,
    /// Bearer tokens per repository.
    tokens: Mutex<HashMap<String, String>>,
    /// Blobs this seeder has pushed or seen, per repository (skips the HEAD). Concurrent
    /// pushes of one blob wait for a single upload: the registry rewrites the repository's
    /// blob link on every upload, and a manifest PUT that reads the link mid-rewrite is
    /// refused with `MANIFEST_BLOB_UNKNOWN`.
    known_blobs: Mutex<HashMap<(String, String), BlobUpload>>,
}

impl Seeder {
    /// A seeder for `registry`, authenticating as the test user when the registry needs it.
    pub fn new(registry: &TestRegistry) -> Seeder {
        Self::via(registry, &registry.url())
    }

    /// A seeder for `registry` that sends its requests to `base_url` instead (e.g. a
    /// [`super::FaultProxy`] in front of it).
    pub fn via(registry: &TestRegistry, base_url: &str) -> Seeder {
        let auth = match registry.auth() {
            Auth::None => SeedAuth::None,
            Auth::Htpasswd => SeedAuth::Basic,
            Auth::Token => SeedAuth::Bearer {
                realm: format!(
                    "{}/token",
                    registry.issuer_url().expect("token mode has an issuer")
                ),
            },
        };
        Seeder {
            client: reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .pool_max_idle_per_host(CONCURRENCY)
                .build()
                .expect("build the seeder's HTTP client"),
            base: base_url.trim_end_matches('/').to_string(),
            auth,
            tokens: Mutex::new(HashMap::new()),
            known_blobs: Mutex::new(HashMap::new()),
        }
    }

    /// Uploads a blob (monolithic POST + PUT) unless the registry already has it; returns its
    /// digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        let key = (repo.to_string(), digest.clone());
        let once = self
            .known_blobs
            .lock()
            .expect("blob cache")
            .entry(key)
            .or_default()
            .clone();
        once.get_or_init(|| async {
            let head = self
                .send(repo, |c| {
                    c.head(format!("{}/v2/{repo}/blobs/{digest}", self.base))
                })
                .await;
            if head.status() != StatusCode::OK {
                let start = self
                    .send(repo, |c| {
                        c.post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
                    })
                    .await;
                let start = expect_status(start, StatusCode::ACCEPTED, "start blob upload").await;
                let location = start
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .expect("upload Location header")
                    .to_string();
                let mut url = reqwest::Url::parse(&self.base)
                    .and_then(|b| b.join(&location))
                    .expect("upload URL");
                url.query_pairs_mut().append_pair("digest", &digest);
                let body = bytes.to_vec();
                let put = self
                    .send(repo, |c| {
                        c.put(url.clone())
                            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                            .body(body.clone())
                    })
                    .await;
                expect_status(put, StatusCode::CREATED, "finish blob upload").await;
            }
        })
        .await;
        digest
    }

    /// PUTs a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        self.put_manifest(repo, reference, media_type, bytes)
            .await
            .0
    }

    /// PUTs a manifest; returns its digest and whether the registry answered `OCI-Subject`.
    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> (String, bool) {
        let digest = digest_of(bytes);
        let body = bytes.to_vec();
        let resp = self
            .send(repo, |c| {
                c.put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
                    .header(reqwest::header::CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await;
        let resp = expect_status(resp, StatusCode::CREATED, "push manifest").await;
        let answered = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(answered, digest, "registry digest for {repo}:{reference}");
        (digest, resp.headers().contains_key("oci-subject"))
    }

    /// Pushes the image described by `spec` (layer, config, manifest) and tags it `tag`;
    /// returns the manifest digest.
    pub async fn push_image(&self, repo: &str, tag: &str, spec: &ImageSpec) -> String {
        let layer = spec.layer();
        let layer_digest = self.push_blob(repo, &layer).await;
        let config = spec.config(&layer_digest);
        self.push_blob(repo, &config).await;
        let manifest = spec.manifest(&config, &layer);
        self.push_manifest(repo, tag, spec.format.manifest_type(), &manifest)
            .await
    }

    /// Pushes many images, [`CONCURRENCY`] at a time; returns their digests in input order.
    pub async fn push_images(&self, repo: &str, images: &[(String, ImageSpec)]) -> Vec<String> {
        futures_util::stream::iter(images)
            .map(|(tag, spec)| self.push_image(repo, tag, spec))
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    /// Pushes an index (OCI) or manifest list (Docker) over `children` (digests already in
    /// `repo`, images or indexes) with their platforms, tagged `tag`; returns its digest.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        format: Format,
        children: &[(String, Platform)],
    ) -> String {
        let mut manifests = Vec::new();
        for (digest, platform) in children {
            let info = self
                .manifest_info(repo, digest)
                .await
                .unwrap_or_else(|| panic!("index child {digest} is not in {repo}"));
            manifests.push(serde_json::json!({
                "mediaType": info.media_type,
                "digest": info.digest,
                "size": info.size,
                "platform": platform.json(),
            }));
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": format.index_type(),
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).expect("serialize the index");
        self.push_manifest(repo, tag, format.index_type(), &bytes)
            .await
    }

    /// Puts the manifest `digest` under another tag (same bytes).
    pub async fn tag(&self, repo: &str, tag: &str, digest: &str) {
        let (media_type, bytes) = self
            .get_manifest(repo, digest)
            .await
            .unwrap_or_else(|| panic!("{digest} is not in {repo}"));
        self.push_manifest(repo, tag, &media_type, &bytes).await;
    }

    /// Pushes an OCI artifact manifest whose `subject` is `subject_digest`, by digest
    /// (untagged). Distribution 2.8 has no referrers API (no `OCI-Subject` answer), so, as
    /// the OCI spec requires of clients, the referrer is also added to the referrers tag
    /// `sha256-<hex>` (an OCI index). Returns the artifact's digest.
    pub async fn push_referrer(
        &self,
        repo: &str,
        subject_digest: &str,
        artifact_type: &str,
    ) -> String {
        let subject = self
            .manifest_info(repo, subject_digest)
            .await
            .unwrap_or_else(|| panic!("referrer subject {subject_digest} is not in {repo}"));
        let empty = self.push_blob(repo, b"{}").await;
        let payload = format!("{artifact_type} for {subject_digest}");
        let layer = self.push_blob(repo, payload.as_bytes()).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": { "mediaType": OCI_EMPTY, "digest": empty, "size": 2 },
            "layers": [{
                "mediaType": "application/octet-stream",
                "digest": layer,
                "size": payload.len(),
            }],
            "subject": {
                "mediaType": subject.media_type,
                "digest": subject.digest,
                "size": subject.size,
            },
        });
        let bytes = serde_json::to_vec(&manifest).expect("serialize the referrer");
        let (digest, supported) = self
            .put_manifest(repo, &digest_of(&bytes), OCI_MANIFEST, &bytes)
            .await;
        if !supported {
            self.add_to_referrers_tag(repo, subject_digest, &digest, bytes.len(), artifact_type)
                .await;
        }
        digest
    }

    async fn add_to_referrers_tag(
        &self,
        repo: &str,
        subject_digest: &str,
        digest: &str,
        size: usize,
        artifact_type: &str,
    ) {
        let tag = subject_digest.replacen(':', "-", 1);
        let mut index = match self.get_manifest(repo, &tag).await {
            Some((_, bytes)) => {
                serde_json::from_slice::<serde_json::Value>(&bytes).expect("referrers index JSON")
            }
            None => serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [],
            }),
        };
        let manifests = index["manifests"]
            .as_array_mut()
            .expect("referrers index has manifests");
        if !manifests.iter().any(|m| m["digest"] == digest) {
            manifests.push(serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "artifactType": artifact_type,
            }));
        }
        let bytes = serde_json::to_vec(&index).expect("serialize the referrers index");
        self.push_manifest(repo, &tag, OCI_INDEX, &bytes).await;
    }

    /// Pushes a cosign-style signature of `subject_digest` under the tag
    /// `sha256-<hex>.sig`; returns that tag.
    pub async fn push_cosign_signature(&self, repo: &str, subject_digest: &str) -> String {
        let payload = serde_json::to_vec(&serde_json::json!({
            "critical": {
                "identity": { "docker-reference": repo },
                "image": { "docker-manifest-digest": subject_digest },
                "type": "cosign container image signature",
            },
            "optional": null,
        }))
        .expect("serialize the signing payload");
        let layer = self.push_blob(repo, &payload).await;
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [layer] },
        }))
        .expect("serialize the signature config");
        let config_digest = self.push_blob(repo, &config).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": COSIGN_PAYLOAD,
                "digest": layer,
                "size": payload.len(),
                "annotations": {
                    // Test data, not a real signature: tests only need the shape.
                    "dev.cosignproject.cosign/signature": B64.encode(Sha256::digest(&payload)),
                },
            }],
        });
        let bytes = serde_json::to_vec(&manifest).expect("serialize the signature manifest");
        let tag = format!("{}.sig", subject_digest.replacen(':', "-", 1));
        self.push_manifest(repo, &tag, OCI_MANIFEST, &bytes).await;
        tag
    }

    /// Every tag of `repo` with the digest it points to (empty for an unknown repository).
    pub async fn tags(&self, repo: &str) -> BTreeMap<String, String> {
        let resp = self
            .send(repo, |c| {
                c.get(format!("{}/v2/{repo}/tags/list", self.base))
            })
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return BTreeMap::new();
        }
        let resp = expect_status(resp, StatusCode::OK, "list tags").await;
        let body: serde_json::Value = resp.json().await.expect("tags list JSON");
        // Distribution 2.8 answers `"tags": null` for a repository whose tags are all gone.
        let tags: Vec<String> = body["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        futures_util::stream::iter(tags)
            .map(|tag| async move {
                let info = self.manifest_info(repo, &tag).await;
                info.map(|i| (tag, i.digest))
            })
            .buffer_unordered(CONCURRENCY)
            .filter_map(|entry| async move { entry })
            .collect()
            .await
    }

    /// Whether `repo` has the manifest `digest`.
    pub async fn manifest_exists(&self, repo: &str, digest: &str) -> bool {
        self.manifest_info(repo, digest).await.is_some()
    }

    /// Type, size and digest of a manifest (HEAD), `None` when it does not exist.
    pub async fn manifest_info(&self, repo: &str, reference: &str) -> Option<ManifestInfo> {
        let resp = self
            .send(repo, |c| {
                c.head(format!("{}/v2/{repo}/manifests/{reference}", self.base))
                    .header(reqwest::header::ACCEPT, ACCEPT)
            })
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = expect_status(resp, StatusCode::OK, "HEAD manifest").await;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("HEAD {repo}:{reference} lacks {name}"))
                .to_string()
        };
        Some(ManifestInfo {
            media_type: header("content-type"),
            size: header("content-length")
                .parse()
                .expect("numeric Content-Length"),
            digest: header("docker-content-digest"),
        })
    }

    /// The bytes and media type of a manifest, `None` when it does not exist.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Option<(String, Vec<u8>)> {
        let resp = self
            .send(repo, |c| {
                c.get(format!("{}/v2/{repo}/manifests/{reference}", self.base))
                    .header(reqwest::header::ACCEPT, ACCEPT)
            })
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = expect_status(resp, StatusCode::OK, "GET manifest").await;
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .expect("manifest Content-Type")
            .to_string();
        let bytes = resp.bytes().await.expect("manifest body").to_vec();
        Some((media_type, bytes))
    }

    /// Sends a request built by `build` with the registry's auth; on a 401 with a Bearer
    /// registry the cached token is refreshed once (it may have expired).
    async fn send(
        &self,
        repo: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> reqwest::Response {
        let mut refreshed = false;
        loop {
            let req = self.authorize(repo, build(&self.client), refreshed).await;
            let resp = req.send().await.expect("send a seeder request");
            if resp.status() == StatusCode::UNAUTHORIZED
                && matches!(self.auth, SeedAuth::Bearer { .. })
                && !refreshed
            {
                refreshed = true;
                continue;
            }
            return resp;
        }
    }

    async fn authorize(&self, repo: &str, req: RequestBuilder, refresh: bool) -> RequestBuilder {
        match &self.auth {
            SeedAuth::None => req,
            SeedAuth::Basic => req.basic_auth(USER, Some(PASSWORD)),
            SeedAuth::Bearer { realm } => {
                let cached = self.tokens.lock().expect("token cache").get(repo).cloned();
                let token = match cached {
                    Some(t) if !refresh => t,
                    _ => {
                        let t = self.fetch_token(realm, repo).await;
                        self.tokens
                            .lock()
                            .expect("token cache")
                            .insert(repo.to_string(), t.clone());
                        t
                    }
                };
                req.bearer_auth(token)
            }
        }
    }

    async fn fetch_token(&self, realm: &str, repo: &str) -> String {
        let scope = format!("repository:{repo}:pull,push,delete");
        let resp = self
            .client
            .get(realm)
            .query(&[
                ("service", super::registry::TOKEN_SERVICE),
                ("scope", scope.as_str()),
                ("client_id", SEEDER_CLIENT_ID),
            ])
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("reach the token issuer");
        let resp = expect_status(resp, StatusCode::OK, "fetch a token").await;
        let body: serde_json::Value = resp.json().await.expect("token JSON");
        body["token"].as_str().expect("token field").to_string()
    }

    /// A raw request with the seeder's auth, for tests that need one the helpers do not cover.
    pub async fn request(&self, repo: &str, method: Method, path: &str) -> reqwest::Response {
        self.send(repo, |c| {
            c.request(method.clone(), format!("{}{path}", self.base))
        })
        .await
    }
}

async fn expect_status(resp: reqwest::Response, want: StatusCode, what: &str) -> reqwest::Response {
    if resp.status() == want {
        return resp;
    }
    let status = resp.status();
    let url = resp.url().clone();
    let body = resp.text().await.unwrap_or_default();
    panic!("{what}: {url} answered {status} (expected {want}): {body}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_layer_is_a_valid_archive() {
        let tar = tar_one_file("unique.txt", b"hello");
        assert_eq!(tar.len(), 512 * 4);
        let dir = super::super::temp_dir();
        let path = dir.path().join("l.tar");
        std::fs::write(&path, &tar).unwrap();
        let out = super::super::run(std::process::Command::new("tar").arg("-xOf").arg(&path));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout, "hello");
    }

    #[test]
    fn specs_differ_by_unique_and_are_stable() {
        let a = ImageSpec::new("a").created("2024-01-02T03:04:05Z");
        let b = ImageSpec::new("b").created("2024-01-02T03:04:05Z");
        let manifest = |s: &ImageSpec| {
            let layer = s.layer();
            s.manifest(&s.config(&digest_of(&layer)), &layer)
        };
        assert_eq!(manifest(&a), manifest(&a.clone()));
        assert_ne!(digest_of(&manifest(&a)), digest_of(&manifest(&b)));
        let config: serde_json::Value =
            serde_json::from_slice(&a.clone().label("k", "v").config("sha256:00")).unwrap();
        assert_eq!(config["created"], "2024-01-02T03:04:05Z");
        assert_eq!(config["config"]["Labels"]["k"], "v");
        assert_eq!(config["architecture"], "amd64");
    }

    #[tokio::test]
    async fn nested_indexes_referrers_and_signatures() {
        let registry = TestRegistry::start(Auth::None);
        let seeder = Seeder::new(&registry);
        let amd = seeder
            .push_image("app", "amd", &ImageSpec::new("amd").format(Format::Docker))
            .await;
        let arm = seeder
            .push_image(
                "app",
                "arm",
                &ImageSpec::new("arm")
                    .format(Format::Docker)
                    .platform(Platform::new("linux", "arm64")),
            )
            .await;
        let list = seeder
            .push_index(
                "app",
                "list",
                Format::Docker,
                &[
                    (amd.clone(), Platform::new("linux", "amd64")),
                    (arm.clone(), Platform::new("linux", "arm64")),
                ],
            )
            .await;
        let outer = seeder
            .push_index(
                "app",
                "outer",
                Format::Oci,
                &[(list.clone(), Platform::default())],
            )
            .await;
        let (media_type, bytes) = seeder.get_manifest("app", &outer).await.unwrap();
        assert_eq!(media_type, OCI_INDEX);
        let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index["manifests"][0]["digest"], list.as_str());
        assert_eq!(index["manifests"][0]["mediaType"], DOCKER_LIST);

        let sbom = seeder
            .push_referrer("app", &amd, "application/spdx+json")
            .await;
        let sig = seeder
            .push_referrer("app", &amd, "application/vnd.dev.sigstore.bundle+json")
            .await;
        assert_ne!(sbom, sig);
        let (_, referrer) = seeder.get_manifest("app", &sbom).await.unwrap();
        let referrer: serde_json::Value = serde_json::from_slice(&referrer).unwrap();
        assert_eq!(referrer["subject"]["digest"], amd.as_str());
        assert_eq!(referrer["artifactType"], "application/spdx+json");
        // Distribution 2.8 has no referrers API, so the fallback tag lists both.
        let fallback_tag = amd.replace(':', "-");
        let (_, fallback) = seeder.get_manifest("app", &fallback_tag).await.unwrap();
        let fallback: serde_json::Value = serde_json::from_slice(&fallback).unwrap();
        let listed: Vec<&str> = fallback["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap())
            .collect();
        assert_eq!(listed, vec![sbom.as_str(), sig.as_str()]);

        let cosign_tag = seeder.push_cosign_signature("app", &arm).await;
        assert_eq!(
            cosign_tag,
            format!("sha256-{}.sig", &arm["sha256:".len()..])
        );
        let tags = seeder.tags("app").await;
        let names: Vec<&str> = tags.keys().map(String::as_str).collect();
        let mut want = vec!["amd", "arm", "list", "outer", &fallback_tag, &cosign_tag];
        want.sort();
        assert_eq!(names, want);
        assert!(
            !tags.values().any(|d| *d == sbom || *d == sig),
            "referrers stay untagged"
        );
        assert!(seeder.manifest_exists("app", &sbom).await);
    }

    #[tokio::test]
    async fn many_images_push_concurrently() {
        let registry = TestRegistry::start(Auth::Token);
        let seeder = Seeder::new(&registry);
        let images: Vec<(String, ImageSpec)> = (0..64)
            .map(|i| (format!("t{i:03}"), ImageSpec::new(&format!("img-{i}"))))
            .collect();
        let digests = seeder.push_images("bulk", &images).await;
        assert_eq!(digests.len(), 64);
        let tags = seeder.tags("bulk").await;
        assert_eq!(tags.len(), 64);
        for ((tag, _), digest) in images.iter().zip(&digests) {
            assert_eq!(tags.get(tag), Some(digest));
        }
    }
}
