//! OCI image layout directories as a registry backend (`oci:PATH`).

use super::Error;

/// An OCI image layout directory.
pub struct OciDir;

impl OciDir {
    /// Opens the layout at `path`.
    pub fn open(_path: &str) -> Result<OciDir, Error> {
        todo!("cleanup helper")
    }
}

#[async_trait::async_trait]
impl super::Repository for OciDir {
    fn name(&self) -> &str {
        todo!()
    }
    fn capabilities(&self) -> super::Capabilities {
        todo!()
    }
    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        todo!()
    }
    async fn manifest(&self, _reference: &str) -> Result<super::Manifest, Error> {
        todo!()
    }
    async fn resolve_digest(&self, _tag: &str) -> Result<super::Digest, Error> {
        todo!()
    }
    async fn config(&self, _config: &super::Descriptor) -> Result<super::ImageConfig, Error> {
        todo!()
    }
    async fn referrers(&self, _subject: &super::Digest) -> Result<Vec<super::Descriptor>, Error> {
        todo!()
    }
    async fn delete_manifest(&self, _digest: &super::Digest) -> Result<(), Error> {
        todo!()
    }
    async fn untag(
        &self,
        _tag: &str,
        _current: &super::Manifest,
    ) -> Result<super::UntagMethod, Error> {
        todo!()
    }
}
