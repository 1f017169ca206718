//! Registry adapter: talks to container registries (the Distribution/OCI API over HTTP) and
//! to OCI image layouts on disk (`oci:PATH`), behind one [`Repository`] trait.
//!
//! Must not import `git`, `ci`, `cleanup`, `app` or `cli`. reqwest types never leave this module.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod detect;
pub mod error;
pub mod http;
pub mod model;
pub mod naming;
pub mod ocidir;
pub mod providers;
pub mod reference;
pub mod repo_mode;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::secret::Secret;

pub use error::Error;
pub use model::{Descriptor, Digest, ImageConfig, Manifest, ManifestKind, Platform};

/// What a registry implementation can do, so the cleanup chooses the right calls and
/// `berth detect` can say what to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Capabilities {
    /// The registry removes one tag without touching the manifest (OCI `DELETE manifests/<tag>`
    /// or a provider API).
    pub tag_delete: bool,
    /// One tag can be removed by pushing a dummy manifest over it and deleting the dummy.
    pub dummy_untag: bool,
    /// Deleting a manifest by digest is possible at all.
    pub manifest_delete: bool,
    /// The OCI referrers API answers.
    pub referrers_api: bool,
    /// Repository paths may have more than one level below the namespace (`a/b/c`).
    pub nested_repositories: bool,
    /// A repository must be created (UI or API) before the first push (ECR).
    pub repositories_must_exist: bool,
    /// The listing shows manifests that no tag names (GitHub's untagged versions).
    pub untagged_visible: bool,
    /// The listing gives each tag's digest, so no manifest request is needed to resolve it.
    pub lists_digests: bool,
    /// The listing gives each tag's push time.
    pub lists_push_times: bool,
}

/// One tag as a repository's listing shows it: the name always; digest, media type and push
/// time when the registry's own API gives them in the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTag {
    /// The tag.
    pub name: String,
    /// The manifest it names, when the listing says.
    pub digest: Option<Digest>,
    /// That manifest's media type, when the listing says.
    pub media_type: Option<String>,
    /// When the tag (or its manifest) was pushed, when the listing says.
    pub pushed: Option<chrono::DateTime<chrono::Utc>>,
}

impl ListedTag {
    /// A tag the listing names and tells nothing more about.
    pub fn name_only(name: String) -> ListedTag {
        ListedTag {
            name,
            digest: None,
            media_type: None,
            pushed: None,
        }
    }
}

/// How a single tag was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UntagMethod {
    /// The registry's own tag delete.
    TagDelete,
    /// A dummy manifest pushed over the tag, then deleted by digest.
    DummyManifest,
}

/// One repository of one registry (or one OCI layout). Cheap to clone through `Arc`;
/// repositories of the same registry host share auth tokens and the concurrency limit.
#[async_trait]
pub trait Repository: Send + Sync {
    /// `host/path` (or `oci:PATH`), as shown in reports.
    fn name(&self) -> &str;

    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// Every tag, following pagination.
    async fn list_tags(&self) -> Result<Vec<String>, Error>;

    /// Every tag with what the listing tells about it. Backends whose API lists digests and
    /// push times override this; the Distribution API lists names only.
    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        Ok(self
            .list_tags()
            .await?
            .into_iter()
            .map(ListedTag::name_only)
            .collect())
    }

    /// Every tag, for the check before deleting, with the digests only where its listing pages
    /// carry them at no extra request (GitHub's versions, Docker Hub's tags); the check
    /// resolves the rest one by one, and only those it must. A listing that costs one request
    /// per tag for its digests (GitLab's tag details) stays names only here.
    async fn list_current(&self) -> Result<Vec<ListedTag>, Error> {
        Ok(self
            .list_tags()
            .await?
            .into_iter()
            .map(ListedTag::name_only)
            .collect())
    }

    /// The manifest a tag or digest names (GET, exact bytes kept).
    async fn manifest(&self, reference: &str) -> Result<Manifest, Error>;

    /// The digest a tag names now (HEAD where the backend has it).
    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error>;

    /// The config blob of an image manifest.
    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error>;

    /// Manifests whose `subject` is `subject`: the OCI referrers API, else an empty list when
    /// the backend has no such API (cosign-style tags are found from the tag list).
    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error>;

    /// Deletes a manifest by digest (and with it, on Distribution, every tag on it).
    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error>;

    /// Removes one tag and leaves the manifest and its other tags alone. `current` is the
    /// manifest the tag points at now (its media type picks the dummy's media type family).
    async fn untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error>;

    /// Stores manifest bytes under `reference` (a tag, or the digest for an untagged
    /// manifest) and returns the stored digest (`berth restore`). A manifest whose blobs or
    /// children the backend no longer has fails with [`Error::NotFound`] naming the first
    /// missing one.
    async fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        let _ = (reference, media_type, bytes);
        Err(Error::Unsupported {
            host: self.name().to_string(),
            operation: "pushing manifests".into(),
            detail: String::new(),
            hint: "restore into a registry or an `oci:` layout".into(),
        })
    }
}

/// Settings for reaching registries, resolved by `settings`.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Most requests in flight at once per registry host.
    pub concurrency: usize,
    /// Hosts allowed over plain HTTP / unverified TLS (loopback is always allowed over HTTP).
    pub insecure_hosts: Vec<String>,
    /// Docker config directory for credentials (None: `$DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Total time one request may spend in retries.
    pub retry_budget: Duration,
    /// The implementation override, the CI context for detection, and the platform APIs.
    pub providers: providers::ProviderOptions,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            concurrency: 16,
            insecure_hosts: Vec::new(),
            docker_config: None,
            request_timeout: Duration::from_secs(30),
            retry_budget: Duration::from_secs(120),
            providers: providers::ProviderOptions::default(),
        }
    }
}

/// Opens repositories by name, sharing one HTTP client (tokens, limits) per registry host.
pub struct Connector {
    options: RegistryOptions,
    clients: Mutex<HashMap<String, Arc<client::Client>>>,
}

impl Connector {
    /// A connector with these options.
    pub fn new(options: RegistryOptions) -> Self {
        Connector {
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Opens `oci:PATH` as an OCI layout, anything else as a registry repository reference
    /// (`nginx`, `ghcr.io/owner/app`, `localhost:5000/a/b`) through the provider that
    /// [`Connector::detect`] picks.
    pub fn open(&self, repo: &str) -> Result<Arc<dyn Repository>, Error> {
        if let Some(path) = repo.strip_prefix("oci:") {
            return Ok(Arc::new(ocidir::OciDir::open(path)?));
        }
        let reference = reference::Reference::parse(repo)?;
        let kind = self.detect(reference.registry()).kind;
        let client = self.client(reference.registry())?;
        let registry = client.distribution(
            reference.repository(),
            kind.capabilities_at(reference.registry()),
        );
        providers::open(kind, registry, &self.options)
    }

    /// The implementation behind a registry host (`host[:port]`), and how that was decided.
    pub fn detect(&self, registry: &str) -> detect::Detected {
        detect::detect(
            registry,
            self.options.providers.container_registry,
            &self.options.providers.ci,
        )
    }

    /// Every repository of the registry `host` (as a reference names it), as `host/path`:
    /// Distribution's `/v2/_catalog`, every page. Most hosted registries refuse it (it needs
    /// the `registry:catalog:*` scope), which comes back as the registry's error.
    pub async fn list_repositories(&self, host: &str) -> Result<Vec<String>, Error> {
        let client = self.client(host)?;
        let paths = client.catalog().await?;
        Ok(paths
            .into_iter()
            .map(|path| format!("{}/{path}", client.registry()))
            .collect())
    }

    /// Checks a login the way `docker login` does (`GET /v2/`, then Basic or a token from the
    /// Bearer realm with these credentials) without storing anything. Errors distinguish wrong
    /// credentials, an unreachable host, a TLS failure and a host that is not a registry.
    pub async fn verify_login(
        &self,
        registry_host: &str,
        username: &str,
        password: &Secret,
    ) -> Result<(), Error> {
        let credentials = credentials::Credentials::Basic {
            username: username.to_string(),
            password: password.clone(),
        };
        client::Client::with_credentials(registry_host, &self.options, credentials)?
            .verify_login()
            .await
    }

    /// Requests sent so far by every registry client of this connector, per method.
    pub fn request_counts(&self) -> http::RequestCounts {
        let clients = self.clients.lock().expect("connector lock poisoned");
        let mut total = http::RequestCounts::default();
        for client in clients.values() {
            total.add(&client.request_counts());
        }
        total
    }

    /// The shared client of one registry host.
    pub fn client(&self, host: &str) -> Result<Arc<client::Client>, Error> {
        let mut clients = self.clients.lock().expect("connector lock poisoned");
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        let c = Arc::new(client::Client::new(host, &self.options)?);
        clients.insert(host.to_string(), c.clone());
        Ok(c)
    }
}
