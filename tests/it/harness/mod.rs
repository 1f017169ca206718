//! Test harness shared by every integration test module: the berth binary with a clean
//! environment, temp dirs, background servers (axum on a private runtime), the real
//! Distribution registry in three auth modes ([`registry`]), an independent registry client
//! that seeds content ([`seed`]), a fault-injecting HTTP proxy ([`proxy`]) and skopeo as a
//! second independent client ([`skopeo`]).
//!
//! The harness never calls berth's library code: what it pushes and observes must not depend
//! on the code under test.

// Each test module uses only some of the helpers.
#![allow(dead_code)]

pub mod acr;
pub mod actions;
pub mod dockerhub;
pub mod forge;
pub mod gcr;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod hostile;
pub mod layout;
pub mod platform;
pub mod proxy;
pub mod quay;
pub mod registry;
pub mod release;
pub mod seed;
pub mod skopeo;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

#[allow(unused_imports)]
pub use proxy::{Fault, FaultProxy, Match, ProxiedRequest};
#[allow(unused_imports)]
pub use registry::{Auth, PASSWORD, Request, TestRegistry, USER};
#[allow(unused_imports)]
pub use seed::{Format, ImageSpec, Platform, Seeder};
#[allow(unused_imports)]
pub use skopeo::{skopeo, skopeo_push};

/// The built `berth` binary with a clean environment: only `PATH`, a fresh temporary `HOME`
/// and `LANG=C` (so no `CI`, `GITHUB_*`, `GITLAB_*`, `JENKINS_*`, `BERTH_*` or `DOCKER_CONFIG`
/// leaks in from the shell running the tests). Callers add the variables their test needs.
pub fn berth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOME", fresh_home());
    cmd.env("LANG", "C");
    cmd
}

/// What a finished process printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code; a process killed by a signal reports `128 + signal` like a shell does.
    pub code: i32,
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
}

/// Runs `cmd` to completion (stdin closed) and captures its output.
pub fn run(cmd: &mut Command) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    Output {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh temporary directory, removed when the returned value is dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-it-")
        .tempdir()
        .expect("create a temporary directory")
}

/// A fresh empty home directory under cargo's per-target temp dir. It outlives the `Command`
/// that uses it (a `Command` cannot own a `TempDir`); `cargo clean` removes it.
fn fresh_home() -> PathBuf {
    tempfile::Builder::new()
        .prefix("home-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create a temporary HOME")
        .keep()
}

/// A server running on its own thread and tokio runtime, so it works whether the caller is a
/// plain `#[test]` or a `#[tokio::test]` (of any flavour). Stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The server may already be gone (its runtime ended); nothing to stop then.
            let _ = tx.send(());
        }
    }
}

/// Serves an axum router on a free loopback port from a background thread.
pub fn spawn_server(router: axum::Router) -> Server {
    spawn_task(|listener, stop| async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await
            .expect("axum server failed");
    })
}

/// Runs `task(listener, stop)` on a new thread with its own runtime, after binding a free
/// loopback port. `stop` resolves when the returned [`Server`] is dropped.
pub(crate) fn spawn_task<F, Fut>(task: F) -> Server
where
    F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("harness-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("build the server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a loopback port");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("report the server address");
                task(listener, stop_rx).await;
            });
            // In-flight connection tasks are cancelled with the runtime.
            rt.shutdown_background();
        })
        .expect("spawn the server thread");
    let addr = addr_rx.recv().expect("the server thread started");
    Server {
        addr,
        shutdown: Some(stop_tx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berth_runs_with_a_clean_environment() {
        // With env_clear, the Command's explicit env map is exactly what the child gets.
        let cmd = berth();
        let keys: Vec<String> = cmd
            .get_envs()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(keys.contains(&"HOME".to_string()));
        assert!(keys.contains(&"LANG".to_string()));
        assert!(
            keys.iter()
                .all(|k| ["PATH", "HOME", "LANG"].contains(&k.as_str())),
            "unexpected variables: {keys:?}"
        );
        let out = run(berth().arg("--version"));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("berth"), "{out:?}");
    }

    #[test]
    fn spawned_server_answers_and_stops() {
        let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let server = spawn_server(router);
        let addr = server.addr();
        let body = blocking_get(&format!("{}/ping", server.url()));
        assert_eq!(body, "pong");
        drop(server);
        // Give the graceful shutdown a moment, then the port must refuse connections.
        let mut refused = false;
        for _ in 0..50 {
            if std::net::TcpStream::connect(addr).is_err() {
                refused = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(refused, "server still accepts connections after drop");
    }

    fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}
