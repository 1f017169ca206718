//! Every environment variable berth reads, as documented constants.
//!
//! berth's own flags have `BERTH_<FLAG>` twins declared on the clap structs in `cli`; this list
//! names the variables of other programs (docker, the CI systems) that berth reads or writes.

/// Directory of the docker client configuration (`config.json`).
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// A complete docker `config.json` as JSON text (GitLab runners set it).
pub const DOCKER_AUTH_CONFIG: &str = "DOCKER_AUTH_CONFIG";
/// Home directory; `~/.docker` is the docker config fallback.
pub const HOME: &str = "HOME";
/// Base directory of berth's cache (`$XDG_CACHE_HOME/berth`), else `~/.cache/berth`.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// Log filter in `tracing_subscriber` syntax; overrides `-v`.
pub const RUST_LOG: &str = "RUST_LOG";
/// Set by most CI systems; turns on CI behaviour (fetch by default, periodic progress lines),
/// as do the marker variables of the CI systems berth detects (`GITHUB_ACTIONS`, `GITLAB_CI`,
/// `JENKINS_URL`), which also turn it on where `CI` is not set.
pub const CI: &str = "CI";

/// `true` inside GitHub Actions; turns on CI behaviour like `CI`.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// File that collects `KEY=value` lines for later steps of a GitHub Actions job.
pub const GITHUB_ENV: &str = "GITHUB_ENV";
/// File that collects step outputs in GitHub Actions.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// File whose markdown GitHub shows on the run's summary page.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// `true` inside GitLab CI; turns on CI behaviour like `CI`.
pub const GITLAB_CI: &str = "GITLAB_CI";
/// Set inside Jenkins jobs (which do not set `CI`); turns on CI behaviour like `CI`.
pub const JENKINS_URL: &str = "JENKINS_URL";

/// Registry repository that berth pushes to / cleans (exported by `ci-env`).
pub const BERTH_REPO: &str = "BERTH_REPO";
/// User name for `BERTH_REPO` (Jenkins `withCredentials`, generic CI).
pub const BERTH_REPO_USERNAME: &str = "BERTH_REPO_USERNAME";
/// Password or token for `BERTH_REPO`.
pub const BERTH_REPO_PASSWORD: &str = "BERTH_REPO_PASSWORD";
/// The CI's own registry host for `ci-env`'s login with the CI token, when it is not the one
/// berth derives (`ghcr.io` / `containers.<GHES host>` on GitHub, `CI_REGISTRY` on GitLab).
pub const BERTH_CI_REGISTRY: &str = "BERTH_CI_REGISTRY";
/// Password for `berth login` when `--password-stdin` is not given.
pub const BERTH_PASSWORD: &str = "BERTH_PASSWORD";

/// `owner/name` of the repository a GitHub Actions job runs for; tells berth the forge is GitHub.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// REST API base of the GitHub instance (`https://api.github.com`, GHES `https://<host>/api/v3`).
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
/// The Actions job token; reads pull requests when no `BERTH_GITHUB_TOKEN` is set.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// A GitHub token for berth's own API calls (pull-request state, GitHub Packages versions);
/// wins over `GITHUB_TOKEN`.
pub const BERTH_GITHUB_TOKEN: &str = "BERTH_GITHUB_TOKEN";
/// Numeric id of the GitLab project a job runs for; tells berth the forge is GitLab.
pub const CI_PROJECT_ID: &str = "CI_PROJECT_ID";
/// `group/sub/project` path of the GitLab project; used when `CI_PROJECT_ID` is unset.
pub const CI_PROJECT_PATH: &str = "CI_PROJECT_PATH";
/// REST API base of the GitLab instance (`https://gitlab.com/api/v4`).
pub const CI_API_V4_URL: &str = "CI_API_V4_URL";
/// A GitLab token sent as `PRIVATE-TOKEN` (personal or project access token with `read_api`).
pub const BERTH_GITLAB_TOKEN: &str = "BERTH_GITLAB_TOKEN";
/// The GitLab job token, sent as `JOB-TOKEN` when no `BERTH_GITLAB_TOKEN` is set.
pub const CI_JOB_TOKEN: &str = "CI_JOB_TOKEN";
/// The registry host of a GitLab job's project (`registry.gitlab.com`, `gitlab.example.com:5050`);
/// in a GitLab job that host is detected as GitLab's registry whatever its name.
pub const CI_REGISTRY: &str = "CI_REGISTRY";
/// GraphQL endpoint of the GitHub instance (`https://api.github.com/graphql`), for the legacy
/// docker.pkg.github.com packages.
pub const GITHUB_GRAPHQL_URL: &str = "GITHUB_GRAPHQL_URL";
/// Which GitHub Packages API berth uses: `rest` (ghcr.io's package versions) or `graphql`
/// (the legacy docker.pkg.github.com packages); default `graphql` on docker.pkg.github.com,
/// `rest` elsewhere. Lets a GitHub Enterprise Server's legacy registry host use GraphQL.
pub const BERTH_GITHUB_PACKAGES_API: &str = "BERTH_GITHUB_PACKAGES_API";
/// The registry implementation (`auto`, `default`, `dockerhub`, `github`, `gitlab`, …): the
/// env twin of `--container-registry`; `ci-env` exports it when it knows.
pub const BERTH_CONTAINER_REGISTRY: &str = "BERTH_CONTAINER_REGISTRY";
/// Docker Hub API base (`https://hub.docker.com`), for mirrors and tests.
pub const BERTH_DOCKERHUB_API_URL: &str = "BERTH_DOCKERHUB_API_URL";
/// A Docker Hub API token (JWT or access token) for listing and deleting tags.
pub const BERTH_DOCKERHUB_TOKEN: &str = "BERTH_DOCKERHUB_TOKEN";
/// Docker Hub user for the Hub API login (with `BERTH_DOCKERHUB_PASSWORD`).
pub const BERTH_DOCKERHUB_USERNAME: &str = "BERTH_DOCKERHUB_USERNAME";
/// Docker Hub password or personal access token (scope Read, Write, Delete to delete tags).
pub const BERTH_DOCKERHUB_PASSWORD: &str = "BERTH_DOCKERHUB_PASSWORD";
/// Harbor API base (`https://<registry host>/api/v2.0` by default), for a Harbor whose API is
/// served on another host or path, and for tests.
pub const BERTH_HARBOR_API_URL: &str = "BERTH_HARBOR_API_URL";
/// Quay API base (default `https://<registry host>`), for Red Hat Quay behind another host
/// and for tests.
pub const BERTH_QUAY_API_URL: &str = "BERTH_QUAY_API_URL";
/// A Quay OAuth application token (scopes `repo:read`, and `repo:write` to delete tags); without
/// it berth uses the Distribution API only (no push times, one manifest request per tag).
pub const BERTH_QUAY_TOKEN: &str = "BERTH_QUAY_TOKEN";
/// Azure AD application (client) id: with `AZURE_CLIENT_SECRET` a service principal, with
/// `AZURE_FEDERATED_TOKEN_FILE` a workload identity; berth's AAD login to ACR uses it when the
/// docker config has no login for the registry.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// The service principal's client secret (client-credentials grant).
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// The Azure AD tenant (directory) id of the identity; also sent to ACR's `/oauth2/exchange`.
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// Azure AD authority (default `https://login.microsoftonline.com`; sovereign clouds and tests
/// set another): tokens come from `<host>/<tenant>/oauth2/v2.0/token`.
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
/// A file holding a federated (OIDC) token for workload identity (AKS, GitHub Actions OIDC),
/// sent as the client assertion.
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// A Google OAuth access token (`gcloud auth print-access-token`), the registry login for gcr.io
/// and Artifact Registry (`oauth2accesstoken`) when the docker config has none for the host.
pub const GOOGLE_OAUTH_ACCESS_TOKEN: &str = "GOOGLE_OAUTH_ACCESS_TOKEN";
/// A Google service-account key file (JSON), traded at its `token_uri` for an access token
/// when the docker config and `GOOGLE_OAUTH_ACCESS_TOKEN` give no login for a Google registry.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Written by `ci-env` when berth.yaml lists `images:`: the images, comma-separated (`~` for
/// the unnamed one), e.g. `frontend,backend`; no spaces or quotes, so GitLab's dotenv keeps it.
pub const BERTH_IMAGE_NAMES: &str = "BERTH_IMAGE_NAMES";
/// Written by `ci-env` per image as `BERTH_IMAGE_REFS_<IMAGE>` (the name uppercased, every
/// other character `_`; the unnamed image's is `BERTH_IMAGE_REFS` itself): the full
/// references this build is pushed as, comma-separated, under the repo mode
/// (`REPO/frontend:sha-1a2b3c4,REPO/frontend:main` or `REPO:frontend-sha-1a2b3c4,…`).
pub const BERTH_IMAGE_REFS: &str = "BERTH_IMAGE_REFS";
