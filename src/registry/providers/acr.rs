//! Azure Container Registry: tags are listed and deleted through ACR's data-plane API
//! (`/acr/v1` on the registry host), manifests and configs are read and deleted through the
//! registry (registry-apis.md §7).
//!
//! The API takes the registry's own bearer tokens: the client's challenge flow serves it, with
//! the `metadata_read` scope ACR's challenge names, and sends the token to the registry host
//! only. A listing is `/_tags` (digest and times of every tag) plus one `/_manifests` listing
//! for the media types, which costs a page per 100 images where reading every image's
//! manifest would cost a request each. A tag's push time is its `lastUpdateTime`: ACR moves it
//! when the tag is pointed at another manifest, while `createdTime` stays at the tag's first
//! push.
//!
//! A tag goes with `DELETE /acr/v1/{repo}/_tags/{tag}` (the manifest stays), an image with
//! the registry's `DELETE /v2/{repo}/manifests/{digest}` (every tag on it goes too). Locked
//! items (`deleteEnabled=false`) answer 405 `REGISTRY_DISALLOWED_OPERATION`.
//!
//! Login: the docker config (admin user, service principal, repository-scoped token, or the
//! refresh token `az acr login` stores); else an Azure AD token (a service principal's secret,
//! a workload identity's federated token, or `az account get-access-token`) exchanged at
//! `/oauth2/exchange` for an ACR refresh token.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use reqwest::Method;
use url::Url;

use crate::env_vars as vars;
use crate::registry::client::{self, Client, DistributionRepository, MAX_PAGES};
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::registry::http::{BodyLimit, Http, Reply, Request};
use crate::registry::{
    Capabilities, Descriptor, Digest, Error, ImageConfig, ListedTag, Manifest, RegistryOptions,
    Repository, UntagMethod,
};
use crate::secret::Secret;

/// How errors name the registry's API.
const API: &str = "ACR API";
/// How errors name the identity provider.
const AAD: &str = "Azure AD";
/// Items per listing page.
const PAGE_SIZE: usize = 100;
/// The AAD scope of ACR's data plane.
const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// The same as a resource, the form `az account get-access-token` takes.
const ACR_RESOURCE: &str = "https://containerregistry.azure.net";
/// The user name that goes with an ACR refresh token.
pub const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";
/// The client-assertion type of a federated token.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// ACR's error code for an operation on a locked item.
const LOCKED: &str = "REGISTRY_DISALLOWED_OPERATION";

/// Opens the repository, with the Azure AD login as the client's fallback.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let login = AadLogin::new(&registry, options)?;
    registry.client().fall_back_to(Arc::new(login));
    Ok(Arc::new(Acr {
        registry,
        listing: Mutex::new(Listing::default()),
        refused: Mutex::new(None),
        deletes: super::DeleteGate::default(),
    }))
}

/// Which Azure AD identity the settings name.
enum Identity {
    /// A service principal with a client secret.
    Secret {
        client_id: String,
        tenant: String,
        secret: Secret,
    },
    /// A workload identity: a federated token file as the client assertion.
    Federated {
        client_id: String,
        tenant: String,
        file: PathBuf,
    },
    /// Whatever account `az` is signed in to, if `az` is on PATH.
    AzCli,
    /// Some variables set, others missing: what to set.
    Incomplete(String),
}

impl Identity {
    fn of(o: &super::AcrOptions) -> Identity {
        let missing = |what: &[&str]| {
            Identity::Incomplete(format!(
                "{} is not set; set it too (or unset the others to use `az`)",
                what.join(" and ")
            ))
        };
        match (
            &o.client_id,
            &o.tenant_id,
            &o.client_secret,
            &o.federated_token_file,
        ) {
            (Some(id), Some(tenant), Some(secret), _) => Identity::Secret {
                client_id: id.clone(),
                tenant: tenant.clone(),
                secret: secret.value.clone(),
            },
            (Some(id), Some(tenant), None, Some(file)) => Identity::Federated {
                client_id: id.clone(),
                tenant: tenant.clone(),
                file: file.clone(),
            },
            (None, None, None, None) => Identity::AzCli,
            (None, _, _, _) => missing(&[vars::AZURE_CLIENT_ID]),
            (Some(_), None, _, _) => missing(&[vars::AZURE_TENANT_ID]),
            (Some(_), Some(_), None, None) => missing(&[&format!(
                "{} (or {})",
                vars::AZURE_CLIENT_SECRET,
                vars::AZURE_FEDERATED_TOKEN_FILE
            )]),
        }
    }
}

/// The Azure AD login: an AAD token for ACR's scope, exchanged at the registry's
/// `/oauth2/exchange` for a refresh token, which the client then trades at `/oauth2/token`.
struct AadLogin {
    identity: Identity,
    authority: String,
    registry_host: String,
    client: Weak<Client>,
    options: RegistryOptions,
    /// The transport to the registry's exchange endpoint.
    exchange_http: Http,
    /// Who logged in, once someone did.
    used: OnceLock<String>,
}

impl AadLogin {
    fn new(
        registry: &Arc<DistributionRepository>,
        options: &RegistryOptions,
    ) -> Result<Self, Error> {
        let registry_host = registry.client().registry().to_string();
        let settings = &options.providers.acr;
        let exchange_http = Http::new(&registry_host, options)?;
        if let Some(secret) = &settings.client_secret {
            exchange_http.redactor().add(secret.value.expose());
        }
        Ok(AadLogin {
            identity: Identity::of(settings),
            authority: settings.authority_host.trim_end_matches('/').to_string(),
            registry_host,
            client: Arc::downgrade(registry.client()),
            options: options.clone(),
            exchange_http,
            used: OnceLock::new(),
        })
    }

    /// An AAD access token for ACR: client credentials at the authority's token endpoint.
    async fn aad_token(
        &self,
        client_id: &str,
        tenant: &str,
        proof: &[(&str, &str)],
        who: &str,
    ) -> Result<Secret, Error> {
        let bad = |why: String| Error::Platform {
            api: AAD,
            what: format!("using the authority `{}`", self.authority),
            message: why,
            hint: format!(
                "set {} to the Azure AD authority, e.g. https://login.microsoftonline.com",
                vars::AZURE_AUTHORITY_HOST
            ),
        };
        let base = Url::parse(&format!("{}/", self.authority))
            .map_err(|e| bad(format!("not a URL ({e})")))?;
        super::check_api_base(&base, &self.options, "the client secret", &bad)?;
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| bad("it cannot take a path".into()))?
            .pop_if_empty()
            .extend([
                client::segment(tenant, "Azure tenant id")?,
                "oauth2",
                "v2.0",
                "token",
            ]);
        let authority = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_string(),
        };
        let http = Http::new(&authority, &self.options)?;
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials")
                .append_pair("client_id", client_id)
                .append_pair("scope", ACR_SCOPE);
            for (k, v) in proof {
                http.redactor().add(v);
                form.append_pair(k, v);
            }
            form.finish()
        };
        let request = Request::new(Method::POST, url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.into_bytes())
            .limit(BodyLimit::Token);
        let reply = http.send(&request).await?;
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            access_token: Option<Secret>,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            error_description: Option<String>,
        }
        let answer: Option<Answer> = serde_json::from_slice(&reply.body).ok();
        match answer {
            Some(Answer {
                access_token: Some(token),
                ..
            }) if reply.status.is_success() && !token.is_empty() => {
                self.exchange_http.redactor().add(token.expose());
                Ok(token)
            }
            other => {
                let said = other
                    .and_then(|a| {
                        let first = a.error_description.as_deref().map(|d| {
                            d.split(['\r', '\n'])
                                .next()
                                .unwrap_or("")
                                .chars()
                                .take(200)
                                .collect::<String>()
                        });
                        match (a.error, first) {
                            (Some(e), Some(d)) => Some(format!("{e}: {d}")),
                            (e, d) => e.or(d),
                        }
                    })
                    .unwrap_or_else(|| reply.detail().trim_start_matches(": ").to_string());
                Err(Error::Platform {
                    api: AAD,
                    what: format!("getting a token for {who}"),
                    message: http
                        .redactor()
                        .redact(&format!("answered {}: {said}", reply.status.as_u16())),
                    hint: format!(
                        "check {}, {} and the secret or federated token ({} / {}); the identity must exist in that tenant",
                        vars::AZURE_CLIENT_ID,
                        vars::AZURE_TENANT_ID,
                        vars::AZURE_CLIENT_SECRET,
                        vars::AZURE_FEDERATED_TOKEN_FILE
                    ),
                })
            }
        }
    }

    /// `az account get-access-token` for ACR's resource: the token and its tenant, or None
    /// when `az` is not on PATH.
    async fn az(&self) -> Result<Option<(Secret, Option<String>)>, Error> {
        let ran = tokio::task::spawn_blocking(|| {
            std::process::Command::new("az")
                .args([
                    "account",
                    "get-access-token",
                    "--resource",
                    ACR_RESOURCE,
                    "--output",
                    "json",
                ])
                .stdin(std::process::Stdio::null())
                .output()
        })
        .await
        .map_err(|e| Error::ClientSetup {
            host: self.registry_host.clone(),
            why: format!("running `az` did not finish ({e})"),
        })?;
        let fail = |why: String| Error::Platform {
            api: AAD,
            what: "getting a token from `az account get-access-token`".into(),
            message: why,
            hint: format!(
                "sign in with `az login` (or set {}, {} and {} for a service principal)",
                vars::AZURE_CLIENT_ID,
                vars::AZURE_CLIENT_SECRET,
                vars::AZURE_TENANT_ID
            ),
        };
        let output = match ran {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!("no `az` on PATH: no Azure AD login");
                return Ok(None);
            }
            Err(e) => return Err(fail(format!("cannot run it ({e})"))),
        };
        if !output.status.success() {
            // Only stderr is quoted: stdout is where az writes the token.
            let first: String = String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            return Err(fail(format!("it exited with {} ({first})", output.status)));
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct AzToken {
            access_token: Secret,
            #[serde(default)]
            tenant: Option<String>,
        }
        let token: AzToken = serde_json::from_slice(&output.stdout).map_err(|_| {
            fail("its answer is not the JSON object with `accessToken` it prints".into())
        })?;
        self.exchange_http
            .redactor()
            .add(token.access_token.expose());
        Ok(Some((token.access_token, token.tenant)))
    }

    /// `POST /oauth2/exchange`: the AAD token for an ACR refresh token.
    async fn exchange(
        &self,
        aad: &Secret,
        tenant: Option<&str>,
        who: &str,
    ) -> Result<Secret, Error> {
        let client = self.client.upgrade().ok_or_else(|| Error::ClientSetup {
            host: self.registry_host.clone(),
            why: "the registry client is gone".into(),
        })?;
        let mut url = client.base_url().await?;
        url.set_path("/oauth2/exchange");
        let service = self.registry_host.clone();
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "access_token")
                .append_pair("service", &service);
            if let Some(tenant) = tenant {
                form.append_pair("tenant", tenant);
            }
            form.append_pair("access_token", aad.expose());
            form.finish()
        };
        let request = Request::new(Method::POST, url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.into_bytes())
            .limit(BodyLimit::Token);
        let reply = self.exchange_http.send(&request).await?;
        #[derive(serde::Deserialize)]
        struct Answer {
            refresh_token: Secret,
        }
        match serde_json::from_slice::<Answer>(&reply.body) {
            Ok(a) if reply.status.is_success() && !a.refresh_token.is_empty() => {
                self.exchange_http.redactor().add(a.refresh_token.expose());
                Ok(a.refresh_token)
            }
            _ => Err(Error::Platform {
                api: API,
                what: format!("exchanging the Azure AD token of {who} at {}", self.registry_host),
                message: format!("answered {}{}", reply.status.as_u16(), reply.detail()),
                hint: "give the identity a role on the registry (AcrPull to list, AcrDelete, Contributor or Owner to delete), and check that the registry is in the identity's tenant".into(),
            }),
        }
    }
}

#[async_trait]
impl CredentialSource for AadLogin {
    async fn credentials(&self) -> Result<Option<Credentials>, Error> {
        let (aad, tenant, who) = match &self.identity {
            Identity::Incomplete(why) => {
                return Err(Error::Platform {
                    api: AAD,
                    what: format!("logging in to {} with Azure AD", self.registry_host),
                    message: why.clone(),
                    hint: format!(
                        "or log in to the registry in the docker config (`docker login {}`)",
                        self.registry_host
                    ),
                });
            }
            Identity::Secret {
                client_id,
                tenant,
                secret,
            } => {
                let who = format!(
                    "the service principal `{client_id}` ({}, {})",
                    vars::AZURE_CLIENT_ID,
                    vars::AZURE_CLIENT_SECRET
                );
                let proof = [("client_secret", secret.expose())];
                let token = self.aad_token(client_id, tenant, &proof, &who).await?;
                (token, Some(tenant.clone()), who)
            }
            Identity::Federated {
                client_id,
                tenant,
                file,
            } => {
                let who = format!(
                    "the workload identity `{client_id}` ({})",
                    vars::AZURE_FEDERATED_TOKEN_FILE
                );
                let path = file.clone();
                let assertion = tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
                    .await
                    .map_err(|e| Error::ClientSetup {
                        host: self.registry_host.clone(),
                        why: format!("reading the federated token did not finish ({e})"),
                    })?
                    .map_err(|source| Error::Io {
                        path: file.clone(),
                        source,
                    })?;
                let assertion = Secret::new(assertion.trim());
                let proof = [
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.expose()),
                ];
                let token = self.aad_token(client_id, tenant, &proof, &who).await?;
                (token, Some(tenant.clone()), who)
            }
            Identity::AzCli => match self.az().await? {
                None => return Ok(None),
                Some((token, tenant)) => (token, tenant, "the account `az` is signed in to".into()),
            },
        };
        let refresh = self.exchange(&aad, tenant.as_deref(), &who).await?;
        tracing::debug!(registry = %self.registry_host, identity = %who, "logged in with Azure AD");
        let _ = self.used.set(who);
        Ok(Some(Credentials::IdentityToken {
            username: REFRESH_TOKEN_USER.into(),
            token: refresh,
        }))
    }

    fn identity(&self) -> Option<String> {
        self.used.get().cloned()
    }
}

/// What the last listing showed: each tag's digest, and what is locked against deletes.
#[derive(Default)]
struct Listing {
    tags: HashMap<String, Digest>,
    locked_tags: HashSet<String>,
    locked_manifests: HashSet<Digest>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    #[serde(default)]
    delete_enabled: Option<bool>,
}

impl Attributes {
    fn locked(a: &Option<Attributes>) -> bool {
        a.as_ref().and_then(|a| a.delete_enabled) == Some(false)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcrTag {
    name: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    last_update_time: Option<String>,
    #[serde(default)]
    changeable_attributes: Option<Attributes>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcrManifest {
    digest: String,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    changeable_attributes: Option<Attributes>,
}

struct Acr {
    registry: Arc<DistributionRepository>,
    listing: Mutex<Listing>,
    /// The first refused delete's answer: later deletes fail with it, without a request.
    refused: Mutex<Option<String>>,
    /// One delete at a time until one succeeds (see [`super::DeleteGate`]).
    deletes: super::DeleteGate,
}

fn time(text: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    text.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

impl Acr {
    fn path(&self) -> &str {
        self.registry.path()
    }

    fn host(&self) -> &str {
        self.registry.client().registry()
    }

    /// `/acr/v1/{repo}/<tail…>`, the repository's slashes kept.
    async fn acr_url(&self, tail: &[&str], query: Option<&str>) -> Result<Url, Error> {
        let mut segments = vec!["acr", "v1"];
        segments.extend(self.path().split('/'));
        segments.extend(tail);
        self.registry.api_url(&segments, query).await
    }

    /// The registry's name for `az` (`myregistry` of `myregistry.azurecr.io`).
    fn registry_name(&self) -> String {
        let host = self.host().split(':').next().unwrap_or_default();
        match host.split_once('.') {
            Some((name, rest)) if rest.starts_with("azurecr.") => name.to_string(),
            _ => "<registry name>".to_string(),
        }
    }

    /// Who the registry saw, in words.
    fn identity(&self) -> String {
        let client = self.registry.client();
        if let Some(who) = client.credential_source().and_then(|s| s.identity()) {
            return who;
        }
        match client.login_name() {
            Some(name) if name == REFRESH_TOKEN_USER => format!(
                "the refresh token the docker config holds for {} (as `az acr login` stores it)",
                self.host()
            ),
            Some(name) => format!("`{name}`, the docker config's login for {}", self.host()),
            None => "no login at all (anonymous)".to_string(),
        }
    }

    /// Every page of one listing, from `first`, following `Link: rel="next"` on the same path.
    async fn pages(&self, first: Url, what: &str) -> Result<Vec<Vec<u8>>, Error> {
        let mut url = first.clone();
        let mut seen: HashSet<Url> = HashSet::new();
        let mut bodies = Vec::new();
        loop {
            if !seen.insert(url.clone()) {
                return Err(Error::PageLoop {
                    url: url.to_string(),
                });
            }
            if seen.len() > MAX_PAGES {
                return Err(Error::TooManyPages {
                    url: url.to_string(),
                    pages: seen.len() - 1,
                    max: MAX_PAGES,
                });
            }
            let request =
                Request::new(Method::GET, url.clone()).header("accept", "application/json");
            let reply = match self.registry.send_api(request).await {
                Ok(reply) => reply,
                Err(Error::Denied { detail, .. }) => {
                    return Err(platform(
                        format!("listing the {what} of `{}`", self.path()),
                        format!("refused{detail}"),
                        format!(
                            "the identity used ({}) needs a role that reads the registry (AcrPull, AcrPush, AcrDelete, Reader, Contributor or Owner); a repository-scoped token needs `content/read` and `metadata/read`",
                            self.identity()
                        ),
                    ));
                }
                Err(e) => return Err(e),
            };
            match reply.status.as_u16() {
                200..=299 => {}
                // A 404 part-way through would hide tags: never taken as the end.
                404 if url == first => {
                    return Err(Error::NotFound {
                        host: self.host().to_string(),
                        what: format!("repository `{}`", self.path()),
                        detail: reply.detail(),
                    });
                }
                _ => {
                    return Err(platform(
                        format!("listing the {what} of `{}`", self.path()),
                        status_message(&reply),
                        "try again later; nothing was changed".into(),
                    ));
                }
            }
            let next = reply.header("link").and_then(client::parse_next_link);
            let page_url = url.clone();
            bodies.push(reply.body);
            match next {
                Some(next) => url = client::same_listing(&page_url, &next)?,
                None => return Ok(bodies),
            }
        }
    }

    /// Every tag through `/_tags`; records digests and locks.
    async fn list_tag_rows(&self) -> Result<Vec<AcrTag>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<AcrTag>>,
        }
        let first = self
            .acr_url(&["_tags"], Some(&format!("n={PAGE_SIZE}")))
            .await?;
        let mut rows = Vec::new();
        for body in self.pages(first.clone(), "tags").await? {
            let page: Page = serde_json::from_slice(&body).map_err(|e| Error::BadResponse {
                url: first.to_string(),
                why: format!("not an ACR tag list ({e})"),
            })?;
            rows.extend(page.tags.unwrap_or_default());
        }
        let mut listing = self.listing.lock().expect("listing lock");
        listing.tags = rows
            .iter()
            .filter_map(|t| Some((t.name.clone(), Digest::parse(t.digest.as_deref()?).ok()?)))
            .collect();
        listing.locked_tags = rows
            .iter()
            .filter(|t| Attributes::locked(&t.changeable_attributes))
            .map(|t| t.name.clone())
            .collect();
        Ok(rows)
    }

    /// Every manifest through `/_manifests`: media types by digest; records manifest locks.
    async fn list_manifest_rows(&self) -> Result<HashMap<Digest, Option<String>>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            manifests: Option<Vec<AcrManifest>>,
        }
        let first = self
            .acr_url(&["_manifests"], Some(&format!("n={PAGE_SIZE}")))
            .await?;
        let mut types = HashMap::new();
        let mut locked = HashSet::new();
        for body in self.pages(first.clone(), "manifests").await? {
            let page: Page = serde_json::from_slice(&body).map_err(|e| Error::BadResponse {
                url: first.to_string(),
                why: format!("not an ACR manifest list ({e})"),
            })?;
            for m in page.manifests.unwrap_or_default() {
                let Ok(digest) = Digest::parse(&m.digest) else {
                    continue;
                };
                if Attributes::locked(&m.changeable_attributes) {
                    locked.insert(digest.clone());
                }
                types.insert(digest, m.media_type);
            }
        }
        self.listing.lock().expect("listing lock").locked_manifests = locked;
        Ok(types)
    }

    fn may_delete(&self, what: &str) -> Result<(), Error> {
        match self.refused.lock().expect("refusal lock").clone() {
            Some(answer) => Err(platform(
                what.to_string(),
                format!("not sent: ACR refused an earlier delete with this login ({answer})"),
                "see the first refused delete for the role the identity needs".into(),
            )),
            None => Ok(()),
        }
    }

    /// Sends one delete (`url`); `locked` says what to do when ACR answers that the item is
    /// locked. A definite 404 is [`Error::NotFound`].
    async fn delete(
        &self,
        url: Url,
        what: String,
        thing: String,
        locked: String,
    ) -> Result<(), Error> {
        self.may_delete(&what)?;
        let _turn = self.deletes.turn().await;
        // Another delete may have been refused while this one waited.
        self.may_delete(&what)?;
        let request = Request::new(Method::DELETE, url).header("accept", "application/json");
        let reply = match self.registry.send_api(request).await {
            Ok(reply) => reply,
            Err(Error::Denied { detail, .. } | Error::WrongCredentials { detail, .. }) => {
                let answer = format!("refused{detail}");
                *self.refused.lock().expect("refusal lock") = Some(answer.clone());
                return Err(platform(
                    what,
                    answer,
                    format!(
                        "the identity used ({}) needs the AcrDelete, Contributor or Owner role on the registry (AcrPull and AcrPush do not delete), e.g. `az role assignment create --assignee <client id> --role AcrDelete --scope <the registry's resource id>`; a repository-scoped token needs `content/delete` in its scope map",
                        self.identity()
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        match reply.status.as_u16() {
            200..=299 => {
                self.deletes.proven();
                tracing::debug!(repository = %self.registry.name(), %thing, "deleted through ACR");
                Ok(())
            }
            404 => Err(Error::NotFound {
                host: self.host().to_string(),
                what: thing,
                detail: reply.detail(),
            }),
            405 if String::from_utf8_lossy(&reply.body).contains(LOCKED) => {
                Err(platform(what, status_message(&reply), locked))
            }
            _ => Err(platform(
                what,
                status_message(&reply),
                "try again later; nothing else was changed".into(),
            )),
        }
    }

    /// The way out of a lock on `image` (`repo:tag` or `repo@digest`).
    fn unlock_hint(&self, image: &str) -> String {
        format!(
            "is locked (deleteEnabled=false): unlock it with `az acr repository update --name {} --image {image} --delete-enabled true`, or keep it with a keep.tags rule; nothing else was changed",
            self.registry_name()
        )
    }
}

#[async_trait]
impl Repository for Acr {
    fn name(&self) -> &str {
        self.registry.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.registry.capabilities()
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .list_tag_rows()
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect())
    }

    /// The tag pages alone: they carry the digests the check before deleting needs.
    async fn list_current(&self) -> Result<Vec<ListedTag>, Error> {
        Ok(self
            .list_tag_rows()
            .await?
            .into_iter()
            .map(|t| ListedTag {
                digest: t.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
                media_type: None,
                pushed: time(&t.last_update_time).or(time(&t.created_time)),
                name: t.name,
            })
            .collect())
    }

    async fn list(&self) -> Result<Vec<ListedTag>, Error> {
        let tags = self.list_tag_rows().await?;
        let types = self.list_manifest_rows().await?;
        let listed: Vec<ListedTag> = tags
            .into_iter()
            .map(|t| {
                let digest = t.digest.as_deref().and_then(|d| Digest::parse(d).ok());
                ListedTag {
                    media_type: digest
                        .as_ref()
                        .and_then(|d| types.get(d).cloned().flatten()),
                    digest,
                    pushed: time(&t.last_update_time).or(time(&t.created_time)),
                    name: t.name,
                }
            })
            .collect();
        tracing::debug!(repository = %self.registry.name(), tags = listed.len(), manifests = types.len(), "listed through the ACR API");
        Ok(listed)
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

    /// `DELETE /v2/{repo}/manifests/{digest}`: the manifest and every tag on it.
    async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let mut segments = vec!["v2"];
        segments.extend(self.path().split('/'));
        segments.extend(["manifests", digest.as_str()]);
        let url = self.registry.api_url(&segments, None).await?;
        let locked = {
            let listing = self.listing.lock().expect("listing lock");
            let mut tags: Vec<&String> = listing
                .tags
                .iter()
                .filter(|(t, d)| *d == digest && listing.locked_tags.contains(*t))
                .map(|(t, _)| t)
                .collect();
            tags.sort();
            match tags.first() {
                Some(tag) if !listing.locked_manifests.contains(digest) => {
                    let names: Vec<String> = tags.iter().map(|t| format!("`{t}`")).collect();
                    format!(
                        "its tag {} {}",
                        names.join(", "),
                        self.unlock_hint(&format!("{}:{tag}", self.path()))
                    )
                }
                _ => format!(
                    "the manifest {}",
                    self.unlock_hint(&format!("{}@{digest}", self.path()))
                ),
            }
        };
        self.delete(
            url,
            format!("deleting manifest {digest} of `{}`", self.path()),
            format!("manifest {digest} of `{}`", self.path()),
            locked,
        )
        .await
    }

    /// `DELETE /acr/v1/{repo}/_tags/{tag}`: the tag only; the manifest and its other tags stay.
    async fn untag(&self, tag: &str, _current: &Manifest) -> Result<UntagMethod, Error> {
        let tag = client::segment(tag, "tag")?;
        let url = self.acr_url(&["_tags", tag], None).await?;
        let locked = format!(
            "the tag {}",
            self.unlock_hint(&format!("{}:{tag}", self.path()))
        );
        self.delete(
            url,
            format!("deleting tag `{tag}` of `{}`", self.path()),
            format!("tag `{tag}` of `{}`", self.path()),
            locked,
        )
        .await?;
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

fn platform(what: String, message: String, hint: String) -> Error {
    Error::Platform {
        api: API,
        what,
        message,
        hint,
    }
}

/// `answered 405: REGISTRY_DISALLOWED_OPERATION: …`.
fn status_message(reply: &Reply) -> String {
    format!("answered {}{}", reply.status.as_u16(), reply.detail())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::providers::{AcrOptions, NamedSecret};

    #[test]
    fn the_identity_is_picked_from_the_variables_or_says_what_is_missing() {
        let mut o = AcrOptions::default();
        assert!(matches!(Identity::of(&o), Identity::AzCli));
        o.client_id = Some("app".into());
        let Identity::Incomplete(why) = Identity::of(&o) else {
            panic!("not incomplete");
        };
        assert!(why.contains("AZURE_TENANT_ID"), "{why}");
        o.tenant_id = Some("tenant".into());
        let Identity::Incomplete(why) = Identity::of(&o) else {
            panic!("not incomplete");
        };
        assert!(
            why.contains("AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE)"),
            "{why}"
        );
        o.federated_token_file = Some("/run/token".into());
        assert!(matches!(Identity::of(&o), Identity::Federated { .. }));
        o.client_secret = Some(NamedSecret {
            variable: "AZURE_CLIENT_SECRET",
            value: Secret::new("s3cret"),
        });
        assert!(matches!(Identity::of(&o), Identity::Secret { .. }));
    }

    #[test]
    fn tag_times_and_locks_are_read_from_the_listing() {
        let row: AcrTag = serde_json::from_str(
            r#"{"name":"v1","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","createdTime":"2021-05-17T20:32:42.4497187Z","lastUpdateTime":"2021-06-01T10:00:00Z","signed":false,"changeableAttributes":{"deleteEnabled":false,"writeEnabled":true,"readEnabled":true,"listEnabled":true}}"#,
        )
        .unwrap();
        assert!(Attributes::locked(&row.changeable_attributes));
        assert_eq!(
            time(&row.last_update_time).unwrap().to_rfc3339(),
            "2021-06-01T10:00:00+00:00"
        );
        assert!(time(&row.created_time).is_some());
        assert!(!Attributes::locked(&None));
    }
}
