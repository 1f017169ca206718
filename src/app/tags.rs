//! `berth tags REPO`: every tag of a repository with its digest, media type, platform count
//! (indexes), created time and revision label. Tags are resolved concurrently within
//! `--concurrency` (one manifest GET per tag); config blobs and index children are fetched
//! once per digest, since content behind a digest never changes, and configs are kept in the
//! on-disk config cache (`$XDG_CACHE_HOME/berth`), so a repeat run fetches none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures_util::stream::{self, StreamExt};
use tokio::sync::OnceCell;

use crate::cleanup::cache::ConfigCache;
use crate::cli::{GlobalArgs, OutputFormat, TagsArgs};
use crate::exit::{ExitStatus, Failure};
use crate::registry::{Connector, Descriptor, Digest, Error, ImageConfig, Manifest, Repository};
use crate::report;
use crate::report::tags::{TagListing, TagRow};
use crate::settings;

/// Labels that carry the git commit an image was built from, in order of preference.
const REVISION_LABELS: [&str; 3] = [
    "org.opencontainers.image.revision",
    "vcs-ref",
    "org.label-schema.vcs-ref",
];

/// Runs the command.
pub async fn run(global: &GlobalArgs, args: TagsArgs) -> anyhow::Result<ExitStatus> {
    let options = settings::registry_options(global, &settings::process_env);
    let concurrency = options.concurrency;
    let connector = Connector::new(options);
    let repo = connector.open(&args.repo).map_err(|e| match e {
        Error::InvalidReference { .. } => Failure::new(ExitStatus::Usage, e),
        other => Failure::new(ExitStatus::Error, other),
    })?;
    let cache = settings::cache_dir(&|name| std::env::var(name).ok())
        .map_or_else(ConfigCache::disabled, ConfigCache::at);
    let listing = list(repo, concurrency, cache)
        .await
        .with_context(|| format!("cannot list the tags of `{}`", args.repo))?;
    let counts = connector.request_counts();
    tracing::debug!(
        total = counts.total(),
        get = counts.get,
        head = counts.head,
        "HTTP requests sent"
    );
    let failed = listing.tags.iter().filter(|t| t.error.is_some()).count();
    let text = match args.output {
        OutputFormat::Json => report::tags::json(&listing),
        OutputFormat::Text | OutputFormat::Markdown => report::tags::text(&listing),
    };
    report::stdout(&text).context("cannot write the report to stdout")?;
    if failed > 0 {
        tracing::warn!("{failed} tag(s) could not be read; see the `error` of each");
        return Ok(ExitStatus::Error);
    }
    Ok(ExitStatus::Success)
}

/// Lists and resolves every tag of `repo`.
/// Configs come from `disk` where it has them, and are stored there once fetched.
pub async fn list(
    repo: Arc<dyn Repository>,
    concurrency: usize,
    disk: ConfigCache,
) -> Result<TagListing, Error> {
    let mut tags = repo.list_tags().await?;
    tags.sort();
    tags.dedup();
    let cache = Arc::new(Cache {
        disk,
        configs: Once::default(),
        manifests: Once::default(),
    });
    let rows = stream::iter(tags)
        .map(|tag| {
            let repo = repo.clone();
            let cache = cache.clone();
            async move { describe(repo.as_ref(), &cache, tag).await }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(TagListing {
        schema: 1,
        repository: repo.name().to_string(),
        tags: rows,
    })
}

/// One lookup per digest: the first caller fetches, the others wait for its result.
type Once<T> = Mutex<HashMap<Digest, Arc<OnceCell<Result<T, String>>>>>;

/// Results per digest, shared by all tags (several tags often share one image).
struct Cache {
    disk: ConfigCache,
    configs: Once<ImageConfig>,
    manifests: Once<Manifest>,
}

impl Cache {
    async fn config(
        &self,
        repo: &dyn Repository,
        desc: &Descriptor,
    ) -> Result<ImageConfig, String> {
        let cell = self
            .configs
            .lock()
            .expect("cache lock")
            .entry(desc.digest.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            if let Some(config) = self.disk.get(&desc.digest) {
                return Ok(config);
            }
            let config = repo.config(desc).await.map_err(|e| e.to_string())?;
            self.disk.put(&desc.digest, &config);
            Ok(config)
        })
        .await
        .clone()
    }

    async fn manifest(&self, repo: &dyn Repository, digest: &Digest) -> Result<Manifest, String> {
        let cell = self
            .manifests
            .lock()
            .expect("cache lock")
            .entry(digest.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            repo.manifest(digest.as_str())
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
    }
}

/// True for index entries that are not runnable images (buildx attestations:
/// `unknown/unknown` platform or a `vnd.docker.reference.type` annotation).
fn is_attestation(child: &Descriptor) -> bool {
    child.annotations.contains_key("vnd.docker.reference.type")
        || child
            .platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

async fn describe(repo: &dyn Repository, cache: &Cache, tag: String) -> TagRow {
    let mut row = TagRow {
        tag,
        ..TagRow::default()
    };
    let manifest = match repo.manifest(&row.tag).await {
        Ok(m) => m,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    row.digest = Some(manifest.digest.to_string());
    row.media_type = Some(manifest.media_type.clone());
    let config = if manifest.is_index() {
        let images: Vec<&Descriptor> = manifest
            .children()
            .iter()
            .filter(|c| !is_attestation(c))
            .collect();
        row.platforms = Some(images.len());
        // The first platform image stands for the index's created time and revision.
        match images.first() {
            Some(first) => first_image_config(repo, cache, &first.digest).await,
            None => Ok(None),
        }
    } else {
        match manifest.config() {
            Some(desc) => cache.config(repo, desc).await.map(Some),
            None => Ok(None),
        }
    };
    match config {
        Ok(Some(config)) => {
            row.created = config.created;
            row.revision = REVISION_LABELS
                .iter()
                .find_map(|l| config.labels.get(*l))
                .cloned();
        }
        Ok(None) => {}
        Err(e) => row.error = Some(e),
    }
    row
}

/// The config of the first image reached from `digest`, descending through nested indexes.
async fn first_image_config(
    repo: &dyn Repository,
    cache: &Cache,
    digest: &Digest,
) -> Result<Option<ImageConfig>, String> {
    let mut digest = digest.clone();
    // Bounded descent: a malicious or broken index cannot loop berth forever.
    for _ in 0..8 {
        let manifest = cache.manifest(repo, &digest).await?;
        if let Some(desc) = manifest.config() {
            return cache.config(repo, desc).await.map(Some);
        }
        match manifest.children().iter().find(|c| !is_attestation(c)) {
            Some(child) => digest = child.digest.clone(),
            None => return Ok(None),
        }
    }
    Ok(None)
}
