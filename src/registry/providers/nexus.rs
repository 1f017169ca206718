//! Sonatype Nexus Repository 3 (override only: `--container-registry nexus`): its Docker API
//! (a connector port, or `/repository/<repo-name>/v2/`) is Distribution for listing, reading
//! and deleting by digest (registry-apis.md §10.2).
//!
//! Nexus refuses a tag delete, and whether its digest delete also removes the tags on that
//! digest depends on the version (3.89 leaves the tag files behind), so a dummy pushed over a
//! tag and deleted may leave the tag listed: berth never untags here. The planner keeps a
//! doomed tag whose manifest stays (the capabilities say neither untag works), and an untag
//! the executor would still ask for (a tag that arrived on a doomed digest after planning)
//! fails without touching anything.
//!
//! A digest delete answered 404 `MANIFEST_UNKNOWN` counts as already gone, as elsewhere: the
//! digest was read just before, so Nexus no longer holding it cannot remove anything else;
//! on 3.89 the tag files it leaves keep being listed and resolve to 404, so the next scan
//! sees them as tags that no longer resolve.

use std::sync::Arc;

use async_trait::async_trait;

use crate::registry::client::DistributionRepository;
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, Manifest, Repository, UntagMethod,
};

/// Why an untag is refused.
const NO_UNTAG: &str = "Nexus deletes images by digest only (with every tag on them) and cannot delete a single tag; berth keeps such tags, run berth again to plan with the tag that arrived";

/// Opens the repository through the Distribution API.
pub fn open(registry: Arc<DistributionRepository>) -> Arc<dyn Repository> {
    Arc::new(Nexus { registry })
}

/// A Nexus repository.
struct Nexus {
    registry: Arc<DistributionRepository>,
}

#[async_trait]
impl Repository for Nexus {
    fn name(&self) -> &str {
        self.registry.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.registry.capabilities()
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        self.registry.list_tags().await
    }

    async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
        self.registry.manifest(reference).await
    }

    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
        self.registry.resolve_digest(tag).await
    }

    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error> {
        self.registry.config(config).await
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        self.registry.referrers(subject).await
    }

    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        self.registry.delete_manifest(digest).await
    }

    async fn untag(&self, tag: &str, _current: &Manifest) -> Result<UntagMethod, Error> {
        Err(Error::Unsupported {
            host: self.registry.client().registry().to_string(),
            operation: format!(
                "removing only the tag `{tag}` of `{}`",
                self.registry.path()
            ),
            detail: String::new(),
            hint: NO_UNTAG.into(),
        })
    }

    async fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        self.registry
            .push_manifest(reference, media_type, bytes)
            .await
    }
}
