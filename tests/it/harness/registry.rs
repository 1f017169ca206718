//! The real Distribution registry (`/usr/bin/docker-registry`, 2.8) run on a free loopback
//! port with temporary storage, in one of three auth modes: none, htpasswd (Basic) or token
//! (Bearer JWTs from the harness's own issuer, see [`super::token`]).
//!
//! The registry's stdout and stderr go to a log file in its temp dir; its access log (one
//! combined-log-format line per request) is parsed by [`TestRegistry::access_log`] so tests can
//! count requests by method.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::token::Issuer;

/// The test user known to the htpasswd and token modes.
pub const USER: &str = "berth";
/// The test user's password.
pub const PASSWORD: &str = "s3cret-pass";
/// `htpasswd -nbB berth s3cret-pass` (bcrypt, cost 5): fixed so the tests do not need
/// apache2-utils; the htpasswd self-test proves the registry accepts it.
const HTPASSWD_LINE: &str = "berth:$2y$05$FN78OXwA7nm.1gcfhm31DuUSQkAvVtFg.BwYxbTGZkgL2bM9yPh5a";
/// The `service` the registry and the token issuer agree on (the JWT `aud`).
pub const TOKEN_SERVICE: &str = "berth-test-registry";
/// The `iss` the registry expects in tokens.
pub const TOKEN_ISSUER: &str = "berth-test-issuer";
/// Every action the issuer grants the test user by default (`*` is for `registry:catalog:*`).
pub const ALL_ACTIONS: &[&str] = &["pull", "push", "delete", "*"];

const BINARY: &str = "/usr/bin/docker-registry";
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How the registry authenticates clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may do anything.
    None,
    /// Basic auth against an htpasswd file holding [`USER`] / [`PASSWORD`].
    Htpasswd,
    /// Bearer tokens from the harness's issuer, which grants [`USER`] the actions given to
    /// [`TestRegistry::start_token_with`] (all of them with [`TestRegistry::start`]).
    Token,
}

/// One request as the registry's access log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// HTTP method, e.g. `DELETE`.
    pub method: String,
    /// Path and query as sent, e.g. `/v2/app/manifests/sha256:...`.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// The client's `User-Agent` (the seeder sends [`super::seed::USER_AGENT`]).
    pub user_agent: String,
}

impl Request {
    /// Whether the request could change the registry (PUT, POST, PATCH, DELETE).
    pub fn is_mutating(&self) -> bool {
        matches!(self.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE")
    }
}

/// A running Distribution registry; killed when dropped.
pub struct TestRegistry {
    auth: Auth,
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
    issuer: Option<Issuer>,
}

impl TestRegistry {
    /// Starts a registry in the given auth mode (token mode grants every action).
    pub fn start(auth: Auth) -> TestRegistry {
        let issuer = (auth == Auth::Token).then(|| Issuer::start(ALL_ACTIONS));
        Self::launch(auth, issuer)
    }

    /// Starts a token-mode registry whose issuer grants the test user at most `actions`
    /// (intersected with what each token request asks for), e.g. `&["pull", "push"]` to
    /// provoke `insufficient_scope` on DELETE. The harness's own seeder is always granted
    /// what it asks, so tests can still push their fixtures.
    pub fn start_token_with(actions: &[&str]) -> TestRegistry {
        Self::launch(Auth::Token, Some(Issuer::start(actions)))
    }

    fn launch(auth: Auth, issuer: Option<Issuer>) -> TestRegistry {
        let dir = registry_temp_dir();
        std::fs::create_dir(dir.path().join("storage")).expect("create the storage dir");
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd => {
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{HTPASSWD_LINE}\n")).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test-realm\n    path: {}\n",
                    path.display()
                )
            }
            Auth::Token => {
                let issuer = issuer.as_ref().expect("token mode has an issuer");
                let pem = dir.path().join("token-root.pem");
                std::fs::write(&pem, issuer.cert_pem()).expect("write the token root cert");
                format!(
                    "auth:\n  token:\n    realm: {}/token\n    service: {TOKEN_SERVICE}\n    \
                     issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    issuer.url(),
                    pem.display()
                )
            }
        };
        let mut last_log = String::new();
        // A port found free can be taken by another test before the registry binds it; then
        // the registry exits with "address already in use" and we try another port.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                config_yaml(port, &dir.path().join("storage"), &auth_yaml),
            )
            .expect("write the registry config");
            let log_path = dir.path().join("registry.log");
            let log = File::create(&log_path).expect("create the registry log");
            let mut child = Command::new(BINARY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {BINARY} (install the docker-registry package): {e}")
                });
            let expected = if auth == Auth::None { 200 } else { 401 };
            match wait_ready(&mut child, port, expected, &log_path) {
                Ok(()) => {
                    let registry = TestRegistry {
                        auth,
                        port,
                        child,
                        dir,
                        issuer,
                    };
                    registry.write_docker_config();
                    return registry;
                }
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!("the registry did not start; its log:\n{log}"),
            }
        }
        panic!("the registry could not bind a free port; last log:\n{last_log}");
    }

    /// The auth mode.
    pub fn auth(&self) -> Auth {
        self.auth
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `Some((USER, PASSWORD))` in the htpasswd and token modes.
    pub fn credentials(&self) -> Option<(String, String)> {
        (self.auth != Auth::None).then(|| (USER.to_string(), PASSWORD.to_string()))
    }

    /// The token issuer's base URL (`http://127.0.0.1:PORT`; the realm is `<url>/token`).
    pub fn issuer_url(&self) -> Option<String> {
        self.issuer.as_ref().map(Issuer::url)
    }

    /// A directory holding a docker `config.json` whose `auths` has this registry's login
    /// (empty `auths` without auth), for `DOCKER_CONFIG`.
    pub fn docker_config_dir(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    /// The scopes of each token request made to the issuer, one entry per request (several
    /// scopes of one request joined by a space, in the order sent). The harness's seeder is
    /// not recorded. Empty outside token mode.
    pub fn token_requests(&self) -> Vec<String> {
        self.issuer
            .as_ref()
            .map(Issuer::requests)
            .unwrap_or_default()
    }

    /// Every request the registry has logged so far, oldest first. Waits until the log stops
    /// growing, because the registry writes a line just after it answers.
    pub fn access_log(&self) -> Vec<Request> {
        let log = self.settled_log();
        parse_access_log(&log)
    }

    /// The registry's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The registry's storage root (to inspect what is on disk).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    fn settled_log(&self) -> String {
        let mut last = self.log();
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(25));
            let now = self.log();
            if now.len() == last.len() {
                return now;
            }
            last = now;
        }
        last
    }

    fn write_docker_config(&self) {
        let dir = self.docker_config_dir();
        std::fs::create_dir_all(&dir).expect("create the docker config dir");
        let auths = match self.credentials() {
            Some((user, pass)) => serde_json::json!({
                self.host(): { "auth": B64.encode(format!("{user}:{pass}")) }
            }),
            None => serde_json::json!({}),
        };
        let body = serde_json::to_vec_pretty(&serde_json::json!({ "auths": auths }))
            .expect("serialize the docker config");
        std::fs::write(dir.join("config.json"), body).expect("write the docker config");
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn stop(child: &mut Child) {
    // Already exited is fine; we only need it gone.
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls `GET /v2/` until it answers `expected`; on failure the process is stopped and the
/// error carries its log.
fn wait_ready(child: &mut Child, port: u16, expected: u16, log: &Path) -> Result<(), String> {
    let read_log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll the registry") {
            return Err(format!("(exited with {status})\n{}", read_log()));
        }
        // Our own process must have bound the port (its log says so): a probe alone could be
        // answered by another test's registry that took the port first.
        let bound = read_log().contains(&format!("listening on 127.0.0.1:{port}"));
        if let Some(status) = raw_get_status(port, "/v2/").filter(|_| bound) {
            if status == expected {
                return Ok(());
            }
            stop(child);
            return Err(format!(
                "GET /v2/ answered {status}, expected {expected}\n{}",
                read_log()
            ));
        }
        if Instant::now() > deadline {
            stop(child);
            return Err(format!(
                "no answer on /v2/ within {START_TIMEOUT:?}\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn config_yaml(port: u16, storage: &Path, auth_yaml: &str) -> String {
    format!(
        "version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: berth-test-secret-{port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
{auth_yaml}",
        storage = storage.display()
    )
}

/// The registry's temp dir, on tmpfs (`/dev/shm`) when there is one: the registry creates and
/// removes several files per upload, and on a disk mounted with `discard` that makes seeding
/// and cleanup several times slower.
fn registry_temp_dir() -> tempfile::TempDir {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("berth-registry-");
        b
    };
    builder
        .tempdir_in("/dev/shm")
        .or_else(|_| builder.tempdir())
        .expect("create the registry temp dir")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free loopback port")
        .port()
}

/// A minimal blocking `GET` (HTTP/1.0, no keep-alive) that returns the status, or `None` when
/// nothing listens yet. Independent of any async runtime, so `start` works everywhere.
fn raw_get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut head = String::new();
    stream.read_to_string(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn parse_access_log(log: &str) -> Vec<Request> {
    static LINE: OnceLock<regex::Regex> = OnceLock::new();
    // Combined log format, as Distribution's access log writes it:
    // 127.0.0.1 - - [23/Nov/2026:19:33:00 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "agent"
    let re = LINE.get_or_init(|| {
        regex::Regex::new(
            r#"\[[^\]]+\] "([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) \S+ "[^"]*" "([^"]*)""#,
        )
        .expect("valid access log regex")
    });
    log.lines()
        .filter_map(|line| re.captures(line))
        .map(|c| Request {
            method: c[1].to_string(),
            path: c[2].to_string(),
            status: c[3].parse().expect("three digits"),
            user_agent: c[4].to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::seed::{Format, ImageSpec, Platform, Seeder};
    use super::*;

    async fn push_and_list(registry: &TestRegistry) {
        let seeder = Seeder::new(registry);
        let spec = ImageSpec::new("one").label("berth.git.ref", "main");
        let digest = seeder.push_image("team/app", "v1", &spec).await;
        seeder.tag("team/app", "latest", &digest).await;
        let other = seeder
            .push_image(
                "team/app",
                "v2",
                &ImageSpec::new("two").format(Format::Docker),
            )
            .await;
        assert_ne!(digest, other);
        let tags = seeder.tags("team/app").await;
        let want: BTreeMap<String, String> = [
            ("latest".to_string(), digest.clone()),
            ("v1".to_string(), digest.clone()),
            ("v2".to_string(), other.clone()),
        ]
        .into();
        assert_eq!(tags, want);
        assert!(seeder.manifest_exists("team/app", &digest).await);
        assert!(
            !seeder
                .manifest_exists("team/app", &digest_of(b"nothing"))
                .await
        );
        let index = seeder
            .push_index(
                "team/app",
                "multi",
                Format::Oci,
                &[
                    (digest.clone(), Platform::new("linux", "amd64")),
                    (other, Platform::new("linux", "arm64")),
                ],
            )
            .await;
        assert!(seeder.manifest_exists("team/app", &index).await);
    }

    use super::super::seed::digest_of;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn no_auth_registry_accepts_pushes() {
        let registry = TestRegistry::start(Auth::None);
        assert_eq!(registry.credentials(), None);
        push_and_list(&registry).await;
        let config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(registry.docker_config_dir().join("config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["auths"], serde_json::json!({}));
    }

    #[tokio::test]
    async fn htpasswd_registry_needs_the_password() {
        let registry = TestRegistry::start(Auth::Htpasswd);
        push_and_list(&registry).await;
        let anonymous = reqwest::get(format!("{}/v2/", registry.url()))
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        assert!(
            anonymous.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
        let wrong = reqwest::Client::new()
            .get(format!("{}/v2/", registry.url()))
            .basic_auth(USER, Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(registry.docker_config_dir().join("config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            config["auths"][registry.host()]["auth"],
            B64.encode("berth:s3cret-pass")
        );
    }

    #[tokio::test]
    async fn access_log_records_puts() {
        let registry = TestRegistry::start(Auth::None);
        let seeder = Seeder::new(&registry);
        let digest = seeder.push_image("app", "t1", &ImageSpec::new("x")).await;
        let log = registry.access_log();
        let put = log
            .iter()
            .find(|r| r.method == "PUT" && r.path == "/v2/app/manifests/t1")
            .unwrap_or_else(|| panic!("no manifest PUT in {log:#?}"));
        assert_eq!(put.status, 201);
        assert_eq!(put.user_agent, super::super::seed::USER_AGENT);
        assert!(put.is_mutating());
        assert!(
            log.iter()
                .any(|r| r.method == "GET" && r.path == "/v2/" && r.status == 200)
        );
        assert!(seeder.manifest_exists("app", &digest).await);
        let heads = registry
            .access_log()
            .iter()
            .filter(|r| r.method == "HEAD")
            .count();
        assert!(heads >= 3, "blob and manifest HEADs: {heads}");
    }
}
