//! GitHub REST through octocrab: `GET {api}/repos/{owner}/{repo}/pulls?state=open&per_page=100`,
//! then every `Link: rel="next"` to the end.
//!
//! Pages are fetched with octocrab's raw `_get` and read with its `Page` (which parses `Link`),
//! not with `pulls().list()`: the typed call turns an error answer into a `GitHubError` without
//! its headers, so `Retry-After` and `x-ratelimit-remaining` would be lost, and its
//! `PullRequest` model fails on any field GitHub changes, while berth needs three.

use std::collections::HashSet;

use octocrab::{FromResponse, Octocrab, Page};
use serde::Deserialize;

use super::{
    Attempt, Error, MAX_PAGES, OpenPullRequest, REQUEST_TIMEOUT, Target, api_base, commit_id,
    error_chain, header_value, retry_after, retryable, with_retries,
};
use crate::env_vars;
use crate::secret::Secret;

/// GitHub's largest page.
const PER_PAGE: u32 = 100;
/// Where the token came from, in precedence order (the forge value does not say which).
const TOKEN_VARIABLES: &str = "BERTH_GITHUB_TOKEN or GITHUB_TOKEN";

#[derive(Deserialize)]
struct PullJson {
    number: u64,
    head: HeadJson,
}

#[derive(Deserialize)]
struct HeadJson {
    sha: String,
    #[serde(rename = "ref")]
    branch: String,
}

pub(super) async fn open_pull_requests(
    api_url: &str,
    repository: &str,
    token: &Secret,
) -> Result<Vec<OpenPullRequest>, Error> {
    let api = api_base(api_url, env_vars::GITHUB_API_URL)?;
    let (owner, name) = split_repository(repository)?;
    // octocrab's `personal_token` panics on a token that is not a valid header value.
    header_value("Bearer ", token, TOKEN_VARIABLES)?;
    let client = Octocrab::builder()
        // Besides resolving relative routes (with a GHES path prefix such as `/api/v3`), the
        // base URI is the only host octocrab sends the token to.
        .base_uri(api.as_str())
        .map_err(|e| Error::Invalid {
            why: format!(
                "{} `{api}` is not a usable URL: {e}",
                env_vars::GITHUB_API_URL
            ),
        })?
        .personal_token(token.expose().to_string())
        .add_header(
            http::header::ACCEPT,
            "application/vnd.github+json".to_string(),
        )
        .build()
        .map_err(|e| Error::Invalid {
            why: format!(
                "cannot set up the HTTPS client for {api}: {}",
                error_chain(&e)
            ),
        })?;
    let target = Target {
        forge: "GitHub",
        what: "repository",
        items: "pull requests",
        name: repository,
        name_variable: env_vars::GITHUB_REPOSITORY,
        url_variable: env_vars::GITHUB_API_URL,
        token_variable: TOKEN_VARIABLES,
        read_hint: "give the token read access to pull requests (in Actions `permissions: \
                    pull-requests: read`; a fine-grained token needs \"Pull requests: read\")",
    };

    let first = format!("{api}/repos/{owner}/{name}/pulls?state=open&per_page={PER_PAGE}");
    let mut url = first.clone();
    let mut seen = HashSet::new();
    let mut open = Vec::new();
    loop {
        if seen.len() == MAX_PAGES {
            return Err(Error::TooManyPages {
                url: first,
                limit: MAX_PAGES,
            });
        }
        seen.insert(url.clone());
        let page = with_retries(&url, || fetch(&client, &url, &target)).await?;
        for pr in page.items {
            let head_sha = commit_id(&pr.head.sha).ok_or_else(|| Error::InvalidResponse {
                url: url.clone(),
                why: format!("pull request #{} has head sha `{}`", pr.number, pr.head.sha),
            })?;
            open.push(OpenPullRequest {
                number: pr.number,
                head_sha,
                head_ref: pr.head.branch,
            });
        }
        let Some(next) = page.next else { break };
        let next = next.to_string();
        if seen.contains(&next) {
            return Err(Error::PaginationLoop { url });
        }
        url = next;
    }
    tracing::debug!(
        repository,
        pages = seen.len(),
        open = open.len(),
        "GitHub open pull requests"
    );
    Ok(open)
}

/// `owner/name`, each made of the characters GitHub allows, so neither needs encoding.
fn split_repository(repository: &str) -> Result<(&str, &str), Error> {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match repository.split_once('/') {
        Some((owner, name)) if valid(owner) && valid(name) => Ok((owner, name)),
        _ => Err(Error::Invalid {
            why: format!(
                "{} `{repository}` is not `owner/name`; set it to the repository's owner and name",
                env_vars::GITHUB_REPOSITORY
            ),
        }),
    }
}

/// One page request, body included, within the request timeout.
async fn fetch(
    client: &Octocrab,
    url: &str,
    target: &Target<'_>,
) -> Result<Attempt<Page<PullJson>>, Error> {
    let request = async {
        let response = client._get(url).await.map_err(|e| Error::Unreachable {
            url: url.to_string(),
            detail: error_chain(&e),
            url_variable: env_vars::GITHUB_API_URL,
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            let page = Page::<PullJson>::from_response(response)
                .await
                .map_err(|e| Error::InvalidResponse {
                    url: url.to_string(),
                    why: error_chain(&e),
                })?;
            return Ok(Attempt::Done(page));
        }
        let headers = response.headers().clone();
        // The body only adds GitHub's message; a failure to read it leaves the status.
        let body = client.body_to_string(response).await.unwrap_or_default();
        let error = target.status_error(url, status, &headers, body.as_bytes());
        if retryable(status, &headers) {
            Ok(Attempt::Retry {
                wait: retry_after(&headers),
                last: error,
            })
        } else {
            Err(error)
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, request)
        .await
        .map_err(|_| Error::Timeout {
            url: url.to_string(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_and_name() {
        assert_eq!(
            split_repository("octo-org/hello.world_2").unwrap(),
            ("octo-org", "hello.world_2")
        );
        for bad in ["", "octo", "/x", "x/", "a/b/c", "a/b?c", "a b/c"] {
            let err = split_repository(bad).unwrap_err();
            assert!(err.to_string().contains("GITHUB_REPOSITORY"), "{err}");
        }
    }
}
