//! Errors of the registry adapter. Every message names the input and says what to do.

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest string that is not `sha256:<64 hex>`.
    #[error("`{digest}` is not a valid digest: {why}")]
    InvalidDigest { digest: String, why: String },
    /// A manifest body that is not a manifest.
    #[error("invalid manifest: {why}")]
    InvalidManifest { why: String },
    /// An OCI image layout directory (`oci:PATH`) that could not be read or changed.
    #[error("OCI layout `{path}`: {why}")]
    Layout { path: String, why: String },
}
