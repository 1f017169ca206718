//! Errors of the registry adapter. Every message names the input (reference, host, URL or
//! file) and says what to do next. Secrets never appear in them: request URLs carry no
//! credentials, and bodies quoted from servers are cut short.

use std::path::PathBuf;

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest string that is not `sha256:<64 hex>`.
    #[error("`{digest}` is not a valid digest: {why}")]
    InvalidDigest {
        /// The text given.
        digest: String,
        /// What is wrong with it.
        why: String,
    },
    /// A manifest body that is not a manifest.
    #[error("invalid manifest: {why}")]
    InvalidManifest {
        /// What is wrong with it.
        why: String,
    },
    /// An image reference that does not follow docker's grammar.
    #[error(
        "`{reference}` is not a valid image reference: {why} (expected e.g. `nginx`, `ghcr.io/owner/app` or `localhost:5000/team/app`)"
    )]
    InvalidReference {
        /// The text given.
        reference: String,
        /// What is wrong with it.
        why: String,
    },
    /// No connection could be made (refused, DNS, reset).
    #[error(
        "cannot reach the registry at {url}: {detail}; check the host name and port, and that the registry is running and reachable from here"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The TLS handshake failed (untrusted or mismatched certificate, or a plain-HTTP server).
    #[error(
        "TLS connection to {host} failed: {detail}; if this is a private registry with its own certificate or plain HTTP, pass `--insecure-registry {host}`"
    )]
    Tls {
        /// The registry host.
        host: String,
        /// The TLS error.
        detail: String,
    },
    /// A request took longer than the timeout.
    #[error("{method} {url} timed out; the registry is slow or unreachable, try again later")]
    Timeout {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
    },
    /// `/v2/` is not there: the host serves something other than a registry API.
    #[error(
        "{host} does not serve the registry API (GET {url} answered {status}); check the host name (for Docker Hub use `docker.io`)"
    )]
    NotARegistry {
        /// The host.
        host: String,
        /// The URL of `/v2/`.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The registry or its token service rejected the credentials.
    #[error(
        "{host} rejected the credentials of `{username}`{detail}; check the user name and password or token (docker config, `berth login`, or the CI's registry variables)"
    )]
    WrongCredentials {
        /// The registry host.
        host: String,
        /// The user name sent.
        username: String,
        /// Extra text from the server, with a leading separator, or empty.
        detail: String,
    },
    /// Authentication is needed and berth has no credentials for the host.
    #[error(
        "{host} requires authentication for {what} and no credentials were found; run `berth login {host}` or `docker login {host}`, or set DOCKER_CONFIG to a config that has them"
    )]
    NoCredentials {
        /// The registry host.
        host: String,
        /// What was being accessed.
        what: String,
    },
    /// Logged in, but not allowed to do this.
    #[error(
        "{host} denied {action} on `{repository}`{detail}; the credentials lack that permission (a token without the `{action}` scope, or a read-only account): use credentials with {action} rights on this repository"
    )]
    Denied {
        /// The registry host.
        host: String,
        /// Repository path.
        repository: String,
        /// The action: pull, push or delete.
        action: String,
        /// Extra text from the server, with a leading separator, or empty.
        detail: String,
    },
    /// The token service failed or answered something that is not a token.
    #[error("token service {realm} for {host} failed: {why}")]
    TokenService {
        /// The registry host.
        host: String,
        /// The token service URL.
        realm: String,
        /// What went wrong.
        why: String,
    },
    /// The repository, tag, manifest or blob does not exist.
    #[error("{what} not found on {host}{detail}")]
    NotFound {
        /// The registry host.
        host: String,
        /// What was looked for.
        what: String,
        /// Extra text from the server, with a leading separator, or empty.
        detail: String,
    },
    /// The registry does not support this operation (e.g. deletes disabled).
    #[error("{host} does not allow {operation}{detail}; {hint}")]
    Unsupported {
        /// The registry host.
        host: String,
        /// What was attempted.
        operation: String,
        /// Extra text from the server, with a leading separator, or empty.
        detail: String,
        /// What to do about it.
        hint: String,
    },
    /// An unexpected HTTP status.
    #[error("{method} {url} answered {status}{detail}")]
    Status {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Extra text from the server, with a leading separator, or empty.
        detail: String,
    },
    /// Retries (429, 5xx, connection errors) did not succeed within the retry budget.
    #[error(
        "{method} {url} still failed after {attempts} attempts in {elapsed_secs:.1}s ({last}); the registry is overloaded or unstable, try again later or raise the retry budget"
    )]
    RetriesExhausted {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Seconds spent.
        elapsed_secs: f64,
        /// The last failure.
        last: String,
    },
    /// The server answered with content berth cannot use.
    #[error("{url} answered something berth cannot read: {why}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A `Link` header pointed to another host or another path (refused, to keep credentials
    /// on their host and requests inside the listing asked for).
    #[error(
        "{url} sent a pagination link to another host or path ({link}); berth refuses to follow it, report this to the registry's operators"
    )]
    ForeignLink {
        /// The URL of the page.
        url: String,
        /// The link target.
        link: String,
    },
    /// Pagination came back to a page already read.
    #[error(
        "pagination loops: {url} was already read, and a `Link` header names it again; the registry's listing is broken, report this to its operators"
    )]
    PageLoop {
        /// The page URL named twice.
        url: String,
    },
    /// Pagination went on for more pages than berth follows.
    #[error(
        "{url} is page {pages} of a listing, more than the {max} pages berth follows; the registry's pagination is broken (or ignores the page size), report this to its operators"
    )]
    TooManyPages {
        /// The page past the limit.
        url: String,
        /// Pages read.
        pages: usize,
        /// The limit.
        max: usize,
    },
    /// A response body larger than berth reads for its kind.
    #[error(
        "{url} answered a {what} larger than berth's limit of {limit} bytes ({seen}); berth does not read it (see Limits in the README)"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The kind of body (manifest, image config, API answer, token answer).
        what: String,
        /// The limit in bytes.
        limit: u64,
        /// What showed it was too large.
        seen: String,
    },
    /// A name that would not be one path segment of a request URL (a listed tag such as
    /// `../x` or one with a newline): never sent.
    #[error(
        "`{name}` is not a valid {what} ({why}); berth never puts it in a request. If the registry lists it, report this to its operators"
    )]
    InvalidName {
        /// The name, with control characters escaped.
        name: String,
        /// tag, digest, repository path component…
        what: String,
        /// The rule it breaks.
        why: String,
    },
    /// A 401 whose challenge berth cannot answer (Negotiate, NTLM, none at all), when berth
    /// sent no credentials: not a credentials problem.
    #[error(
        "{host} asks for an authentication scheme berth does not support ({scheme}); berth speaks Basic and Bearer token authentication: use the registry's own endpoint rather than a proxy or gateway that demands Kerberos/NTLM, or ask its operators for token or Basic access"
    )]
    UnsupportedAuth {
        /// The registry host.
        host: String,
        /// The schemes offered, or what was missing.
        scheme: String,
    },
    /// The docker config could not be read.
    #[error(
        "cannot use the docker config {path}: {why}; fix or remove the file, or point --docker-config elsewhere"
    )]
    DockerConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A docker credential helper failed.
    #[error(
        "credential helper `docker-credential-{helper}` failed for {host}: {why}; check that it is installed and on PATH, or remove it from the docker config"
    )]
    CredentialHelper {
        /// The helper suffix (`ecr-login`, `gcloud`, …).
        helper: String,
        /// The registry host.
        host: String,
        /// What went wrong.
        why: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for {host}: {why}")]
    ClientSetup {
        /// The registry host.
        host: String,
        /// What went wrong.
        why: String,
    },
    /// An OCI image layout directory (`oci:PATH`) that could not be read or changed.
    #[error("OCI layout `{path}`: {why}")]
    Layout {
        /// The layout directory.
        path: String,
        /// What went wrong, and what to do.
        why: String,
    },
    /// A platform's own API (GitHub Packages, GitLab, Docker Hub, …) refused or failed a
    /// request. The message is the platform's, with secrets cut; the hint says what to do.
    #[error("{api}: {what}: {message}; {hint}")]
    Platform {
        /// `GitHub Packages API`, `GitLab API`, `Docker Hub API`.
        api: &'static str,
        /// What berth was doing (`deleting version 42 of octo/app`).
        what: String,
        /// What the platform answered (status and its message).
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// A platform API needs a token that no variable provides.
    #[error("{api} needs a token to {operation}; set {variables}")]
    NoApiToken {
        /// `GitHub Packages API`, …
        api: &'static str,
        /// `list and delete package versions`.
        operation: String,
        /// The variables that would provide it (`BERTH_GITHUB_TOKEN or GITHUB_TOKEN`).
        variables: String,
    },
}

impl Error {
    /// True when the thing asked for does not exist (as opposed to an access or transport
    /// failure): callers treat a vanished tag or manifest differently from a broken registry.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}
