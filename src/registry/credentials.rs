//! Credentials from the docker client configuration, read the way `docker` reads them:
//! `config.json` in `--docker-config`, else `$DOCKER_CONFIG`, else `~/.docker`; per registry a
//! `credHelpers` entry wins, then an inline `auths` entry (`auth` = base64 `user:password`,
//! or `username`/`password`, or `identitytoken`), then the `credsStore` helper. Helpers run
//! through the real `docker-credential-<name> get` protocol (server URL on stdin, JSON on
//! stdout). Docker Hub's key is `https://index.docker.io/v1/`.
//!
//! This is the only place in the registry adapter that reads the environment.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use super::Error;
use super::reference::DOCKER_HUB;
use crate::env_vars;
use crate::secret::Secret;

/// The key docker uses for Docker Hub in `auths` and with credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and a password (or access token used as a password).
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: Secret,
    },
    /// An OAuth refresh token (`identitytoken`), exchanged at the token service.
    IdentityToken {
        /// User name, if the config names one.
        username: String,
        /// The refresh token.
        token: Secret,
    },
}

impl Credentials {
    /// The user name (for messages).
    pub fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => {
                username
            }
        }
    }
}

/// Where a provider finds a registry login that the docker config does not hold: the cloud's
/// own exchange (ECR's `GetAuthorizationToken`, an AAD token traded at `/oauth2/exchange`, a
/// Google access token). The docker config is asked first, as `docker` would; the source only
/// when it has nothing for the host, and once per client.
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    /// The login for the registry, or None when this source has none either (the registry is
    /// then asked anonymously). An error says which cloud credential is missing or refused.
    async fn credentials(&self) -> Result<Option<Credentials>, Error>;

    /// Who this source logged in as, once it has (for messages naming the identity a refusal
    /// concerns); None before that, or when it had no login.
    fn identity(&self) -> Option<String> {
        None
    }
}

/// The parts of `config.json` berth reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    /// Inline logins by registry key.
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    /// Per-registry credential helpers.
    #[serde(default)]
    pub cred_helpers: BTreeMap<String, String>,
    /// The default credential helper.
    #[serde(default)]
    pub creds_store: Option<String>,
}

/// One `auths` entry.
#[derive(Debug, Default, Deserialize)]
pub struct AuthEntry {
    /// base64 of `user:password`.
    #[serde(default)]
    pub auth: Option<Secret>,
    /// User name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (with `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// OAuth refresh token.
    #[serde(default)]
    pub identitytoken: Option<Secret>,
}

/// The docker config directory: `explicit`, else `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(env_vars::DOCKER_CONFIG).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os(env_vars::HOME)
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker"))
}

/// Reads `config.json` in `dir`; a missing file is an empty config.
pub fn load(dir: &Path) -> Result<DockerConfig, Error> {
    let path = dir.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DockerConfig::default()),
        Err(source) => return Err(Error::Io { path, source }),
    };
    parse(&text, &path)
}

/// Parses `config.json` text (`path` only names it in errors).
///
/// serde's type errors quote the value they met, and in `auths` that value is a credential.
/// So the text is read as untyped JSON first (a syntax error is reported by place only) and
/// every field berth reads is checked for its type before the typed read, whose own error is
/// never shown.
pub fn parse(text: &[u8], path: &Path) -> Result<DockerConfig, Error> {
    let bad = |why: String| Error::DockerConfig {
        path: path.to_path_buf(),
        why,
    };
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
        bad(format!(
            "it is not valid JSON (syntax error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let top = value
        .as_object()
        .ok_or_else(|| bad("it is not a JSON object".into()))?;
    if let Some(auths) = top.get("auths").filter(|v| !v.is_null()) {
        let auths = auths
            .as_object()
            .ok_or_else(|| bad("`auths` is not a JSON object".into()))?;
        for (key, entry) in auths {
            let entry = entry.as_object().ok_or_else(|| {
                bad(format!(
                    "the `auths` entry `{key}` is not a JSON object (expected \
                     {{\"auth\": \"<base64 of user:password>\"}}; its value is not shown)"
                ))
            })?;
            for field in ["auth", "username", "password", "identitytoken"] {
                if entry
                    .get(field)
                    .is_some_and(|v| !v.is_string() && !v.is_null())
                {
                    return Err(bad(format!(
                        "the field `{field}` of the `auths` entry `{key}` is not a string \
                         (its value is not shown)"
                    )));
                }
            }
        }
    }
    if let Some(helpers) = top.get("credHelpers").filter(|v| !v.is_null()) {
        let helpers = helpers
            .as_object()
            .ok_or_else(|| bad("`credHelpers` is not a JSON object".into()))?;
        if let Some((key, _)) = helpers.iter().find(|(_, v)| !v.is_string()) {
            return Err(bad(format!(
                "the `credHelpers` entry `{key}` is not a helper name (a string)"
            )));
        }
    }
    if top
        .get("credsStore")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err(bad("`credsStore` is not a helper name (a string)".into()));
    }
    serde_json::from_value(value)
        .map_err(|_| bad("it does not have the shape of a docker config.json".into()))
}

/// Credentials for `registry` (`host[:port]`, Docker Hub = `docker.io`) from the docker config
/// in `explicit_dir` (else the default places). None when the config has nothing for it.
pub fn lookup(explicit_dir: Option<&Path>, registry: &str) -> Result<Option<Credentials>, Error> {
    let Some(dir) = config_dir(explicit_dir) else {
        return Ok(None);
    };
    let config = load(&dir)?;
    config.credentials_for(registry, &dir.join("config.json"))
}

impl DockerConfig {
    /// Credentials for `registry`, running a credential helper when the config names one.
    pub fn credentials_for(
        &self,
        registry: &str,
        path: &Path,
    ) -> Result<Option<Credentials>, Error> {
        let server = server_key(registry);
        if let Some(helper) = self
            .cred_helpers
            .iter()
            .find(|(k, _)| normalize(k) == normalize(&server))
            .map(|(_, v)| v)
        {
            return helper_get(helper, &server, registry);
        }
        if let Some(entry) = self
            .auths
            .iter()
            .find(|(k, _)| normalize(k) == normalize(&server))
            .map(|(_, v)| v)
        {
            if let Some(creds) = entry.credentials(registry, path)? {
                return Ok(Some(creds));
            }
        }
        match &self.creds_store {
            Some(store) if !store.is_empty() => helper_get(store, &server, registry),
            _ => Ok(None),
        }
    }
}

impl AuthEntry {
    fn credentials(&self, registry: &str, path: &Path) -> Result<Option<Credentials>, Error> {
        let bad = |why: &str| Error::DockerConfig {
            path: path.to_path_buf(),
            why: format!("the `auths` entry for {registry} {why}"),
        };
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if let Some(auth) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.expose().trim())
                .map_err(|_| bad("has an `auth` field that is not base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| bad("has an `auth` field that is not text"))?;
            let (user, pass) = decoded
                .split_once(':')
                .ok_or_else(|| bad("has an `auth` field without `user:password`"))?;
            username = Some(user.to_string());
            password = Some(Secret::new(pass));
        }
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken {
                username: username.unwrap_or_default(),
                token: token.clone(),
            }));
        }
        match (username, password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(Some(Credentials::Basic { username, password }))
            }
            _ => Ok(None),
        }
    }
}

/// Where berth would take the login for `registry` from, in words and without any value, in
/// the order [`DockerConfig::credentials_for`] tries them: a `credHelpers` helper, an `auths`
/// entry, the `credsStore` helper, or none (anonymous); or why the config cannot be used
/// (the error every other command would stop on). No helper is run: a helper's answer is the
/// credential itself.
pub fn describe_source(explicit_dir: Option<&Path>, registry: &str) -> String {
    let Some(dir) = config_dir(explicit_dir) else {
        return "none: no docker config directory (set DOCKER_CONFIG or HOME, or pass \
                --docker-config)"
            .to_string();
    };
    let path = dir.join("config.json");
    let config = match load(&dir) {
        Ok(config) => config,
        Err(e) => return e.to_string(),
    };
    let server = normalize(&server_key(registry));
    let keyed = |key: &String| normalize(key) == server;
    if let Some((_, helper)) = config.cred_helpers.iter().find(|(k, _)| keyed(k)) {
        return format!(
            "credential helper `{}` (credHelpers in {})",
            crate::secret::helper_name(helper),
            path.display()
        );
    }
    if let Some((_, entry)) = config.auths.iter().find(|(k, _)| keyed(k)) {
        match entry.credentials(registry, &path) {
            Ok(Some(_)) => return format!("`auths` entry in {}", path.display()),
            Ok(None) => {}
            Err(e) => return e.to_string(),
        }
    }
    match config.creds_store.as_deref() {
        Some(store) if !store.is_empty() => format!(
            "credsStore `{}` ({})",
            crate::secret::helper_name(store),
            path.display()
        ),
        _ => format!(
            "none (anonymous): {} has no login for {registry}; run `berth login {registry}`",
            path.display()
        ),
    }
}

/// The key docker uses for a registry: Docker Hub's historic URL, else the host itself.
pub fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB
        || registry == "index.docker.io"
        || registry == "registry-1.docker.io"
        || registry == "registry.hub.docker.com"
    {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// A config key reduced to its host, as docker compares them (`https://ghcr.io/v1/` and
/// `ghcr.io` are the same registry).
fn normalize(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or("");
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" | "docker.io" => {
            "docker.io".to_string()
        }
        other => other.to_ascii_lowercase(),
    }
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: Secret,
}

/// Runs `docker-credential-<helper> get` with `server` on stdin.
fn helper_get(helper: &str, server: &str, registry: &str) -> Result<Option<Credentials>, Error> {
    let fail = |why: String| Error::CredentialHelper {
        helper: crate::secret::helper_name(helper),
        host: registry.to_string(),
        why,
    };
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it ({e})")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(format!("cannot write to it ({e})")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("it did not finish ({e})")))?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The protocol's answer for "nothing stored": anonymous access, not an error.
        if stdout.contains("credentials not found") || stderr.contains("credentials not found") {
            return Ok(None);
        }
        // Only stderr is quoted: stdout is where a helper writes credentials.
        let first_line: String = stderr
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect();
        return Err(fail(format!(
            "it exited with {} ({first_line})",
            output.status
        )));
    }
    // serde's message would quote the field it met, which may be the secret.
    let reply: HelperReply = serde_json::from_slice(&output.stdout).map_err(|_| {
        fail(
            "its answer is not the JSON object {\"Username\", \"Secret\"} the credential \
              helper protocol defines"
                .into(),
        )
    })?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    // `<token>` as the user name marks an identity token (docker's convention).
    if reply.username == "<token>" {
        return Ok(Some(Credentials::IdentityToken {
            username: String::new(),
            token: reply.secret,
        }));
    }
    Ok(Some(Credentials::Basic {
        username: reply.username,
        password: reply.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        parse(json.as_bytes(), Path::new("/x/config.json")).unwrap()
    }

    fn creds(json: &str, registry: &str) -> Option<Credentials> {
        config(json)
            .credentials_for(registry, Path::new("/x/config.json"))
            .unwrap()
    }

    #[test]
    fn auth_field_username_password_and_identity_token() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let json = format!(
            r#"{{"auths":{{"ghcr.io":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"bob","password":"pw"}},"quay.io":{{"identitytoken":"refresh"}},"empty.io":{{}}}}}}"#
        );
        assert_eq!(
            creds(&json, "ghcr.io"),
            Some(Credentials::Basic {
                username: "alice".into(),
                password: Secret::new("s3cr:et")
            })
        );
        assert_eq!(creds(&json, "docker.io").unwrap().username(), "bob");
        assert!(matches!(
            creds(&json, "quay.io"),
            Some(Credentials::IdentityToken { token, .. }) if token.expose() == "refresh"
        ));
        assert_eq!(creds(&json, "empty.io"), None);
        assert_eq!(creds(&json, "other.io"), None);
    }

    #[test]
    fn keys_match_with_scheme_and_path() {
        let json =
            r#"{"auths":{"https://registry.example.com/v2/":{"username":"u","password":"p"}}}"#;
        assert!(creds(json, "registry.example.com").is_some());
        let json = r#"{"auths":{"localhost:5000":{"username":"u","password":"p"}}}"#;
        assert!(creds(json, "localhost:5000").is_some());
        assert!(creds(json, "localhost:5001").is_none());
    }

    #[test]
    fn bad_entries_name_the_file_and_registry_without_the_secret() {
        let json = r#"{"auths":{"ghcr.io":{"auth":"not base64!!"}}}"#;
        let err = config(json)
            .credentials_for("ghcr.io", Path::new("/x/config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/x/config.json") && err.contains("ghcr.io"),
            "{err}"
        );
        assert!(!err.contains("not base64!!"), "{err}");
        let err = parse(b"{", Path::new("/y/config.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/y/config.json"), "{err}");
        let parsed = config(r#"{"auths":{"a":{"auth":"c2VjcmV0"}}}"#);
        assert!(!format!("{parsed:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn no_shape_of_a_config_quotes_a_credential() {
        let secret = "c2VjcmV0OnMzY3IzdA==";
        for (json, why) in [
            (
                format!(r#"{{"auths":{{"r.io":"{secret}"}}}}"#),
                "entry `r.io` is not a JSON object",
            ),
            (
                format!(r#"{{"auths":{{"r.io":["{secret}"]}}}}"#),
                "entry `r.io` is not a JSON object",
            ),
            (
                format!(r#"{{"auths":{{"r.io":{{"auth":["{secret}"]}}}}}}"#),
                "field `auth`",
            ),
            (
                r#"{"auths":{"r.io":{"password":123456789}}}"#.to_string(),
                "field `password`",
            ),
            (
                format!(r#"{{"auths":{{"r.io":{{"identitytoken":{{"t":"{secret}"}}}}}}}}"#),
                "field `identitytoken`",
            ),
            (format!(r#"{{"auths":"{secret}"}}"#), "`auths` is not"),
            (
                format!(r#"{{"auths":{{"r.io":{{"auth":"{secret}"#),
                "syntax error",
            ),
            (format!(r#"{{"credsStore":["{secret}"]}}"#), "`credsStore`"),
        ] {
            let err = parse(json.as_bytes(), Path::new("/x/config.json"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("/x/config.json") && err.contains(why), "{err}");
            assert!(!err.contains(secret) && !err.contains("123456789"), "{err}");
        }
    }

    #[test]
    fn server_keys_and_normalisation() {
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("ghcr.io"), "ghcr.io");
        assert_eq!(normalize(DOCKER_HUB_KEY), "docker.io");
        assert_eq!(normalize("http://Localhost:5000/x"), "localhost:5000");
    }
}
