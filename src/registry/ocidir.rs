//! OCI image layout directories as a registry backend (`oci:PATH`).
//!
//! A layout is `oci-layout`, `index.json` and `blobs/<alg>/<hex>`. Tags are the
//! `org.opencontainers.image.ref.name` annotations of `index.json` entries; an entry without
//! that annotation keeps its manifest alive untagged (that is how referrers such as signatures
//! live in a layout). Untag removes the annotation (the whole entry when another entry or an
//! index still holds the manifest), delete removes every entry of a digest and then
//! garbage-collects each blob no longer reachable from `index.json`; an untagged index child,
//! which has no entry, is deleted once nothing reaches it. Problems of the collection (a
//! reachable manifest missing from `blobs/`, one that cannot be read) are warnings: the
//! deletion itself is done, and no blob is removed on partial knowledge. `index.json` is
//! rewritten atomically (temp file + rename) under a lock, so a crash never leaves half a file.
//!
//! berth never leaves the layout: a `blobs/` or `blobs/<alg>` that is a symbolic link is
//! refused (reading, writing, collecting), a blob must be a regular file (opened without
//! following links and without blocking, so a link to `/dev/zero` or a FIFO is refused, not
//! read) whose size is the one its descriptor gives, and at most that many bytes are read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::model::media_type;
use super::{Capabilities, Descriptor, Digest, Error, ImageConfig, Manifest, UntagMethod};

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Largest manifest read without a descriptor giving its size (by digest): the 4 MiB the OCI
/// distribution spec suggests registries accept.
const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;

/// An OCI image layout directory.
pub struct OciDir {
    root: PathBuf,
    name: String,
    /// Serialises read-modify-write cycles of `index.json` within this process.
    lock: Mutex<()>,
    /// subject → referrers, for the `index.json` content it was built from: a scan asks for
    /// the referrers of every tagged manifest, and each answer would otherwise read every
    /// manifest of the layout again.
    referrers: Mutex<Option<(Digest, ReferrerMap)>>,
}

type ReferrerMap = HashMap<Digest, Vec<Descriptor>>;

/// `index.json`, keeping fields berth does not know untouched.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutIndex {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

impl OciDir {
    /// Opens the layout at `path`; it must hold `oci-layout` and `index.json`.
    pub fn open(path: &str) -> Result<OciDir, Error> {
        let root = PathBuf::from(path);
        let dir = OciDir {
            name: format!("oci:{path}"),
            root,
            lock: Mutex::new(()),
            referrers: Mutex::new(None),
        };
        for file in ["oci-layout", "index.json"] {
            if !dir.root.join(file).is_file() {
                return Err(dir.error(format!(
                    "`{file}` is missing; point `oci:` at an OCI image layout directory \
                     (for example one written by `skopeo copy ... oci:DIR`)"
                )));
            }
        }
        Ok(dir)
    }

    /// Creates an empty layout at `path` (the directory may exist but must not hold a layout).
    pub fn create(path: &Path) -> Result<OciDir, Error> {
        let text = path.display().to_string();
        let dir = OciDir {
            name: format!("oci:{text}"),
            root: path.to_path_buf(),
            lock: Mutex::new(()),
            referrers: Mutex::new(None),
        };
        if dir.root.join("index.json").exists() {
            return Err(dir.error("a layout already exists here; open it instead".into()));
        }
        std::fs::create_dir_all(dir.root.join("blobs").join("sha256"))
            .map_err(|e| dir.io_error("create `blobs/sha256`", &e))?;
        std::fs::write(
            dir.root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .map_err(|e| dir.io_error("write `oci-layout`", &e))?;
        dir.write_index(&LayoutIndex {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.to_string()),
            manifests: Vec::new(),
            rest: BTreeMap::new(),
        })?;
        Ok(dir)
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Stores a blob and returns its descriptor (media type as given).
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let digest = Digest::of_bytes(bytes);
        let path = self.blob_dir(digest.algorithm())?.join(digest.hex());
        // A link or special file under that name is replaced (the rename swaps the entry, it
        // never writes through a link), a regular file holds the content already.
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            write_atomic(&path, bytes).map_err(|e| self.io_error("write a blob", &e))?;
        }
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        })
    }

    /// Stores a manifest blob and adds an `index.json` entry for it: tagged `tag`, or untagged
    /// when `tag` is None (replacing any entry that had the same tag).
    pub fn put_manifest(&self, bytes: &[u8], tag: Option<&str>) -> Result<Digest, Error> {
        let manifest = Manifest::parse(bytes.to_vec(), None, None)?;
        let mut desc = self.put_blob(&manifest.media_type, bytes)?;
        desc.artifact_type = manifest.artifact_type.clone();
        if let Some(tag) = tag {
            desc.annotations
                .insert(REF_NAME.to_string(), tag.to_string());
        }
        let _guard = self.lock.lock().expect("oci layout lock poisoned");
        let mut index = self.read_index()?;
        index.manifests.retain(|d| match tag {
            Some(tag) => ref_name(d) != Some(tag),
            None => !(d.digest == desc.digest && ref_name(d).is_none()),
        });
        index.manifests.push(desc);
        self.write_index(&index)?;
        Ok(manifest.digest)
    }

    fn error(&self, why: String) -> Error {
        Error::Layout {
            path: self.root.display().to_string(),
            why,
        }
    }

    fn not_found(&self, what: String) -> Error {
        Error::NotFound {
            host: self.name.clone(),
            what,
            detail: String::new(),
        }
    }

    fn io_error(&self, what: &str, e: &std::io::Error) -> Error {
        self.error(format!(
            "could not {what}: {e}; check the path and its permissions"
        ))
    }

    #[cfg(test)]
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// `blobs/<alg>`, after checking that it and `blobs/` are directories of the layout itself:
    /// a link there would make every read, write and collection act on another directory.
    fn blob_dir(&self, algorithm: &str) -> Result<PathBuf, Error> {
        let blobs = self.root.join("blobs");
        self.own_dir(&blobs, "blobs")?;
        let dir = blobs.join(algorithm);
        self.own_dir(&dir, &format!("blobs/{algorithm}"))?;
        Ok(dir)
    }

    fn own_dir(&self, path: &Path, name: &str) -> Result<(), Error> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Err(self.error(format!(
                "`{name}` is a symbolic link; berth never leaves the layout, so it refused to \
                 read, write or delete blobs through it (replace the link with the directory \
                 itself, e.g. `cp -rL`)"
            ))),
            Ok(m) if m.is_dir() => Ok(()),
            Ok(m) => Err(self.error(format!(
                "`{name}` is {}, not a directory; the layout is corrupt",
                crate::file_kind::describe(&m.file_type())
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(self.not_found(format!("`{name}`")))
            }
            Err(e) => Err(self.io_error(&format!("read `{name}`"), &e)),
        }
    }

    /// A blob's bytes. `size` is its descriptor's size; without one at most `limit` bytes are
    /// accepted. Only a regular file is read, and never more than the size allows.
    fn read_blob(&self, digest: &Digest, size: Option<u64>, limit: u64) -> Result<Vec<u8>, Error> {
        use std::io::Read;
        let dir = self.blob_dir(digest.algorithm()).map_err(|e| {
            if e.is_not_found() {
                self.not_found(format!("blob {digest}"))
            } else {
                e
            }
        })?;
        let (file, len) = open_regular(&dir.join(digest.hex())).map_err(|p| match p {
            BlobProblem::Missing => self.not_found(format!("blob {digest}")),
            BlobProblem::NotRegular(kind) => self.error(format!(
                "blob {digest} is {kind}, not a regular file; berth reads only regular files \
                 of the layout (replace it with the blob itself)"
            )),
            BlobProblem::Io(e) => self.io_error(&format!("read blob {digest}"), &e),
        })?;
        let want = match size {
            Some(size) if size != len => {
                return Err(self.error(format!(
                    "blob {digest} is {len} bytes, its descriptor says {size}; the layout is \
                     corrupt (copy the image again)"
                )));
            }
            Some(size) => size,
            None if len > limit => {
                return Err(self.error(format!(
                    "blob {digest} is {len} bytes, more than the {limit} bytes berth reads \
                     for a manifest"
                )));
            }
            None => len,
        };
        let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        // One byte more than wanted tells a file that grew since it was measured.
        file.take(want + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error(&format!("read blob {digest}"), &e))?;
        if bytes.len() as u64 != want {
            return Err(self.error(format!(
                "blob {digest} changed size while it was read; the layout is being written \
                 to, run berth again once that is done"
            )));
        }
        Ok(bytes)
    }

    fn read_manifest(&self, digest: &Digest, desc: Option<&Descriptor>) -> Result<Manifest, Error> {
        let bytes = self.read_blob(digest, desc.map(|d| d.size), MANIFEST_LIMIT)?;
        if Digest::of_bytes(&bytes) != *digest {
            return Err(self.error(format!(
                "blob {digest} does not match its digest; the layout is corrupt"
            )));
        }
        Manifest::parse(
            bytes,
            desc.map(|d| d.media_type.as_str()),
            Some(digest.clone()),
        )
    }

    fn read_index(&self) -> Result<LayoutIndex, Error> {
        let bytes = std::fs::read(self.root.join("index.json"))
            .map_err(|e| self.io_error("read `index.json`", &e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("`index.json` is not an OCI index: {e}")))
    }

    fn write_index(&self, index: &LayoutIndex) -> Result<(), Error> {
        let bytes = serde_json::to_vec(index).expect("index.json serialises");
        write_atomic(&self.root.join("index.json"), &bytes)
            .map_err(|e| self.io_error("write `index.json`", &e))
    }

    /// The entry a tag names.
    fn entry(&self, index: &LayoutIndex, tag: &str) -> Result<Descriptor, Error> {
        index
            .manifests
            .iter()
            .find(|d| ref_name(d) == Some(tag))
            .cloned()
            .ok_or_else(|| self.not_found(format!("tag `{tag}`")))
    }

    /// Every manifest reachable from `index.json` (entries, then index children at any
    /// depth), with its media type. Children that cannot be read are skipped here; reading
    /// them directly reports the error.
    fn reachable_manifests(&self, index: &LayoutIndex) -> Vec<(Digest, Manifest)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut todo: Vec<Descriptor> = index.manifests.clone();
        while let Some(desc) = todo.pop() {
            if !seen.insert(desc.digest.clone()) {
                continue;
            }
            if let Ok(m) = self.read_manifest(&desc.digest, Some(&desc)) {
                todo.extend(m.children().iter().cloned());
                out.push((desc.digest, m));
            }
        }
        out
    }

    /// What `entries` reach: manifests at any depth and the blobs of their images.
    fn live(&self, entries: &[Descriptor]) -> Live {
        let mut live = Live::default();
        let mut todo: Vec<Descriptor> = entries.to_vec();
        while let Some(desc) = todo.pop() {
            if !live.digests.insert(desc.digest.clone()) {
                continue;
            }
            match self.read_manifest(&desc.digest, Some(&desc)) {
                Ok(m) => match &m.kind {
                    super::ManifestKind::Index { manifests } => {
                        todo.extend(manifests.iter().cloned())
                    }
                    super::ManifestKind::Image { config, layers } => {
                        live.digests.insert(config.digest.clone());
                        live.digests.extend(layers.iter().map(|l| l.digest.clone()));
                    }
                },
                Err(e) if e.is_not_found() => live.missing.push(desc.digest),
                Err(e) => {
                    live.unreadable.get_or_insert(e);
                }
            }
        }
        live
    }

    /// Removes every blob that `live` does not hold. Problems are warnings, not errors: the
    /// caller's change to `index.json` is done by then, and a blob left behind costs only
    /// space (the next deletion collects it).
    fn collect_garbage(&self, live: &Live) -> usize {
        if let Some(e) = &live.unreadable {
            // What that manifest references is unknown: collecting now could lose data.
            tracing::warn!(
                layout = %self.name,
                "no blob was collected: {e}; repair or remove that manifest, and the next \
                 deletion collects the unreferenced blobs"
            );
            return 0;
        }
        for digest in &live.missing {
            // Absent, it references nothing; a partial copy (`skopeo copy` of one platform
            // of an index) leaves layouts like this.
            tracing::warn!(
                layout = %self.name,
                %digest,
                "`index.json` reaches manifest {digest}, which is not in `blobs/`; the \
                 layout is incomplete (copy it again with `skopeo copy --all` to complete it)"
            );
        }
        let blobs = self.root.join("blobs");
        if let Err(e) = self.own_dir(&blobs, "blobs") {
            tracing::warn!(layout = %self.name, "no blob was collected: {e}");
            return 0;
        }
        let algorithms = match std::fs::read_dir(&blobs) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(layout = %self.name, "no blob was collected: cannot list `blobs`: {e}");
                return 0;
            }
        };
        let mut removed = 0;
        for alg in algorithms.flatten() {
            let alg_name = alg.file_name().to_string_lossy().into_owned();
            // `file_type` does not follow links: a linked `blobs/<alg>` is another directory.
            match alg.file_type() {
                Ok(t) if t.is_dir() => {}
                Ok(t) => {
                    tracing::warn!(
                        layout = %self.name,
                        "skipped `blobs/{alg_name}` in the collection: it is {}, not a \
                         directory of the layout, and berth never leaves the layout",
                        crate::file_kind::describe(&t)
                    );
                    continue;
                }
                Err(e) => {
                    tracing::warn!(layout = %self.name, "cannot stat `blobs/{alg_name}`: {e}");
                    continue;
                }
            }
            let entries = match std::fs::read_dir(alg.path()) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(layout = %self.name, "cannot list `blobs/{alg_name}`: {e}");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(digest) = Digest::parse(&format!("{alg_name}:{name}")) else {
                    // Not a blob (a temp file of another writer, say): not ours to remove.
                    continue;
                };
                if live.digests.contains(&digest) {
                    continue;
                }
                match entry.file_type() {
                    Ok(t) if t.is_file() => {}
                    Ok(t) => {
                        tracing::warn!(
                            layout = %self.name,
                            %digest,
                            "left `blobs/{alg_name}/{name}` alone: it is {}, and berth removes \
                             only regular files",
                            crate::file_kind::describe(&t)
                        );
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(layout = %self.name, %digest, "cannot stat blob {digest}: {e}");
                        continue;
                    }
                }
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    // Someone else collected it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(
                        layout = %self.name,
                        %digest,
                        "could not remove unreferenced blob {digest}: {e}; check the \
                         permissions of `blobs/{alg_name}`"
                    ),
                }
            }
        }
        removed
    }
}

/// What `index.json` keeps alive.
#[derive(Default)]
struct Live {
    /// Manifests reached at any depth, and the configs and layers of their images.
    digests: HashSet<Digest>,
    /// Manifests reached but absent from `blobs/`.
    missing: Vec<Digest>,
    /// The first manifest reached that exists but cannot be read.
    unreadable: Option<Error>,
}

/// Why a blob cannot be read as one.
enum BlobProblem {
    Missing,
    NotRegular(&'static str),
    Io(std::io::Error),
}

/// Opens a regular file without following a link and without blocking on a FIFO, and gives
/// its size from the open descriptor (what is read is what was checked).
fn open_regular(path: &Path) -> Result<(std::fs::File, u64), BlobProblem> {
    // A first look without opening: opening some devices has effects of its own.
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(BlobProblem::NotRegular(crate::file_kind::describe(
                &m.file_type(),
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobProblem::Missing),
        Err(e) => return Err(BlobProblem::Io(e)),
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    // The entry can be swapped between the look and the open: these flags make the open
    // itself refuse a link and return at once on a FIFO.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut opts, libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobProblem::Missing),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(BlobProblem::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(BlobProblem::Io(e)),
    };
    let meta = file.metadata().map_err(BlobProblem::Io)?;
    if !meta.is_file() {
        return Err(BlobProblem::NotRegular(crate::file_kind::describe(
            &meta.file_type(),
        )));
    }
    Ok((file, meta.len()))
}

/// The tag of an `index.json` entry.
fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations.get(REF_NAME).map(String::as_str)
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so
/// readers see the old or the new content, never a mix.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[async_trait::async_trait]
impl super::Repository for OciDir {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tag_delete: true,
            dummy_untag: false,
            manifest_delete: true,
            referrers_api: true,
            nested_repositories: false,
            repositories_must_exist: false,
            untagged_visible: false,
            lists_digests: false,
            lists_push_times: false,
        }
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        let index = self.read_index()?;
        let mut tags: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|d| ref_name(d).map(str::to_string))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
        if let Ok(digest) = Digest::parse(reference) {
            return self.read_manifest(&digest, None);
        }
        let entry = self.entry(&self.read_index()?, reference)?;
        self.read_manifest(&entry.digest, Some(&entry))
    }

    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
        Ok(self.entry(&self.read_index()?, tag)?.digest)
    }

    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error> {
        ImageConfig::parse(&self.read_blob(&config.digest, Some(config.size), 0)?)
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        let bytes = std::fs::read(self.root.join("index.json"))
            .map_err(|e| self.io_error("read `index.json`", &e))?;
        let version = Digest::of_bytes(&bytes);
        let mut memo = self.referrers.lock().expect("oci layout lock poisoned");
        if memo.as_ref().is_none_or(|(v, _)| *v != version) {
            let index: LayoutIndex = serde_json::from_slice(&bytes)
                .map_err(|e| self.error(format!("`index.json` is not an OCI index: {e}")))?;
            let mut map: ReferrerMap = HashMap::new();
            for (digest, m) in self.reachable_manifests(&index) {
                let Some(s) = &m.subject else { continue };
                map.entry(s.digest.clone()).or_default().push(Descriptor {
                    media_type: m.media_type.clone(),
                    digest,
                    size: m.bytes.len() as u64,
                    platform: None,
                    artifact_type: m.artifact_type.clone().or_else(|| {
                        m.config()
                            .map(|c| c.media_type.clone())
                            .filter(|t| t != media_type::OCI_EMPTY)
                    }),
                    annotations: m.annotations.clone(),
                });
            }
            *memo = Some((version, map));
        }
        Ok(memo
            .as_ref()
            .and_then(|(_, map)| map.get(subject).cloned())
            .unwrap_or_default())
    }

    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        // Checked before `index.json` changes: a deletion that cannot collect inside the
        // layout is not started.
        self.blob_dir(digest.algorithm())?;
        let _guard = self.lock.lock().expect("oci layout lock poisoned");
        let mut index = self.read_index()?;
        let before = index.manifests.len();
        index.manifests.retain(|d| d.digest != *digest);
        let had_entry = index.manifests.len() < before;
        if had_entry {
            self.write_index(&index)?;
        }
        let live = self.live(&index.manifests);
        if live.digests.contains(digest) {
            if !had_entry {
                return Err(self.error(format!(
                    "manifest {digest} has no `index.json` entry, and an index in \
                     `index.json` still references it; it was left alone (delete that index \
                     first)"
                )));
            }
            tracing::warn!(
                layout = %self.name,
                %digest,
                "removed the `index.json` entry of {digest}; the manifest stays because an \
                 index still references it"
            );
        } else if !had_entry && let Some(e) = &live.unreadable {
            return Err(self.error(format!(
                "manifest {digest} has no `index.json` entry, and whether an index still \
                 references it is unknown ({e}); it was left alone"
            )));
        }
        // An untagged child (no entry of its own) is deleted once nothing reaches it: its
        // blobs go now, or went already with its index.
        let removed = self.collect_garbage(&live);
        tracing::debug!(layout = %self.name, %digest, removed, "deleted manifest, collected blobs");
        Ok(())
    }

    async fn untag(&self, tag: &str, current: &Manifest) -> Result<UntagMethod, Error> {
        let _guard = self.lock.lock().expect("oci layout lock poisoned");
        let mut index = self.read_index()?;
        let Some(pos) = index
            .manifests
            .iter()
            .position(|d| ref_name(d) == Some(tag))
        else {
            return Err(self.not_found(format!("tag `{tag}`")));
        };
        if index.manifests[pos].digest != current.digest {
            return Err(self.error(format!(
                "tag `{tag}` now points at {}, not {}; it was left alone",
                index.manifests[pos].digest, current.digest
            )));
        }
        // The manifest stays: the entry goes when another entry holds it or an index it
        // keeps references it (an unnamed entry would outlive that index and keep the
        // manifest forever); otherwise it stays without its tag.
        let rest: Vec<Descriptor> = index
            .manifests
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pos)
            .map(|(_, d)| d.clone())
            .collect();
        let held = rest.iter().any(|d| d.digest == current.digest) || {
            let live = self.live(&rest);
            live.unreadable.is_none() && live.digests.contains(&current.digest)
        };
        if held {
            index.manifests.remove(pos);
        } else {
            index.manifests[pos].annotations.remove(REF_NAME);
        }
        self.write_index(&index)?;
        Ok(UntagMethod::TagDelete)
    }

    async fn push_manifest(
        &self,
        reference: &str,
        _media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        let manifest = Manifest::parse(bytes, None, None)?;
        // A layout has no registry to refuse a manifest whose blobs are gone: check here, so
        // that a restored manifest is never one that cannot be read back.
        let referenced = manifest.config().into_iter().chain(match &manifest.kind {
            crate::registry::ManifestKind::Image { layers, .. } => layers.as_slice(),
            crate::registry::ManifestKind::Index { manifests } => manifests.as_slice(),
        });
        for d in referenced {
            let present = self.blob_dir(d.digest.algorithm()).is_ok_and(|dir| {
                std::fs::symlink_metadata(dir.join(d.digest.hex())).is_ok_and(|m| m.is_file())
            });
            if !present {
                return Err(self.not_found(format!(
                    "blob {} (referenced by manifest {})",
                    d.digest, manifest.digest
                )));
            }
        }
        let tag = Digest::parse(reference).is_err().then_some(reference);
        self.put_manifest(&manifest.bytes, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Repository;

    fn image(dir: &OciDir, seed: &str, subject: Option<&Descriptor>) -> Vec<u8> {
        let config = dir
            .put_blob(
                media_type::OCI_CONFIG,
                format!(r#"{{"created":"2026-01-01T00:00:00Z","config":{{"Labels":{{"seed":"{seed}"}}}}}}"#)
                    .as_bytes(),
            )
            .unwrap();
        let layer = dir
            .put_blob(
                "application/vnd.oci.image.layer.v1.tar",
                format!("layer {seed}").as_bytes(),
            )
            .unwrap();
        let mut m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        if let Some(s) = subject {
            m["subject"] = serde_json::to_value(s).unwrap();
        }
        serde_json::to_vec(&m).unwrap()
    }

    fn blob_count(dir: &OciDir) -> usize {
        std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count()
    }

    #[tokio::test]
    async fn tags_resolve_and_untag_keeps_the_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(&tmp.path().join("l")).unwrap();
        let bytes = image(&dir, "a", None);
        let d = dir.put_manifest(&bytes, Some("v1")).unwrap();
        dir.put_manifest(&bytes, Some("latest")).unwrap();
        let dir = OciDir::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(dir.list_tags().await.unwrap(), ["latest", "v1"]);
        assert_eq!(dir.resolve_digest("v1").await.unwrap(), d);
        let m = dir.manifest("v1").await.unwrap();
        assert_eq!(m.bytes, bytes);
        let cfg = dir.config(m.config().unwrap()).await.unwrap();
        assert_eq!(cfg.labels["seed"], "a");

        dir.untag("v1", &m).await.unwrap();
        assert_eq!(dir.list_tags().await.unwrap(), ["latest"]);
        dir.untag("latest", &m).await.unwrap();
        assert!(dir.list_tags().await.unwrap().is_empty());
        // The manifest survives untagged, with its blobs.
        assert_eq!(dir.manifest(d.as_str()).await.unwrap().bytes, bytes);
        assert_eq!(blob_count(&dir), 3);
        assert!(dir.resolve_digest("v1").await.is_err());
    }

    #[tokio::test]
    async fn delete_collects_unreachable_blobs_and_keeps_shared_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(tmp.path()).unwrap();
        let a = dir
            .put_manifest(&image(&dir, "a", None), Some("a"))
            .unwrap();
        let b_bytes = image(&dir, "b", None);
        let b = dir.put_manifest(&b_bytes, Some("b")).unwrap();
        let b_desc = Descriptor {
            media_type: media_type::OCI_MANIFEST.into(),
            digest: b.clone(),
            size: b_bytes.len() as u64,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        };
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": [b_desc],
        }))
        .unwrap();
        dir.put_manifest(&index, Some("multi")).unwrap();
        let sig = dir
            .put_manifest(&image(&dir, "sig", Some(&b_desc)), None)
            .unwrap();
        assert_eq!(blob_count(&dir), 3 * 3 + 1);

        let refs = dir.referrers(&b).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].digest, sig);
        assert!(dir.referrers(&a).await.unwrap().is_empty());
        // A new referrer changes index.json: the memo of referrers is rebuilt.
        dir.put_manifest(&image(&dir, "sbom", Some(&b_desc)), None)
            .unwrap();
        assert_eq!(dir.referrers(&b).await.unwrap().len(), 2);

        dir.delete_manifest(&a).await.unwrap();
        assert_eq!(dir.list_tags().await.unwrap(), ["b", "multi"]);
        assert_eq!(blob_count(&dir), 3 * 3 + 1);
        // `b` goes as a tag, but the index `multi` still holds it: its blobs stay.
        dir.delete_manifest(&b).await.unwrap();
        assert_eq!(blob_count(&dir), 3 * 3 + 1);
        assert!(dir.manifest(b.as_str()).await.is_ok());
        // Deleting what is gone already is done.
        dir.delete_manifest(&a).await.unwrap();
        let raw = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
        assert!(!raw.contains(a.hex()), "index.json still names {a}");
    }

    fn desc_of(bytes: &[u8], media_type: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of_bytes(bytes),
            size: bytes.len() as u64,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    fn index_of(children: &[Descriptor]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": children,
        }))
        .unwrap()
    }

    fn has_blob(dir: &OciDir, digest: &Digest) -> bool {
        dir.blob_path(digest).exists()
    }

    fn entries_of(dir: &OciDir, digest: &Digest) -> Vec<Option<String>> {
        let index = dir.read_index().unwrap();
        index
            .manifests
            .iter()
            .filter(|d| d.digest == *digest)
            .map(|d| ref_name(d).map(str::to_string))
            .collect()
    }

    #[tokio::test]
    async fn a_missing_child_blob_does_not_stop_the_collection() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(tmp.path()).unwrap();
        let present = image(&dir, "amd64", None);
        dir.put_blob(media_type::OCI_MANIFEST, &present).unwrap();
        let absent = desc_of(b"never copied", media_type::OCI_MANIFEST);
        let index = index_of(&[desc_of(&present, media_type::OCI_MANIFEST), absent]);
        let multi = dir.put_manifest(&index, Some("multi")).unwrap();
        let old = dir
            .put_manifest(&image(&dir, "old", None), Some("old"))
            .unwrap();
        let count = blob_count(&dir);

        dir.delete_manifest(&old).await.unwrap();
        assert!(!has_blob(&dir, &old));
        assert_eq!(blob_count(&dir), count - 3);
        assert!(has_blob(&dir, &multi));
        assert!(has_blob(&dir, &Digest::of_bytes(&present)));
    }

    #[tokio::test]
    async fn an_unreadable_manifest_stops_the_collection_not_the_deletion() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(tmp.path()).unwrap();
        let kept = dir
            .put_manifest(&image(&dir, "kept", None), Some("kept"))
            .unwrap();
        let old = dir
            .put_manifest(&image(&dir, "old", None), Some("old"))
            .unwrap();
        std::fs::write(dir.blob_path(&kept), b"garbled").unwrap();
        let count = blob_count(&dir);

        dir.delete_manifest(&old).await.unwrap();
        assert_eq!(dir.list_tags().await.unwrap(), ["kept"]);
        // What `kept` references is unknown now: nothing is collected.
        assert_eq!(blob_count(&dir), count);
    }

    #[tokio::test]
    async fn an_untagged_child_is_deleted_once_nothing_reaches_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(tmp.path()).unwrap();
        let child = image(&dir, "child", None);
        let child_d = dir.put_blob(media_type::OCI_MANIFEST, &child).unwrap();
        let index = index_of(std::slice::from_ref(&child_d));
        let multi = dir.put_manifest(&index, Some("multi")).unwrap();
        let lone = image(&dir, "lone", None);
        let lone_d = dir.put_blob(media_type::OCI_MANIFEST, &lone).unwrap();
        let count = blob_count(&dir);

        // Its index still holds it: left alone, and that is an error.
        let err = dir.delete_manifest(&child_d.digest).await.unwrap_err();
        assert!(err.to_string().contains("delete that index first"), "{err}");
        assert_eq!(blob_count(&dir), count);
        // A manifest nothing reaches goes with its blobs.
        dir.delete_manifest(&lone_d.digest).await.unwrap();
        assert!(!has_blob(&dir, &lone_d.digest));
        assert_eq!(blob_count(&dir), count - 3);
        // The index takes the child along; deleting the child afterwards is done.
        dir.delete_manifest(&multi).await.unwrap();
        assert!(!has_blob(&dir, &child_d.digest));
        dir.delete_manifest(&child_d.digest).await.unwrap();
        assert_eq!(blob_count(&dir), 0);
    }

    #[tokio::test]
    async fn untag_of_a_child_of_a_kept_index_removes_its_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(tmp.path()).unwrap();
        let amd = image(&dir, "amd64", None);
        let arm = image(&dir, "arm64", None);
        let amd_d = dir.put_manifest(&amd, Some("amd-old")).unwrap();
        let arm_d = dir.put_manifest(&arm, Some("arm-old")).unwrap();
        dir.put_manifest(&arm, Some("arm-stays")).unwrap();
        let index = index_of(&[
            desc_of(&amd, media_type::OCI_MANIFEST),
            desc_of(&arm, media_type::OCI_MANIFEST),
        ]);
        let multi = dir.put_manifest(&index, Some("multi")).unwrap();
        let count = blob_count(&dir);

        let m = dir.manifest(amd_d.as_str()).await.unwrap();
        dir.untag("amd-old", &m).await.unwrap();
        assert!(entries_of(&dir, &amd_d).is_empty());
        let m = dir.manifest(arm_d.as_str()).await.unwrap();
        dir.untag("arm-old", &m).await.unwrap();
        assert_eq!(entries_of(&dir, &arm_d), [Some("arm-stays".to_string())]);
        assert_eq!(blob_count(&dir), count);
        // Once the index goes, nothing keeps the untagged child.
        dir.delete_manifest(&multi).await.unwrap();
        assert!(!has_blob(&dir, &amd_d));
        assert!(has_blob(&dir, &arm_d));
    }

    #[tokio::test]
    async fn a_linked_blobs_dir_is_refused_for_reads_writes_and_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let other = OciDir::create(&tmp.path().join("other")).unwrap();
        let d = other
            .put_manifest(&image(&other, "x", None), Some("x"))
            .unwrap();
        let before = blob_count(&other);
        let dir = tmp.path().join("l");
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(other.path().join("oci-layout"), dir.join("oci-layout")).unwrap();
        std::fs::copy(other.path().join("index.json"), dir.join("index.json")).unwrap();
        std::os::unix::fs::symlink(other.path().join("blobs"), dir.join("blobs")).unwrap();
        let dir = OciDir::open(dir.to_str().unwrap()).unwrap();

        let err = dir.manifest("x").await.unwrap_err().to_string();
        assert!(err.contains("`blobs` is a symbolic link"), "{err}");
        assert!(dir.put_blob("x", b"new").is_err());
        assert!(dir.delete_manifest(&d).await.is_err());
        assert_eq!(dir.list_tags().await.unwrap(), ["x"]);
        assert_eq!(blob_count(&other), before);
    }

    #[tokio::test]
    async fn only_regular_blobs_of_the_right_size_are_read_and_collected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OciDir::create(tmp.path()).unwrap();
        let bytes = image(&dir, "a", None);
        let d = dir.put_manifest(&bytes, Some("a")).unwrap();
        let path = dir.blob_path(&d);

        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let err = dir.manifest("a").await.unwrap_err().to_string();
        assert!(
            err.contains("is a symbolic link, not a regular file"),
            "{err}"
        );

        std::fs::remove_file(&path).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let err = dir.manifest("a").await.unwrap_err().to_string();
        assert!(err.contains("is a FIFO"), "{err}");

        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, [&bytes[..], b"  "].concat()).unwrap();
        let err = dir.manifest("a").await.unwrap_err().to_string();
        assert!(err.contains("its descriptor says"), "{err}");
        // Without a descriptor (by digest) the digest check still catches it.
        assert!(dir.manifest(d.as_str()).await.is_err());

        // The collection leaves links and FIFOs named like blobs alone.
        std::fs::write(&path, &bytes).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"not the layout's").unwrap();
        let fake = dir
            .path()
            .join("blobs/sha256")
            .join(Digest::of_bytes(b"fake").hex());
        std::os::unix::fs::symlink(&outside, &fake).unwrap();
        dir.delete_manifest(&d).await.unwrap();
        assert!(fake.is_symlink() && outside.exists());
        assert!(!path.exists());
    }

    #[test]
    fn open_explains_a_missing_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let err = OciDir::open(tmp.path().to_str().unwrap()).err().unwrap();
        assert!(err.to_string().contains("oci-layout"), "{err}");
    }
}
