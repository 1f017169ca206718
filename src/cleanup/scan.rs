//! Reads repositories through the [`Repository`] trait into [`RepoScan`]s: every tag with
//! its digest, and the manifest graph around them (index children to [`MAX_INDEX_DEPTH`]
//! levels, OCI referrers
//! of every one of those, cosign `sha256-<hex>.sig|.att|.sbom` tags linked to their subject).
//! Then, in a second step, the image configs the planner asks for
//! ([`super::plan::configs_needed`]), through the on-disk [`ConfigCache`].
//!
//! One GET per tag gives both the digest and the manifest, which is the fewest requests a
//! scan can make. Every repository's work shares one concurrency limit. A tag or manifest
//! that cannot be read is recorded with the reason (the planner keeps what it cannot judge);
//! only a tag list that cannot be read fails the scan, before anything is changed. A listed
//! name that is not a valid tag is never asked for: it is recorded as unresolved, which keeps
//! it and makes the repository's deletions untag-only (its digest is unknown).

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;

use super::cache::ConfigCache;
use super::plan::{ManifestFacts, RepoScan, ScannedTag, cosign_subject};
use crate::registry::reference::{TAG_RULE, is_tag};
use crate::registry::{Descriptor, Digest, ListedTag, Manifest, Repository};
use crate::report::progress::Progress;

/// Levels of nested indexes followed below a tagged manifest (real images use one, an index of
/// platform images; attestations add a second): an index deeper than this is not read and
/// is recorded as an error, which keeps every tag above it.
pub const MAX_INDEX_DEPTH: usize = 8;

/// A scan that could not even start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tag list of a repository could not be read.
    #[error(
        "could not list the tags of `{repo}`: {source}; check the repository name and the \
         credentials (`berth login`), then run again"
    )]
    ListTags {
        /// The repository.
        repo: String,
        /// The registry's error.
        #[source]
        source: crate::registry::Error,
    },
}

/// The scans, plus what the config step needs to find each image's config blob.
#[derive(Debug, Default)]
pub struct Scanned {
    /// One per repository, in the order given.
    pub scans: Vec<RepoScan>,
    /// Per repository: image manifest digest → its config descriptor (for manifests read).
    config_refs: Vec<HashMap<Digest, Descriptor>>,
}

/// Counts of the config step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConfigStats {
    /// Configs asked for.
    pub needed: usize,
    /// Served from the on-disk cache.
    pub cached: usize,
    /// Config blobs fetched from the registry (one per distinct blob).
    pub fetched: usize,
    /// Could not be read (the planner keeps those tags).
    pub failed: usize,
}

/// Scans every repository: tags, digests, manifest graph.
pub async fn scan(
    repos: &[Arc<dyn Repository>],
    concurrency: usize,
    progress: &Progress,
) -> Result<Scanned, Error> {
    let limit = concurrency.max(1);
    let lists: Vec<(usize, Result<Vec<ListedTag>, crate::registry::Error>)> =
        futures_util::stream::iter(
            repos
                .iter()
                .enumerate()
                .map(|(i, r)| async move { (i, r.list().await) }),
        )
        .buffer_unordered(limit)
        .collect()
        .await;
    let mut tag_lists = vec![Vec::new(); repos.len()];
    for (i, list) in lists {
        tag_lists[i] = list.map_err(|source| Error::ListTags {
            repo: repos[i].name().to_string(),
            source,
        })?;
    }
    progress.add_total(tag_lists.iter().map(|t| t.len() as u64).sum());

    let mut scanned = Scanned {
        scans: repos
            .iter()
            .map(|r| RepoScan {
                repo: r.name().to_string(),
                untagged_listed: r.capabilities().untagged_visible,
                cannot_untag: !r.capabilities().tag_delete && !r.capabilities().dummy_untag,
                ..RepoScan::default()
            })
            .collect(),
        config_refs: vec![HashMap::new(); repos.len()],
    };

    // A listed name outside the tag grammar (`lat\nest`, `../../x/manifests/prod`) is never
    // put in a request: unresolved, it keeps what it might name.
    for (i, tags) in tag_lists.iter_mut().enumerate() {
        tags.retain(|t| {
            if is_tag(&t.name) {
                return true;
            }
            let shown = t.name.escape_default().to_string();
            tracing::warn!(repository = %repos[i].name(), tag = %shown, "listed name is not a valid tag; skipped");
            scanned.scans[i].tags.push(ScannedTag {
                name: t.name.clone(),
                digest: Err(format!(
                    "the registry lists `{shown}`, which is not a valid tag ({TAG_RULE}); berth never puts it in a request, so its digest is unknown"
                )),
            });
            progress.inc(1);
            false
        });
    }

    // Tags the listing resolved: no request for the digest. Their manifest is read once per
    // digest, and only where the graph needs it: an index (its children), or a media type the
    // listing does not give. Plain images are read later, if at all, for their config.
    let mut by_digest: Vec<(usize, Digest)> = Vec::new();
    for (i, tags) in tag_lists.iter_mut().enumerate() {
        let scan = &mut scanned.scans[i];
        tags.retain(|t| {
            let Some(digest) = &t.digest else {
                return true;
            };
            let facts = scan.manifests.entry(digest.clone()).or_default();
            facts.pushed = facts.pushed.max(t.pushed);
            match &t.media_type {
                Some(mt) if !crate::registry::model::media_type::is_index(mt) => {
                    facts.media_type = mt.clone();
                }
                _ => by_digest.push((i, digest.clone())),
            }
            scan.tags.push(ScannedTag {
                name: t.name.clone(),
                digest: Ok(digest.clone()),
            });
            progress.inc(1);
            false
        });
    }
    by_digest.sort();
    by_digest.dedup();
    let mut children_todo: Vec<(usize, Descriptor, usize)> = Vec::new();
    for (i, digest, result) in fetch_manifests(repos, by_digest, limit).await {
        match result {
            Ok(m) => {
                children_todo.extend(record(&mut scanned, i, m).into_iter().map(|c| (i, c, 1)))
            }
            Err(e) => note_error(&mut scanned.scans[i], &digest, e),
        }
    }

    // The rest: one GET per tag, digest and manifest at once.
    let jobs = tag_lists
        .iter()
        .enumerate()
        .flat_map(|(i, tags)| tags.iter().map(move |t| (i, t.name.as_str())));
    let fetched: Vec<(usize, &str, Result<Manifest, crate::registry::Error>)> =
        futures_util::stream::iter(jobs.map(|(i, tag)| async move {
            let m = repos[i].manifest(tag).await;
            progress.inc(1);
            (i, tag, m)
        }))
        .buffer_unordered(limit)
        .collect()
        .await;
    for (i, tag, result) in fetched {
        let digest = match result {
            Ok(m) => {
                let d = m.digest.clone();
                children_todo.extend(record(&mut scanned, i, m).into_iter().map(|c| (i, c, 1)));
                Ok(d)
            }
            // Listed, then gone before its manifest was read: it is not there any more. Any
            // other failure leaves the tag unresolved, which keeps every manifest it might name.
            Err(e) if e.is_not_found() => {
                tracing::debug!(tag, "tag listed but gone when read; skipped");
                continue;
            }
            Err(e) => Err(e.to_string()),
        };
        scanned.scans[i].tags.push(ScannedTag {
            name: tag.to_string(),
            digest,
        });
    }

    // Index children to MAX_INDEX_DEPTH: nested indexes are read; image children are noted
    // from their descriptor and read later only if the planner needs their config. Children
    // are digests by type (sha256 or sha512, checked when the index was parsed).
    while !children_todo.is_empty() {
        let mut read = Vec::new();
        for (i, child, depth) in children_todo.drain(..) {
            let manifests = &mut scanned.scans[i].manifests;
            if manifests.contains_key(&child.digest) {
                continue;
            }
            let is_index = crate::registry::model::media_type::is_index(&child.media_type);
            let too_deep = is_index && depth > MAX_INDEX_DEPTH;
            manifests.insert(
                child.digest.clone(),
                ManifestFacts {
                    media_type: child.media_type.clone(),
                    error: too_deep.then(|| {
                        format!(
                            "it is an index nested more than {MAX_INDEX_DEPTH} levels deep, which berth does not follow"
                        )
                    }),
                    ..ManifestFacts::default()
                },
            );
            if is_index && !too_deep {
                read.push((i, child.digest, depth));
            }
        }
        let depths: HashMap<(usize, Digest), usize> = read
            .iter()
            .map(|(i, d, depth)| ((*i, d.clone()), *depth))
            .collect();
        let read = read.into_iter().map(|(i, d, _)| (i, d)).collect();
        let results = fetch_manifests(repos, read, limit).await;
        for (i, digest, result) in results {
            let depth = depths[&(i, digest.clone())];
            match result {
                Ok(m) => children_todo.extend(
                    record(&mut scanned, i, m)
                        .into_iter()
                        .map(|c| (i, c, depth + 1)),
                ),
                Err(e) => note_error(&mut scanned.scans[i], &digest, e),
            }
        }
    }

    // Referrers, where the backend has the API: asked once for every manifest of the graph
    // so far, tagged ones and index children at any depth, so that signatures of platform
    // images are in the graph too.
    let mut asks = Vec::new();
    for (i, repo) in repos.iter().enumerate() {
        if !repo.capabilities().referrers_api {
            continue;
        }
        asks.extend(scanned.scans[i].manifests.keys().map(|d| (i, d.clone())));
    }
    let answers: Vec<(
        usize,
        Digest,
        Result<Vec<Descriptor>, crate::registry::Error>,
    )> = futures_util::stream::iter(asks.into_iter().map(|(i, d)| async move {
        let r = repos[i].referrers(&d).await;
        (i, d, r)
    }))
    .buffer_unordered(limit)
    .collect()
    .await;
    let mut unknown_referrers = Vec::new();
    for (i, subject, answer) in answers {
        let scan = &mut scanned.scans[i];
        match answer {
            Ok(list) => {
                for r in list {
                    link(scan, &subject, &r.digest);
                    if !scan.manifests.contains_key(&r.digest) {
                        unknown_referrers.push((i, r.digest));
                    }
                }
            }
            Err(e) => note_error(scan, &subject, e),
        }
    }
    unknown_referrers.sort();
    unknown_referrers.dedup();
    for (i, digest, result) in fetch_manifests(repos, unknown_referrers, limit).await {
        match result {
            Ok(m) => {
                // A referrer's own children (an attestation index) are not followed further:
                // they live and die with the referrer.
                record(&mut scanned, i, m);
            }
            Err(e) => note_error(&mut scanned.scans[i], &digest, e),
        }
    }

    // A cosign tag whose subject nothing else mentions: ask for the subject once. A definite
    // not-found means the signed image is gone, and its signature may go; any other answer
    // (an untagged image that is still there, an error) keeps the signature.
    let mut subjects: Vec<(usize, Digest)> = Vec::new();
    for (i, scan) in scanned.scans.iter().enumerate() {
        for t in &scan.tags {
            if let Some(subject) = cosign_subject(&t.name) {
                if !scan.manifests.contains_key(&subject) {
                    subjects.push((i, subject));
                }
            }
        }
    }
    subjects.sort();
    subjects.dedup();
    for (i, digest, result) in fetch_manifests(repos, subjects, limit).await {
        match result {
            Ok(m) => {
                record(&mut scanned, i, m);
            }
            Err(e) if e.is_not_found() => {
                scanned.scans[i].manifests.entry(digest).or_default().absent = true;
            }
            Err(e) => note_error(&mut scanned.scans[i], &digest, e),
        }
    }

    // Cosign's tag scheme names the subject in the tag.
    for scan in &mut scanned.scans {
        let links: Vec<(Digest, Digest)> = scan
            .tags
            .iter()
            .filter_map(|t| Some((cosign_subject(&t.name)?, t.digest.clone().ok()?)))
            .collect();
        for (subject, sig) in links {
            if scan.manifests.get(&subject).is_some_and(|f| !f.absent) {
                link(scan, &subject, &sig);
            }
        }
    }
    for scan in &mut scanned.scans {
        scan.tags.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(scanned)
}

/// Reads the configs the planner needs (`(repo index, image manifest digest)`), from the
/// cache where it has them, and fills [`ManifestFacts::config`] (or `error`).
pub async fn read_configs(
    scanned: &mut Scanned,
    repos: &[Arc<dyn Repository>],
    needed: &[(usize, Digest)],
    cache: &ConfigCache,
    concurrency: usize,
    progress: &Progress,
) -> ConfigStats {
    let limit = concurrency.max(1);
    let mut stats = ConfigStats {
        needed: needed.len(),
        ..ConfigStats::default()
    };
    progress.add_total(needed.len() as u64);
    // Image manifests not read yet (index children): read them for their config descriptor.
    let missing: Vec<(usize, Digest)> = needed
        .iter()
        .filter(|(i, d)| !scanned.config_refs[*i].contains_key(d))
        .cloned()
        .collect();
    for (i, digest, result) in fetch_manifests(repos, missing, limit).await {
        match result {
            Ok(m) => {
                record(scanned, i, m);
            }
            Err(e) => note_error(&mut scanned.scans[i], &digest, e),
        }
    }
    // One fetch per (repository, config blob): images that share a config share the read.
    let mut fetch: HashMap<(usize, Digest), (Descriptor, Vec<Digest>)> = HashMap::new();
    for (i, digest) in needed {
        let Some(desc) = scanned.config_refs[*i].get(digest).cloned() else {
            // Its manifest could not be read: the error is already noted.
            stats.failed += 1;
            progress.inc(1);
            continue;
        };
        match cache.get(&desc.digest) {
            Some(config) => {
                stats.cached += 1;
                progress.inc(1);
                if let Some(f) = scanned.scans[*i].manifests.get_mut(digest) {
                    f.config = Some(config);
                }
            }
            None => fetch
                .entry((*i, desc.digest.clone()))
                .or_insert_with(|| (desc, Vec::new()))
                .1
                .push(digest.clone()),
        }
    }
    let results: Vec<_> = futures_util::stream::iter(fetch.into_iter().map(
        |((i, _), (desc, manifests))| async move {
            let r = repos[i].config(&desc).await;
            progress.inc(manifests.len() as u64);
            (i, desc, manifests, r)
        },
    ))
    .buffer_unordered(limit)
    .collect()
    .await;
    for (i, desc, manifests, result) in results {
        match result {
            Ok(config) => {
                stats.fetched += 1;
                cache.put(&desc.digest, &config);
                for digest in manifests {
                    if let Some(f) = scanned.scans[i].manifests.get_mut(&digest) {
                        f.config = Some(config.clone());
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                for digest in manifests {
                    stats.failed += 1;
                    scanned.scans[i].manifests.entry(digest).or_default().error =
                        Some(message.clone());
                }
            }
        }
    }
    stats
}

/// Records a manifest's facts; returns its children.
fn record(scanned: &mut Scanned, i: usize, m: Manifest) -> Vec<Descriptor> {
    if let Some(config) = m.config() {
        scanned.config_refs[i].insert(m.digest.clone(), config.clone());
    }
    let scan = &mut scanned.scans[i];
    let facts = scan.manifests.entry(m.digest.clone()).or_default();
    facts.media_type = m.media_type.clone();
    facts.children = m.children().iter().map(|c| c.digest.clone()).collect();
    facts.error = None;
    if let Some(subject) = &m.subject {
        let subject = subject.digest.clone();
        link(scan, &subject, &m.digest);
    }
    m.children().to_vec()
}

/// Records that `referrer` refers to `subject` (the subject's side only when the subject is
/// in the scan: an orphaned referrer must not invent a manifest).
fn link(scan: &mut RepoScan, subject: &Digest, referrer: &Digest) {
    if let Some(s) = scan.manifests.get_mut(subject)
        && !s.referrers.contains(referrer)
    {
        s.referrers.push(referrer.clone());
    }
    let r = scan.manifests.entry(referrer.clone()).or_default();
    if r.subject.is_none() {
        r.subject = Some(subject.clone());
    }
}

fn note_error(scan: &mut RepoScan, digest: &Digest, e: crate::registry::Error) {
    scan.manifests.entry(digest.clone()).or_default().error = Some(e.to_string());
}

async fn fetch_manifests(
    repos: &[Arc<dyn Repository>],
    list: Vec<(usize, Digest)>,
    limit: usize,
) -> Vec<(usize, Digest, Result<Manifest, crate::registry::Error>)> {
    futures_util::stream::iter(list.into_iter().map(|(i, d)| async move {
        let m = repos[i].manifest(d.as_str()).await;
        (i, d, m)
    }))
    .buffer_unordered(limit)
    .collect()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::media_type;
    use crate::registry::ocidir::OciDir;

    fn image(dir: &OciDir, seed: &str, subject: Option<&Descriptor>) -> Vec<u8> {
        let config = dir
            .put_blob(
                media_type::OCI_CONFIG,
                format!(r#"{{"config":{{"Labels":{{"seed":"{seed}"}}}}}}"#).as_bytes(),
            )
            .unwrap();
        let mut m = serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
            "config": config, "layers": [],
        });
        if let Some(s) = subject {
            m["subject"] = serde_json::to_value(s).unwrap();
        }
        serde_json::to_vec(&m).unwrap()
    }

    fn desc(bytes: &[u8], media_type: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of_bytes(bytes),
            size: bytes.len() as u64,
            platform: None,
            artifact_type: None,
            annotations: Default::default(),
        }
    }

    /// A layout that logs the subjects it is asked referrers of.
    struct Counting {
        dir: OciDir,
        asked: std::sync::Mutex<Vec<Digest>>,
    }

    #[async_trait::async_trait]
    impl Repository for Counting {
        fn name(&self) -> &str {
            self.dir.name()
        }
        fn capabilities(&self) -> crate::registry::Capabilities {
            self.dir.capabilities()
        }
        async fn list_tags(&self) -> Result<Vec<String>, crate::registry::Error> {
            self.dir.list_tags().await
        }
        async fn manifest(&self, reference: &str) -> Result<Manifest, crate::registry::Error> {
            self.dir.manifest(reference).await
        }
        async fn resolve_digest(&self, tag: &str) -> Result<Digest, crate::registry::Error> {
            self.dir.resolve_digest(tag).await
        }
        async fn config(
            &self,
            config: &Descriptor,
        ) -> Result<crate::registry::ImageConfig, crate::registry::Error> {
            self.dir.config(config).await
        }
        async fn referrers(
            &self,
            subject: &Digest,
        ) -> Result<Vec<Descriptor>, crate::registry::Error> {
            self.asked.lock().unwrap().push(subject.clone());
            self.dir.referrers(subject).await
        }
        async fn delete_manifest(&self, digest: &Digest) -> Result<(), crate::registry::Error> {
            self.dir.delete_manifest(digest).await
        }
        async fn untag(
            &self,
            tag: &str,
            current: &Manifest,
        ) -> Result<crate::registry::UntagMethod, crate::registry::Error> {
            self.dir.untag(tag, current).await
        }
    }

    /// A layout whose listing also names `extra`, and that logs every reference asked for.
    struct Listing {
        dir: OciDir,
        extra: Vec<String>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Repository for Listing {
        fn name(&self) -> &str {
            self.dir.name()
        }
        fn capabilities(&self) -> crate::registry::Capabilities {
            self.dir.capabilities()
        }
        async fn list_tags(&self) -> Result<Vec<String>, crate::registry::Error> {
            let mut tags = self.dir.list_tags().await?;
            tags.extend(self.extra.iter().cloned());
            Ok(tags)
        }
        async fn manifest(&self, reference: &str) -> Result<Manifest, crate::registry::Error> {
            self.asked.lock().unwrap().push(reference.to_string());
            self.dir.manifest(reference).await
        }
        async fn resolve_digest(&self, tag: &str) -> Result<Digest, crate::registry::Error> {
            self.dir.resolve_digest(tag).await
        }
        async fn config(
            &self,
            config: &Descriptor,
        ) -> Result<crate::registry::ImageConfig, crate::registry::Error> {
            self.dir.config(config).await
        }
        async fn referrers(
            &self,
            subject: &Digest,
        ) -> Result<Vec<Descriptor>, crate::registry::Error> {
            self.dir.referrers(subject).await
        }
        async fn delete_manifest(&self, digest: &Digest) -> Result<(), crate::registry::Error> {
            self.dir.delete_manifest(digest).await
        }
        async fn untag(
            &self,
            tag: &str,
            current: &Manifest,
        ) -> Result<crate::registry::UntagMethod, crate::registry::Error> {
            self.dir.untag(tag, current).await
        }
    }

    /// Issue 10 cases 4 and 9: invalid listed names are recorded unresolved and never asked
    /// for; an index chain deeper than MAX_INDEX_DEPTH stops there with an error.
    #[tokio::test]
    async fn invalid_names_are_not_asked_for_and_index_depth_is_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(&tmp.path().join("layout")).unwrap();
        let mut child = image(&dir, "bottom", None);
        dir.put_blob(media_type::OCI_MANIFEST, &child).unwrap();
        let mut child_type = media_type::OCI_MANIFEST;
        let mut chain = Vec::new();
        for _ in 0..(MAX_INDEX_DEPTH + 3) {
            let index = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
                "manifests": [desc(&child, child_type)],
            }))
            .unwrap();
            dir.put_blob(media_type::OCI_INDEX, &index).unwrap();
            chain.push(Digest::of_bytes(&index));
            child = index;
            child_type = media_type::OCI_INDEX;
        }
        dir.put_manifest(&child, Some("deep")).unwrap();
        let bad = ["lat\nest", "../../victim/manifests/prod"];
        let listing = Arc::new(Listing {
            dir: OciDir::open(dir.path().to_str().unwrap()).unwrap(),
            extra: bad.iter().map(|s| s.to_string()).collect(),
            asked: Default::default(),
        });
        let repos: Vec<Arc<dyn Repository>> = vec![listing.clone()];
        let scanned = scan(&repos, 2, &Progress::hidden()).await.unwrap();
        let s = &scanned.scans[0];
        let asked = listing.asked.lock().unwrap().clone();
        for name in bad {
            assert!(!asked.iter().any(|a| a == name), "{name:?} was asked for");
            let t = s.tags.iter().find(|t| t.name == name).unwrap();
            assert!(t.digest.as_ref().unwrap_err().contains("not a valid tag"));
        }
        // The tag, then MAX_INDEX_DEPTH levels below it; the next index is an error.
        assert_eq!(asked.len(), 1 + MAX_INDEX_DEPTH, "{asked:?}");
        let stopped = &chain[chain.len() - 2 - MAX_INDEX_DEPTH];
        let error = s.manifests[stopped].error.as_deref().unwrap();
        assert!(error.contains("nested more than 8"), "{error}");
    }

    #[tokio::test]
    async fn referrers_of_index_children_are_asked_once_per_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(&tmp.path().join("layout")).unwrap();
        let amd = image(&dir, "amd64", None);
        let arm = image(&dir, "arm64", None);
        dir.put_blob(media_type::OCI_MANIFEST, &amd).unwrap();
        dir.put_blob(media_type::OCI_MANIFEST, &arm).unwrap();
        let inner = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
            "manifests": [desc(&arm, media_type::OCI_MANIFEST)],
        }))
        .unwrap();
        dir.put_blob(media_type::OCI_INDEX, &inner).unwrap();
        // Both children are also in a second index: still one question each.
        let children = [
            desc(&amd, media_type::OCI_MANIFEST),
            desc(&inner, media_type::OCI_INDEX),
        ];
        for (tag, extra) in [("multi", "a"), ("other", "b")] {
            let outer = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
                "manifests": children, "annotations": {"seed": extra},
            }))
            .unwrap();
            dir.put_manifest(&outer, Some(tag)).unwrap();
        }
        let amd_sig = dir
            .put_manifest(
                &image(&dir, "amd-sig", Some(&desc(&amd, media_type::OCI_MANIFEST))),
                None,
            )
            .unwrap();
        let arm_sig = dir
            .put_manifest(
                &image(&dir, "arm-sig", Some(&desc(&arm, media_type::OCI_MANIFEST))),
                None,
            )
            .unwrap();
        let counting = Arc::new(Counting {
            dir: OciDir::open(dir.path().to_str().unwrap()).unwrap(),
            asked: Default::default(),
        });
        let repos: Vec<Arc<dyn Repository>> = vec![counting.clone()];

        let scanned = scan(&repos, 4, &Progress::hidden()).await.unwrap();
        let s = &scanned.scans[0];
        let (amd_d, arm_d) = (Digest::of_bytes(&amd), Digest::of_bytes(&arm));
        assert_eq!(
            s.manifests[&amd_d].referrers,
            std::slice::from_ref(&amd_sig)
        );
        assert_eq!(
            s.manifests[&arm_d].referrers,
            std::slice::from_ref(&arm_sig)
        );
        assert_eq!(s.manifests[&arm_sig].subject.as_ref(), Some(&arm_d));
        // Two outer indexes, the inner one, two images: five manifests, five questions.
        let mut asked = counting.asked.lock().unwrap().clone();
        asked.sort();
        let mut want: Vec<Digest> = s.tags.iter().map(|t| t.digest.clone().unwrap()).collect();
        want.extend([amd_d, arm_d, Digest::of_bytes(&inner)]);
        want.sort();
        assert_eq!(asked, want);
    }

    #[tokio::test]
    async fn scan_finds_children_referrers_cosign_tags_and_caches_configs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(&tmp.path().join("layout")).unwrap();
        let amd = image(&dir, "amd64", None);
        let arm = image(&dir, "arm64", None);
        let inner = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
            "manifests": [desc(&arm, media_type::OCI_MANIFEST)],
        }))
        .unwrap();
        dir.put_blob(media_type::OCI_MANIFEST, &amd).unwrap();
        dir.put_blob(media_type::OCI_MANIFEST, &arm).unwrap();
        dir.put_blob(media_type::OCI_INDEX, &inner).unwrap();
        let outer = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
            "manifests": [desc(&amd, media_type::OCI_MANIFEST), desc(&inner, media_type::OCI_INDEX)],
        }))
        .unwrap();
        let multi = dir.put_manifest(&outer, Some("multi")).unwrap();
        let single_bytes = image(&dir, "single", None);
        let single = dir.put_manifest(&single_bytes, Some("single")).unwrap();
        let sig_tag = format!("sha256-{}.sig", single.hex());
        let sig = dir
            .put_manifest(&image(&dir, "sig", None), Some(&sig_tag))
            .unwrap();
        let referrer = dir
            .put_manifest(
                &image(
                    &dir,
                    "sbom",
                    Some(&desc(&single_bytes, media_type::OCI_MANIFEST)),
                ),
                None,
            )
            .unwrap();
        let repos: Vec<Arc<dyn Repository>> = vec![Arc::new(
            OciDir::open(dir.path().to_str().unwrap()).unwrap(),
        )];

        let mut scanned = scan(&repos, 4, &Progress::hidden()).await.unwrap();
        let s = &scanned.scans[0];
        let names: Vec<&str> = s.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["multi", &sig_tag, "single"]);
        let amd_d = Digest::of_bytes(&amd);
        let arm_d = Digest::of_bytes(&arm);
        let inner_d = Digest::of_bytes(&inner);
        assert_eq!(
            s.manifests[&multi].children,
            [amd_d.clone(), inner_d.clone()]
        );
        assert_eq!(s.manifests[&inner_d].children, std::slice::from_ref(&arm_d));
        assert!(s.manifests.contains_key(&arm_d));
        let mut refs = s.manifests[&single].referrers.clone();
        refs.sort();
        let mut want = vec![sig.clone(), referrer.clone()];
        want.sort();
        assert_eq!(refs, want);
        assert_eq!(s.manifests[&sig].subject.as_ref(), Some(&single));
        assert_eq!(s.manifests[&referrer].subject.as_ref(), Some(&single));

        let cache = ConfigCache::at(tmp.path().join("cache"));
        let needed = vec![(0, single.clone()), (0, arm_d.clone())];
        let stats = read_configs(
            &mut scanned,
            &repos,
            &needed,
            &cache,
            4,
            &Progress::hidden(),
        )
        .await;
        assert_eq!((stats.fetched, stats.cached, stats.failed), (2, 0, 0));
        let arm_cfg = scanned.scans[0].manifests[&arm_d].config.as_ref().unwrap();
        assert_eq!(arm_cfg.labels["seed"], "arm64");

        let mut again = scan(&repos, 4, &Progress::hidden()).await.unwrap();
        let stats = read_configs(&mut again, &repos, &needed, &cache, 4, &Progress::hidden()).await;
        assert_eq!((stats.fetched, stats.cached, stats.failed), (0, 2, 0));
        assert_eq!(
            again.scans[0].manifests[&single]
                .config
                .as_ref()
                .unwrap()
                .labels["seed"],
            "single"
        );
    }
}
