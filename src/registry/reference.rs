//! Image references in docker's grammar (`distribution/reference`): an optional registry host
//! (`host[:port]`, recognised by a `.`, a `:` or the name `localhost` in the first component),
//! a lowercase repository path, an optional `:tag` and an optional `@digest`. A bare Docker Hub
//! name (`nginx`) means `docker.io/library/nginx`, as `docker pull` reads it.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::{Digest, Error};

/// The registry a reference without a host names.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Longest repository name (host and path) docker accepts.
const NAME_MAX: usize = 255;

static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("valid regex"));
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$",
    )
    .expect("valid regex")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("valid regex"));

/// The tag grammar in words, for errors.
pub const TAG_RULE: &str = "a tag must be 1 to 128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`";

/// True when `text` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, ASCII only).
pub fn is_tag(text: &str) -> bool {
    TAG.is_match(text)
}

/// True when `text` is one repository path component (`app`, `my-app`, `a.b_c`): lowercase
/// letters and digits, separated by `.`, `_`, `__` or dashes.
pub fn is_path_component(text: &str) -> bool {
    PATH_COMPONENT.is_match(text)
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference: `nginx`, `nginx:1.25`, `ghcr.io/owner/app`,
    /// `localhost:5000/a/b:tag@sha256:…`. The error shows the input and says what is wrong.
    pub fn parse(text: &str) -> Result<Reference, Error> {
        let invalid = |why: String| Error::InvalidReference {
            reference: text.to_string(),
            why,
        };
        if text.is_empty() {
            return Err(invalid("it is empty".into()));
        }
        if text.trim() != text || text.contains(char::is_whitespace) {
            return Err(invalid("it contains whitespace".into()));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(Digest::parse(digest).map_err(|e| invalid(e.to_string()))?),
            ),
            None => (text, None),
        };
        // A `:` after the last `/` starts the tag; one before it belongs to `host:port`.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !TAG.is_match(tag) {
                return Err(invalid(format!(
                    "the tag `{tag}` must be 1 to 128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
                )));
            }
        }
        if name.is_empty() {
            return Err(invalid("the repository name is empty".into()));
        }
        if name.len() > NAME_MAX {
            return Err(invalid(format!(
                "the repository name is {} characters long; at most {NAME_MAX} are allowed",
                name.len()
            )));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                if !DOMAIN.is_match(first) {
                    return Err(invalid(format!(
                        "`{first}` is not a valid registry host (expected host or host:port)"
                    )));
                }
                check_host(first).map_err(invalid)?;
                (first.to_string(), path.to_string())
            }
            Some(_) => (DOCKER_HUB.to_string(), name.to_string()),
            None => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                DOCKER_HUB.to_string()
            }
            _ => registry,
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "the repository `{path}` must be lowercase"
            )));
        }
        for component in path.split('/') {
            if !PATH_COMPONENT.is_match(component) {
                return Err(invalid(format!(
                    "the path component `{component}` must be lowercase letters and digits, separated by `.`, `_`, `__` or dashes"
                )));
            }
        }
        Ok(Reference {
            registry,
            repository: path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Registry host as the user names it (`host[:port]`; Docker Hub is `docker.io`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path (`library/nginx`, `owner/app`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

/// What the host grammar lets through but no URL can hold: a port outside 1–65535, an
/// IPv6 literal that is not an address.
fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']').unwrap_or((rest, ""));
            if ip.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("`[{ip}]` is not an IPv6 address"));
            }
            (None, after.strip_prefix(':'))
        }
        None => (Some(host), host.rsplit_once(':').map(|(_, p)| p)),
    };
    if let Some(port) = port {
        if !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            return Err(format!(
                "the port `{port}` of `{host}` is not between 1 and 65535"
            ));
        }
    }
    if let Some(name) = name {
        let name = name.rsplit_once(':').map_or(name, |(n, _)| n);
        if name.len() > 253 {
            return Err(format!(
                "the host name `{name}` is longer than 253 characters"
            ));
        }
    }
    Ok(())
}

/// The host that serves the registry API of `registry` (Docker Hub's API lives on
/// `registry-1.docker.io`; every other registry serves its own).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Reference {
        Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn docker_hub_short_names_get_library() {
        let r = parse("nginx");
        assert_eq!(
            (r.registry(), r.repository()),
            ("docker.io", "library/nginx")
        );
        let r = parse("bitnami/redis:7");
        assert_eq!(r.repository(), "bitnami/redis");
        assert_eq!(r.tag(), Some("7"));
        assert_eq!(parse("index.docker.io/nginx").repository(), "library/nginx");
        let hub = parse("registry.hub.docker.com/team/app");
        assert_eq!(
            (hub.registry(), hub.repository()),
            ("docker.io", "team/app")
        );
        assert_eq!(api_host(parse("nginx").registry()), "registry-1.docker.io");
    }

    #[test]
    fn host_port_path_tag_and_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let r = parse(&format!("localhost:5000/a/b/c:v1.2@{digest}"));
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "a/b/c");
        assert_eq!(r.tag(), Some("v1.2"));
        assert_eq!(r.digest().map(Digest::as_str), Some(digest.as_str()));
        assert_eq!(r.to_string(), format!("localhost:5000/a/b/c:v1.2@{digest}"));
        let r = parse("ghcr.io/owner/app");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("ghcr.io", "owner/app", None)
        );
        assert_eq!(parse("localhost/app").registry(), "localhost");
        assert_eq!(parse("127.0.0.1:5000/app").registry(), "127.0.0.1:5000");
        assert_eq!(parse("[::1]:5000/app").registry(), "[::1]:5000");
        assert_eq!(parse("a/b__c/d-e--f.g").repository(), "a/b__c/d-e--f.g");
    }

    #[test]
    fn bad_references_say_why() {
        for (text, want) in [
            ("", "empty"),
            ("Nginx", "lowercase"),
            ("ghcr.io/Owner/app", "lowercase"),
            ("ghcr.io/owner/app:", "tag"),
            ("ghcr.io/owner/app:-x", "tag"),
            ("ghcr.io/a//b", "path component"),
            ("ghcr.io/a/-b", "path component"),
            ("ghcr.io/app@sha256:abc", "hex"),
            ("bad_host.io:x/app", "registry host"),
            ("a b", "whitespace"),
            ("127.0.0.1:99999/app", "port `99999`"),
            ("localhost:0/app", "port `0`"),
            ("[1:2:3:4:5:6:7:8:9]:5000/app", "IPv6"),
            ("ghcr.io/a/", "path component"),
            ("ghcr.io//a", "path component"),
            ("ghcr.io/team/App", "lowercase"),
            ("app:t\u{e9}", "tag"),
        ] {
            let err = Reference::parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.contains(&format!("`{text}`")), "{text}: {err}");
        }
        let long = format!("ghcr.io/{}", "a".repeat(300));
        assert!(
            Reference::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("at most 255")
        );
        let long_tag = format!("app:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
    }

    #[test]
    fn uppercase_first_component_is_a_host() {
        // docker treats an uppercase first component as a host name, so the path stays valid.
        assert_eq!(parse("MyHost/app").registry(), "MyHost");
    }
}
