//! The deletion journal (`cleanup --journal FILE`): one JSON line per mutation, appended and
//! flushed to disk (`fsync`) before the mutation is sent, with the manifest's exact bytes, so
//! that `berth restore` can push back what a cleanup removed.
//!
//! A record that is on disk may describe a mutation that never happened (the run died between
//! the write and the request); restore handles that, since pushing a manifest that is still
//! there changes nothing. The reverse never happens: no mutation without its record.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::registry::{Digest, Manifest};

/// Format version of a journal line.
pub const SCHEMA: u32 = 1;

/// What a record's mutation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The manifest was deleted by digest, with every tag on it.
    DeleteManifest,
    /// One tag was removed; the manifest stayed.
    Untag,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// `host/path` or `oci:PATH`, as berth names the repository.
    pub repo: String,
    /// What was done.
    pub action: Action,
    /// The manifest's digest; its bytes hash to it.
    pub digest: Digest,
    /// The manifest's media type (the `Content-Type` to push it back with).
    pub media_type: String,
    /// The manifest's exact bytes, base64 (standard alphabet, padded).
    pub manifest: String,
    /// The tags the mutation removed (empty for an untagged manifest).
    pub tags: Vec<String>,
    /// When the record was written (just before the mutation).
    pub at: DateTime<Utc>,
}

impl Record {
    /// The record of a mutation of `manifest` in `repo`.
    pub fn new(repo: &str, action: Action, manifest: &Manifest, tags: Vec<String>) -> Record {
        Record {
            schema: SCHEMA,
            repo: repo.to_string(),
            action,
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            manifest: base64::engine::general_purpose::STANDARD.encode(&manifest.bytes),
            tags,
            at: Utc::now(),
        }
    }

    /// The manifest's bytes, checked against the digest.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.manifest)
            .map_err(|e| format!("its `manifest` is not base64 ({e})"))?;
        if !self.digest.matches(&bytes) {
            return Err(format!("its manifest bytes do not hash to {}", self.digest));
        }
        Ok(bytes)
    }
}

/// The journal could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Opening or repairing the file failed.
    #[error(
        "could not open the journal {path}: {source}; check that the directory exists and is \
         writable"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Appending or syncing a record failed; the mutation was not sent.
    #[error(
        "could not write the journal {path}: {source}; nothing more is deleted without its \
         record (free space or fix permissions, then run again with the same journal)"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An earlier write failed; no later mutation is sent.
    #[error("the journal {path} could not be written earlier; not sent")]
    Broken {
        /// The file.
        path: PathBuf,
    },
    /// Reading the file failed.
    #[error("could not read the journal {path}: {source}; check the path")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not a journal record.
    #[error(
        "line {line} of the journal {path} is not a berth journal record: {why}; pass the file \
         `berth cleanup --journal` wrote"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// An open journal, shared by every deletion of a run.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// None once a write failed: the file's end is then unknown, so nothing more is written.
    file: Mutex<Option<File>>,
}

impl Journal {
    /// Opens `path` for appending, creating it. A last line without its newline is the torn
    /// write of a run that was killed before that record was complete, hence before its
    /// mutation was sent: it is cut off, so that the next record starts on a line of its own.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(open_err)?;
        let len = file.metadata().map_err(open_err)?.len();
        if len > 0 {
            let keep = complete_len(&mut file, len).map_err(open_err)?;
            if keep < len {
                tracing::warn!(
                    journal = %path.display(),
                    bytes = len - keep,
                    "cut off an incomplete last record (a run was killed while writing it)"
                );
                file.set_len(keep).map_err(open_err)?;
            }
        }
        file.sync_all().map_err(open_err)?;
        // The file's directory entry must survive a crash too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(Some(file)),
        })
    }

    /// A journal whose last write failed (for tests of what follows).
    #[cfg(test)]
    pub(crate) fn broken(path: &Path) -> Journal {
        Journal {
            path: path.to_path_buf(),
            file: Mutex::new(None),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` and waits until it is on disk.
    pub fn write(&self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).expect("a record serialises");
        line.push(b'\n');
        let mut slot = self.file.lock().expect("journal lock poisoned");
        let Some(file) = slot.as_mut() else {
            return Err(JournalError::Broken {
                path: self.path.clone(),
            });
        };
        match file.write_all(&line).and_then(|()| file.sync_data()) {
            Ok(()) => Ok(()),
            Err(source) => {
                *slot = None;
                Err(JournalError::Write {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }
}

/// The length of `file` up to and including its last newline.
fn complete_len(file: &mut File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Every record of the journal at `path`, in order. A last line without its newline is a torn
/// write (its mutation was never sent) and is skipped; any other bad line is an error.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<Vec<Record>, JournalError> {
    let torn = !text.is_empty() && !text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |why: String| JournalError::Invalid {
            path: path.to_path_buf(),
            line: i + 1,
            why,
        };
        let record: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if torn && i + 1 == lines.len() => {
                tracing::warn!(journal = %path.display(), line = i + 1, "skipped an incomplete last record");
                continue;
            }
            Err(e) => return Err(invalid(e.to_string())),
        };
        if record.schema != SCHEMA {
            return Err(invalid(format!(
                "schema {} (this berth reads schema {SCHEMA})",
                record.schema
            )));
        }
        record.bytes().map_err(invalid)?;
        out.push(record);
    }
    Ok(out)
}

/// The order to push manifests back in: a manifest after the children it lists and the
/// subject it refers to, whenever those are among `manifests` too (others must already be
/// there). Read from the manifests' own content; ties go by digest, so the order is stable.
pub fn restore_order(manifests: &[Manifest]) -> Vec<Digest> {
    let present: HashSet<&Digest> = manifests.iter().map(|m| &m.digest).collect();
    let mut waiting_on: BTreeMap<&Digest, usize> = BTreeMap::new();
    let mut unblocks: HashMap<&Digest, Vec<&Digest>> = HashMap::new();
    for m in manifests {
        let deps: HashSet<&Digest> = m
            .children()
            .iter()
            .map(|c| &c.digest)
            .chain(m.subject.as_ref().map(|s| &s.digest))
            .filter(|d| present.contains(d) && **d != m.digest)
            .collect();
        waiting_on.insert(&m.digest, deps.len());
        for d in deps {
            unblocks.entry(d).or_default().push(&m.digest);
        }
    }
    let mut ready: BTreeSet<&Digest> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(d, _)| *d)
        .collect();
    let mut order = Vec::with_capacity(waiting_on.len());
    while let Some(d) = ready.pop_first() {
        order.push(d.clone());
        for next in unblocks.get(d).into_iter().flatten() {
            let n = waiting_on.get_mut(next).expect("every manifest is counted");
            *n -= 1;
            if *n == 0 {
                ready.insert(next);
            }
        }
    }
    // Content addressing rules out cycles; should a journal still hold one, its manifests go
    // last rather than not at all (the registry then says what it lacks).
    if order.len() < waiting_on.len() {
        let done: HashSet<Digest> = order.iter().cloned().collect();
        order.extend(
            waiting_on
                .keys()
                .filter(|d| !done.contains(*d))
                .map(|d| (*d).clone()),
        );
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(seed: &str) -> Manifest {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": Digest::of_bytes(seed.as_bytes()), "size": 1},
            "layers": [],
        });
        Manifest::parse(serde_json::to_vec(&body).unwrap(), None, None).unwrap()
    }

    #[test]
    fn a_record_is_one_line_with_the_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let m = manifest("a");
        let r = Record::new(
            "localhost:5000/app",
            Action::DeleteManifest,
            &m,
            vec!["old".into(), "old-2".into()],
        );
        j.write(&r).unwrap();
        j.write(&Record::new("oci:/x", Action::Untag, &m, vec!["t".into()]))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let keys: Vec<&str> = first
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys.iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            [
                "action",
                "at",
                "digest",
                "manifest",
                "media_type",
                "repo",
                "schema",
                "tags"
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(first["action"], "delete_manifest");
        assert_eq!(first["schema"], 1);
        let back = read(&path).unwrap();
        assert_eq!(back[0], r);
        assert_eq!(back[0].bytes().unwrap(), m.bytes);
        assert_eq!(back[1].action, Action::Untag);
    }

    #[test]
    fn reopening_appends_and_cuts_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let r = Record::new("r", Action::Untag, &manifest("a"), vec!["t".into()]);
        Journal::open(&path).unwrap().write(&r).unwrap();
        // A run killed while writing its second record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"schema":1,"repo":"r","act"#).unwrap();
        drop(f);
        assert_eq!(read(&path).unwrap().len(), 1, "a torn tail is skipped");
        Journal::open(&path).unwrap().write(&r).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(read(&path).unwrap(), vec![r.clone(), r]);
    }

    #[test]
    fn a_bad_line_in_the_middle_or_wrong_bytes_are_errors_naming_the_line() {
        let path = Path::new("j.jsonl");
        let good = serde_json::to_string(&Record::new("r", Action::Untag, &manifest("a"), vec![]))
            .unwrap();
        let err = parse(path, &format!("{good}\nnot json\n{good}\n")).unwrap_err();
        assert!(
            err.to_string().contains("line 2 of the journal j.jsonl"),
            "{err}"
        );
        let mut tampered: Record = serde_json::from_str(&good).unwrap();
        tampered.digest = Digest::of_bytes(b"another");
        let line = serde_json::to_string(&tampered).unwrap();
        let err = parse(path, &format!("{line}\n")).unwrap_err();
        assert!(err.to_string().contains("do not hash to"), "{err}");
        let mut future: Record = serde_json::from_str(&good).unwrap();
        future.schema = 2;
        let err = parse(
            path,
            &format!("{}\n", serde_json::to_string(&future).unwrap()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("schema 2"), "{err}");
    }

    #[test]
    fn a_failed_write_breaks_the_journal_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::broken(&path);
        let r = Record::new("r", Action::Untag, &manifest("a"), vec![]);
        assert!(matches!(j.write(&r), Err(JournalError::Broken { .. })));
    }

    fn desc(d: &Digest) -> serde_json::Value {
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": d, "size": 1})
    }

    fn index(children: &[&Digest]) -> Manifest {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": children.iter().map(|d| desc(d)).collect::<Vec<_>>(),
        });
        Manifest::parse(serde_json::to_vec(&body).unwrap(), None, None).unwrap()
    }

    fn referrer(seed: &str, subject: &Digest) -> Manifest {
        let mut body: serde_json::Value = serde_json::from_slice(&manifest(seed).bytes).unwrap();
        body["subject"] = desc(subject);
        Manifest::parse(serde_json::to_vec(&body).unwrap(), None, None).unwrap()
    }

    #[test]
    fn restore_order_puts_children_and_subjects_first() {
        let a = manifest("a");
        let b = manifest("b");
        let inner = index(&[&a.digest]);
        let outer = index(&[&inner.digest, &b.digest]);
        let sig = referrer("sig", &outer.digest);
        let sig_of_sig = referrer("sig2", &sig.digest);
        // A child that is not in the journal (still in the registry) does not hold anything.
        let elsewhere = Digest::of_bytes(b"not journaled");
        let partial = index(&[&elsewhere, &b.digest]);
        let all = vec![
            sig_of_sig.clone(),
            outer.clone(),
            sig.clone(),
            partial.clone(),
            inner.clone(),
            b.clone(),
            a.clone(),
        ];
        let order = restore_order(&all);
        assert_eq!(order.len(), all.len());
        let pos = |m: &Manifest| order.iter().position(|d| *d == m.digest).unwrap();
        assert!(pos(&a) < pos(&inner));
        assert!(pos(&inner) < pos(&outer));
        assert!(pos(&b) < pos(&outer));
        assert!(pos(&b) < pos(&partial));
        assert!(pos(&outer) < pos(&sig));
        assert!(pos(&sig) < pos(&sig_of_sig));
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(
            restore_order(&reversed),
            order,
            "the order does not depend on the input's"
        );
    }

    #[test]
    fn a_missing_directory_is_an_open_error_naming_the_file() {
        let err = Journal::open(Path::new("/nonexistent-berth-dir/j.jsonl")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-berth-dir/j.jsonl"),
            "{err}"
        );
    }
}
