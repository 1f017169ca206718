//! Which pull requests (GitHub) or merge requests (GitLab) are open, and their head commits.
//!
//! Only the forge knows whether a pull request is open: `refs/pull/N/head` outlives the pull
//! request and most CI clones lack it (DESIGN §2). This adapter asks GitHub's REST API through
//! octocrab and GitLab's through the `gitlab` crate, and hands back plain data: no octocrab,
//! gitlab or reqwest type leaves the module. It imports no other adapter (DESIGN §7).

mod github;
mod gitlab;

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::env_vars;
use crate::secret::Secret;

/// An open pull request (GitHub) or merge request (GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPullRequest {
    /// The number users see: `#12` on GitHub, `!12` (the `iid`) on GitLab.
    pub number: u64,
    /// The head commit, 40 lowercase hex digits.
    pub head_sha: String,
    /// The source branch name.
    pub head_ref: String,
}

/// How a GitLab token is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitLabToken {
    /// A personal, project or group access token, sent as `PRIVATE-TOKEN`.
    Private,
    /// The CI job token, sent as `JOB-TOKEN` (GitLab refuses it in `PRIVATE-TOKEN`).
    Job,
}

impl GitLabToken {
    /// The variable berth reads this kind of token from, for messages.
    pub fn variable(self) -> &'static str {
        match self {
            GitLabToken::Private => env_vars::BERTH_GITLAB_TOKEN,
            GitLabToken::Job => env_vars::CI_JOB_TOKEN,
        }
    }
}

/// A forge berth can ask about pull requests, with the token to ask with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forge {
    /// GitHub or GitHub Enterprise Server.
    GitHub {
        /// REST API base: `https://api.github.com` or `https://<host>/api/v3`.
        api_url: String,
        /// `owner/name`.
        repository: String,
        /// Sent as `Authorization: Bearer`.
        token: Secret,
    },
    /// GitLab.com or a self-managed GitLab.
    GitLab {
        /// REST API base, ending in `/api/v4`.
        api_url: String,
        /// Numeric project id or `group/sub/project` path.
        project: String,
        /// The token.
        token: Secret,
        /// Which header carries the token.
        token_kind: GitLabToken,
    },
}

/// The open pull requests of the forge's repository or project, all pages of them.
pub async fn open_pull_requests(forge: &Forge) -> Result<Vec<OpenPullRequest>, Error> {
    match forge {
        Forge::GitHub {
            api_url,
            repository,
            token,
        } => github::open_pull_requests(api_url, repository, token).await,
        Forge::GitLab {
            api_url,
            project,
            token,
            token_kind,
        } => gitlab::open_pull_requests(api_url, project, token, *token_kind).await,
    }
}

/// Why the environment describes no usable forge; the message names the variables to set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unavailable {
    /// What to set, for the user.
    pub message: String,
}

const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
const DEFAULT_GITLAB_API_URL: &str = "https://gitlab.com/api/v4";

/// Which forge the environment describes, or why none (the reason names the variables to set).
///
/// GitHub wins when both are described: a GitHub Actions job never sets `CI_PROJECT_*`, while
/// a GitLab job that mirrors to GitHub might set `GITHUB_REPOSITORY` on purpose.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Forge, Unavailable> {
    // CI systems export declared-but-unset variables as empty strings.
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(repository) = get(env_vars::GITHUB_REPOSITORY) {
        let token = get(env_vars::BERTH_GITHUB_TOKEN)
            .or_else(|| get(env_vars::GITHUB_TOKEN))
            .ok_or_else(|| Unavailable {
                message: format!(
                    "{} is set but no token: set {} or {} (the Actions token can read pull \
                     requests)",
                    env_vars::GITHUB_REPOSITORY,
                    env_vars::BERTH_GITHUB_TOKEN,
                    env_vars::GITHUB_TOKEN
                ),
            })?;
        return Ok(Forge::GitHub {
            api_url: get(env_vars::GITHUB_API_URL)
                .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_string()),
            repository,
            token: Secret::new(token),
        });
    }
    let project = get(env_vars::CI_PROJECT_ID)
        .map(|p| (env_vars::CI_PROJECT_ID, p))
        .or_else(|| get(env_vars::CI_PROJECT_PATH).map(|p| (env_vars::CI_PROJECT_PATH, p)));
    if let Some((project_variable, project)) = project {
        let (token, token_kind) = get(env_vars::BERTH_GITLAB_TOKEN)
            .map(|t| (t, GitLabToken::Private))
            .or_else(|| get(env_vars::CI_JOB_TOKEN).map(|t| (t, GitLabToken::Job)))
            .ok_or_else(|| Unavailable {
                message: format!(
                    "{project_variable} is set but no token: set {} (a project access token \
                     with read_api) or {}",
                    env_vars::BERTH_GITLAB_TOKEN,
                    env_vars::CI_JOB_TOKEN
                ),
            })?;
        return Ok(Forge::GitLab {
            api_url: get(env_vars::CI_API_V4_URL)
                .unwrap_or_else(|| DEFAULT_GITLAB_API_URL.to_string()),
            project,
            token: Secret::new(token),
            token_kind,
        });
    }
    Err(Unavailable {
        message: format!(
            "set {} and {} (GitHub) or {} and {} (GitLab)",
            env_vars::GITHUB_REPOSITORY,
            env_vars::BERTH_GITHUB_TOKEN,
            env_vars::CI_PROJECT_ID,
            env_vars::BERTH_GITLAB_TOKEN
        ),
    })
}

/// Asking the forge failed. Messages name the URL (which never carries a secret), the
/// variable to fix, and what to do; tokens never appear in them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot be used (malformed repository, API URL or token).
    #[error("{why}")]
    Invalid {
        /// What is wrong and what to set.
        why: String,
    },
    /// 401: the forge does not accept the token.
    #[error(
        "{forge} rejected the token from {variable} (401 from {url}){detail}; set {variable} to a valid, unexpired token"
    )]
    TokenRejected {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// Where the token came from.
        variable: &'static str,
        /// The URL asked.
        url: String,
        /// The server's message, with a leading separator, or empty.
        detail: String,
    },
    /// 403: the token is valid but may not read pull requests.
    #[error(
        "the token from {variable} may not read the {items} of `{name}` (403 from {url}){detail}; {hint}"
    )]
    NoReadAccess {
        /// Where the token came from.
        variable: &'static str,
        /// `pull requests` or `merge requests`.
        items: &'static str,
        /// The repository or project.
        name: String,
        /// The URL asked.
        url: String,
        /// The server's message, with a leading separator, or empty.
        detail: String,
        /// The permission to grant.
        hint: &'static str,
    },
    /// 404: no such repository or project, or the token cannot see it.
    #[error(
        "{forge} has no {what} `{name}` that the token can see (404 from {url}); check {name_variable}, and {url_variable} for a self-hosted {forge}"
    )]
    NotFound {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// `repository` or `project`.
        what: &'static str,
        /// The repository or project looked for.
        name: String,
        /// The variable that names it.
        name_variable: &'static str,
        /// The variable that names the API.
        url_variable: &'static str,
        /// The URL asked.
        url: String,
    },
    /// The forge's rate limit is spent and it gave no short wait.
    #[error("{forge} rate limit reached at {url}{detail}; run berth again later")]
    RateLimited {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// The URL asked.
        url: String,
        /// The server's message or reset time, with a leading separator, or empty.
        detail: String,
    },
    /// No connection could be made.
    #[error(
        "cannot reach {url}: {detail}; check {url_variable} and that the forge is reachable from here"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        detail: String,
        /// The variable that names the API.
        url_variable: &'static str,
    },
    /// No answer within the request timeout.
    #[error("GET {url} did not answer within {}s; the forge is slow or unreachable, try again later", REQUEST_TIMEOUT.as_secs())]
    Timeout {
        /// The URL asked.
        url: String,
    },
    /// Any other error status (after retries, for 429 and 5xx).
    #[error("GET {url} answered {status}{detail}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's message, with a leading separator, or empty.
        detail: String,
    },
    /// A success status with a body or headers that are not what the API documents.
    #[error("{url} answered something berth cannot read: {why}")]
    InvalidResponse {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The next page is one already read: following it would never end.
    #[error(
        "the next page after {url} is a page berth has already read; the forge's pagination loops, so berth stops"
    )]
    PaginationLoop {
        /// The page whose next link repeats.
        url: String,
    },
    /// More pages than any real project has open pull requests for.
    #[error("{url} has more than {limit} pages of open pull requests; berth stops there")]
    TooManyPages {
        /// The first page.
        url: String,
        /// The page cap.
        limit: usize,
    },
}

/// Pages berth reads at most: 100,000 open pull requests.
const MAX_PAGES: usize = 1000;
/// One request, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a 429 or 5xx answer.
const RETRIES: u32 = 2;
/// Longest wait before a retry, whatever `Retry-After` asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Longest server message quoted in an error.
const MAX_DETAIL: usize = 200;
/// Sent to both forges; GitHub refuses requests without a `User-Agent`.
const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// The forge-specific words of the status errors.
struct Target<'a> {
    forge: &'static str,
    what: &'static str,
    items: &'static str,
    name: &'a str,
    name_variable: &'static str,
    url_variable: &'static str,
    token_variable: &'static str,
    read_hint: &'static str,
}

impl Target<'_> {
    /// The error for a non-success answer that is not retried.
    fn status_error(
        &self,
        url: &str,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Error {
        let url = url.to_string();
        let detail = server_message(body)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let spent = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        match status {
            401 => Error::TokenRejected {
                forge: self.forge,
                variable: self.token_variable,
                url,
                detail,
            },
            // A 403 is GitHub's rate limit too: the primary one when the quota is spent, the
            // secondary one when it asks for a wait.
            403 | 429 if status == 429 || spent || retry_after(headers).is_some() => {
                Error::RateLimited {
                    forge: self.forge,
                    url,
                    detail,
                }
            }
            403 => Error::NoReadAccess {
                variable: self.token_variable,
                items: self.items,
                name: self.name.to_string(),
                url,
                detail,
                hint: self.read_hint,
            },
            404 => Error::NotFound {
                forge: self.forge,
                what: self.what,
                name: self.name.to_string(),
                name_variable: self.name_variable,
                url_variable: self.url_variable,
                url,
            },
            _ => Error::Status {
                url,
                status,
                detail,
            },
        }
    }
}

/// The `message` (GitHub, GitLab) or `error` (GitLab) of a JSON error body, cut short.
fn server_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = value
        .get("message")
        .or_else(|| value.get("error"))?
        .as_str()?
        .trim();
    if text.is_empty() {
        return None;
    }
    let mut end = text.len().min(MAX_DETAIL);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_string())
}

/// Whether an answer is worth another try: throttling, or a server-side failure.
fn retryable(status: u16, headers: &http::HeaderMap) -> bool {
    // GitHub's secondary rate limit is a 403 with `Retry-After`; a 403 without it is final.
    status == 429
        || (500..600).contains(&status)
        || (status == 403 && retry_after(headers).is_some())
}

/// `Retry-After` as delay seconds or an HTTP date.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// One try of a request: its result, or an error that another try may cure.
enum Attempt<T> {
    Done(T),
    Retry { wait: Option<Duration>, last: Error },
}

/// Runs `attempt` until it is done, fails for good, or has been retried [`RETRIES`] times,
/// waiting as the server asks (at most [`MAX_RETRY_WAIT`]) or 1 s, 2 s between tries.
async fn with_retries<T, F, Fut>(url: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, Error>>,
{
    let mut retries = 0;
    loop {
        match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Retry { last, .. } if retries == RETRIES => return Err(last),
            Attempt::Retry { wait, last } => {
                let wait = wait
                    .unwrap_or(Duration::from_secs(1 << retries))
                    .min(MAX_RETRY_WAIT);
                retries += 1;
                tracing::debug!(url, error = %last, ?wait, "forge request failed, retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// An API base URL, checked: http(s), no credentials in it, no trailing slash.
fn api_base(api_url: &str, variable: &'static str) -> Result<String, Error> {
    let invalid = |why: &str| Error::Invalid {
        why: format!("{variable} `{api_url}` {why}"),
    };
    let parsed = url::Url::parse(api_url).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("must start with https://"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // The URL goes into messages and logs; a token belongs in the token variable.
        return Err(Error::Invalid {
            why: format!(
                "{variable} must not contain credentials; pass the token in its own variable"
            ),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// The token as a header value; a stray newline from a secret file would otherwise surface
/// as a failed request (reqwest) or a panic (octocrab) instead of a message.
fn header_value(prefix: &str, token: &Secret, variable: &str) -> Result<http::HeaderValue, Error> {
    let mut value = http::HeaderValue::from_str(&format!("{prefix}{}", token.expose())).map_err(
        |_| Error::Invalid {
            why: format!(
                "the token in {variable} contains characters an HTTP header cannot carry (a trailing newline?); set it to the bare token"
            ),
        },
    )?;
    value.set_sensitive(true);
    Ok(value)
}

/// A commit id as the API gave it, checked and lowercased.
fn commit_id(sha: &str) -> Option<String> {
    (sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| sha.to_ascii_lowercase())
}

/// The transport error and its causes, for messages.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        // hyper and reqwest often repeat their cause in their own message.
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_quoted_short() {
        assert_eq!(
            server_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
            Some("Bad credentials".to_string())
        );
        assert_eq!(
            server_message(br#"{"error":"insufficient_scope"}"#),
            Some("insufficient_scope".to_string())
        );
        assert_eq!(server_message(b"<html>"), None);
        let long = format!(r#"{{"message":"{}"}}"#, "é".repeat(300));
        assert!(server_message(long.as_bytes()).unwrap().len() <= MAX_DETAIL);
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        assert!(!retryable(403, &http::HeaderMap::new()));
        assert!(retryable(403, &headers));
        assert!(retryable(502, &http::HeaderMap::new()));
        assert!(!retryable(404, &http::HeaderMap::new()));
    }

    #[test]
    fn api_bases_refuse_credentials_and_lose_the_trailing_slash() {
        assert_eq!(
            api_base("https://ghe.example/api/v3/", "GITHUB_API_URL").unwrap(),
            "https://ghe.example/api/v3"
        );
        let err = api_base("https://u:s3cret@ghe.example", "GITHUB_API_URL").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(api_base("ftp://x", "CI_API_V4_URL").is_err());
        assert!(api_base("not a url", "CI_API_V4_URL").is_err());
    }

    #[test]
    fn tokens_with_newlines_are_refused_without_showing_them() {
        let err = header_value("Bearer ", &Secret::new("abc\n"), "GITHUB_TOKEN").unwrap_err();
        assert!(err.to_string().contains("GITHUB_TOKEN"), "{err}");
        assert!(!err.to_string().contains("abc"), "{err}");
        assert!(
            header_value("", &Secret::new("abc"), "X")
                .unwrap()
                .is_sensitive()
        );
    }
}
