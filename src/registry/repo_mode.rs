//! The images repo mode a REPO defaults to (DESIGN §6, the seeds' werf tables): multirepo
//! (`REPO/IMAGE:TAG`) wherever REPO can hold repositories below it, monorepo
//! (`REPO:IMAGE-TAG`) where it cannot.
//!
//! Docker Hub, the legacy docker.pkg.github.com and Quay do not nest repositories: there a
//! REPO is either a namespace (`flant`, `quay.io/company`,
//! `docker.pkg.github.com/company/project`), which holds one repository per image, or a
//! repository (`flant/project`, …), which must hold every image as tags. ghcr.io nests
//! packages (`ghcr.io/OWNER/app/frontend`), but its OWNER alone is a namespace too. The decision reads
//! the REPO as written: the reference parser would turn a bare Docker Hub namespace `flant`
//! into the repository `library/flant`, which is not what a user naming a namespace means.

use std::fmt;

use super::providers::ContainerRegistry;
use super::reference::DOCKER_HUB;

/// How image names are composed from REPO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoMode {
    /// Every image in REPO itself: `REPO:IMAGE-TAG`.
    Monorepo,
    /// One repository per image below REPO: `REPO/IMAGE:TAG`.
    Multirepo,
}

impl RepoMode {
    /// The name as configured and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            RepoMode::Monorepo => "monorepo",
            RepoMode::Multirepo => "multirepo",
        }
    }
}

impl fmt::Display for RepoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Splits a REPO as written into `(registry host, path)`, the way docker tells a host from a
/// path (the first component has a `.` or a `:` or is `localhost`), without the reference
/// parser's `library/` expansion: `flant` → `("docker.io", "flant")`, `ghcr.io` →
/// `("ghcr.io", "")`. A trailing `/` is ignored.
pub fn split_repo(repo: &str) -> (&str, &str) {
    let repo = repo.trim_end_matches('/');
    let (first, rest) = repo.split_once('/').unwrap_or((repo, ""));
    if first.contains(['.', ':']) || first == "localhost" {
        (first, rest)
    } else {
        (DOCKER_HUB, repo)
    }
}

/// The fewest path components a repository has at this host: `NAMESPACE/REPO` on Docker
/// Hub, Quay and ghcr.io (`OWNER/PACKAGE`), `OWNER/PROJECT/IMAGE` on docker.pkg.github.com, one
/// elsewhere. A shorter path is a namespace.
fn repository_depth(kind: ContainerRegistry, registry_host: &str) -> usize {
    match kind {
        ContainerRegistry::Github if !kind.nests_repositories_at(registry_host) => 3,
        ContainerRegistry::Github | ContainerRegistry::Dockerhub | ContainerRegistry::Quay => 2,
        _ => 1,
    }
}

/// True when REPO (`registry_host` and its `path`, empty for the registry itself) cannot
/// hold images of its own: the registry itself, or a path shorter than a repository's
/// (`flant` on Docker Hub, `ghcr.io/company`, `docker.pkg.github.com/company/project`). Such a
/// REPO takes neither monorepo naming nor an unnamed image.
pub fn is_namespace(kind: ContainerRegistry, registry_host: &str, path: &str) -> bool {
    path.is_empty() || path.split('/').count() < repository_depth(kind, registry_host)
}

/// The repo mode REPO defaults to: monorepo only where REPO is a repository at a host that
/// does not nest repositories (Docker Hub, docker.pkg.github.com, Quay), multirepo
/// everywhere else.
pub fn default_mode(kind: ContainerRegistry, registry_host: &str, path: &str) -> RepoMode {
    if !kind.nests_repositories_at(registry_host) && !is_namespace(kind, registry_host, path) {
        RepoMode::Monorepo
    } else {
        RepoMode::Multirepo
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerRegistry as K;

    fn mode_of(kind: ContainerRegistry, repo: &str) -> (RepoMode, bool) {
        let (host, path) = split_repo(repo);
        (
            default_mode(kind, host, path),
            is_namespace(kind, host, path),
        )
    }

    #[test]
    fn the_seeds_examples() {
        use RepoMode::{Monorepo as Mono, Multirepo as Multi};
        let table = [
            // The seeds' Docker Hub account `flant`.
            (K::Dockerhub, "flant", Multi, true),
            (K::Dockerhub, "flant/project", Mono, false),
            (K::Dockerhub, "index.docker.io/flant", Multi, true),
            (K::Dockerhub, "index.docker.io/flant/project", Mono, false),
            (K::Dockerhub, "library/alpine", Mono, false),
            (K::Dockerhub, "index.docker.io/library/alpine", Mono, false),
            (K::Quay, "quay.io/company", Multi, true),
            (K::Quay, "quay.io/company/app", Mono, false),
            (
                K::Github,
                "docker.pkg.github.com/company/project",
                Multi,
                true,
            ),
            (
                K::Github,
                "docker.pkg.github.com/company/project/app",
                Mono,
                false,
            ),
            (K::Github, "docker.pkg.github.com/company", Multi, true),
            (K::Github, "ghcr.io/company", Multi, true),
            // ghcr.io nests packages: below OWNER/APP another level is fine.
            (K::Github, "ghcr.io/company/app", Multi, false),
            // Registries only: nothing can be stored at REPO itself.
            (K::Github, "ghcr.io", Multi, true),
            (K::Default, "localhost:5000", Multi, true),
            (K::Quay, "quay.io/", Multi, true),
            // Nesting kinds: multirepo whatever the depth.
            (K::Gitlab, "registry.gitlab.com/group", Multi, false),
            (K::Gitlab, "registry.gitlab.com/group/project", Multi, false),
            (K::Default, "localhost:5000/a/b/c", Multi, false),
            (
                K::Ecr,
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
                Multi,
                false,
            ),
        ];
        for (kind, repo, mode, namespace) in table {
            assert_eq!(mode_of(kind, repo), (mode, namespace), "{kind} {repo}");
        }
    }

    #[test]
    fn a_github_override_on_another_host_counts_owner_slash_image() {
        assert_eq!(
            mode_of(K::Github, "packages.example.com/company"),
            (RepoMode::Multirepo, true)
        );
        assert_eq!(
            mode_of(K::Github, "packages.example.com/company/app"),
            (RepoMode::Multirepo, false)
        );
        assert_eq!(
            mode_of(K::Github, "DOCKER.PKG.GITHUB.COM:443/company/project").0,
            RepoMode::Multirepo
        );
    }

    #[test]
    fn hosts_are_told_from_paths_as_docker_does() {
        assert_eq!(split_repo("flant"), ("docker.io", "flant"));
        assert_eq!(split_repo("flant/project"), ("docker.io", "flant/project"));
        assert_eq!(split_repo("localhost/app"), ("localhost", "app"));
        assert_eq!(split_repo("localhost:5000"), ("localhost:5000", ""));
        assert_eq!(split_repo("ghcr.io/owner/app"), ("ghcr.io", "owner/app"));
    }

    #[test]
    fn modes_serialize_and_display_lowercase() {
        assert_eq!(RepoMode::Monorepo.to_string(), "monorepo");
        assert_eq!(
            serde_json::to_string(&RepoMode::Multirepo).unwrap(),
            "\"multirepo\""
        );
    }
}
