//! Registry authentication pieces: parsing `WWW-Authenticate` challenges (RFC 7235/6750, as
//! registries really send them: unquoted values, several parameters, several challenges,
//! `error="insufficient_scope"`), token scopes accumulated per repository, and the token
//! service's answer (`token` or `access_token`, `expires_in` defaulting to 60 s).
//!
//! The request flow that uses these lives in `client`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`basic`, `bearer`).
    pub scheme: String,
    /// Parameters with lowercased names (`realm`, `service`, `scope`, `error`).
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// True for `Basic`.
    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    /// True for `Bearer`.
    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    /// The scopes the challenge asks for (space-separated in `scope`).
    pub fn scopes(&self) -> Vec<String> {
        self.param("scope")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// True when a token was sent but lacks the needed action.
    pub fn insufficient_scope(&self) -> bool {
        self.param("error") == Some("insufficient_scope")
    }
}

/// Parses every challenge of a `WWW-Authenticate` header value.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let chars: Vec<char> = header.chars().collect();
    let mut pos = 0;
    let mut challenges: Vec<Challenge> = Vec::new();
    let is_sep = |c: char| c.is_whitespace() || c == ',';
    while pos < chars.len() {
        while pos < chars.len() && is_sep(chars[pos]) {
            pos += 1;
        }
        let start = pos;
        while pos < chars.len() && !is_sep(chars[pos]) && chars[pos] != '=' {
            pos += 1;
        }
        let token: String = chars[start..pos].iter().collect();
        let mut look = pos;
        while look < chars.len() && chars[look].is_whitespace() {
            look += 1;
        }
        if look < chars.len() && chars[look] == '=' && !challenges.is_empty() && !token.is_empty() {
            // `name = value` of the current challenge.
            pos = look + 1;
            while pos < chars.len() && chars[pos].is_whitespace() {
                pos += 1;
            }
            let mut value = String::new();
            if pos < chars.len() && chars[pos] == '"' {
                pos += 1;
                while pos < chars.len() && chars[pos] != '"' {
                    if chars[pos] == '\\' && pos + 1 < chars.len() {
                        pos += 1;
                    }
                    value.push(chars[pos]);
                    pos += 1;
                }
                pos += 1;
            } else {
                while pos < chars.len() && !is_sep(chars[pos]) {
                    value.push(chars[pos]);
                    pos += 1;
                }
            }
            if let Some(current) = challenges.last_mut() {
                current.params.insert(token.to_ascii_lowercase(), value);
            }
        } else if !token.is_empty() {
            challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        } else {
            // A stray `=` (token68 padding): skip it.
            pos += 1;
        }
    }
    challenges
}

/// The challenge berth answers: Bearer if offered, else Basic.
pub fn pick(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .find(|c| c.is_bearer())
        .or_else(|| challenges.iter().find(|c| c.is_basic()))
}

/// Repository actions in the order registries expect them in a scope: Distribution's three,
/// then ACR's `metadata_read` / `metadata_write` for its `/acr/v1` API, which its challenges
/// name and which `*` does not mean.
const ACTIONS: [&str; 5] = ["pull", "push", "delete", "metadata_read", "metadata_write"];
/// What `*` grants: Distribution's actions.
const ALL_ACTIONS: usize = 3;

/// The scopes berth asks the token service for, per repository: actions accumulate (a token
/// for `pull` is replaced by one for `pull,delete` once a delete is needed), up to
/// `pull,push,delete`, plus any other scope a challenge named verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    repositories: BTreeMap<String, BTreeSet<&'static str>>,
    other: BTreeSet<String>,
}

impl Scopes {
    /// Adds `action` on `repository`; returns true if that widened the scopes.
    pub fn add_action(&mut self, repository: &str, action: &str) -> bool {
        match ACTIONS.iter().find(|a| **a == action) {
            Some(a) => self
                .repositories
                .entry(repository.to_string())
                .or_default()
                .insert(a),
            None => false,
        }
    }

    /// Adds a scope from a challenge (`repository:NAME:ACTIONS` or anything else verbatim);
    /// returns true if that widened the scopes.
    pub fn add_scope(&mut self, scope: &str) -> bool {
        // The name may hold `host:port`, so the type ends at the first `:` and the actions
        // start after the last one.
        if let Some(rest) = scope.strip_prefix("repository:") {
            if let Some((name, actions)) = rest.rsplit_once(':') {
                let mut widened = false;
                for action in actions.split(',') {
                    if action == "*" {
                        for a in &ACTIONS[..ALL_ACTIONS] {
                            widened |= self.add_action(name, a);
                        }
                    } else {
                        widened |= self.add_action(name, action);
                    }
                }
                return widened;
            }
        }
        self.other.insert(scope.to_string())
    }

    /// True when `action` on `repository` is among the scopes.
    pub fn has(&self, repository: &str, action: &str) -> bool {
        self.repositories
            .get(repository)
            .is_some_and(|a| a.contains(action))
    }

    /// The scope strings for the token request, actions in `pull,push,delete` order.
    pub fn to_params(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .repositories
            .iter()
            .map(|(name, actions)| {
                let list: Vec<&str> = ACTIONS
                    .iter()
                    .copied()
                    .filter(|a| actions.contains(a))
                    .collect();
                format!("repository:{name}:{}", list.join(","))
            })
            .collect();
        out.extend(self.other.iter().cloned());
        out
    }
}

/// A bearer token and when to stop using it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub value: Secret,
    /// Renew before this instant.
    pub expires: Instant,
}

impl Token {
    /// True while the token may still be sent.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.expires
    }
}

/// Seconds a token lives when the service does not say (distribution's token spec).
pub const DEFAULT_EXPIRES_IN: u64 = 60;

#[derive(serde::Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default)]
    access_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Parses a token service answer received at `received`. Renewal happens 10 % (at least 5 s)
/// before the stated expiry, so a token never expires in flight.
pub fn parse_token(body: &[u8], received: Instant) -> Result<Token, String> {
    let reply: TokenReply =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not token JSON ({e})"))?;
    let value = reply
        .token
        .filter(|t| !t.is_empty())
        .or(reply.access_token.filter(|t| !t.is_empty()))
        .ok_or("the answer has neither `token` nor `access_token`")?;
    let lifetime = reply
        .expires_in
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_EXPIRES_IN);
    let margin = (lifetime / 10).max(5).min(lifetime / 2);
    Ok(Token {
        value,
        expires: received + Duration::from_secs(lifetime - margin),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_quoted_scope() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].is_bearer());
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].scopes(), vec!["repository:library/nginx:pull,push"]);
        assert!(!c[0].insufficient_scope());
    }

    #[test]
    fn unquoted_values_spaces_case_and_errors() {
        let c = parse_challenges(
            r#"bearer realm=https://gcr.io/v2/token, service=gcr.io , scope="repository:a/b:pull repository:c:delete",error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].is_bearer());
        assert_eq!(c[0].param("realm"), Some("https://gcr.io/v2/token"));
        assert_eq!(c[0].param("service"), Some("gcr.io"));
        assert_eq!(
            c[0].scopes(),
            vec!["repository:a/b:pull", "repository:c:delete"]
        );
        assert!(c[0].insufficient_scope());
    }

    #[test]
    fn several_challenges_and_basic() {
        let c = parse_challenges(
            r#"Basic realm="https://1.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com", Bearer realm="https://x/token""#,
        );
        assert_eq!(c.len(), 2);
        assert!(c[0].is_basic());
        assert_eq!(c[0].param("service"), Some("ecr.amazonaws.com"));
        assert_eq!(pick(&c).map(|c| c.scheme.as_str()), Some("bearer"));
        let basic = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(pick(&basic).map(|c| c.scheme.as_str()), Some("basic"));
        assert_eq!(basic[0].param("realm"), Some("Registry Realm"));
        let escaped = parse_challenges(r#"Basic realm="a \"quoted\" realm""#);
        assert_eq!(escaped[0].param("realm"), Some(r#"a "quoted" realm"#));
        assert!(pick(&parse_challenges("Negotiate abc==")).is_none());
    }

    #[test]
    fn scopes_accumulate_per_repository() {
        let mut s = Scopes::default();
        assert!(s.add_action("team/app", "pull"));
        assert!(!s.add_action("team/app", "pull"));
        assert!(s.add_scope("repository:team/app:delete"));
        assert!(s.add_scope("repository:localhost:5000/x:push,pull"));
        assert!(s.add_scope("registry:catalog:*"));
        assert!(s.has("team/app", "delete"));
        assert!(!s.has("team/app", "push"));
        assert_eq!(
            s.to_params(),
            vec![
                "repository:localhost:5000/x:pull,push",
                "repository:team/app:pull,delete",
                "registry:catalog:*"
            ]
        );
        let mut all = Scopes::default();
        all.add_scope("repository:a:*");
        assert_eq!(all.to_params(), vec!["repository:a:pull,push,delete"]);
        let mut acr = Scopes::default();
        acr.add_action("app", "delete");
        assert!(acr.add_scope("repository:app:metadata_read"));
        acr.add_action("app", "pull");
        assert_eq!(
            acr.to_params(),
            vec!["repository:app:pull,delete,metadata_read"]
        );
    }

    #[test]
    fn token_or_access_token_and_default_expiry() {
        let now = Instant::now();
        let t = parse_token(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value.expose(), "abc");
        assert_eq!(t.expires, now + Duration::from_secs(270));
        let t = parse_token(br#"{"access_token":"xyz"}"#, now).unwrap();
        assert_eq!(t.value.expose(), "xyz");
        assert_eq!(t.expires, now + Duration::from_secs(54));
        let t = parse_token(br#"{"token":"","access_token":"both"}"#, now).unwrap();
        assert_eq!(t.value.expose(), "both");
        assert!(parse_token(br#"{"expires_in":60}"#, now).is_err());
        assert!(parse_token(b"<html>", now).is_err());
        assert!(!format!("{t:?}").contains("both"));
    }
}
