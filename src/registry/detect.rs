//! Which implementation serves a registry host: `--container-registry` when given, else the
//! CI job's own registry, else the host's name (DESIGN §6), else the plain Distribution API.
//!
//! Fixed where werf guesses wrong: self-managed GitLab registries (`registry.<host>`, or any
//! host the GitLab job names in `CI_REGISTRY`), Artifact Registry (`*-docker.pkg.dev`), the
//! FIPS and China ECR endpoints, and the three kinds werf lacks (JFrog, Nexus, Yandex).

use std::sync::LazyLock;

use regex::Regex;

use super::providers::{CiContext, ContainerRegistry};

/// How the kind was decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DetectedBy {
    /// `--container-registry` / `BERTH_CONTAINER_REGISTRY`.
    Override,
    /// The CI job says this host is its registry.
    Ci {
        /// The variable that said so.
        variable: &'static str,
    },
    /// The host's name matched a pattern.
    HostPattern {
        /// The pattern, as documented (`*.azurecr.io`).
        pattern: &'static str,
    },
    /// No pattern matched: the plain Distribution API.
    NoMatch,
}

impl std::fmt::Display for DetectedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DetectedBy::Override => {
                f.write_str("--container-registry (or BERTH_CONTAINER_REGISTRY)")
            }
            DetectedBy::Ci { variable } => write!(f, "the CI job ({variable})"),
            DetectedBy::HostPattern { pattern } => write!(f, "host pattern `{pattern}`"),
            DetectedBy::NoMatch => f.write_str("no host pattern matched"),
        }
    }
}

/// A detected kind and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The implementation.
    pub kind: ContainerRegistry,
    /// How it was decided.
    pub by: DetectedBy,
}

static ECR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
        .expect("valid regex")
});

/// Host patterns in the order they are tried: `(pattern as documented, kind, matcher)`.
type Rule = (&'static str, ContainerRegistry, fn(&str) -> bool);

const RULES: &[Rule] = &[
    ("docker.io", ContainerRegistry::Dockerhub, |h| {
        matches!(
            h,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    }),
    ("ghcr.io", ContainerRegistry::Github, |h| h == "ghcr.io"),
    ("docker.pkg.github.com", ContainerRegistry::Github, |h| {
        h == "docker.pkg.github.com"
    }),
    ("registry.gitlab.com", ContainerRegistry::Gitlab, |h| {
        h == "registry.gitlab.com" || h == "gitlab.com"
    }),
    (
        "<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]",
        ContainerRegistry::Ecr,
        |h| ECR.is_match(h),
    ),
    ("*.azurecr.io", ContainerRegistry::Acr, |h| {
        [".azurecr.io", ".azurecr.cn", ".azurecr.us"]
            .iter()
            .any(|s| h.len() > s.len() && h.ends_with(s))
    }),
    ("gcr.io, *.gcr.io", ContainerRegistry::Gcr, |h| {
        h == "gcr.io" || h.ends_with(".gcr.io")
    }),
    ("*-docker.pkg.dev", ContainerRegistry::Gcr, |h| {
        h.ends_with("-docker.pkg.dev") && !h.contains('/')
    }),
    ("quay.io, quay.*.com", ContainerRegistry::Quay, |h| {
        h == "quay.io" || (h.starts_with("quay.") && h.ends_with(".com"))
    }),
    ("harbor.*", ContainerRegistry::Harbor, |h| {
        h.starts_with("harbor.") || h == "demo.goharbor.io"
    }),
    ("*.jfrog.io", ContainerRegistry::Jfrog, |h| {
        h.len() > ".jfrog.io".len() && h.ends_with(".jfrog.io")
    }),
    ("cr.yandex", ContainerRegistry::Yandex, |h| h == "cr.yandex"),
];

/// The host part of `host[:port]`, lowercased (`[::1]:5000` keeps its brackets).
fn bare_host(registry: &str) -> String {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => registry,
    };
    host.to_ascii_lowercase()
}

/// The implementation behind `registry` (a reference's host, `host[:port]`).
pub fn detect(
    registry: &str,
    override_kind: Option<ContainerRegistry>,
    ci: &CiContext,
) -> Detected {
    if let Some(kind) = override_kind {
        return Detected {
            kind,
            by: DetectedBy::Override,
        };
    }
    let host = bare_host(registry);
    if let Some(ci_registry) = &ci.gitlab_registry
        && (ci_registry.eq_ignore_ascii_case(registry) || bare_host(ci_registry) == host)
    {
        return Detected {
            kind: ContainerRegistry::Gitlab,
            by: DetectedBy::Ci {
                variable: crate::env_vars::CI_REGISTRY,
            },
        };
    }
    if let Some((pattern, kind, _)) = RULES.iter().find(|(_, _, matches)| matches(&host)) {
        return Detected {
            kind: *kind,
            by: DetectedBy::HostPattern { pattern },
        };
    }
    if ci.gitlab && host.starts_with("registry.") {
        return Detected {
            kind: ContainerRegistry::Gitlab,
            by: DetectedBy::Ci {
                variable: crate::env_vars::GITLAB_CI,
            },
        };
    }
    Detected {
        kind: ContainerRegistry::Default,
        by: DetectedBy::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerRegistry as K;

    fn kind(host: &str) -> ContainerRegistry {
        detect(host, None, &CiContext::default()).kind
    }

    #[test]
    fn every_host_pattern() {
        let table = [
            ("docker.io", K::Dockerhub),
            ("index.docker.io", K::Dockerhub),
            ("registry-1.docker.io", K::Dockerhub),
            ("registry.hub.docker.com", K::Dockerhub),
            ("ghcr.io", K::Github),
            ("docker.pkg.github.com", K::Github),
            ("registry.gitlab.com", K::Gitlab),
            ("gitlab.com", K::Gitlab),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", K::Ecr),
            ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", K::Ecr),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", K::Ecr),
            ("myregistry.azurecr.io", K::Acr),
            ("gcr.io", K::Gcr),
            ("eu.gcr.io", K::Gcr),
            ("europe-west3-docker.pkg.dev", K::Gcr),
            ("quay.io", K::Quay),
            ("quay.example.com", K::Quay),
            ("harbor.example.com", K::Harbor),
            ("demo.goharbor.io", K::Harbor),
            ("company.jfrog.io", K::Jfrog),
            ("cr.yandex", K::Yandex),
            ("registry.example.com", K::Default),
            ("localhost:5000", K::Default),
            ("127.0.0.1:5000", K::Default),
            ("azurecr.io", K::Default),
            ("dkr.ecr.eu-west-1.amazonaws.com", K::Default),
        ];
        for (host, want) in table {
            assert_eq!(kind(host), want, "{host}");
        }
        assert_eq!(kind("GHCR.IO"), K::Github);
        assert_eq!(kind("quay.io:443"), K::Quay);
    }

    #[test]
    fn gitlab_ci_claims_its_registry_and_registry_hosts() {
        let ci = CiContext {
            gitlab: true,
            gitlab_registry: Some("gitlab.example.com:5050".into()),
        };
        let d = detect("gitlab.example.com:5050", None, &ci);
        assert_eq!(d.kind, K::Gitlab);
        assert_eq!(
            d.by,
            DetectedBy::Ci {
                variable: "CI_REGISTRY"
            }
        );
        assert_eq!(detect("registry.example.com", None, &ci).kind, K::Gitlab);
        // Outside a GitLab job a `registry.` host is nothing in particular.
        assert_eq!(kind("registry.example.com"), K::Default);
        // A host pattern still wins over the `registry.` guess.
        assert_eq!(detect("quay.io", None, &ci).kind, K::Quay);
    }

    #[test]
    fn the_override_wins() {
        let d = detect("ghcr.io", Some(K::Default), &CiContext::default());
        assert_eq!((d.kind, d.by), (K::Default, DetectedBy::Override));
    }
}
