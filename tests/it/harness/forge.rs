//! Stateful loopback fakes of the forges' pull-request listings, written from
//! `docs/registry-apis.md` (§3.2 and §3.4 for GitHub, §4.1 and §4.2 for GitLab):
//!
//! - GitHub: `GET {prefix}/repos/{owner}/{repo}/pulls?state=open&per_page=&page=` with
//!   `Authorization: Bearer`, `Accept: application/vnd.github+json`,
//!   `X-GitHub-Api-Version: 2022-11-28` and a `User-Agent`; absolute `Link` pagination
//!   (`next`, `last`, `first`, `prev`), default page size 30, at most 100.
//! - GitLab: `GET /api/v4/projects/:id/merge_requests?state=opened&per_page=&page=` where `:id`
//!   is the numeric id or the `%2F`-encoded path, with `PRIVATE-TOKEN` or `JOB-TOKEN` (a job
//!   token in `PRIVATE-TOKEN` is refused); `X-Page`, `X-Per-Page`, `X-Total`, `X-Total-Pages`,
//!   `X-Next-Page` (empty on the last page), `X-Prev-Page` and `Link`; default page size 20.
//!
//! Each fake holds a mutable list of pull requests (open, closed, merged) so a test can close
//! one between runs, records every request (never a token's value), and answers anything the
//! real API would not have been asked with 400, recorded in [`ForgeFake::unexpected`] so the
//! test can fail on it. Faults: [`ForgeFake::fail_next`] (429/5xx, with `Retry-After`),
//! [`ForgeFake::loop_pagination`] (every page names itself as next), [`ForgeFake::deny_read`]
//! (a valid token answers 403).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Server, spawn_server};

/// The token the GitHub fake accepts as `Authorization: Bearer`.
pub const GITHUB_TOKEN: &str = "ghs_harnessFakeToken0123456789abcdef";
/// The repository the GitHub fake serves.
pub const GITHUB_REPOSITORY: &str = "octo-org/hello-world";
/// The path prefix of a GitHub Enterprise Server API.
pub const GHES_PREFIX: &str = "/api/v3";
/// The token the GitLab fake accepts as `PRIVATE-TOKEN`.
pub const GITLAB_PRIVATE_TOKEN: &str = "glpat-harnessFakeToken0123";
/// The token the GitLab fake accepts as `JOB-TOKEN`.
pub const GITLAB_JOB_TOKEN: &str = "harness-fake-job-token-0123";
/// The path of the project the GitLab fake serves.
pub const GITLAB_PROJECT_PATH: &str = "group/sub/proj";
/// The numeric id of the same project.
pub const GITLAB_PROJECT_ID: u64 = 4242;

/// A pull request's state on the forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    /// Listed by `state=open` / `state=opened`.
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// One pull request (GitHub) or merge request (GitLab; `number` is the `iid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pr {
    /// `#N` / `!N`.
    pub number: u64,
    /// Source branch.
    pub head_ref: String,
    /// Head commit, 40 lowercase hex.
    pub head_sha: String,
    /// Open, closed or merged.
    pub state: PrState,
}

impl Pr {
    /// An open pull request with the head commit [`fake_sha`]`(number)`.
    pub fn open(number: u64, head_ref: &str) -> Pr {
        Pr {
            number,
            head_ref: head_ref.to_string(),
            head_sha: fake_sha(number),
            state: PrState::Open,
        }
    }

    /// The same pull request with another state.
    pub fn with_state(mut self, state: PrState) -> Pr {
        self.state = state;
        self
    }

    /// The same pull request with another head commit.
    pub fn with_sha(mut self, sha: &str) -> Pr {
        self.head_sha = sha.to_string();
        self
    }
}

/// A deterministic, distinct 40-hex commit id for pull request `n`.
pub fn fake_sha(n: u64) -> String {
    format!(
        "{:040x}",
        u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1
    )
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query as sent (still percent-encoded).
    pub path: String,
    /// The header that carried a token (`authorization`, `private-token`, `job-token`), if any.
    pub auth: Option<String>,
    /// The status the fake answered.
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    GitHub,
    GitLab,
}

struct Fault {
    status: u16,
    retry_after: Option<String>,
}

struct FakeState {
    kind: Kind,
    prefix: String,
    prs: Mutex<Vec<Pr>>,
    requests: Mutex<Vec<ForgeRequest>>,
    unexpected: Mutex<Vec<String>>,
    faults: Mutex<VecDeque<Fault>>,
    loop_next: AtomicBool,
    deny_read: AtomicBool,
}

/// A running forge fake.
pub struct ForgeFake {
    server: Server,
    state: Arc<FakeState>,
}

impl ForgeFake {
    /// A github.com-like API at `http://127.0.0.1:PORT` serving [`GITHUB_REPOSITORY`].
    pub fn github(prs: Vec<Pr>) -> ForgeFake {
        Self::start(Kind::GitHub, "", prs)
    }

    /// A GitHub Enterprise Server-like API at `http://127.0.0.1:PORT/api/v3`.
    pub fn github_enterprise(prs: Vec<Pr>) -> ForgeFake {
        Self::start(Kind::GitHub, GHES_PREFIX, prs)
    }

    /// A GitLab API at `http://127.0.0.1:PORT/api/v4` serving project [`GITLAB_PROJECT_PATH`]
    /// (id [`GITLAB_PROJECT_ID`]).
    pub fn gitlab(prs: Vec<Pr>) -> ForgeFake {
        Self::start(Kind::GitLab, "/api/v4", prs)
    }

    fn start(kind: Kind, prefix: &str, prs: Vec<Pr>) -> ForgeFake {
        let state = Arc::new(FakeState {
            kind,
            prefix: prefix.to_string(),
            prs: Mutex::new(prs),
            requests: Mutex::new(Vec::new()),
            unexpected: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            loop_next: AtomicBool::new(false),
            deny_read: AtomicBool::new(false),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        ForgeFake {
            server: spawn_server(router),
            state,
        }
    }

    /// The API base URL (`GITHUB_API_URL` / `CI_API_V4_URL`).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.url(), self.state.prefix)
    }

    /// The variables that point berth at this fake with its accepted token (for GitLab, the
    /// project path and the private token).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self.state.kind {
            Kind::GitHub => vec![
                ("GITHUB_REPOSITORY", GITHUB_REPOSITORY.to_string()),
                ("GITHUB_API_URL", self.url()),
                ("BERTH_GITHUB_TOKEN", GITHUB_TOKEN.to_string()),
            ],
            Kind::GitLab => vec![
                ("CI_PROJECT_PATH", GITLAB_PROJECT_PATH.to_string()),
                ("CI_API_V4_URL", self.url()),
                ("BERTH_GITLAB_TOKEN", GITLAB_PRIVATE_TOKEN.to_string()),
            ],
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<ForgeRequest> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// How many requests the fake has received.
    pub fn request_count(&self) -> usize {
        self.state.requests.lock().expect("requests lock").len()
    }

    /// Requests the real API would not have been sent, with the reason (each answered 400).
    pub fn unexpected(&self) -> Vec<String> {
        self.state
            .unexpected
            .lock()
            .expect("unexpected lock")
            .clone()
    }

    /// Panics when any request was unexpected.
    pub fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected();
        assert!(
            unexpected.is_empty(),
            "unexpected forge requests: {unexpected:#?}"
        );
    }

    /// The pull requests as the fake holds them now.
    pub fn prs(&self) -> Vec<Pr> {
        self.state.prs.lock().expect("prs lock").clone()
    }

    /// Adds a pull request.
    pub fn add(&self, pr: Pr) {
        self.state.prs.lock().expect("prs lock").push(pr);
    }

    /// Closes pull request `number`.
    pub fn close(&self, number: u64) {
        self.set_state(number, PrState::Closed);
    }

    /// Merges pull request `number`.
    pub fn merge(&self, number: u64) {
        self.set_state(number, PrState::Merged);
    }

    /// Reopens pull request `number`.
    pub fn reopen(&self, number: u64) {
        self.set_state(number, PrState::Open);
    }

    /// Moves the head of pull request `number` to `sha` (a push to its branch).
    pub fn set_head(&self, number: u64, sha: &str) {
        self.with_pr(number, |pr| pr.head_sha = sha.to_string());
    }

    /// The next `times` authenticated requests answer `status` (with `Retry-After` if given).
    pub fn fail_next(&self, status: u16, times: usize, retry_after: Option<&str>) {
        let mut faults = self.state.faults.lock().expect("faults lock");
        for _ in 0..times {
            faults.push_back(Fault {
                status,
                retry_after: retry_after.map(String::from),
            });
        }
    }

    /// From now on every page names itself as the next page.
    pub fn loop_pagination(&self) {
        self.state.loop_next.store(true, Ordering::SeqCst);
    }

    /// From now on a valid token answers 403 (a token without read access).
    pub fn deny_read(&self) {
        self.state.deny_read.store(true, Ordering::SeqCst);
    }

    fn set_state(&self, number: u64, state: PrState) {
        self.with_pr(number, |pr| pr.state = state);
    }

    fn with_pr(&self, number: u64, change: impl FnOnce(&mut Pr)) {
        let mut prs = self.state.prs.lock().expect("prs lock");
        let pr = prs
            .iter_mut()
            .find(|pr| pr.number == number)
            .unwrap_or_else(|| panic!("the fake has no pull request {number}"));
        change(pr);
    }
}

/// What a handler decided: status, extra headers, JSON body.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: serde_json::Value,
}

impl Answer {
    fn json(status: u16, body: serde_json::Value) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (auth, answer) = match state.kind {
        Kind::GitHub => github(&state, &method, &uri, &headers),
        Kind::GitLab => gitlab(&state, &method, &uri, &headers),
    };
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(ForgeRequest {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            auth: auth.map(String::from),
            status: answer.status,
        });
    let mut response = (
        StatusCode::from_u16(answer.status).expect("a valid status"),
        axum::Json(answer.body),
    )
        .into_response();
    for (name, value) in answer.headers {
        response.headers_mut().append(
            name,
            HeaderValue::from_str(&value).expect("a valid header value"),
        );
    }
    response
}

fn unexpected(state: &FakeState, method: &Method, uri: &Uri, why: &str) -> Answer {
    state
        .unexpected
        .lock()
        .expect("unexpected lock")
        .push(format!("{method} {uri}: {why}"));
    Answer::json(
        400,
        json!({ "message": format!("harness: unexpected request: {why}") }),
    )
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `page` and `per_page`, defaulted and capped as the API does; `None` when not numbers.
fn paging(pairs: &[(String, String)], default_per_page: usize) -> Option<(usize, usize)> {
    let page = param(pairs, "page")
        .map_or(Some(1), |p| p.parse().ok())?
        .max(1);
    let per_page = param(pairs, "per_page")
        .map_or(Some(default_per_page), |p| p.parse().ok())?
        .clamp(1, 100);
    Some((page, per_page))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn fault(state: &FakeState) -> Option<Answer> {
    let fault = state.faults.lock().expect("faults lock").pop_front()?;
    let mut answer = Answer::json(
        fault.status,
        json!({ "message": "harness: injected fault" }),
    );
    if let Some(retry_after) = fault.retry_after {
        answer.headers.push(("retry-after", retry_after));
    }
    Some(answer)
}

/// The open pull requests, newest first (both APIs sort by creation, descending).
fn open_prs(state: &FakeState) -> Vec<Pr> {
    let mut open: Vec<Pr> = state
        .prs
        .lock()
        .expect("prs lock")
        .iter()
        .filter(|pr| pr.state == PrState::Open)
        .cloned()
        .collect();
    open.sort_by_key(|pr| std::cmp::Reverse(pr.number));
    open
}

fn page_of(open: &[Pr], page: usize, per_page: usize) -> (&[Pr], usize) {
    let total_pages = open.len().div_ceil(per_page).max(1);
    let start = ((page - 1) * per_page).min(open.len());
    let end = (start + per_page).min(open.len());
    (&open[start..end], total_pages)
}

fn github(
    state: &FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> (Option<&'static str>, Answer) {
    let auth = headers
        .contains_key(header::AUTHORIZATION)
        .then_some("authorization");
    let Some(rest) = uri.path().strip_prefix(state.prefix.as_str()) else {
        return (
            auth,
            unexpected(state, method, uri, "path outside the API prefix"),
        );
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let repository = match segments.as_slice() {
        ["", "repos", owner, repo, "pulls"] => format!("{owner}/{repo}"),
        _ => {
            return (
                auth,
                unexpected(state, method, uri, "not a pull-request listing"),
            );
        }
    };
    if method != Method::GET {
        return (auth, unexpected(state, method, uri, "not a GET"));
    }
    if !header_str(headers, "accept").is_some_and(|a| a.contains("application/vnd.github+json")) {
        return (
            auth,
            unexpected(
                state,
                method,
                uri,
                "Accept is not application/vnd.github+json",
            ),
        );
    }
    if header_str(headers, "x-github-api-version") != Some("2022-11-28") {
        return (
            auth,
            unexpected(state, method, uri, "X-GitHub-Api-Version is not 2022-11-28"),
        );
    }
    if header_str(headers, "user-agent").is_none_or(str::is_empty) {
        unexpected(state, method, uri, "no User-Agent");
        return (
            auth,
            Answer::json(
                403,
                json!({ "message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header" }),
            ),
        );
    }
    match header_str(headers, "authorization") {
        None => {
            return (
                auth,
                Answer::json(401, json!({ "message": "Requires authentication" })),
            );
        }
        Some(value) if value != format!("Bearer {GITHUB_TOKEN}") => {
            return (
                auth,
                Answer::json(401, json!({ "message": "Bad credentials" })),
            );
        }
        Some(_) => {}
    }
    if let Some(answer) = fault(state) {
        return (auth, answer);
    }
    if repository != GITHUB_REPOSITORY {
        return (
            auth,
            Answer::json(
                404,
                json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests", "status": "404" }),
            ),
        );
    }
    if state.deny_read.load(Ordering::SeqCst) {
        return (
            auth,
            Answer::json(
                403,
                json!({ "message": "Resource not accessible by integration" }),
            ),
        );
    }
    let pairs = query(uri);
    if param(&pairs, "state") != Some("open") {
        return (auth, unexpected(state, method, uri, "state is not open"));
    }
    let Some((page, per_page)) = paging(&pairs, 30) else {
        return (
            auth,
            unexpected(state, method, uri, "page or per_page is not a number"),
        );
    };
    let open = open_prs(state);
    let (items, total_pages) = page_of(&open, page, per_page);
    let host = header_str(headers, "host").unwrap_or("127.0.0.1");
    let link = |page: usize| {
        format!(
            "<http://{host}{}/repos/{repository}/pulls?state=open&per_page={per_page}&page={page}>",
            state.prefix
        )
    };
    let mut links = Vec::new();
    if state.loop_next.load(Ordering::SeqCst) {
        links.push(format!("{}; rel=\"next\"", link(page)));
    } else if page < total_pages {
        links.push(format!("{}; rel=\"next\"", link(page + 1)));
        links.push(format!("{}; rel=\"last\"", link(total_pages)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link(1)));
        links.push(format!("{}; rel=\"prev\"", link(page - 1)));
    }
    let (owner, _) = GITHUB_REPOSITORY.split_once('/').expect("owner/name");
    let body: Vec<serde_json::Value> = items
        .iter()
        .map(|pr| {
            json!({
                "url": format!("http://{host}{}/repos/{repository}/pulls/{}", state.prefix, pr.number),
                "id": 1_000_000 + pr.number,
                "node_id": format!("PR_fake{}", pr.number),
                "number": pr.number,
                "state": "open",
                "locked": false,
                "title": format!("Pull request {}", pr.number),
                "user": { "login": "octocat", "id": 1 },
                "draft": false,
                "head": {
                    "label": format!("{owner}:{}", pr.head_ref),
                    "ref": pr.head_ref,
                    "sha": pr.head_sha,
                    "repo": { "id": 1, "full_name": GITHUB_REPOSITORY },
                },
                "base": { "label": format!("{owner}:main"), "ref": "main", "sha": fake_sha(0) },
            })
        })
        .collect();
    let mut answer = Answer::json(200, serde_json::Value::Array(body));
    if !links.is_empty() {
        answer.headers.push(("link", links.join(", ")));
    }
    (auth, answer)
}

fn gitlab(
    state: &FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> (Option<&'static str>, Answer) {
    let private = header_str(headers, "private-token");
    let job = header_str(headers, "job-token");
    let auth = match (private, job) {
        (Some(_), _) => Some("private-token"),
        (None, Some(_)) => Some("job-token"),
        (None, None) => None,
    };
    let Some(rest) = uri.path().strip_prefix("/api/v4/projects/") else {
        return (
            auth,
            unexpected(state, method, uri, "not under /api/v4/projects/"),
        );
    };
    let Some(id) = rest.strip_suffix("/merge_requests") else {
        return (
            auth,
            unexpected(state, method, uri, "not a merge-request listing"),
        );
    };
    if id.contains('/') {
        return (
            auth,
            unexpected(state, method, uri, "project path not %2F-encoded"),
        );
    }
    if method != Method::GET {
        return (auth, unexpected(state, method, uri, "not a GET"));
    }
    let authorized = match (private, job) {
        (Some(token), _) => token == GITLAB_PRIVATE_TOKEN,
        (None, Some(token)) => token == GITLAB_JOB_TOKEN,
        (None, None) => false,
    };
    if !authorized {
        return (
            auth,
            Answer::json(401, json!({ "message": "401 Unauthorized" })),
        );
    }
    if let Some(answer) = fault(state) {
        return (auth, answer);
    }
    let decoded = id.replace("%2F", "/").replace("%2f", "/");
    if decoded != GITLAB_PROJECT_PATH && decoded != GITLAB_PROJECT_ID.to_string() {
        return (
            auth,
            Answer::json(404, json!({ "message": "404 Project Not Found" })),
        );
    }
    if state.deny_read.load(Ordering::SeqCst) {
        return (
            auth,
            Answer::json(403, json!({ "message": "403 Forbidden" })),
        );
    }
    let pairs = query(uri);
    if param(&pairs, "state") != Some("opened") {
        return (auth, unexpected(state, method, uri, "state is not opened"));
    }
    let Some((page, per_page)) = paging(&pairs, 20) else {
        return (
            auth,
            Answer::json(400, json!({ "error": "page is invalid" })),
        );
    };
    let open = open_prs(state);
    let (items, total_pages) = page_of(&open, page, per_page);
    let host = header_str(headers, "host").unwrap_or("127.0.0.1");
    let link = |page: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "page") {
            query.append_pair(k, v);
        }
        query.append_pair("page", &page.to_string());
        format!("<http://{host}{}?{}>", uri.path(), query.finish())
    };
    let looping = state.loop_next.load(Ordering::SeqCst);
    let next = if looping {
        Some(page)
    } else {
        (page < total_pages).then_some(page + 1)
    };
    let mut links = Vec::new();
    if let Some(next) = next {
        links.push(format!("{}; rel=\"next\"", link(next)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link(page - 1)));
    }
    links.push(format!("{}; rel=\"first\"", link(1)));
    links.push(format!("{}; rel=\"last\"", link(total_pages)));
    let body: Vec<serde_json::Value> = items
        .iter()
        .map(|pr| {
            json!({
                "id": 500_000 + pr.number,
                "iid": pr.number,
                "project_id": GITLAB_PROJECT_ID,
                "title": format!("Merge request {}", pr.number),
                "state": "opened",
                "source_branch": pr.head_ref,
                "target_branch": "main",
                "sha": pr.head_sha,
                "draft": false,
                "web_url": format!("http://{host}/{GITLAB_PROJECT_PATH}/-/merge_requests/{}", pr.number),
            })
        })
        .collect();
    let mut answer = Answer::json(200, serde_json::Value::Array(body));
    answer.headers.extend([
        ("x-page", page.to_string()),
        ("x-per-page", per_page.to_string()),
        ("x-total", open.len().to_string()),
        ("x-total-pages", total_pages.to_string()),
        (
            "x-next-page",
            next.map(|n| n.to_string()).unwrap_or_default(),
        ),
        (
            "x-prev-page",
            if page > 1 {
                (page - 1).to_string()
            } else {
                String::new()
            },
        ),
        ("link", links.join(", ")),
    ]);
    (auth, answer)
}
