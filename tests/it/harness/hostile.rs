//! A scripted, Distribution-like registry on loopback that misbehaves on purpose: tag lists
//! with any names and any `Link`, manifests with any headers, bodies or endless streams, 401
//! challenges of any scheme, a token endpoint that echoes what it was sent, and answers
//! generated per request (an endless chain of indexes). Every request is logged with its
//! method, raw path and headers, so a test can assert what berth sent, and what berth never
//! sent.
//!
//! Routes are matched newest first, on method (`*` for any) and path (exact, or a prefix when
//! the route ends in `*`); a route's answers are used in order and its last one repeats.
//! Unmatched requests get a Distribution 404. `GET /v2/` answers 200 unless a test routes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use super::seed::{OCI_MANIFEST, digest_of};
use super::{Server, spawn_server};

/// A body to answer with.
#[derive(Clone)]
pub enum Body {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` bytes of `fill`, generated while sending (nothing is held in memory), in 64 KiB
    /// chunks; every byte sent is counted in [`Hostile::streamed`].
    Stream {
        /// Bytes to send.
        len: u64,
        /// The byte repeated.
        fill: u8,
    },
}

/// One scripted answer.
#[derive(Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order (repeats allowed).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Answer {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// 200 with a JSON body.
    pub fn json(value: serde_json::Value) -> Answer {
        Answer::status(200)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&value).unwrap())
    }

    /// 200 with a manifest: its media type as `Content-Type` and its true digest as
    /// `Docker-Content-Digest`.
    pub fn manifest(media_type: &str, bytes: &[u8]) -> Answer {
        Answer::status(200)
            .header("content-type", media_type)
            .header("docker-content-digest", &digest_of(bytes))
            .body(bytes.to_vec())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, bytes: Vec<u8>) -> Answer {
        self.body = Body::Bytes(bytes);
        self
    }

    /// Sets a generated body of `len` bytes.
    pub fn stream(mut self, len: u64, fill: u8) -> Answer {
        self.body = Body::Stream { len, fill };
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query exactly as sent (still percent-encoded).
    pub path: String,
    /// Every header, names lowercased, values lossily decoded.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Generator = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

enum Script {
    Answers(VecDeque<Answer>),
    Generated(Generator),
}

struct Route {
    method: String,
    path: String,
    script: Script,
}

impl Route {
    fn matches(&self, seen: &Seen) -> bool {
        let path = seen.path.split('?').next().unwrap_or("");
        (self.method == "*" || self.method == seen.method)
            && match self.path.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == self.path,
            }
    }

    fn answer(&mut self, seen: &Seen) -> Answer {
        match &mut self.script {
            Script::Answers(answers) if answers.len() > 1 => answers.pop_front().unwrap(),
            Script::Answers(answers) => answers.front().cloned().unwrap(),
            Script::Generated(f) => f(seen),
        }
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<Vec<Route>>,
    log: Mutex<Vec<Seen>>,
    streamed: Arc<AtomicU64>,
}

/// The hostile registry. Stops when dropped.
pub struct Hostile {
    server: Server,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Starts a server that answers only `GET /v2/` (200) until routes are added.
    pub fn start() -> Hostile {
        let shared = Arc::new(Shared::default());
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let hostile = Hostile {
            server: spawn_server(router),
            shared,
        };
        hostile.route("GET", "/v2/", vec![Answer::json(serde_json::json!({}))]);
        hostile
    }

    /// `127.0.0.1:PORT`, the registry part of a reference.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Answers `method` (`*`: any) on `path` (a trailing `*` makes it a prefix) with
    /// `answers` in order, the last one repeating. Replaces nothing: newer routes win.
    pub fn route(&self, method: &str, path: &str, answers: Vec<Answer>) {
        assert!(!answers.is_empty(), "a route needs an answer");
        self.push(method, path, Script::Answers(answers.into()));
    }

    /// Answers `method` on `path` with whatever `f` makes of each request.
    pub fn route_fn(
        &self,
        method: &str,
        path: &str,
        f: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) {
        self.push(method, path, Script::Generated(Arc::new(f)));
    }

    fn push(&self, method: &str, path: &str, script: Script) {
        self.shared.routes.lock().unwrap().push(Route {
            method: method.to_string(),
            path: path.to_string(),
            script,
        });
    }

    /// `repo`'s tag list: one page with `tags` (names are JSON-escaped, so any text works).
    pub fn tags(&self, repo: &str, tags: &[&str]) {
        self.route(
            "GET",
            &format!("/v2/{repo}/tags/list"),
            vec![Answer::json(
                serde_json::json!({"name": repo, "tags": tags}),
            )],
        );
    }

    /// Serves an image in `repo` under each of `tags` and by digest (GET and HEAD), its
    /// config blob (`created`, distinct per `unique`), and accepts DELETE of the manifest and
    /// of each tag (202). Returns the manifest's digest.
    pub fn image(&self, repo: &str, tags: &[&str], unique: &str, created: &str) -> String {
        let (digest, manifest, config) = image_bytes(unique, created);
        let config_digest = digest_of(&config);
        self.route(
            "GET",
            &format!("/v2/{repo}/blobs/{config_digest}"),
            vec![Answer::status(200).body(config)],
        );
        for reference in tags.iter().copied().chain([digest.as_str()]) {
            let path = format!("/v2/{repo}/manifests/{reference}");
            for method in ["GET", "HEAD"] {
                self.route(
                    method,
                    &path,
                    vec![Answer::manifest(OCI_MANIFEST, &manifest)],
                );
            }
            self.route("DELETE", &path, vec![Answer::status(202)]);
        }
        digest
    }

    /// Every request received so far.
    pub fn log(&self) -> Vec<Seen> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests received with `method` whose path starts with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.log()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(prefix))
            .count()
    }

    /// Bytes of generated ([`Body::Stream`]) bodies sent so far.
    pub fn streamed(&self) -> u64 {
        self.shared.streamed.load(Ordering::Relaxed)
    }
}

/// An OCI image manifest and its config: `(manifest digest, manifest bytes, config bytes)`.
pub fn image_bytes(unique: &str, created: &str) -> (String, Vec<u8>, Vec<u8>) {
    let config = serde_json::to_vec(&serde_json::json!({
        "created": created, "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"unique": unique}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest_of(&config), "size": config.len()},
        "layers": [],
    }))
    .unwrap();
    (digest_of(&manifest), manifest, config)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let seen = Seen {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path().to_string(), |p| p.to_string()),
        headers: request
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    shared.log.lock().unwrap().push(seen.clone());
    let answer = {
        let mut routes = shared.routes.lock().unwrap();
        routes
            .iter_mut()
            .rev()
            .find(|r| r.matches(&seen))
            .map(|r| r.answer(&seen))
    };
    let answer = answer.unwrap_or_else(|| {
        Answer::status(404)
            .header("content-type", "application/json")
            .body(br#"{"errors":[{"code":"NAME_UNKNOWN","message":"not scripted"}]}"#.to_vec())
    });
    respond(answer, &shared.streamed, seen.method == "HEAD")
}

fn respond(answer: Answer, streamed: &Arc<AtomicU64>, head: bool) -> Response {
    let body = match answer.body {
        Body::Bytes(b) if head => {
            let mut r = Response::new(AxumBody::empty());
            r.headers_mut()
                .insert("content-length", HeaderValue::from(b.len()));
            return finish(r, answer.status, answer.headers);
        }
        Body::Bytes(b) => AxumBody::from(b),
        Body::Stream { len, fill } => {
            let counter = streamed.clone();
            let chunk = bytes::Bytes::from(vec![fill; 64 * 1024]);
            AxumBody::from_stream(futures_util::stream::unfold(len, move |left| {
                let chunk = chunk.clone();
                let counter = counter.clone();
                async move {
                    if left == 0 {
                        return None;
                    }
                    let n = left.min(chunk.len() as u64);
                    counter.fetch_add(n, Ordering::Relaxed);
                    Some((
                        Ok::<_, std::convert::Infallible>(chunk.slice(..n as usize)),
                        left - n,
                    ))
                }
            }))
        }
    };
    finish(Response::new(body), answer.status, answer.headers)
}

fn finish(mut response: Response, status: u16, headers: Vec<(String, String)>) -> Response {
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        response.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}
