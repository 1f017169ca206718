//! The final name of one of the project's images (DESIGN §6, the seeds' werf naming): REPO,
//! the image's name and the repo mode give the repository it is pushed to and the prefix its
//! tags carry. Multirepo `REPO/IMAGE:TAG`, monorepo `REPO:IMAGE-TAG`, the unnamed image
//! `REPO:TAG` in either mode.
//!
//! Pure: REPO is read as written ([`split_repo`]), so `flant` stays the Docker Hub namespace
//! `flant` and names come out the way users type them (`flant/frontend:tag`).

use std::fmt;

use super::providers::ContainerRegistry;
use super::reference::{self, TAG_RULE};
use super::repo_mode::{RepoMode, default_mode, is_namespace, split_repo};

/// The longest tag a registry accepts.
const MAX_TAG_LEN: usize = 128;

/// One image of the project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Image {
    /// werf's `image: ~`: the image is REPO itself.
    Unnamed,
    /// A named image: one lowercase path component.
    Named(String),
}

impl Image {
    /// `~` or empty for the unnamed image, else a lowercase path component (`frontend`,
    /// `api-v2`); anything else is refused with the rule.
    pub fn parse(text: &str) -> Result<Image, String> {
        let text = text.trim();
        if text.is_empty() || text == "~" {
            return Ok(Image::Unnamed);
        }
        if reference::is_path_component(text) {
            Ok(Image::Named(text.to_string()))
        } else {
            Err(format!(
                "`{text}` is not an image name: write one lowercase path component (letters and \
                 digits, separated by `.`, `_`, `__` or dashes, e.g. `frontend`), or `~` for the \
                 unnamed image"
            ))
        }
    }

    /// The name as part of an environment variable (`api-v2` → `API_V2`), None for the
    /// unnamed image: ci-env's `BERTH_IMAGE_REFS_<NAME>`.
    pub fn variable_suffix(&self) -> Option<String> {
        self.name().map(|name| {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect()
        })
    }

    /// The name, None for the unnamed image.
    pub fn name(&self) -> Option<&str> {
        match self {
            Image::Unnamed => None,
            Image::Named(name) => Some(name),
        }
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or("~"))
    }
}

/// Where an image goes: its repository and the prefix of its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalName {
    /// The repository, as REPO was written (`flant/frontend`, `quay.io/company/app`).
    pub repository: String,
    /// What every tag of the image starts with: `IMAGE-` in monorepo mode, else empty.
    pub tag_prefix: String,
}

impl FinalName {
    /// The image's tag for the build tag `tag` (`frontend-sha-1a2b3c4` in monorepo mode).
    pub fn tag(&self, tag: &str) -> String {
        format!("{}{tag}", self.tag_prefix)
    }

    /// `repository:tag` for the build tag `tag`.
    pub fn reference(&self, tag: &str) -> String {
        format!("{}:{}", self.repository, self.tag(tag))
    }

    /// Checks that `tag` makes a valid tag of this image (the prefix counts towards the
    /// length limit).
    pub fn check_tag(&self, tag: &str) -> Result<(), Error> {
        let full = self.tag(tag);
        if reference::is_tag(tag) && full.len() <= MAX_TAG_LEN {
            return Ok(());
        }
        Err(Error::BadTag {
            tag: tag.to_string(),
            why: if reference::is_tag(tag) {
                format!(
                    "with the image prefix it is `{full}`, {} characters; at most \
                     {MAX_TAG_LEN} are allowed",
                    full.len()
                )
            } else {
                TAG_RULE.to_string()
            },
        })
    }
}

/// A combination of REPO, image and mode that names no image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Monorepo on a REPO that cannot hold images itself.
    #[error(
        "monorepo needs a repository, `{repo}` is {what}: give REPO as {example} or use multirepo"
    )]
    MonorepoNeedsRepository {
        /// REPO as given.
        repo: String,
        /// `only a registry`, `a Docker Hub namespace, not a repository`.
        what: String,
        /// A repository under REPO (`ghcr.io/OWNER/APP`).
        example: String,
    },
    /// The unnamed image on a REPO that cannot hold images itself.
    #[error(
        "an unnamed image (`~`) needs REPO to be a repository, `{repo}` is {what}: give REPO as \
         {example} or name the image"
    )]
    UnnamedNeedsRepository {
        /// REPO as given.
        repo: String,
        /// As for monorepo.
        what: String,
        /// A repository under REPO.
        example: String,
    },
    /// Multirepo below a repository on a registry whose repositories do not nest.
    #[error(
        "multirepo would push `{repo}/{image}`, but {kind} does not nest repositories and \
         `{repo}` is already one: use monorepo (`{repo}:{image}-TAG`) or give REPO as the \
         namespace `{namespace}`"
    )]
    NoNesting {
        /// REPO as given.
        repo: String,
        /// The image.
        image: String,
        /// The registry, in words.
        kind: &'static str,
        /// REPO without its last component.
        namespace: String,
    },
    /// A build tag that makes no valid tag.
    #[error("--tag `{tag}` makes no valid tag: {why}; pass a shorter or valid tag")]
    BadTag {
        /// As given.
        tag: String,
        /// What is wrong.
        why: String,
    },
}

/// The mode REPO takes: `configured` when given, else [`default_mode`] for REPO as written.
pub fn mode_for(repo: &str, kind: ContainerRegistry, configured: Option<RepoMode>) -> RepoMode {
    configured.unwrap_or_else(|| {
        let (host, path) = split_repo(repo);
        default_mode(kind, host, path)
    })
}

/// The repository and tag prefix of `image` under REPO (`repo`, as written) in `mode` on a
/// registry of `kind`.
pub fn final_name(
    repo: &str,
    image: &Image,
    mode: RepoMode,
    kind: ContainerRegistry,
) -> Result<FinalName, Error> {
    let repo = repo.trim().trim_end_matches('/');
    let (host, path) = split_repo(repo);
    let namespace = is_namespace(kind, host, path);
    let what = || {
        if path.is_empty() {
            "only a registry".to_string()
        } else {
            format!("a {} namespace, not a repository", kind_words(kind))
        }
    };
    let example = || example_repository(repo, kind, host, path);
    match (image, mode) {
        (Image::Unnamed, _) if namespace => Err(Error::UnnamedNeedsRepository {
            repo: repo.to_string(),
            what: what(),
            example: example(),
        }),
        (Image::Unnamed, _) => Ok(FinalName {
            repository: repo.to_string(),
            tag_prefix: String::new(),
        }),
        (Image::Named(_), RepoMode::Monorepo) if namespace => Err(Error::MonorepoNeedsRepository {
            repo: repo.to_string(),
            what: what(),
            example: example(),
        }),
        (Image::Named(name), RepoMode::Monorepo) => Ok(FinalName {
            repository: repo.to_string(),
            tag_prefix: format!("{name}-"),
        }),
        (Image::Named(name), RepoMode::Multirepo)
            if !namespace && !kind.nests_repositories_at(host) =>
        {
            Err(Error::NoNesting {
                repo: repo.to_string(),
                image: name.clone(),
                kind: kind_words(kind),
                namespace: repo.rsplit_once('/').map_or(repo, |(ns, _)| ns).to_string(),
            })
        }
        (Image::Named(name), RepoMode::Multirepo) => Ok(FinalName {
            repository: format!("{repo}/{name}"),
            tag_prefix: String::new(),
        }),
    }
}

/// The registry kind as users call it.
fn kind_words(kind: ContainerRegistry) -> &'static str {
    match kind {
        ContainerRegistry::Dockerhub => "Docker Hub",
        ContainerRegistry::Github => "GitHub Packages",
        ContainerRegistry::Quay => "Quay",
        ContainerRegistry::Gitlab => "GitLab",
        ContainerRegistry::Harbor => "Harbor",
        ContainerRegistry::Acr => "Azure Container Registry",
        ContainerRegistry::Ecr => "ECR",
        ContainerRegistry::Gcr => "Google's registry",
        ContainerRegistry::Jfrog => "JFrog",
        ContainerRegistry::Nexus => "Nexus",
        ContainerRegistry::Yandex => "Yandex's registry",
        ContainerRegistry::Default => "this registry",
    }
}

/// REPO extended with placeholders until it is a repository (`ghcr.io/OWNER/APP`,
/// `docker.pkg.github.com/company/PROJECT/APP`, `flant/APP`), asking [`is_namespace`] so the
/// example follows the same rule as the check.
fn example_repository(repo: &str, kind: ContainerRegistry, host: &str, path: &str) -> String {
    let levels: &[&str] = match kind {
        ContainerRegistry::Github => &["OWNER", "PROJECT"],
        _ => &["NAMESPACE"],
    };
    let depth = if path.is_empty() {
        0
    } else {
        path.split('/').count()
    };
    let mut added: Vec<&str> = Vec::new();
    loop {
        let mut candidate = path.to_string();
        for part in added.iter().chain(std::iter::once(&"APP")) {
            if !candidate.is_empty() {
                candidate.push('/');
            }
            candidate.push_str(part);
        }
        if !is_namespace(kind, host, &candidate) || added.len() >= 3 {
            let mut example = repo.to_string();
            for part in added.iter().chain(std::iter::once(&"APP")) {
                example.push('/');
                example.push_str(part);
            }
            return example;
        }
        added.push(
            levels
                .get(depth + added.len())
                .copied()
                .unwrap_or("NAMESPACE"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerRegistry as K;

    fn name(repo: &str, image: &str, kind: K, mode: Option<RepoMode>) -> Result<String, Error> {
        let image = Image::parse(image).unwrap();
        final_name(repo, &image, mode_for(repo, kind, mode), kind).map(|n| n.reference("tag"))
    }

    #[test]
    fn the_seeds_examples_by_default() {
        let table = [
            ("foo", K::Dockerhub, "foo/frontend:tag"),
            ("foo/project", K::Dockerhub, "foo/project:frontend-tag"),
            (
                "docker.pkg.github.com/company/project",
                K::Github,
                "docker.pkg.github.com/company/project/frontend:tag",
            ),
            (
                "docker.pkg.github.com/company/project/app",
                K::Github,
                "docker.pkg.github.com/company/project/app:frontend-tag",
            ),
            ("quay.io/company", K::Quay, "quay.io/company/frontend:tag"),
            (
                "quay.io/company/app",
                K::Quay,
                "quay.io/company/app:frontend-tag",
            ),
            (
                "registry.gitlab.com/group/project",
                K::Gitlab,
                "registry.gitlab.com/group/project/frontend:tag",
            ),
            ("localhost:5000", K::Default, "localhost:5000/frontend:tag"),
        ];
        for (repo, kind, want) in table {
            assert_eq!(name(repo, "frontend", kind, None).unwrap(), want, "{repo}");
        }
    }

    #[test]
    fn the_unnamed_image_is_repo_itself_in_either_mode() {
        for mode in [RepoMode::Monorepo, RepoMode::Multirepo] {
            assert_eq!(
                name("foo/project", "~", K::Dockerhub, Some(mode)).unwrap(),
                "foo/project:tag"
            );
            assert_eq!(
                name("registry.gitlab.com/g/p", "", K::Gitlab, Some(mode)).unwrap(),
                "registry.gitlab.com/g/p:tag"
            );
        }
    }

    #[test]
    fn what_cannot_hold_images_is_refused_with_a_repository_to_use() {
        let e = name("ghcr.io", "app", K::Github, Some(RepoMode::Monorepo)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "monorepo needs a repository, `ghcr.io` is only a registry: give REPO as \
             ghcr.io/OWNER/APP or use multirepo"
        );
        let e = name("foo", "~", K::Dockerhub, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "an unnamed image (`~`) needs REPO to be a repository, `foo` is a Docker Hub \
             namespace, not a repository: give REPO as foo/APP or name the image"
        );
        let e = name(
            "docker.pkg.github.com/company",
            "app",
            K::Github,
            Some(RepoMode::Monorepo),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("docker.pkg.github.com/company/PROJECT/APP"),
            "{e}"
        );
        let e = name("localhost:5000", "~", K::Default, None).unwrap_err();
        assert!(e.to_string().contains("localhost:5000/APP"), "{e}");
        let e = name(
            "foo/project",
            "web",
            K::Dockerhub,
            Some(RepoMode::Multirepo),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "multirepo would push `foo/project/web`, but Docker Hub does not nest repositories \
             and `foo/project` is already one: use monorepo (`foo/project:web-TAG`) or give \
             REPO as the namespace `foo`"
        );
    }

    #[test]
    fn image_names_are_path_components_or_unnamed() {
        assert_eq!(Image::parse("~"), Ok(Image::Unnamed));
        assert_eq!(Image::parse(" "), Ok(Image::Unnamed));
        assert_eq!(Image::parse("api-v2"), Ok(Image::Named("api-v2".into())));
        for bad in ["Frontend", "a/b", "-x", "a:b"] {
            assert!(Image::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_prefix_counts_towards_the_tag_length() {
        let n = final_name(
            "r.example.com/app",
            &Image::Named("frontend".into()),
            RepoMode::Monorepo,
            K::Default,
        )
        .unwrap();
        assert!(n.check_tag(&"a".repeat(119)).is_ok());
        assert!(n.check_tag(&"a".repeat(121)).is_err());
        assert!(n.check_tag("-x").is_err());
    }
}
