//! `dist/install.sh` against a loopback mirror of a release built from this checkout.

use std::path::Path;
use std::process::Command;

use crate::harness::release::{self, Mirror, VERSION};
use crate::harness::{Output, run, temp_dir};

const TARGET: &str = "x86_64-unknown-linux-musl";

/// `sh dist/install.sh ARGS` with only PATH and HOME from the environment.
fn install(path: &str, args: &[&str]) -> Output {
    let home = temp_dir();
    run(Command::new("/bin/sh")
        .arg(release::install_sh())
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path()))
}

/// `install.sh --version V --bin-dir B --base-url U --target T`, the flags every case passes.
fn install_release(
    path: &str,
    version: &str,
    bin_dir: &str,
    base_url: &str,
    target: &str,
) -> Output {
    install(
        path,
        &[
            "--version",
            version,
            "--bin-dir",
            bin_dir,
            "--base-url",
            base_url,
            "--target",
            target,
        ],
    )
}

fn system_path() -> String {
    std::env::var("PATH").expect("PATH is set")
}

/// A PATH holding only the tools install.sh needs besides a hashing tool.
fn path_without_hash_tools(dir: &Path) -> String {
    for tool in [
        "sh", "curl", "tar", "gzip", "mkdir", "cp", "chmod", "mv", "rm", "mktemp", "awk", "cut",
        "sed", "uname", "cat",
    ] {
        let found = system_path()
            .split(':')
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is not installed"));
        std::os::unix::fs::symlink(found, dir.join(tool)).expect("link a tool");
    }
    dir.display().to_string()
}

#[test]
fn the_right_sum_installs_into_a_created_bin_dir() {
    let mirror = Mirror::new(TARGET);
    let out_dir = temp_dir();
    let bin = out_dir.path().join("nested/bin");
    let bin_s = bin.display().to_string();
    let out = install_release(&system_path(), "0.2.0", &bin_s, &mirror.base_url(), TARGET);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&format!("installed berth {VERSION}")),
        "{out:?}"
    );
    let installed = run(Command::new(bin.join("berth")).arg("--version"));
    assert_eq!(installed.code, 0, "{installed:?}");
    assert!(installed.stdout.starts_with("berth "), "{installed:?}");
}

#[test]
fn the_environment_variables_configure_the_install() {
    let mirror = Mirror::new(TARGET);
    let out_dir = temp_dir();
    let bin = out_dir.path().join("bin");
    let out = run(Command::new("/bin/sh")
        .arg(release::install_sh())
        .args(["--target", TARGET])
        .env_clear()
        .env("PATH", system_path())
        .env("BERTH_VERSION", VERSION)
        .env("BERTH_INSTALL_DIR", &bin)
        .env("BERTH_BASE_URL", format!("{}/", mirror.base_url())));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(bin.join("berth").is_file());
}

#[test]
fn a_wrong_sum_refuses_and_installs_nothing() {
    let mirror = Mirror::new(TARGET);
    let archive = release::archive_name(TARGET);
    std::fs::write(
        mirror.file("sha256.sum"),
        format!("{}  {archive}\n", "ab".repeat(32)),
    )
    .unwrap();
    let out_dir = temp_dir();
    let bin = out_dir.path().join("bin");
    let bin_s = bin.display().to_string();
    let base = mirror.base_url();
    let out = install_release(&system_path(), VERSION, &bin_s, &base, TARGET);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("checksum mismatch"), "{out:?}");
    assert!(out.stderr.contains("nothing was installed"), "{out:?}");
    assert!(!bin.exists(), "the bin dir was created: {out:?}");
}

#[test]
fn a_corrupted_archive_refuses() {
    let mirror = Mirror::new(TARGET);
    mirror.corrupt_archive(TARGET);
    let out_dir = temp_dir();
    let bin_s = out_dir.path().join("bin").display().to_string();
    let base = mirror.base_url();
    let out = install_release(&system_path(), VERSION, &bin_s, &base, TARGET);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("checksum mismatch"), "{out:?}");
    assert!(!out_dir.path().join("bin/berth").exists());
}

#[test]
fn a_target_without_a_build_refuses() {
    let mirror = Mirror::new(TARGET);
    let out_dir = temp_dir();
    let bin_s = out_dir.path().join("bin").display().to_string();
    let base = mirror.base_url();
    let out = install_release(
        &system_path(),
        VERSION,
        &bin_s,
        &base,
        "aarch64-unknown-linux-musl",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("cannot download"), "{out:?}");
    assert!(!out_dir.path().join("bin").exists());
}

#[test]
fn no_hashing_tool_refuses() {
    let mirror = Mirror::new(TARGET);
    let tools = temp_dir();
    let path = path_without_hash_tools(tools.path());
    let out_dir = temp_dir();
    let bin_s = out_dir.path().join("bin").display().to_string();
    let base = mirror.base_url();
    let out = install_release(&path, VERSION, &bin_s, &base, TARGET);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no SHA-256 tool found"), "{out:?}");
    assert!(!out_dir.path().join("bin").exists());
}

#[test]
fn openssl_alone_verifies() {
    let mirror = Mirror::new(TARGET);
    let tools = temp_dir();
    let path = path_without_hash_tools(tools.path());
    let openssl = system_path()
        .split(':')
        .map(|d| Path::new(d).join("openssl"))
        .find(|p| p.is_file())
        .expect("openssl is installed");
    std::os::unix::fs::symlink(openssl, tools.path().join("openssl")).unwrap();
    let out_dir = temp_dir();
    let bin = out_dir.path().join("bin");
    let bin_s = bin.display().to_string();
    let base = mirror.base_url();
    let out = install_release(&path, VERSION, &bin_s, &base, TARGET);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(bin.join("berth").is_file());
}

#[test]
fn plain_http_is_refused_off_loopback() {
    for base in [
        "http://example.com/releases",
        "http://127.0.0.1.example.com/x",
        "ftp://127.0.0.1/x",
    ] {
        let out_dir = temp_dir();
        let bin_s = out_dir.path().join("bin").display().to_string();
        let out = install(
            &system_path(),
            &[
                "--version",
                VERSION,
                "--bin-dir",
                &bin_s,
                "--base-url",
                base,
                "--target",
                TARGET,
            ],
        );
        assert_eq!(out.code, 1, "{base}: {out:?}");
        assert!(out.stderr.contains(base), "{base}: {out:?}");
        assert!(out.stderr.contains("https://"), "{base}: {out:?}");
        assert!(!out_dir.path().join("bin").exists());
    }
}

#[test]
fn an_unsupported_target_and_a_bad_version_are_named() {
    let out = install(
        &system_path(),
        &[
            "--version",
            "main",
            "--base-url",
            "http://127.0.0.1:9",
            "--target",
            TARGET,
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("version 'vmain' is not a release tag"),
        "{out:?}"
    );
    let out = install(&system_path(), &["--bogus"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unknown argument '--bogus'"), "{out:?}");
}
