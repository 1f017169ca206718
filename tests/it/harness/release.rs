//! A loopback release mirror laid out as the release asset contract says (dist/install.sh):
//! `<version>/berth-<target>.tar.gz` holding `berth-<target>/berth` (built from this
//! checkout's `target/debug/berth`), `<archive>.sha256`, one `sha256.sum` and `install.sh`.
//! The archive is made with the system `tar`, independent of the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::{Server, spawn_server, temp_dir};

/// The tag the mirror serves.
pub const VERSION: &str = "v0.2.0";

/// The repository's `dist/install.sh`.
pub fn install_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/install.sh")
}

/// A served release directory; files may be rewritten between requests to corrupt it.
pub struct Mirror {
    /// The directory served at `/` (holds `<version>/…`).
    pub root: tempfile::TempDir,
    server: Server,
}

impl Mirror {
    /// A mirror with one release [`VERSION`] for `target`.
    pub fn new(target: &str) -> Mirror {
        let root = temp_dir();
        let dir = root.path().join(VERSION);
        std::fs::create_dir_all(&dir).expect("create the release dir");
        let stage = temp_dir();
        let bin_dir = stage.path().join(format!("berth-{target}"));
        std::fs::create_dir_all(&bin_dir).expect("create the archive dir");
        std::fs::copy(env!("CARGO_BIN_EXE_berth"), bin_dir.join("berth")).expect("copy berth");
        let archive = archive_name(target);
        let status = Command::new("tar")
            .arg("-czf")
            .arg(dir.join(&archive))
            .arg("-C")
            .arg(stage.path())
            .arg(format!("berth-{target}"))
            .status()
            .expect("run tar");
        assert!(status.success(), "tar failed");
        let sum = sha256_hex(&dir.join(&archive));
        std::fs::write(
            dir.join(format!("{archive}.sha256")),
            format!("{sum}  {archive}\n"),
        )
        .expect("write .sha256");
        std::fs::write(
            dir.join("sha256.sum"),
            format!(
                "{}  berth-other-target.tar.gz\n{sum}  {archive}\n",
                "0".repeat(64)
            ),
        )
        .expect("write sha256.sum");
        std::fs::copy(install_sh(), dir.join("install.sh")).expect("copy install.sh");
        let served = root.path().to_path_buf();
        let server = spawn_server(
            axum::Router::new()
                .route("/{version}/{file}", get(serve))
                .with_state(served),
        );
        Mirror { root, server }
    }

    /// `http://127.0.0.1:PORT`, the value for `BERTH_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// Flips one byte in the middle of `target`'s archive, so its sum no longer matches.
    pub fn corrupt_archive(&self, target: &str) {
        let archive = self.file(&archive_name(target));
        let mut bytes = std::fs::read(&archive).expect("read the archive");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&archive, bytes).expect("write the archive");
    }

    /// A file of the release, e.g. `sha256.sum`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.path().join(VERSION).join(name)
    }
}

/// `berth-<target>.tar.gz`.
pub fn archive_name(target: &str) -> String {
    format!("berth-{target}.tar.gz")
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read the file to hash");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn serve(
    State(root): State<PathBuf>,
    UrlPath((version, file)): UrlPath<(String, String)>,
) -> Result<Vec<u8>, StatusCode> {
    if [&version, &file]
        .iter()
        .any(|s| s.contains('/') || s.starts_with('.'))
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    std::fs::read(root.join(version).join(file)).map_err(|_| StatusCode::NOT_FOUND)
}
