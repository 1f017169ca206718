//! Plain data of the Distribution/OCI world: digests, descriptors, manifests, image configs.
//! No I/O here; both backends (`client`, `ocidir`) and `cleanup` use these types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::Error;

/// Media types berth reads and writes.
pub mod media_type {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Docker manifest list (schema 2).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest (schema 2).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// OCI empty descriptor (`{}`), for artifacts and dummy manifests.
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// The four manifest types every manifest request accepts.
    pub const ACCEPT_ALL: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

    /// True for the two index types (OCI index, Docker manifest list).
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }
}

/// A content digest, `algorithm:hex` (e.g. `sha256:…`). Shared, not copied, when cloned:
/// a plan names the same digest for many tags, and a scan of 100,000 tags clones each
/// several times.
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(Arc<str>);

impl PartialEq for Digest {
    fn eq(&self, other: &Digest) -> bool {
        // Clones of one digest, the common case in lookups, compare without reading the text.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the text hashes: equal digests hash alike however `eq` found them equal.
        self.0.hash(state);
    }
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>` (and `sha512:<128 hex>`).
    pub fn parse(text: &str) -> Result<Digest, Error> {
        let invalid = |why: &str| Error::InvalidDigest {
            digest: text.to_string(),
            why: why.to_string(),
        };
        let (algorithm, hex) = text
            .split_once(':')
            .ok_or_else(|| invalid("it has no `algorithm:` prefix"))?;
        let want = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(invalid("the algorithm must be sha256 or sha512")),
        };
        if hex.len() != want
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid(&format!(
                "{algorithm} needs {want} lowercase hex digits"
            )));
        }
        Ok(Digest(Arc::from(text)))
    }

    /// True when `bytes` hash to this digest under its own algorithm (sha256 or sha512).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let hex = match self.algorithm() {
            "sha256" => hex::encode(Sha256::digest(bytes)),
            "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
            _ => return false,
        };
        self.hex() == hex
    }

    /// The sha256 digest of exactly these bytes.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(Arc::from(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(bytes))
        )))
    }

    /// The full `algorithm:hex` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> &str {
        let hex = self.hex();
        &hex[..hex.len().min(12)]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Digest::parse(&value)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0.to_string()
    }
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A reference to content: media type, digest, size, and for index entries the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform, for index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type, for referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What a manifest holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestKind {
    /// A single-platform image (or artifact): a config and layers.
    Image {
        /// The config blob.
        config: Descriptor,
        /// The layers.
        layers: Vec<Descriptor>,
    },
    /// An index / manifest list: child manifests.
    Index {
        /// The children.
        manifests: Vec<Descriptor>,
    },
}

/// A manifest as the registry stored it: the exact bytes, their digest, and the parsed parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Digest of `bytes`, or the registry's `Docker-Content-Digest`.
    pub digest: Digest,
    /// Media type (from `Content-Type`, else the body's `mediaType`).
    pub media_type: String,
    /// The exact bytes; never re-serialised.
    pub bytes: Vec<u8>,
    /// Image or index.
    pub kind: ManifestKind,
    /// The manifest this one refers to (signatures, attestations, SBOMs).
    pub subject: Option<Descriptor>,
    /// OCI `artifactType`.
    pub artifact_type: Option<String>,
    /// OCI annotations.
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses manifest bytes. `content_type` is the server's `Content-Type` (parameters
    /// ignored); `digest` is the server's `Docker-Content-Digest` if it sent one, otherwise the
    /// digest is computed from the exact bytes.
    pub fn parse(
        bytes: Vec<u8>,
        content_type: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Manifest, Error> {
        let raw: RawManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidManifest { why: e.to_string() })?;
        let header_type = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
        let media_type = header_type.or(raw.media_type).unwrap_or_else(|| {
            if raw.manifests.is_some() {
                media_type::OCI_INDEX.to_string()
            } else {
                media_type::OCI_MANIFEST.to_string()
            }
        });
        let kind = if let Some(manifests) = raw.manifests {
            ManifestKind::Index { manifests }
        } else if let Some(config) = raw.config {
            ManifestKind::Image {
                config,
                layers: raw.layers.unwrap_or_default(),
            }
        } else {
            return Err(Error::InvalidManifest {
                why: format!("a {media_type} with neither `manifests` nor `config`"),
            });
        };
        // A digest from a header (or a layout's index) is believed only when the bytes hash
        // to it: a wrong one would make berth delete another image.
        let digest = match digest {
            Some(d) if d.matches(&bytes) => d,
            Some(d) => {
                return Err(Error::InvalidManifest {
                    why: format!(
                        "its digest was given as {d}, but its bytes hash to {}; berth does not \
                         judge or delete a manifest whose digest it cannot verify",
                        Digest::of_bytes(&bytes)
                    ),
                });
            }
            None => Digest::of_bytes(&bytes),
        };
        Ok(Manifest {
            digest,
            media_type,
            bytes,
            kind,
            subject: raw.subject,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations,
        })
    }

    /// True for an index / manifest list.
    pub fn is_index(&self) -> bool {
        matches!(self.kind, ManifestKind::Index { .. })
    }

    /// The children of an index (empty for an image).
    pub fn children(&self) -> &[Descriptor] {
        match &self.kind {
            ManifestKind::Index { manifests } => manifests,
            ManifestKind::Image { .. } => &[],
        }
    }

    /// The config descriptor of an image (None for an index).
    pub fn config(&self) -> Option<&Descriptor> {
        match &self.kind {
            ManifestKind::Image { config, .. } => Some(config),
            ManifestKind::Index { .. } => None,
        }
    }
}

/// What berth reads from an image config blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `created`.
    pub created: Option<DateTime<Utc>>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RawConfigInner>,
}

#[derive(Deserialize)]
struct RawConfigInner {
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

impl ImageConfig {
    /// Parses a config blob; an unparsable `created` counts as absent.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, Error> {
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| Error::InvalidManifest {
            why: format!("image config: {e}"),
        })?;
        Ok(ImageConfig {
            created: raw
                .created
                .and_then(|c| DateTime::parse_from_rfc3339(&c).ok())
                .map(|d| d.with_timezone(&Utc)),
            labels: raw.config.and_then(|c| c.labels).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10 case 3: a `Docker-Content-Digest` that does not hash the body is an error,
    /// never the manifest's digest; sha512 digests are verified too.
    #[test]
    fn a_given_digest_must_hash_the_bytes() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[]}"#.to_vec();
        let right = Digest::of_bytes(&bytes);
        let wrong = Digest::of_bytes(b"another image");
        let m = Manifest::parse(bytes.clone(), None, Some(right.clone())).unwrap();
        assert_eq!(m.digest, right);
        let e = Manifest::parse(bytes.clone(), None, Some(wrong.clone())).unwrap_err();
        assert!(e.to_string().contains(wrong.as_str()), "{e}");
        let sha512 = Digest::parse(&format!(
            "sha512:{}",
            hex::encode(sha2::Sha512::digest(&bytes))
        ))
        .unwrap();
        assert!(sha512.matches(&bytes));
        assert_eq!(
            Manifest::parse(bytes.clone(), None, Some(sha512.clone()))
                .unwrap()
                .digest,
            sha512
        );
        assert!(!sha512.matches(b"x"));
    }

    #[test]
    fn digest_parse_checks_algorithm_and_length() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&good).unwrap().hex(), "a".repeat(64));
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("md5:{}", "a".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
    }

    #[test]
    fn manifest_digest_comes_from_exact_bytes() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
        let m = Manifest::parse(body.to_vec(), None, None).unwrap();
        assert_eq!(m.digest, Digest::of_bytes(body));
        assert_eq!(m.media_type, media_type::OCI_MANIFEST);
        assert!(!m.is_index());
    }

    #[test]
    fn config_reads_created_and_labels() {
        let c = ImageConfig::parse(
            br#"{"created":"2026-01-02T03:04:05Z","config":{"Labels":{"org.opencontainers.image.revision":"abc"}}}"#,
        )
        .unwrap();
        assert_eq!(c.created.unwrap().to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert_eq!(c.labels["org.opencontainers.image.revision"], "abc");
    }
}
