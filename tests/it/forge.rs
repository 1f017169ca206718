//! The forge adapter against the loopback fakes of GitHub's and GitLab's pull-request APIs
//! (`harness::forge`), and `forge::from_env`.

use std::collections::HashMap;

use berth::forge::{self, Error, Forge, GitLabToken, OpenPullRequest};
use berth::secret::Secret;

use crate::harness::forge::{
    ForgeFake, GITHUB_REPOSITORY, GITHUB_TOKEN, GITLAB_JOB_TOKEN, GITLAB_PRIVATE_TOKEN,
    GITLAB_PROJECT_ID, GITLAB_PROJECT_PATH, Pr, PrState, fake_sha,
};

/// `count` open pull requests #1..=count, plus closed and merged ones the listing must skip.
fn prs(count: u64) -> Vec<Pr> {
    let mut prs: Vec<Pr> = (1..=count)
        .map(|n| Pr::open(n, &format!("feature/{n}")))
        .collect();
    prs.push(Pr::open(count + 1, "closed").with_state(PrState::Closed));
    prs.push(Pr::open(count + 2, "merged").with_state(PrState::Merged));
    prs
}

fn github(fake: &ForgeFake, token: &str) -> Forge {
    Forge::GitHub {
        api_url: fake.url(),
        repository: GITHUB_REPOSITORY.to_string(),
        token: Secret::new(token),
    }
}

fn gitlab(fake: &ForgeFake, project: &str, token: &str, token_kind: GitLabToken) -> Forge {
    Forge::GitLab {
        api_url: fake.url(),
        project: project.to_string(),
        token: Secret::new(token),
        token_kind,
    }
}

fn numbers(open: &[OpenPullRequest]) -> Vec<u64> {
    let mut numbers: Vec<u64> = open.iter().map(|pr| pr.number).collect();
    numbers.sort_unstable();
    numbers
}

/// The error's message, checked to carry none of the fakes' tokens.
fn message(error: Error) -> String {
    let text = error.to_string();
    for token in [
        GITHUB_TOKEN,
        GITLAB_PRIVATE_TOKEN,
        GITLAB_JOB_TOKEN,
        "wrong-token-0123",
    ] {
        assert!(!text.contains(token), "the message shows a token: {text}");
    }
    text
}

#[tokio::test]
async fn forge_github_lists_open_pull_requests_across_pages() {
    let fake = ForgeFake::github(prs(250));
    let open = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap();
    assert_eq!(numbers(&open), (1..=250).collect::<Vec<_>>());
    let pr7 = open.iter().find(|pr| pr.number == 7).unwrap();
    assert_eq!(pr7.head_sha, fake_sha(7));
    assert_eq!(pr7.head_ref, "feature/7");
    fake.assert_no_unexpected();
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(
        requests[0].path,
        format!("/repos/{GITHUB_REPOSITORY}/pulls?state=open&per_page=100")
    );
    assert!(requests[2].path.ends_with("&page=3"), "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|r| r.auth.as_deref() == Some("authorization") && r.status == 200)
    );

    // A closed pull request drops out of the next listing.
    fake.close(7);
    let open = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap();
    assert_eq!(open.len(), 249);
    assert!(open.iter().all(|pr| pr.number != 7));
}

#[tokio::test]
async fn forge_github_enterprise_base_url_keeps_its_path_prefix() {
    let fake = ForgeFake::github_enterprise(prs(150));
    assert!(fake.url().ends_with("/api/v3"));
    let open = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap();
    assert_eq!(open.len(), 150);
    fake.assert_no_unexpected();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.path.starts_with("/api/v3/repos/") && r.auth.is_some()),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn forge_github_rejected_token_names_the_variables() {
    let fake = ForgeFake::github(prs(3));
    let err = forge::open_pull_requests(&github(&fake, "wrong-token-0123"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TokenRejected { .. }), "{err:?}");
    let text = message(err);
    assert!(
        text.contains("BERTH_GITHUB_TOKEN or GITHUB_TOKEN"),
        "{text}"
    );
    assert!(
        text.contains("401") && text.contains("Bad credentials"),
        "{text}"
    );
    // 401 is final: no retries.
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn forge_github_token_without_read_access_says_which_permission() {
    let fake = ForgeFake::github(prs(3));
    fake.deny_read();
    let err = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap_err();
    let text = message(err);
    assert!(text.contains("pull-requests: read"), "{text}");
    assert!(text.contains(GITHUB_REPOSITORY), "{text}");
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn forge_github_unknown_repository_is_named() {
    let fake = ForgeFake::github(prs(3));
    let forge = Forge::GitHub {
        api_url: fake.url(),
        repository: "octo-org/missing".to_string(),
        token: Secret::new(GITHUB_TOKEN),
    };
    let err = forge::open_pull_requests(&forge).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let text = message(err);
    assert!(text.contains("`octo-org/missing`"), "{text}");
    assert!(text.contains("GITHUB_REPOSITORY"), "{text}");
}

#[tokio::test]
async fn forge_github_self_referencing_next_page_is_an_error() {
    let fake = ForgeFake::github(prs(250));
    fake.loop_pagination();
    let err = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PaginationLoop { .. }), "{err:?}");
    let text = message(err);
    assert!(
        text.contains(&fake.url()) && text.contains("page=1"),
        "{text}"
    );
    // The first page's next is `&page=1` (a new URL), whose next is itself.
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn forge_github_retries_throttling_and_server_errors() {
    let fake = ForgeFake::github(prs(120));
    fake.fail_next(503, 1, None);
    fake.fail_next(429, 1, Some("0"));
    let open = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap();
    assert_eq!(open.len(), 120);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 429, 200, 200]);

    // Two retries, then the error.
    fake.fail_next(429, 3, Some("0"));
    let err = forge::open_pull_requests(&github(&fake, GITHUB_TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert_eq!(fake.request_count(), 4 + 3);
}

#[tokio::test]
async fn forge_unreachable_api_names_the_url() {
    let fake = ForgeFake::github(Vec::new());
    let forge = github(&fake, GITHUB_TOKEN);
    let url = fake.url();
    drop(fake);
    let err = forge::open_pull_requests(&forge).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let text = message(err);
    assert!(
        text.contains(&url) && text.contains("GITHUB_API_URL"),
        "{text}"
    );
}

#[tokio::test]
async fn forge_github_malformed_inputs_are_refused_before_any_request() {
    let fake = ForgeFake::github(prs(1));
    let err = forge::open_pull_requests(&github(&fake, "token-with-newline\n"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("GITHUB_TOKEN") && !text.contains("token-with-newline"),
        "{text}"
    );
    let forge = Forge::GitHub {
        api_url: fake.url(),
        repository: "just-a-name".to_string(),
        token: Secret::new(GITHUB_TOKEN),
    };
    let text = forge::open_pull_requests(&forge)
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("GITHUB_REPOSITORY"), "{text}");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn forge_gitlab_lists_open_merge_requests_by_project_path() {
    let fake = ForgeFake::gitlab(prs(250));
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_PRIVATE_TOKEN,
        GitLabToken::Private,
    );
    let open = forge::open_pull_requests(&forge).await.unwrap();
    assert_eq!(numbers(&open), (1..=250).collect::<Vec<_>>());
    let mr9 = open.iter().find(|pr| pr.number == 9).unwrap();
    assert_eq!(mr9.head_sha, fake_sha(9));
    assert_eq!(mr9.head_ref, "feature/9");
    fake.assert_no_unexpected();
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for (i, request) in requests.iter().enumerate() {
        assert!(
            request
                .path
                .starts_with("/api/v4/projects/group%2Fsub%2Fproj/merge_requests?"),
            "{request:?}"
        );
        assert!(request.path.contains("state=opened"), "{request:?}");
        assert!(request.path.contains("per_page=100"), "{request:?}");
        assert!(
            request.path.contains(&format!("page={}", i + 1)),
            "{request:?}"
        );
        assert_eq!(request.auth.as_deref(), Some("private-token"));
    }

    fake.merge(9);
    fake.set_head(10, &"ab".repeat(20));
    let open = forge::open_pull_requests(&forge).await.unwrap();
    assert_eq!(open.len(), 249);
    let mr10 = open.iter().find(|pr| pr.number == 10).unwrap();
    assert_eq!(mr10.head_sha, "ab".repeat(20));
}

#[tokio::test]
async fn forge_gitlab_project_id_with_the_job_token() {
    let fake = ForgeFake::gitlab(prs(5));
    let forge = gitlab(
        &fake,
        &GITLAB_PROJECT_ID.to_string(),
        GITLAB_JOB_TOKEN,
        GitLabToken::Job,
    );
    let open = forge::open_pull_requests(&forge).await.unwrap();
    assert_eq!(numbers(&open), [1, 2, 3, 4, 5]);
    fake.assert_no_unexpected();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0]
            .path
            .starts_with("/api/v4/projects/4242/merge_requests?")
    );
    assert_eq!(requests[0].auth.as_deref(), Some("job-token"));
}

#[tokio::test]
async fn forge_gitlab_stops_where_the_last_page_says_so() {
    // Two full pages: `paged` would ask for a third; X-Next-Page is empty on the second.
    let fake = ForgeFake::gitlab(prs(200));
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_PRIVATE_TOKEN,
        GitLabToken::Private,
    );
    assert_eq!(forge::open_pull_requests(&forge).await.unwrap().len(), 200);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn forge_gitlab_token_errors_name_the_variable() {
    let fake = ForgeFake::gitlab(prs(3));
    // A job token sent as PRIVATE-TOKEN is refused, as GitLab does.
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_JOB_TOKEN,
        GitLabToken::Private,
    );
    let text = message(forge::open_pull_requests(&forge).await.unwrap_err());
    assert!(
        text.contains("BERTH_GITLAB_TOKEN") && text.contains("401"),
        "{text}"
    );
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        "wrong-token-0123",
        GitLabToken::Job,
    );
    let text = message(forge::open_pull_requests(&forge).await.unwrap_err());
    assert!(text.contains("CI_JOB_TOKEN"), "{text}");

    fake.deny_read();
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_PRIVATE_TOKEN,
        GitLabToken::Private,
    );
    let text = message(forge::open_pull_requests(&forge).await.unwrap_err());
    assert!(
        text.contains("read_api") && text.contains(GITLAB_PROJECT_PATH),
        "{text}"
    );
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_JOB_TOKEN,
        GitLabToken::Job,
    );
    let text = message(forge::open_pull_requests(&forge).await.unwrap_err());
    assert!(
        text.contains("BERTH_GITLAB_TOKEN") && text.contains("read_api"),
        "{text}"
    );
    assert_eq!(fake.request_count(), 4);
}

#[tokio::test]
async fn forge_gitlab_unknown_project_is_named() {
    let fake = ForgeFake::gitlab(prs(3));
    let forge = gitlab(
        &fake,
        "group/other",
        GITLAB_PRIVATE_TOKEN,
        GitLabToken::Private,
    );
    let err = forge::open_pull_requests(&forge).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let text = message(err);
    assert!(
        text.contains("`group/other`") && text.contains("CI_PROJECT_ID"),
        "{text}"
    );
    fake.assert_no_unexpected();
}

#[tokio::test]
async fn forge_gitlab_self_referencing_next_page_is_an_error() {
    let fake = ForgeFake::gitlab(prs(250));
    fake.loop_pagination();
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_PRIVATE_TOKEN,
        GitLabToken::Private,
    );
    let err = forge::open_pull_requests(&forge).await.unwrap_err();
    assert!(matches!(err, Error::PaginationLoop { .. }), "{err:?}");
    assert!(message(err).contains(&fake.url()));
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn forge_gitlab_retries_a_server_error() {
    let fake = ForgeFake::gitlab(prs(3));
    fake.fail_next(502, 2, Some("0"));
    let forge = gitlab(
        &fake,
        GITLAB_PROJECT_PATH,
        GITLAB_PRIVATE_TOKEN,
        GitLabToken::Private,
    );
    assert_eq!(forge::open_pull_requests(&forge).await.unwrap().len(), 3);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 502, 200]);
}

#[tokio::test]
async fn forge_from_env_points_at_the_fakes() {
    for fake in [ForgeFake::github(prs(3)), ForgeFake::gitlab(prs(3))] {
        let env: HashMap<&str, String> = fake.env().into_iter().collect();
        let forge = forge::from_env(&|name| env.get(name).cloned()).unwrap();
        assert_eq!(forge::open_pull_requests(&forge).await.unwrap().len(), 3);
        fake.assert_no_unexpected();
    }
}

/// Variables set, and what `from_env` makes of them (`Err`: the message).
type Case = (
    &'static [(&'static str, &'static str)],
    Result<Forge, String>,
);

#[test]
fn forge_from_env_table() {
    let gh = |api: &str, token: &str| -> Result<Forge, String> {
        Ok(Forge::GitHub {
            api_url: api.to_string(),
            repository: "o/r".to_string(),
            token: Secret::new(token),
        })
    };
    let gl = |api: &str, project: &str, token: &str, token_kind| -> Result<Forge, String> {
        Ok(Forge::GitLab {
            api_url: api.to_string(),
            project: project.to_string(),
            token: Secret::new(token),
            token_kind,
        })
    };
    const GH: &str = "https://api.github.com";
    const GL: &str = "https://gitlab.com/api/v4";
    let none = "set GITHUB_REPOSITORY and BERTH_GITHUB_TOKEN (GitHub) or CI_PROJECT_ID and BERTH_GITLAB_TOKEN (GitLab)";
    let gh_no_token = "GITHUB_REPOSITORY is set but no token: set BERTH_GITHUB_TOKEN or GITHUB_TOKEN (the Actions token can read pull requests)";
    let gl_no_token = |var: &str| {
        format!(
            "{var} is set but no token: set BERTH_GITLAB_TOKEN (a project access token with read_api) or CI_JOB_TOKEN"
        )
    };
    use GitLabToken::{Job, Private};
    let cases: Vec<Case> = vec![
        (&[], Err(none.to_string())),
        (
            &[("GITHUB_TOKEN", "t"), ("CI_JOB_TOKEN", "j")],
            Err(none.to_string()),
        ),
        (
            &[("GITHUB_REPOSITORY", ""), ("CI_PROJECT_ID", "")],
            Err(none.to_string()),
        ),
        (
            &[("GITHUB_REPOSITORY", "o/r")],
            Err(gh_no_token.to_string()),
        ),
        (
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", ""),
                ("BERTH_GITHUB_TOKEN", ""),
            ],
            Err(gh_no_token.to_string()),
        ),
        (
            &[("GITHUB_REPOSITORY", "o/r"), ("GITHUB_TOKEN", "t")],
            gh(GH, "t"),
        ),
        (
            &[("GITHUB_REPOSITORY", "o/r"), ("BERTH_GITHUB_TOKEN", "b")],
            gh(GH, "b"),
        ),
        (
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", "t"),
                ("BERTH_GITHUB_TOKEN", "b"),
            ],
            gh(GH, "b"),
        ),
        (
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", "t"),
                ("BERTH_GITHUB_TOKEN", ""),
            ],
            gh(GH, "t"),
        ),
        (
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", "t"),
                ("GITHUB_API_URL", "https://ghe.example/api/v3"),
            ],
            gh("https://ghe.example/api/v3", "t"),
        ),
        (
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", "t"),
                ("GITHUB_API_URL", ""),
            ],
            gh(GH, "t"),
        ),
        // GitHub wins when both are described.
        (
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", "t"),
                ("CI_PROJECT_ID", "7"),
                ("CI_JOB_TOKEN", "j"),
            ],
            gh(GH, "t"),
        ),
        (
            &[
                ("GITHUB_REPOSITORY", ""),
                ("CI_PROJECT_ID", "7"),
                ("CI_JOB_TOKEN", "j"),
            ],
            gl(GL, "7", "j", Job),
        ),
        (&[("CI_PROJECT_ID", "7")], Err(gl_no_token("CI_PROJECT_ID"))),
        (
            &[("CI_PROJECT_PATH", "g/p")],
            Err(gl_no_token("CI_PROJECT_PATH")),
        ),
        (
            &[
                ("CI_PROJECT_PATH", "g/p"),
                ("CI_JOB_TOKEN", ""),
                ("BERTH_GITLAB_TOKEN", ""),
            ],
            Err(gl_no_token("CI_PROJECT_PATH")),
        ),
        (
            &[("CI_PROJECT_PATH", "g/p"), ("CI_JOB_TOKEN", "j")],
            gl(GL, "g/p", "j", Job),
        ),
        (
            &[("CI_PROJECT_PATH", "g/p"), ("BERTH_GITLAB_TOKEN", "p")],
            gl(GL, "g/p", "p", Private),
        ),
        (
            &[
                ("CI_PROJECT_PATH", "g/p"),
                ("BERTH_GITLAB_TOKEN", "p"),
                ("CI_JOB_TOKEN", "j"),
            ],
            gl(GL, "g/p", "p", Private),
        ),
        (
            &[
                ("CI_PROJECT_PATH", "g/p"),
                ("BERTH_GITLAB_TOKEN", ""),
                ("CI_JOB_TOKEN", "j"),
            ],
            gl(GL, "g/p", "j", Job),
        ),
        (
            &[
                ("CI_PROJECT_ID", "7"),
                ("CI_PROJECT_PATH", "g/p"),
                ("CI_JOB_TOKEN", "j"),
            ],
            gl(GL, "7", "j", Job),
        ),
        (
            &[
                ("CI_PROJECT_ID", ""),
                ("CI_PROJECT_PATH", "g/p"),
                ("CI_JOB_TOKEN", "j"),
            ],
            gl(GL, "g/p", "j", Job),
        ),
        (
            &[
                ("CI_PROJECT_ID", "7"),
                ("CI_JOB_TOKEN", "j"),
                ("CI_API_V4_URL", "https://gl.example/api/v4"),
            ],
            gl("https://gl.example/api/v4", "7", "j", Job),
        ),
        (
            &[
                ("CI_PROJECT_ID", "7"),
                ("CI_JOB_TOKEN", "j"),
                ("CI_API_V4_URL", ""),
            ],
            gl(GL, "7", "j", Job),
        ),
    ];
    for (vars, expected) in cases {
        let env: HashMap<&str, &str> = vars.iter().copied().collect();
        let got = forge::from_env(&|name| env.get(name).map(|v| v.to_string()))
            .map_err(|unavailable| unavailable.to_string());
        assert_eq!(got, expected, "env {vars:?}");
    }
}
