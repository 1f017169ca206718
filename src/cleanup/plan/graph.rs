//! Questions about one repository's manifest graph: which image manifests sit under a digest,
//! what their labels and build times say, and which manifests hang off a digest (children at
//! any depth, referrers). Every answer that lacks a config records the config it needed, so
//! [`super::configs_needed`] asks for exactly those.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::ManifestFacts;
use crate::registry::Digest;
use crate::registry::model::media_type;

/// A fact the planner could not establish; the tag is kept and this says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Missing {
    /// The manifest was not read at all.
    NotRead(Digest),
    /// Reading the manifest or its config failed.
    Failed(Digest, String),
    /// The config has not been read (yet).
    ConfigNotRead(Digest),
}

impl Missing {
    pub(super) fn describe(&self) -> String {
        match self {
            Missing::NotRead(d) => format!("manifest {} was not read", d.short()),
            Missing::Failed(d, e) => format!("reading {} failed: {e}", d.short()),
            Missing::ConfigNotRead(d) => format!("the config of {} was not read", d.short()),
        }
    }
}

/// What the image configs under a digest say about one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LabelValue {
    /// No image under the digest carries it.
    Absent,
    /// Every image that carries it agrees.
    One(String),
    /// Images disagree (e.g. platforms built from different commits).
    Conflict(Vec<String>),
}

/// The manifest graph of one repository, recording configs it needed but did not have.
pub(super) struct Graph<'a> {
    manifests: &'a HashMap<Digest, ManifestFacts>,
    /// Image manifests whose config an answer needed and did not have.
    pub(super) needs: BTreeSet<Digest>,
}

impl<'a> Graph<'a> {
    pub(super) fn new(manifests: &'a HashMap<Digest, ManifestFacts>) -> Self {
        Graph {
            manifests,
            needs: BTreeSet::new(),
        }
    }

    /// The image manifests at `d`: itself, or for an index its non-index descendants.
    pub(super) fn images(
        &self,
        d: &Digest,
    ) -> Result<Vec<(&'a Digest, &'a ManifestFacts)>, Missing> {
        // Most digests are plain images: answer those without a visited set.
        let (key, f) = self
            .manifests
            .get_key_value(d)
            .ok_or_else(|| Missing::NotRead(d.clone()))?;
        if let Some(e) = &f.error {
            return Err(Missing::Failed(d.clone(), e.clone()));
        }
        if !media_type::is_index(&f.media_type) {
            return Ok(vec![(key, f)]);
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![d];
        while let Some(cur) = stack.pop() {
            if !seen.insert(cur) {
                continue;
            }
            let (key, f) = self
                .manifests
                .get_key_value(cur)
                .ok_or_else(|| Missing::NotRead(cur.clone()))?;
            if let Some(e) = &f.error {
                return Err(Missing::Failed(cur.clone(), e.clone()));
            }
            if media_type::is_index(&f.media_type) {
                stack.extend(f.children.iter());
            } else {
                out.push((key, f));
            }
        }
        Ok(out)
    }

    /// The configs of the images at `d`; a config not read yet is recorded as needed.
    fn configs(&mut self, d: &Digest) -> Result<Vec<&'a crate::registry::ImageConfig>, Missing> {
        let images = self.images(d)?;
        let mut out = Vec::with_capacity(images.len());
        let mut first_missing = None;
        for (image, facts) in images {
            match &facts.config {
                Some(c) => out.push(c),
                None => {
                    self.needs.insert(image.clone());
                    first_missing.get_or_insert_with(|| Missing::ConfigNotRead(image.clone()));
                }
            }
        }
        match first_missing {
            Some(m) => Err(m),
            None => Ok(out),
        }
    }

    /// The first of `keys` that the images at `d` carry, with its value.
    pub(super) fn label(
        &mut self,
        d: &Digest,
        keys: &[&'static str],
    ) -> Result<(Option<&'static str>, LabelValue), Missing> {
        let configs = self.configs(d)?;
        for key in keys {
            let mut values: Vec<String> = configs
                .iter()
                .filter_map(|c| c.labels.get(*key).cloned())
                .collect();
            values.sort();
            values.dedup();
            match values.len() {
                0 => continue,
                1 => return Ok((Some(key), LabelValue::One(values.remove(0)))),
                _ => return Ok((Some(key), LabelValue::Conflict(values))),
            }
        }
        Ok((None, LabelValue::Absent))
    }

    /// When the image at `d` was built: for an index the newest platform image (any young
    /// platform makes the index young). `Ok(None)` when no config records it.
    pub(super) fn created(&mut self, d: &Digest) -> Result<Option<DateTime<Utc>>, Missing> {
        Ok(self.configs(d)?.iter().filter_map(|c| c.created).max())
    }

    /// `d` and every manifest that must stay while `d` stays: index children at any depth and
    /// referrers (and theirs), into `out`.
    pub(super) fn close_over(&self, d: &Digest, out: &mut HashSet<Digest>) {
        let mut stack = vec![d.clone()];
        while let Some(cur) = stack.pop() {
            if out.contains(&cur) {
                continue;
            }
            if let Some(f) = self.manifests.get(&cur) {
                stack.extend(f.children.iter().cloned());
                stack.extend(f.referrers.iter().cloned());
            }
            out.insert(cur);
        }
    }

    /// True when something hangs off `d`: referrers, or children when `children` is set.
    pub(super) fn has_dependents(&self, d: &Digest, children: bool) -> bool {
        self.manifests
            .get(d)
            .is_some_and(|f| !f.referrers.is_empty() || (children && !f.children.is_empty()))
    }

    /// Referrers of `d` at any depth (referrers of referrers), and, when `children` is set,
    /// index children at any depth, each with the manifest it hangs off.
    pub(super) fn dependents(&self, d: &Digest, children: bool) -> Vec<(Digest, Digest, bool)> {
        let mut out = Vec::new();

        let mut seen = HashSet::new();
        let mut stack = vec![d.clone()];
        while let Some(cur) = stack.pop() {
            if !seen.insert(cur.clone()) {
                continue;
            }
            let Some(f) = self.manifests.get(&cur) else {
                continue;
            };
            for r in &f.referrers {
                out.push((r.clone(), cur.clone(), true));
                stack.push(r.clone());
            }
            if children {
                for c in &f.children {
                    out.push((c.clone(), cur.clone(), false));
                    stack.push(c.clone());
                }
            }
        }
        out
    }
}
