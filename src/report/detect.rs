//! Rendering of `berth detect`: a readable block, or stable JSON (`"schema": 1`).
//!
//! JSON shape: `{"schema": 1, "repository", "container_registry", "detected_by": {"by":
//! "override" | "ci" (+ "variable") | "host_pattern" (+ "pattern") | "no_match" |
//! "oci_prefix"}, "capabilities": {…}, "nested_repositories", "repo_mode", "credentials":
//! {"registry_login", "api": null | {"url", "graphql_url"?, "project"?, "token", "sent_as"?},
//! "missing"}}`. `api` is set for github, gitlab and dockerhub; `graphql_url` only for
//! docker.pkg.github.com; `project` and `sent_as` only for gitlab (no `project`: taken from the
//! image path); `token` names the variable(s), null when none is set; `missing` says what
//! cleanup cannot do without a credential and which variable to set. Credentials are named
//! by the file, helper or variable they come from; no value is ever part of a report.

use std::fmt::Write;

use serde::Serialize;

use crate::registry::Capabilities;
use crate::registry::detect::DetectedBy;
use crate::registry::repo_mode::RepoMode;

/// Everything `berth detect` says about one REPO.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// Format version of the JSON output.
    pub schema: u32,
    /// `host/path` as berth reads it (`docker.io/flant`, `ghcr.io`), or `oci:PATH`.
    pub repository: String,
    /// The implementation: a `--container-registry` kind, or `oci` for an on-disk layout.
    pub container_registry: String,
    /// How the implementation was decided.
    pub detected_by: Decision,
    /// What the implementation can do.
    pub capabilities: Capabilities,
    /// Whether repositories nest below REPO's namespace (`a/b/c`).
    pub nested_repositories: bool,
    /// The repo mode REPO defaults to.
    pub repo_mode: RepoMode,
    /// Where berth takes its logins from.
    pub credentials: CredentialSources,
    /// Remarks for the reader of the text block (not part of the JSON).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// How the implementation was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Decision {
    /// A registry host: override, CI job, host pattern or none.
    Registry(DetectedBy),
    /// `oci:PATH`: an OCI image layout on disk, whatever the path.
    Oci(OciPrefix),
}

/// The `oci:` prefix decided it; serialized as `{"by": "oci_prefix"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OciPrefix {
    /// Always `oci_prefix`.
    pub by: &'static str,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Registry(by) => by.fmt(f),
            Decision::Oci(_) => f.write_str("the `oci:` prefix: an OCI image layout on disk"),
        }
    }
}

/// Where the credentials come from, named and never shown.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialSources {
    /// The registry login: an `auths` entry, a credential helper, a credsStore, or none.
    pub registry_login: String,
    /// The platform API berth calls besides the registry, if the kind has one.
    pub api: Option<ApiCredentials>,
    /// What cannot be done for want of a credential, and which variable to set.
    pub missing: Option<String>,
}

/// The platform API and the variables its credential is read from.
#[derive(Debug, Clone, Serialize)]
pub struct ApiCredentials {
    /// The REST API base.
    pub url: String,
    /// The GraphQL endpoint, where berth uses it (docker.pkg.github.com).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_url: Option<String>,
    /// GitLab: the project whose registry is read; None there means "from the image path".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The variable(s) the token is read from; None when none is set.
    pub token: Option<String>,
    /// GitLab: the header the token is sent in (`PRIVATE-TOKEN` or `JOB-TOKEN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_as: Option<&'static str>,
}

/// The JSON document, with a trailing newline.
pub fn json(detection: &Detection) -> String {
    let mut text = serde_json::to_string_pretty(detection).expect("detection serializes");
    text.push('\n');
    text
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The readable block.
pub fn text(d: &Detection) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        let row = format!("{:<27}{value}", format!("{key}:"));
        let _ = writeln!(out, "{}", row.trim_end());
    };
    line("repository", &d.repository);
    line("container registry", &d.container_registry);
    line("detected by", &d.detected_by.to_string());
    let mode = match d.repo_mode {
        RepoMode::Monorepo => "monorepo (images are tagged REPO:IMAGE-TAG)",
        RepoMode::Multirepo => "multirepo (one repository per image: REPO/IMAGE:TAG)",
    };
    line("repo mode", mode);
    line("nested repositories", yes_no(d.nested_repositories));
    let c = &d.capabilities;
    line("capabilities", "");
    for (name, value) in [
        ("tag delete", c.tag_delete),
        ("dummy untag", c.dummy_untag),
        ("manifest delete", c.manifest_delete),
        ("referrers API", c.referrers_api),
        ("repositories must exist", c.repositories_must_exist),
        ("untagged visible", c.untagged_visible),
        ("lists digests", c.lists_digests),
        ("lists push times", c.lists_push_times),
    ] {
        line(&format!("  {name}"), yes_no(value));
    }
    let creds = &d.credentials;
    line("registry login", &creds.registry_login);
    match &creds.api {
        None => line("platform API", "none: docker config only"),
        Some(api) => {
            line("platform API", &api.url);
            if let Some(graphql) = &api.graphql_url {
                line("  GraphQL", graphql);
            }
            if d.container_registry == "gitlab" {
                line(
                    "  project",
                    api.project.as_deref().unwrap_or("from the image path"),
                );
            }
            let token = match (&api.token, api.sent_as) {
                (Some(token), Some(header)) => format!("{token} (sent as {header})"),
                (Some(token), None) => token.clone(),
                (None, _) => "none set".to_string(),
            };
            line("  token", &token);
        }
    }
    if let Some(missing) = &creds.missing {
        line("missing", missing);
    }
    for note in &d.notes {
        line("note", note);
    }
    out
}
