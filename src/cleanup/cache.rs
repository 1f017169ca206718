//! A small on-disk cache of image configs (created time and labels), keyed by the config
//! blob's digest. Content behind a digest never changes, so entries never go stale; the
//! directory is safe to delete at any time. Layout: `<dir>/configs/<alg>/<hex>.json`.
//!
//! The cache is a help, never a source of truth: an unreadable or corrupt entry is a miss,
//! and a failed write is logged and ignored.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::registry::{Digest, ImageConfig};

/// The config cache (or a disabled one).
#[derive(Debug, Clone)]
pub struct ConfigCache {
    dir: Option<PathBuf>,
}

impl ConfigCache {
    /// A cache under `dir` (usually `$XDG_CACHE_HOME/berth`); the directory is created on
    /// the first write.
    pub fn at(dir: impl Into<PathBuf>) -> ConfigCache {
        ConfigCache {
            dir: Some(dir.into()),
        }
    }

    /// A cache that stores nothing.
    pub fn disabled() -> ConfigCache {
        ConfigCache { dir: None }
    }

    /// The cache directory, when enabled.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry(&self, config: &Digest) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(
            dir.join("configs")
                .join(config.algorithm())
                .join(format!("{}.json", config.hex())),
        )
    }

    /// The cached config of this config digest.
    pub fn get(&self, config: &Digest) -> Option<ImageConfig> {
        let bytes = std::fs::read(self.entry(config)?).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(%config, error = %e, "ignoring a corrupt cache entry");
                None
            }
        }
    }

    /// Stores a config; errors are logged, never returned.
    pub fn put(&self, config: &Digest, value: &ImageConfig) {
        let Some(path) = self.entry(config) else {
            return;
        };
        if let Err(e) = write_entry(&path, value) {
            tracing::debug!(path = %path.display(), error = %e, "could not write a cache entry");
        }
    }
}

fn write_entry(path: &Path, value: &ImageConfig) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_entries_miss() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ConfigCache::at(tmp.path().join("berth"));
        let d = Digest::of_bytes(b"config");
        assert!(cache.get(&d).is_none());
        let mut value = ImageConfig::default();
        value.labels.insert("k".into(), "v".into());
        cache.put(&d, &value);
        assert_eq!(cache.get(&d), Some(value));
        std::fs::write(cache.entry(&d).unwrap(), b"{not json").unwrap();
        assert!(cache.get(&d).is_none());
        assert!(ConfigCache::disabled().get(&d).is_none());
    }
}
