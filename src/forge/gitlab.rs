//! GitLab REST through the `gitlab` crate: `GET {api}/projects/:id/merge_requests?state=opened`,
//! all pages.
//!
//! The crate's endpoint types build the request (path encoding of `:id`, parameter names) and
//! `gitlab::api::paged` drives the pages; the HTTP client is berth's own [`Client`] over
//! reqwest, because the crate's clients are blocking-first, speak only `PRIVATE-TOKEN` or
//! OAuth (no `JOB-TOKEN`), and give no say over timeouts or retries. In offset mode `paged`
//! counts pages itself and stops at a short page; the client checks GitLab's pagination
//! headers against that count (a server that ignores `page` or names the same page as next
//! would otherwise be read until the page cap), and ends the walk where `X-Next-Page` is empty.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use gitlab::api::projects::merge_requests::{MergeRequestState, MergeRequests};
use gitlab::api::{self, ApiError, AsyncClient, AsyncQuery, Pagination, RestClient};
use serde::Deserialize;

use super::{
    Attempt, Error, GitLabToken, MAX_PAGES, OpenPullRequest, REQUEST_TIMEOUT, Target, USER_AGENT,
    api_base, commit_id, error_chain, header_value, retry_after, retryable, with_retries,
};
use crate::env_vars;
use crate::secret::Secret;

/// Same-origin redirects followed at most (a moved project answers with one).
const MAX_REDIRECTS: usize = 5;

#[derive(Deserialize)]
struct MergeRequestJson {
    iid: u64,
    /// Null while GitLab has not yet recorded the source branch's head.
    sha: Option<String>,
    source_branch: String,
}

pub(super) async fn open_pull_requests(
    api_url: &str,
    project: &str,
    token: &Secret,
    token_kind: GitLabToken,
) -> Result<Vec<OpenPullRequest>, Error> {
    let api = api_base(api_url, env_vars::CI_API_V4_URL)?;
    if project.is_empty() {
        return Err(Error::Invalid {
            why: format!(
                "the GitLab project is empty; set {} or {}",
                env_vars::CI_PROJECT_ID,
                env_vars::CI_PROJECT_PATH
            ),
        });
    }
    let client = Client::new(&api, project, token, token_kind)?;
    let endpoint = MergeRequests::builder()
        .project(project)
        .state(MergeRequestState::Opened)
        .build()
        .map_err(|e| Error::Invalid {
            why: format!("cannot build the merge-request query for `{project}`: {e}"),
        })?;
    let found: Vec<MergeRequestJson> = api::paged(endpoint, Pagination::All)
        .query_async(&client)
        .await
        .map_err(|e| client.forge_error(e))?;
    let url = client.last_url();
    let open =
        found
            .into_iter()
            .map(|mr| {
                let head_sha = mr.sha.as_deref().and_then(commit_id).ok_or_else(|| {
                    Error::InvalidResponse {
                        url: url.clone(),
                        why: format!(
                            "merge request !{} has head sha {:?}; berth needs it to judge the \
                         merge request's images",
                            mr.iid, mr.sha
                        ),
                    }
                })?;
                Ok(OpenPullRequest {
                    number: mr.iid,
                    head_sha,
                    head_ref: mr.source_branch,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
    tracing::debug!(project, open = open.len(), "GitLab open merge requests");
    Ok(open)
}

/// Carries berth's own error through `gitlab::api::ApiError::Client`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ClientError(Box<Error>);

/// A `gitlab::api` client for one walk over one endpoint's pages.
struct Client<'a> {
    http: reqwest::Client,
    /// The API base with a trailing slash, so endpoints join below it.
    base: url::Url,
    auth: (&'static str, http::HeaderValue),
    target: Target<'a>,
    walk: Mutex<Walk>,
}

/// What the client has seen of the pages so far.
#[derive(Default)]
struct Walk {
    first: Option<String>,
    last: String,
    seen: HashSet<String>,
    /// The previous page said it was the last one.
    ended: bool,
}

impl<'a> Client<'a> {
    fn new(
        api: &str,
        project: &'a str,
        token: &Secret,
        token_kind: GitLabToken,
    ) -> Result<Self, Error> {
        let header = match token_kind {
            GitLabToken::Private => "PRIVATE-TOKEN",
            GitLabToken::Job => "JOB-TOKEN",
        };
        let auth = (header, header_value("", token, token_kind.variable())?);
        let base = url::Url::parse(&format!("{api}/")).map_err(|e| Error::Invalid {
            why: format!("{} `{api}` is not a URL: {e}", env_vars::CI_API_V4_URL),
        })?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            // reqwest drops `Authorization` on a redirect to another host, but not GitLab's own
            // token headers: follow only redirects that stay on the API's origin.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_origin = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .map_err(|e| Error::Invalid {
                why: format!(
                    "cannot set up the HTTPS client for {api}: {}",
                    error_chain(&e)
                ),
            })?;
        let read_hint = match token_kind {
            GitLabToken::Private => {
                "use a token that can read the project's merge requests: a project access token \
                 with the read_api scope and at least the Reporter role"
            }
            GitLabToken::Job => {
                "this GitLab may not let the CI job token read merge requests; set \
                 BERTH_GITLAB_TOKEN to a project access token with the read_api scope"
            }
        };
        Ok(Client {
            http,
            base,
            auth,
            target: Target {
                forge: "GitLab",
                what: "project",
                items: "merge requests",
                name: project,
                name_variable: "CI_PROJECT_ID (or CI_PROJECT_PATH)",
                url_variable: env_vars::CI_API_V4_URL,
                token_variable: token_kind.variable(),
                read_hint,
            },
            walk: Mutex::new(Walk::default()),
        })
    }

    fn last_url(&self) -> String {
        self.walk.lock().expect("walk lock").last.clone()
    }

    /// berth's error from what `paged` returned: the client's own, or a body it cannot read.
    fn forge_error(&self, error: ApiError<ClientError>) -> Error {
        match error {
            ApiError::Client { source } => *source.0,
            other => Error::InvalidResponse {
                url: self.last_url(),
                why: error_chain(&other),
            },
        }
    }

    async fn send(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, Error> {
        let request = request.body(body).map_err(|e| Error::Invalid {
            why: format!("cannot build a GitLab request: {e}"),
        })?;
        let url = request.uri().to_string();
        {
            let mut walk = self.walk.lock().expect("walk lock");
            if walk.ended {
                // `paged` asks once more after a full last page; GitLab already said it was last.
                return Ok(http::Response::new(Bytes::from_static(b"[]")));
            }
            if walk.seen.len() == MAX_PAGES {
                return Err(Error::TooManyPages {
                    url: walk.first.clone().unwrap_or(url),
                    limit: MAX_PAGES,
                });
            }
            walk.first.get_or_insert_with(|| url.clone());
            walk.seen.insert(url.clone());
            walk.last = url.clone();
        }
        let (parts, body) = request.into_parts();
        let (status, headers, body) = with_retries(&url, || async {
            let sent = self
                .http
                .request(parts.method.clone(), url.as_str())
                .headers(parts.headers.clone())
                .header(self.auth.0, self.auth.1.clone())
                .body(body.clone())
                .send()
                .await;
            let response = sent.map_err(|e| self.transport_error(&url, &e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&url, &e))?;
            if (200..300).contains(&status) {
                return Ok(Attempt::Done((status, headers, body)));
            }
            let error = self.target.status_error(&url, status, &headers, &body);
            if retryable(status, &headers) {
                Ok(Attempt::Retry {
                    wait: retry_after(&headers),
                    last: error,
                })
            } else {
                Err(error)
            }
        })
        .await?;
        self.check_pagination(&url, &headers)?;
        let mut response = http::Response::new(body);
        *response.status_mut() = http::StatusCode::from_u16(status).expect("a status reqwest read");
        *response.headers_mut() = headers;
        Ok(response)
    }

    /// Compares the page GitLab says it served and the page it names as next with the page
    /// asked for; notes the end of the walk.
    fn check_pagination(&self, url: &str, headers: &http::HeaderMap) -> Result<(), Error> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let asked = page_of(url);
        let served = header("x-page").and_then(|p| p.parse::<u64>().ok());
        let next = header("x-next-page");
        let next_number = next.and_then(|p| p.parse::<u64>().ok());
        let linked_next = header("link")
            .and_then(next_link)
            .and_then(|link| url::Url::parse(url).ok()?.join(link).ok())
            .and_then(|link| page_of(link.as_str()));
        let repeats = |page: Option<u64>| asked.is_some() && page == asked;
        let ignored_page = asked.is_some() && served.is_some() && served != asked;
        if ignored_page || repeats(next_number) || repeats(linked_next) {
            return Err(Error::PaginationLoop {
                url: url.to_string(),
            });
        }
        if next == Some("") {
            self.walk.lock().expect("walk lock").ended = true;
        }
        Ok(())
    }

    fn transport_error(&self, url: &str, error: &reqwest::Error) -> Error {
        if error.is_timeout() {
            Error::Timeout {
                url: url.to_string(),
            }
        } else {
            Error::Unreachable {
                url: url.to_string(),
                detail: error_chain(error),
                url_variable: env_vars::CI_API_V4_URL,
            }
        }
    }
}

impl RestClient for Client<'_> {
    type Error = ClientError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<url::Url, ApiError<Self::Error>> {
        Ok(self.base.join(endpoint)?)
    }
}

#[async_trait]
impl AsyncClient for Client<'_> {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<Self::Error>> {
        self.send(request, body)
            .await
            .map_err(|e| ApiError::client(ClientError(Box::new(e))))
    }
}

/// The `page` query parameter of a URL.
fn page_of(url: &str) -> Option<u64> {
    let url = url::Url::parse(url).ok()?;
    let page = url.query_pairs().find(|(k, _)| k == "page")?.1;
    page.parse().ok()
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|entry| {
        let (target, params) = entry.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .strip_prefix("rel=")
                .is_some_and(|rel| rel.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        let link = r#"<https://gl.example/api/v4/projects/1/merge_requests?page=2&per_page=100>; rel="next", <https://gl.example/api/v4/projects/1/merge_requests?page=1&per_page=100>; rel="first""#;
        let next = next_link(link).unwrap();
        assert_eq!(page_of(next), Some(2));
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="first""#), None);
        assert_eq!(page_of("https://x/?per_page=3"), None);
    }
}
