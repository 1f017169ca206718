//! Bad usage through the binary (issue 10, cases 12 and 23): a clear message naming the
//! input, exit 2, and nothing done.

use crate::harness::{self, Output};

fn cleanup(args: &[&str]) -> Output {
    let mut cmd = harness::berth();
    cmd.arg("cleanup").args(args);
    harness::run(&mut cmd)
}

#[test]
fn concurrency_out_of_range_is_a_usage_error() {
    for bad in ["0", "2305843009213693952", "257", "-1", "many"] {
        let flag = format!("--concurrency={bad}");
        let out = cleanup(&["--repo", "127.0.0.1:5000/app", "--dry-run", &flag]);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("--concurrency"),
            "{bad}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("1 to 256"), "{bad}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn cleanup_of_a_tag_or_digest_is_a_usage_error() {
    let digest = format!("sha256:{}", "a".repeat(64));
    for (repo, bare) in [
        ("127.0.0.1:5000/app:pr-12", "127.0.0.1:5000/app"),
        (
            &format!("127.0.0.1:5000/app@{digest}") as &str,
            "127.0.0.1:5000/app",
        ),
    ] {
        let out = cleanup(&["--repo", repo, "--dry-run"]);
        assert_eq!(out.code, 2, "{repo}: {}", out.stderr);
        assert!(
            out.stderr.contains("cleanup takes repositories"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("--repo {bare}")),
            "{}",
            out.stderr
        );
    }
}

/// Case 21 (in part): a `--git-dir` that is not a repository is bad usage.
#[test]
fn a_git_dir_that_is_not_a_repository_is_a_usage_error() {
    let dir = harness::temp_dir();
    let layout = format!("oci:{}", dir.path().join("layout").display());
    let out = cleanup(&[
        "--repo",
        &layout,
        "--dry-run",
        "--git-dir",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&dir.path().display().to_string()),
        "{}",
        out.stderr
    );
}
