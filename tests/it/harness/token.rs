//! A small Docker-registry token issuer (distribution's `spec/auth/token.md`, GET form) for the
//! token-mode registry: `GET /token?service=&scope=...` with Basic credentials returns an ES256
//! JWT signed by a key whose self-signed certificate is the registry's `rootcertbundle`.
//!
//! The test user gets the intersection of what it asks for and the issuer's grants; anonymous
//! callers get a token with no access (what a private registry's anonymous policy allows); a
//! wrong password is refused with 401. Requests carrying `client_id=` [`SEEDER_CLIENT_ID`] are the
//! harness's own seeder: fully granted and not recorded, so tests see only berth's requests.

use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use super::registry::{PASSWORD, TOKEN_ISSUER, USER};
use super::{Server, spawn_server};

/// The `client_id` the seeder sends; such requests bypass grants and recording.
pub const SEEDER_CLIENT_ID: &str = "berth-harness-seeder";
/// Token lifetime in seconds.
const EXPIRES_IN: i64 = 300;

/// A running issuer.
pub struct Issuer {
    server: Server,
    state: Arc<IssuerState>,
    cert_pem: String,
}

struct IssuerState {
    grants: Vec<String>,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der_b64: String,
    requests: Mutex<Vec<String>>,
}

impl Issuer {
    /// Makes a fresh key and certificate and starts serving `/token`, granting the test user
    /// at most `grants`.
    pub fn start(grants: &[&str]) -> Issuer {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("generate the issuer key");
        let cert = rcgen::CertificateParams::new(vec![TOKEN_ISSUER.to_string()])
            .expect("certificate params")
            .self_signed(&key_pair)
            .expect("self-sign the issuer certificate");
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .expect("load the issuer key into ring");
        let state = Arc::new(IssuerState {
            grants: grants.iter().map(|g| g.to_string()).collect(),
            key,
            rng,
            cert_der_b64: B64.encode(cert.der()),
            requests: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .route("/token", axum::routing::get(token))
            .with_state(state.clone());
        Issuer {
            server: spawn_server(router),
            state,
            cert_pem: cert.pem(),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The PEM certificate the registry must trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The recorded scope lists, one per request.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().expect("requests lock").clone()
    }
}

async fn token(
    State(state): State<Arc<IssuerState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut service = String::new();
    let mut scopes = Vec::new();
    let mut client_id = String::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "service" => service = v.into_owned(),
            // A scope parameter may itself hold several space-separated scopes.
            "scope" => scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(String::from)),
            "client_id" => client_id = v.into_owned(),
            _ => {}
        }
    }
    let seeder = client_id == SEEDER_CLIENT_ID;
    if !seeder {
        state
            .requests
            .lock()
            .expect("requests lock")
            .push(scopes.join(" "));
    }
    let subject = match basic_credentials(&headers) {
        None => None,
        Some((user, pass)) if user == USER && pass == PASSWORD => Some(user),
        Some(_) => return unauthorized(),
    };
    let access: Vec<serde_json::Value> = match &subject {
        None => Vec::new(),
        Some(_) => scopes
            .iter()
            .filter_map(|scope| grant(scope, &state.grants, seeder))
            .collect(),
    };
    let now = chrono::Utc::now();
    let iat = now.timestamp();
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": subject.unwrap_or_default(),
        "aud": service,
        "exp": iat + EXPIRES_IN,
        "nbf": iat - 10,
        "iat": iat,
        "jti": format!("{:016x}", fastrand::u64(..)),
        "access": access,
    });
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [state.cert_der_b64],
    });
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signature = state
        .key
        .sign(&state.rng, signing_input.as_bytes())
        .expect("sign the token");
    let jwt = format!("{signing_input}.{}", B64URL.encode(signature.as_ref()));
    axum::Json(serde_json::json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": EXPIRES_IN,
        "issued_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
    .into_response()
}

/// The access entry for one `type:name:actions` scope: the requested actions the grants allow
/// (all of them for the seeder), or nothing when none are left.
fn grant(scope: &str, grants: &[String], seeder: bool) -> Option<serde_json::Value> {
    // The name may contain `:` (host:port), so split the type at the first and the actions at
    // the last colon.
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let granted: Vec<&str> = actions
        .split(',')
        .filter(|a| seeder || grants.iter().any(|g| g == a))
        .collect();
    (!granted.is_empty())
        .then(|| serde_json::json!({ "type": kind, "name": name, "actions": granted }))
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"berth-test-issuer\"",
        )],
        axum::Json(serde_json::json!({
            "errors": [{ "code": "UNAUTHORIZED", "message": "invalid username or password" }]
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::super::registry::{Auth, TOKEN_SERVICE, TestRegistry};
    use super::super::seed::{ImageSpec, Seeder};
    use super::*;

    /// A token as berth would ask for it (not the seeder's client id).
    async fn token_for(
        registry: &TestRegistry,
        scope: &str,
        creds: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .get(format!("{}/token", registry.issuer_url().unwrap()))
            .query(&[("service", TOKEN_SERVICE), ("scope", scope)]);
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        req.send().await.unwrap()
    }

    async fn bearer(registry: &TestRegistry, scope: &str) -> String {
        let resp = token_for(registry, scope, Some((USER, PASSWORD))).await;
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["token"], body["access_token"]);
        assert_eq!(body["expires_in"], 300);
        body["token"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn token_registry_push_pull_and_challenge() {
        let registry = TestRegistry::start(Auth::Token);
        let seeder = Seeder::new(&registry);
        let digest = seeder
            .push_image("team/app", "v1", &ImageSpec::new("tok"))
            .await;
        assert_eq!(seeder.tags("team/app").await.get("v1"), Some(&digest));
        // The seeder's own token requests are not recorded.
        assert!(registry.token_requests().is_empty());

        let ping = reqwest::get(format!("{}/v2/", registry.url()))
            .await
            .unwrap();
        assert_eq!(ping.status(), 401);
        let challenge = ping.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.starts_with("Bearer realm=\""), "{challenge}");
        assert!(
            challenge.contains(&format!("service=\"{TOKEN_SERVICE}\"")),
            "{challenge}"
        );

        // A raw pull with a token for berth's usual scope.
        let token = bearer(&registry, "repository:team/app:pull").await;
        let pull = reqwest::Client::new()
            .get(format!("{}/v2/team/app/manifests/v1", registry.url()))
            .header("accept", super::super::seed::OCI_MANIFEST)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(pull.status(), 200);
        assert_eq!(pull.headers()["docker-content-digest"], digest.as_str());
        // The pull token does not allow a push.
        let push = reqwest::Client::new()
            .post(format!("{}/v2/team/app/blobs/uploads/", registry.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(push.status(), 401);
        assert_eq!(
            registry.token_requests(),
            vec!["repository:team/app:pull".to_string()]
        );
    }

    #[tokio::test]
    async fn token_issuer_rejects_a_wrong_password_and_gives_anonymous_nothing() {
        let registry = TestRegistry::start(Auth::Token);
        let wrong = token_for(&registry, "repository:a:pull", Some((USER, "nope"))).await;
        assert_eq!(wrong.status(), 401);
        let anonymous = token_for(&registry, "repository:a:pull", None).await;
        assert_eq!(anonymous.status(), 200);
        let body: serde_json::Value = anonymous.json().await.unwrap();
        let claims = body["token"].as_str().unwrap().split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["access"], serde_json::json!([]));
        let tags = reqwest::Client::new()
            .get(format!("{}/v2/a/tags/list", registry.url()))
            .bearer_auth(body["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(tags.status(), 401);
    }

    #[tokio::test]
    async fn token_grants_can_withhold_delete() {
        let registry = TestRegistry::start_token_with(&["pull", "push"]);
        let seeder = Seeder::new(&registry);
        let digest = seeder
            .push_image("app", "v1", &ImageSpec::new("keep"))
            .await;
        let token = bearer(&registry, "repository:app:pull,push,delete").await;
        let claims = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(claims).unwrap()).unwrap();
        assert_eq!(
            claims["access"],
            serde_json::json!([{ "type": "repository", "name": "app", "actions": ["pull", "push"] }])
        );
        let delete = reqwest::Client::new()
            .delete(format!("{}/v2/app/manifests/{digest}", registry.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(delete.status(), 401);
        let challenge = delete.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(seeder.manifest_exists("app", &digest).await);
    }
}
