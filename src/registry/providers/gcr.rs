//! Google Container Registry (`gcr.io`, `*.gcr.io`) and Artifact Registry (`*-docker.pkg.dev`):
//! the Distribution API with Google's rules (registry-apis.md §9).
//!
//! - Listing: `GET /v2/<name>/tags/list?n=10000`. Google adds a `manifest` map (digest →
//!   `mediaType`, `timeUploadedMs`, `tag`, numbers as strings), so one request gives every tag's
//!   digest and push time. A registry that sends no map (a plain registry or proxy in front) is
//!   listed by name only, and [`Repository::capabilities`] says so from then on.
//! - Deleting: `DELETE manifests/<tag>` only untags. A digest delete is refused while any tag
//!   names it (`GOOGLE_MANIFEST_DANGLING_TAG`), so a manifest goes by untagging every tag a
//!   fresh listing shows on it, then deleting the digest.
//! - Login: the docker config first (`gcloud auth configure-docker`, `_json_key`, …); when it
//!   has nothing for the host, [`GoogleLogin`] finds an OAuth access token and logs in as
//!   `oauth2accesstoken`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use reqwest::Method;
use url::Url;

use super::NamedSecret;
use crate::env_vars as vars;
use crate::registry::client::DistributionRepository;
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::registry::http::{Http, Request};
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, ListedTag, Manifest, RegistryOptions,
    Repository, UntagMethod,
};
use crate::secret::Secret;

/// How errors name Google's token service.
const OAUTH: &str = "Google OAuth";
/// The user name Google's registries take with an OAuth access token as the password.
pub const ACCESS_TOKEN_USER: &str = "oauth2accesstoken";
/// What go-containerregistry asks for: Google's listing is not paged below this.
const PAGE_SIZE: usize = 10_000;
/// The scope a service account's token is asked for.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The OAuth 2.0 JWT bearer grant (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A signed assertion's lifetime: Google accepts at most an hour.
const ASSERTION_SECS: i64 = 3600;
/// Google's refusal of a digest delete while a tag still names the manifest.
const DANGLING_TAG: &str = "GOOGLE_MANIFEST_DANGLING_TAG";
/// The `gcloud` command that prints the active account's access token.
const GCLOUD: [&str; 3] = ["gcloud", "auth", "print-access-token"];

/// Opens `registry` with Google's listing and delete rules, and makes [`GoogleLogin`] the
/// host's login wherever the docker config has none.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let settings = &options.providers.gcr;
    registry.client().fall_back_to(Arc::new(GoogleLogin {
        access_token: settings.access_token.clone(),
        credentials_file: settings.credentials_file.clone(),
        options: options.clone(),
    }));
    Ok(Arc::new(Gcr {
        registry,
        listed: Mutex::new(None),
        plain: AtomicBool::new(false),
    }))
}

struct Gcr {
    registry: Arc<DistributionRepository>,
    /// Digest → its tags, as the last listing with Google's map showed them.
    listed: Mutex<Option<HashMap<Digest, Vec<String>>>>,
    /// The last listing had no `manifest` map: names only.
    plain: AtomicBool,
}

/// One entry of Google's `manifest` map.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    tag: Vec<String>,
    #[serde(default)]
    time_uploaded_ms: Option<String>,
}

#[derive(serde::Deserialize)]
struct GooglePage {
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    manifest: Option<BTreeMap<String, GoogleManifest>>,
}

impl Gcr {
    fn host(&self) -> &str {
        self.registry.client().registry()
    }

    /// A refusal of a delete, said with what Google wants: the role or permission and whose.
    fn denied(&self, what: String, e: Error) -> Error {
        match e {
            Error::Denied { detail, .. } => Error::Platform {
                api: "Google registry",
                what,
                message: format!("{} denied the delete{detail}", self.host()),
                hint: delete_hint(self.host()),
            },
            other => other,
        }
    }

    async fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        self.registry
            .delete_tag(tag)
            .await
            .map_err(|e| self.denied(format!("untagging `{}:{tag}`", self.name()), e))?;
        if let Some(listed) = self.listed.lock().expect("listing lock").as_mut() {
            for tags in listed.values_mut() {
                tags.retain(|t| t != tag);
            }
        }
        Ok(())
    }
}

/// Who may delete on Google's registries (registry-apis.md §9).
fn delete_hint(host: &str) -> String {
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let who = format!(
        "the identity berth logged in as (the docker config's login for {host}, else {}, {}, or `gcloud`'s active account)",
        vars::GOOGLE_OAUTH_ACCESS_TOKEN,
        vars::GOOGLE_APPLICATION_CREDENTIALS
    );
    if host == "gcr.io" || host.ends_with(".gcr.io") {
        format!(
            "{who} needs the permission artifactregistry.repositories.deleteArtifacts (role roles/artifactregistry.repoAdmin) on the gcr.io repository, or for a Container Registry still on Cloud Storage roles/storage.admin on its bucket"
        )
    } else {
        format!(
            "{who} needs the permission artifactregistry.repositories.deleteArtifacts on the repository: grant it roles/artifactregistry.repoAdmin"
        )
    }
}

#[async_trait]
impl Repository for Gcr {
    fn name(&self) -> &str {
        self.registry.name()
    }

    /// Google's: digests, push times and untagged manifests from the listing; once a listing
    /// came without Google's map, those of a plain registry.
    fn capabilities(&self) -> Capabilities {
        let google = self.registry.capabilities();
        if self.plain.load(Ordering::Relaxed) {
            Capabilities {
                untagged_visible: false,
                lists_digests: false,
                lists_push_times: false,
                ..google
            }
        } else {
            google
        }
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        Ok(self.list().await?.into_iter().map(|t| t.name).collect())
    }

    async fn list_current(&self) -> Result<Vec<ListedTag>, Error> {
        self.list().await
    }

    /// Every page (Google sends one; a `Link` is followed all the same) of the tag list; with
    /// Google's map, each tag with its manifest's digest, media type and upload time.
    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        let mut names = Vec::new();
        let mut manifests: BTreeMap<String, GoogleManifest> = BTreeMap::new();
        let mut google = true;
        for (url, body) in self.registry.tag_list_pages(PAGE_SIZE).await? {
            let page: GooglePage =
                serde_json::from_slice(&body).map_err(|e| Error::BadResponse {
                    url: url.to_string(),
                    why: format!("not a tag list ({e})"),
                })?;
            names.extend(page.tags.unwrap_or_default());
            match page.manifest {
                Some(map) => manifests.extend(map),
                None => google = false,
            }
        }
        if !google {
            if !self.plain.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "{} sent no Google `manifest` map with the tags of `{}`: listing by name only, so tags have no push times and each tag costs a manifest request",
                    self.host(),
                    self.registry.path()
                );
            }
            *self.listed.lock().expect("listing lock") = None;
            return Ok(names.into_iter().map(ListedTag::name_only).collect());
        }
        self.plain.store(false, Ordering::Relaxed);
        let mut by_tag: HashMap<String, ListedTag> = HashMap::new();
        let mut listed: HashMap<Digest, Vec<String>> = HashMap::new();
        for (digest, entry) in manifests {
            let url = || format!("the tag list of `{}`", self.name());
            let digest = Digest::parse(&digest).map_err(|_| Error::BadResponse {
                url: url(),
                why: format!("`{digest}` in the manifest map is not a digest"),
            })?;
            let pushed = match &entry.time_uploaded_ms {
                Some(ms) => Some(parse_ms(ms).ok_or_else(|| Error::BadResponse {
                    url: url(),
                    why: format!("timeUploadedMs `{ms}` of {digest} is not milliseconds"),
                })?),
                None => None,
            };
            for tag in &entry.tag {
                by_tag.insert(
                    tag.clone(),
                    ListedTag {
                        name: tag.clone(),
                        digest: Some(digest.clone()),
                        media_type: entry.media_type.clone(),
                        pushed,
                    },
                );
            }
            listed.insert(digest, entry.tag);
        }
        // `tags` is the truth for names; a tag the map leaves out is resolved by the scan.
        let tags: Vec<ListedTag> = names
            .into_iter()
            .map(|name| {
                by_tag
                    .remove(&name)
                    .unwrap_or_else(|| ListedTag::name_only(name))
            })
            .collect();
        *self.listed.lock().expect("listing lock") = Some(listed);
        tracing::debug!(repository = %self.name(), tags = tags.len(), "listed tags with Google's manifest map");
        Ok(tags)
    }

    async fn manifest(&self, reference: &str) -> Result<Manifest, Error> {
        self.registry.manifest(reference).await
    }

    async fn resolve_digest(&self, tag: &str) -> Result<Digest, Error> {
        self.registry.resolve_digest(tag).await
    }

    async fn config(&self, config: &Descriptor) -> Result<ImageConfig, Error> {
        self.registry.config(config).await
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        self.registry.referrers(subject).await
    }

    /// Untags every tag the last listing shows on `digest` (the check before deleting lists
    /// afresh; a listing per manifest would double the requests), then deletes the digest. A
    /// dangling-tag refusal (a tag pushed since) names the tag and deletes nothing more.
    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let known = self.listed.lock().expect("listing lock").is_some();
        if !known && !self.plain.load(Ordering::Relaxed) {
            self.list().await?;
        }
        let tags: Vec<String> = match self.listed.lock().expect("listing lock").as_ref() {
            Some(listed) => listed.get(digest).cloned().unwrap_or_default(),
            // Without Google's map the registry deletes the tags with the digest itself.
            None => Vec::new(),
        };
        for tag in &tags {
            match self.delete_tag(tag).await {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        let what = format!("deleting `{}@{digest}`", self.name());
        match self.registry.delete_manifest(digest).await {
            Err(Error::Status { status: 400, detail, .. }) if detail.contains(DANGLING_TAG) => {
                Err(Error::Platform {
                    api: "Google registry",
                    what,
                    message: format!("answered 400{detail}"),
                    hint: "a tag was pushed onto this manifest after berth listed it; nothing more of this image was deleted: run the cleanup again to judge the new tag".into(),
                })
            }
            other => other.map_err(|e| self.denied(what, e)),
        }
    }

    /// Google's tag delete: the manifest and its other tags stay.
    async fn untag(&self, tag: &str, _current: &Manifest) -> Result<UntagMethod, Error> {
        self.delete_tag(tag).await?;
        Ok(UntagMethod::TagDelete)
    }

    async fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, Error> {
        self.registry
            .push_manifest(reference, media_type, bytes)
            .await
    }
}

/// Google's string milliseconds since the epoch.
fn parse_ms(ms: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(ms.trim().parse().ok()?)
}

/// The Google login used when the docker config has none for the host, first that applies:
/// `GOOGLE_OAUTH_ACCESS_TOKEN`; the credentials file in `GOOGLE_APPLICATION_CREDENTIALS`
/// (a service-account key, traded for an access token with the JWT bearer grant at the key's
/// `token_uri`); `gcloud auth print-access-token` when `gcloud` is on PATH. Registry login:
/// `oauth2accesstoken` with the access token.
pub struct GoogleLogin {
    access_token: Option<NamedSecret>,
    credentials_file: Option<PathBuf>,
    options: RegistryOptions,
}

impl GoogleLogin {
    async fn access_token(&self) -> Result<Option<Secret>, Error> {
        if let Some(token) = &self.access_token {
            tracing::debug!(
                variable = token.variable,
                "Google login from an access token"
            );
            return Ok(Some(token.value.clone()));
        }
        if let Some(path) = &self.credentials_file {
            return self.key_file_token(path).await.map(Some);
        }
        gcloud().await
    }

    async fn key_file_token(&self, path: &Path) -> Result<Secret, Error> {
        let bad = |why: String| Error::Platform {
            api: OAUTH,
            what: format!(
                "reading the credentials file `{}` ({})",
                path.display(),
                vars::GOOGLE_APPLICATION_CREDENTIALS
            ),
            message: why,
            hint: format!(
                "point {} at a service-account key file (JSON, from `gcloud iam service-accounts keys create`), or set {} to an access token",
                vars::GOOGLE_APPLICATION_CREDENTIALS,
                vars::GOOGLE_OAUTH_ACCESS_TOKEN
            ),
        };
        let text = tokio::fs::read(path)
            .await
            .map_err(|e| bad(format!("cannot read it ({e})")))?;
        // serde's messages could quote the private key: say only which shape is wrong.
        let key: KeyFile = serde_json::from_slice(&text)
            .map_err(|_| bad("it is not a Google credentials JSON file".into()))?;
        match key.kind.as_deref() {
            Some("service_account") => {}
            Some("authorized_user") => {
                return Err(bad(format!(
                    "it holds a user's login (`authorized_user`, from `gcloud auth application-default login`), which berth does not use: in CI use a service-account key, or set {} from `gcloud auth print-access-token`",
                    vars::GOOGLE_OAUTH_ACCESS_TOKEN
                )));
            }
            other => {
                return Err(bad(format!(
                    "its `type` is {}, not `service_account`",
                    other.map_or("missing".to_string(), |t| format!("`{t}`"))
                )));
            }
        }
        let (Some(email), Some(pem), Some(token_uri)) =
            (key.client_email, key.private_key, key.token_uri)
        else {
            return Err(bad(
                "it lacks `client_email`, `private_key` or `token_uri`".into()
            ));
        };
        let token_uri = Url::parse(&token_uri)
            .map_err(|e| bad(format!("its `token_uri` is not a URL ({e})")))?;
        super::check_api_base(&token_uri, &self.options, "the signed assertion", &|why| {
            bad(format!("its `token_uri` `{token_uri}`: {why}"))
        })?;
        let now = chrono::Utc::now().timestamp();
        let assertion = sign_assertion(&email, token_uri.as_str(), now, pem.expose())
            .map_err(|why| bad(format!("its `private_key` cannot sign: {why}")))?;
        exchange(&token_uri, &email, &assertion, &self.options).await
    }
}

#[async_trait]
impl CredentialSource for GoogleLogin {
    async fn credentials(&self) -> Result<Option<Credentials>, Error> {
        Ok(self.access_token().await?.map(|token| Credentials::Basic {
            username: ACCESS_TOKEN_USER.into(),
            password: token,
        }))
    }
}

/// The fields of a Google credentials file berth reads.
#[derive(serde::Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    private_key: Option<Secret>,
    #[serde(default)]
    token_uri: Option<String>,
}

/// `base64url(header).base64url(claims).base64url(RS256 signature)` for the JWT bearer grant.
fn sign_assertion(email: &str, audience: &str, now: i64, pem: &str) -> Result<String, String> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let der = pkcs8_der(pem)?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| format!("not an RSA PKCS#8 key ({e})"))?;
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "RSA signing failed".to_string())?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem
        .find(BEGIN)
        .ok_or("no `BEGIN PRIVATE KEY` block (a PKCS#8 PEM key)")?;
    let body = &pem[start + BEGIN.len()..];
    let end = body.find(END).ok_or("the PEM block has no END line")?;
    let base64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|_| "the PEM block is not base64".to_string())
}

/// POSTs the assertion to `token_uri` and returns the access token.
async fn exchange(
    token_uri: &Url,
    email: &str,
    assertion: &str,
    options: &RegistryOptions,
) -> Result<Secret, Error> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        access_token: Option<Secret>,
    }
    #[derive(serde::Deserialize)]
    struct Refusal {
        #[serde(default)]
        error: String,
        #[serde(default)]
        error_description: String,
    }
    let what = format!("trading the key of `{email}` for an access token at {token_uri}");
    let host = token_uri.host_str().unwrap_or_default().to_string();
    let http = Http::new(&host, options)?;
    http.redactor().add(assertion);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", JWT_BEARER)
        .append_pair("assertion", assertion)
        .finish();
    let request = Request::new(Method::POST, token_uri.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body.into_bytes());
    let reply = http.send(&request).await?;
    if !reply.status.is_success() {
        let said = serde_json::from_slice::<Refusal>(&reply.body)
            .map(|r| format!(": {} {}", r.error, r.error_description))
            .unwrap_or_else(|_| reply.detail());
        return Err(Error::Platform {
            api: OAUTH,
            what,
            message: format!("answered {}{}", reply.status.as_u16(), said.trim_end()),
            hint: format!(
                "check that the service account `{email}` and its key (in {}) are enabled and not deleted",
                vars::GOOGLE_APPLICATION_CREDENTIALS
            ),
        });
    }
    let answer: Answer = serde_json::from_slice(&reply.body).map_err(|_| Error::BadResponse {
        url: token_uri.to_string(),
        why: "not an OAuth token answer".into(),
    })?;
    let token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::BadResponse {
            url: token_uri.to_string(),
            why: "the answer has no `access_token`".into(),
        })?;
    tracing::debug!(account = email, "Google login from a service-account key");
    Ok(token)
}

/// `gcloud auth print-access-token`: None when `gcloud` is not on PATH; an error naming the
/// command when it fails (no active account, expired login).
async fn gcloud() -> Result<Option<Secret>, Error> {
    let [program, args @ ..] = GCLOUD;
    let output = match tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(gcloud_failed(format!("cannot run it ({e})"))),
    };
    if !output.status.success() {
        // Only stderr is quoted: stdout is where the token would be.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line: String = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect();
        return Err(gcloud_failed(format!(
            "it exited with {} ({line})",
            output.status
        )));
    }
    let token = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(gcloud_failed("it printed no single token".into()));
    }
    tracing::debug!("Google login from `gcloud auth print-access-token`");
    Ok(Some(Secret::new(token)))
}

fn gcloud_failed(message: String) -> Error {
    Error::Platform {
        api: OAUTH,
        what: format!("running `{}`", GCLOUD.join(" ")),
        message,
        hint: format!(
            "run `gcloud auth login` (or `gcloud auth activate-service-account`), or set {} or {}, or log in with `berth login`",
            vars::GOOGLE_OAUTH_ACCESS_TOKEN,
            vars::GOOGLE_APPLICATION_CREDENTIALS
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::providers::ContainerRegistry;

    #[test]
    fn google_times_are_string_milliseconds() {
        let t = parse_ms("1589898330000").unwrap();
        assert_eq!(t.timestamp(), 1_589_898_330);
        assert!(parse_ms("soon").is_none());
    }

    #[test]
    fn a_non_pkcs8_key_is_refused_without_quoting_it() {
        let err = pkcs8_der("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----")
            .unwrap_err();
        assert!(err.contains("PKCS#8"), "{err}");
        assert!(!err.contains("MIIB"));
        let err = sign_assertion(
            "a@b",
            "https://x",
            0,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(err.contains("not an RSA PKCS#8 key"), "{err}");
    }

    #[test]
    fn google_capabilities_list_digests_and_times() {
        let c = ContainerRegistry::Gcr.capabilities();
        assert!(c.tag_delete && c.lists_digests && c.lists_push_times);
        assert!(c.nested_repositories);
    }

    #[test]
    fn delete_hints_name_the_permission_for_each_host() {
        let gcr = delete_hint("eu.gcr.io");
        assert!(gcr.contains("roles/storage.admin"), "{gcr}");
        let ar = delete_hint("europe-west1-docker.pkg.dev");
        assert!(
            ar.contains("artifactregistry.repositories.deleteArtifacts"),
            "{ar}"
        );
        assert!(ar.contains("roles/artifactregistry.repoAdmin"), "{ar}");
    }
}
