//! Hostile local inputs through the binary (issue 10, cases 5, 10, 11, 13–17, 19, 21, 22):
//! OCI layouts that lead out of themselves or hold special files, alias-bomb `berth.yaml`s,
//! docker config directories with FIFOs, links and malformed credentials, and the round trip
//! of every export format through the real shells.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use berth::ci::shell::{self, Format, Line};

use crate::fixtures::Fixture;
use crate::harness::layout::Layout;
use crate::harness::{self, Auth, ImageSpec, Output, PASSWORD, TestRegistry, USER, berth, run};

/// Runs `cmd` like [`harness::run`], but kills it and fails the test when it has not ended
/// after `limit`: these inputs used to make berth hang, and the test must not hang with it.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let dir = harness::temp_dir();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "berth did not finish within {limit:?}; stderr so far:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        code: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        stdout: fs::read_to_string(&out_path).unwrap(),
        stderr: fs::read_to_string(&err_path).unwrap(),
    }
}

/// Far beyond what any of these runs needs; only a hang reaches it.
const HANG: Duration = Duration::from_secs(120);

/// Git with a live `main` and a commit whose branch is gone; the CI clone and both commits.
fn git() -> (Fixture, PathBuf, String, String) {
    let f = Fixture::new();
    let main = f.commit("main", "main 1");
    let gone = f.commit("feature/y", "y");
    f.push_all();
    f.git(&["checkout", "-q", "main"]);
    f.delete_remote_branch("feature/y");
    let clone = f.clone_ci();
    (f, clone, main, gone)
}

fn spec(unique: &str, commit: &str) -> ImageSpec {
    ImageSpec::new(unique)
        .created("2023-11-15T00:00:00Z")
        .label("org.opencontainers.image.revision", commit)
}

/// Every file under `dir` with its bytes (links as their target text), to compare before and
/// after.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_symlink() {
                let target = fs::read_link(entry.path()).unwrap();
                out.insert(entry.path(), target.into_os_string().into_encoded_bytes());
            } else {
                out.insert(entry.path(), fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

/// The `(action, reason)` of each tag in a JSON report.
fn actions(stdout: &str) -> BTreeMap<String, (String, String)> {
    let report: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{stdout}"));
    report["repos"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_string(),
                (
                    t["action"].as_str().unwrap().to_string(),
                    t["reason"]["message"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// Case 5: layout A whose `blobs` is a link to layout B's. Cleaning A must not touch B.
/// berth refuses to read through the link, so every tag of A is kept for that reason, nothing
/// is deleted, and the run exits 0 (nothing was changed; the report says why).
#[test]
fn oci_cleanup_never_follows_a_linked_blobs_dir_into_another_layout() {
    let (_f, clone, main, gone) = git();
    let b = Layout::new();
    let old_tag = format!("sha-{}", &gone[..7]);
    b.images(&[
        ("main".to_string(), spec("main", &main)),
        (old_tag.clone(), spec("gone", &gone)),
    ]);
    let a = Layout::new();
    fs::remove_dir_all(a.0.path().join("blobs")).unwrap();
    symlink(b.0.path().join("blobs"), a.0.path().join("blobs")).unwrap();
    // A lists only the doomed image: a collection through the link would take B's `main`.
    let index: serde_json::Value = serde_json::from_slice(&b.index()).unwrap();
    let doomed: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"] == old_tag.as_str())
        .cloned()
        .collect();
    fs::write(
        a.0.path().join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": doomed})).unwrap(),
    )
    .unwrap();
    let before = snapshot(b.0.path());

    let out = a.cleanup(&clone, &["--output", "json"], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let tags = actions(&out.stdout);
    let (action, reason) = &tags[&old_tag];
    assert_eq!(action, "keep", "{}", out.stdout);
    assert!(
        reason.contains("`blobs` is a symbolic link") && reason.contains("never leaves the layout"),
        "{reason}"
    );
    assert_eq!(snapshot(b.0.path()), before, "layout B changed");
    assert!(a.0.path().join("blobs").is_symlink());
}

/// Case 10: blobs that are a link to `/dev/zero`, a FIFO, or a file of the wrong size. berth
/// finishes promptly, keeps each tag with the reason, and deletes nothing.
#[test]
fn special_and_wrong_size_blobs_keep_their_tags_without_a_hang() {
    let (_f, clone, main, gone) = git();
    let layout = Layout::new();
    let specs: Vec<(String, ImageSpec)> = ["zero", "fifo", "short"]
        .iter()
        .map(|t| (format!("{t}-{}", &gone[..7]), spec(t, &gone)))
        .chain([("main".to_string(), spec("main", &main))])
        .collect();
    layout.images(&specs);
    let index: serde_json::Value = serde_json::from_slice(&layout.index()).unwrap();
    let blob = |tag: &str| {
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| {
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .starts_with(tag)
            })
            .unwrap();
        let digest = entry["digest"].as_str().unwrap();
        layout
            .0
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let zero = blob("zero");
    fs::remove_file(&zero).unwrap();
    symlink("/dev/zero", &zero).unwrap();
    let fifo = blob("fifo");
    fs::remove_file(&fifo).unwrap();
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let short = blob("short");
    let mut bytes = fs::read(&short).unwrap();
    bytes.extend_from_slice(&[b' '; 4096]);
    fs::write(&short, bytes).unwrap();

    let mut cmd = berth();
    cmd.env("XDG_CACHE_HOME", layout.0.path().join("cache"))
        .args(["cleanup", "--output", "json", "--repo"])
        .arg(format!("oci:{}", layout.0.path().display()))
        .arg("--git-dir")
        .arg(&clone);
    let out = run_bounded(&mut cmd, HANG);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let tags = actions(&out.stdout);
    for (tag, why) in [
        ("zero", "is a symbolic link, not a regular file"),
        ("fifo", "is a FIFO, not a regular file"),
        ("short", "its descriptor says"),
    ] {
        let (name, (action, reason)) = tags.iter().find(|(t, _)| t.starts_with(tag)).unwrap();
        assert_eq!(action, "keep", "{name}: {}", out.stdout);
        assert!(reason.contains(why), "{name}: {reason}");
    }
    assert!(zero.is_symlink() && fifo.exists() && short.exists());
}

/// Nine levels of nine aliases (9^9 nodes) padded to about 100 kB, like the reported file.
fn alias_bomb() -> String {
    let mut text = "# padding\n".repeat(9_000);
    text.push_str("keep:\n  tags: [latest]\n");
    text.push_str("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=9 {
        let list = vec![format!("*x{}", i - 1); 9].join(", ");
        text.push_str(&format!("x{i}: &x{i} [{list}]\n"));
    }
    text
}

/// Case 11: an alias bomb is refused before it is expanded: exit 2, the file named, and the
/// limit said. `ci-env` reads the same file for its tag templates and refuses it the same way.
#[test]
fn a_yaml_alias_bomb_is_refused_with_exit_2() {
    let dir = harness::temp_dir();
    let config = dir.path().join("berth.yaml");
    fs::write(&config, alias_bomb()).unwrap();
    assert!(fs::metadata(&config).unwrap().len() > 90_000);
    let mut cleanup = berth();
    cleanup
        .args([
            "cleanup",
            "--dry-run",
            "--repo",
            "127.0.0.1:9/app",
            "--config",
        ])
        .arg(&config);
    let mut ci_env = berth();
    ci_env
        .args(["ci-env", "generic", "--no-login", "--config"])
        .arg(&config);
    for cmd in [&mut cleanup, &mut ci_env] {
        let out = run_bounded(cmd, HANG);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&config.display().to_string()),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("YAML aliases expand to more than 100000 nodes or 1048576 bytes"),
            "{}",
            out.stderr
        );
    }
}

/// A home directory with `~/.docker` and the given `config.json` text.
fn home_with_config(config: &str) -> tempfile::TempDir {
    let home = harness::temp_dir();
    fs::create_dir(home.path().join(".docker")).unwrap();
    fs::write(home.path().join(".docker/config.json"), config).unwrap();
    home
}

/// `berth ci-env generic --no-login` in `home`, its per-job directory under `home/tmp`.
fn ci_env_in(home: &Path, extra: &[(&str, &str)]) -> Output {
    fs::create_dir_all(home.join("tmp")).unwrap();
    let mut cmd = berth();
    cmd.env("HOME", home)
        .env("TMPDIR", home.join("tmp"))
        .envs(extra.iter().copied())
        .args(["ci-env", "generic", "--no-login"]);
    run_bounded(&mut cmd, HANG)
}

/// The one per-job directory ci-env made under `home/tmp`.
fn job_dir(home: &Path) -> PathBuf {
    let dirs: Vec<_> = fs::read_dir(home.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Case 13: a FIFO, a socket and a dangling link in `~/.docker` are skipped, each named on
/// one line of stderr; the regular files and directories are copied, and nothing blocks.
#[test]
fn ci_env_copies_only_regular_files_and_directories() {
    let home = home_with_config(r#"{"auths":{}}"#);
    let docker = home.path().join(".docker");
    fs::create_dir(docker.join("contexts")).unwrap();
    fs::write(docker.join("contexts/meta.json"), "{}").unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(docker.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    let _socket = std::os::unix::net::UnixListener::bind(docker.join("sock")).unwrap();
    symlink(docker.join("nowhere"), docker.join("dangling")).unwrap();

    let out = ci_env_in(home.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (name, what) in [
        ("pipe", "a FIFO"),
        ("sock", "a socket"),
        ("dangling", "a symbolic link whose target does not exist"),
    ] {
        let lines: Vec<_> = out
            .stderr
            .lines()
            .filter(|l| l.contains(&format!(".docker/{name}:")))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {}", out.stderr);
        assert!(lines[0].contains(what), "{}", lines[0]);
    }
    let job = job_dir(home.path());
    assert!(job.join("contexts/meta.json").is_file());
    for name in ["pipe", "sock", "dangling"] {
        assert!(
            fs::symlink_metadata(job.join(name)).is_err(),
            "{name} was copied"
        );
    }
}

/// Case 16 (copy): `config.json` as a relative and as an absolute link; the per-job config gets
/// the content of the target.
#[test]
fn ci_env_follows_a_linked_config_json() {
    for relative in [true, false] {
        let home = harness::temp_dir();
        let docker = home.path().join(".docker");
        fs::create_dir_all(home.path().join("dotfiles")).unwrap();
        fs::create_dir(&docker).unwrap();
        let target = home.path().join("dotfiles/docker.json");
        fs::write(
            &target,
            r#"{"auths":{"r.example":{"auth":"dTpw"}},"psFormat":"x"}"#,
        )
        .unwrap();
        if relative {
            symlink("../dotfiles/docker.json", docker.join("config.json")).unwrap();
        } else {
            symlink(&target, docker.join("config.json")).unwrap();
        }
        let out = ci_env_in(home.path(), &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let copied = job_dir(home.path()).join("config.json");
        assert!(!copied.is_symlink());
        let config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(copied).unwrap()).unwrap();
        assert_eq!(
            config["auths"]["r.example"]["auth"], "dTpw",
            "relative={relative}"
        );
        assert_eq!(config["psFormat"], "x");
    }
}

/// `berth login` to `registry` with the test password on stdin and `DOCKER_CONFIG=dir`.
fn login(registry: &str, dir: &Path) -> Output {
    let mut child = berth()
        .args(["login", registry, "-u", USER, "--password-stdin"])
        .env("DOCKER_CONFIG", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Case 16 (login): `berth login` writes through a linked `config.json` (relative and
/// absolute): the link stays a link and its target holds the login and the old keys. A link
/// whose target is missing is refused, with the reason, and nothing is written.
#[test]
fn login_writes_through_a_linked_config_json() {
    let registry = TestRegistry::start(Auth::Htpasswd);
    for relative in [true, false] {
        let temp = harness::temp_dir();
        let docker = temp.path().join("docker");
        fs::create_dir_all(temp.path().join("dotfiles")).unwrap();
        fs::create_dir(&docker).unwrap();
        let target = temp.path().join("dotfiles/docker.json");
        fs::write(&target, r#"{"psFormat":"table"}"#).unwrap();
        let link = docker.join("config.json");
        if relative {
            symlink("../dotfiles/docker.json", &link).unwrap();
        } else {
            symlink(&target, &link).unwrap();
        }
        let out = login(&registry.host(), &docker);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(link.is_symlink(), "the link was replaced");
        let config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&target).unwrap()).unwrap();
        assert_eq!(config["psFormat"], "table");
        assert!(config["auths"][registry.host()]["auth"].is_string());
    }
    let temp = harness::temp_dir();
    let docker = temp.path().join("docker");
    fs::create_dir(&docker).unwrap();
    symlink("../missing/docker.json", docker.join("config.json")).unwrap();
    let out = login(&registry.host(), &docker);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("symbolic link whose target cannot be reached"),
        "{}",
        out.stderr
    );
    assert!(!temp.path().join("missing").exists());
    assert!(docker.join("config.json").is_symlink());
}

/// Case 17: `DOCKER_CONFIG` a link to the per-job directory: `--cleanup` removes the directory
/// (with its token) and says which; a link to a user's directory without berth's marker:
/// nothing removed, exit 4, and the message says why.
#[test]
fn ci_env_cleanup_resolves_a_linked_docker_config() {
    let home = home_with_config(r#"{"auths":{"r.example":{"auth":"dTpw"}}}"#);
    let out = ci_env_in(home.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let job = job_dir(home.path());
    let link = home.path().join("job-link");
    symlink(&job, &link).unwrap();
    let cleanup = |dir: &Path| {
        run(berth()
            .env("DOCKER_CONFIG", dir)
            .args(["ci-env", "--cleanup"]))
    };
    let out = cleanup(&link);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!job.exists(), "the per-job directory is still there");
    let real = fs::canonicalize(home.path().join("tmp")).unwrap();
    assert!(
        out.stderr.contains(&format!(
            "removed the per-job docker config {}",
            real.join(job.file_name().unwrap()).display()
        )),
        "{}",
        out.stderr
    );

    let user = home.path().join(".docker");
    let link = home.path().join("user-link");
    symlink(&user, &link).unwrap();
    let before = snapshot(&user);
    let out = cleanup(&link);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("refusing to remove"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no marker file .berth-ci-env"),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&user), before);
    assert!(link.is_symlink());
}

/// Case 19: a broken `config.json` is reported under the user's path, not the temp copy's,
/// and no per-job directory is left behind.
#[test]
fn a_broken_user_config_json_is_reported_under_its_own_path() {
    let home = home_with_config(r#"{"auths": {"r.example": {"auth": "dTpw"}},}"#);
    let out = ci_env_in(home.path(), &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let user = home.path().join(".docker/config.json");
    assert!(
        out.stderr
            .contains(&format!("{} is not a valid docker config", user.display())),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("berth-docker-config-"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_dir(home.path().join("tmp")).unwrap().count(), 0);
}

/// Credential shapes that are wrong in some way, each holding [`SECRET`] or a part of it.
const SECRET: &str = "c3VwZXI6czNjcjN0LXZhbHVl";
fn credential_shapes() -> Vec<String> {
    let s = SECRET;
    vec![
        // Bare base64 instead of an entry.
        format!(r#"{{"auths":{{"HOST":"{s}"}}}}"#),
        // `auth` that is not base64, that decodes to no `user:password`, to non-UTF-8.
        format!(r#"{{"auths":{{"HOST":{{"auth":"{s}!!"}}}}}}"#),
        r#"{"auths":{"HOST":{"auth":"c3VwZXJzM2NyM3Q="}}}"#.to_string(),
        r#"{"auths":{"HOST":{"auth":"//79/A=="}}}"#.to_string(),
        // Fields of the wrong type.
        format!(r#"{{"auths":{{"HOST":{{"auth":["{s}"]}}}}}}"#),
        format!(r#"{{"auths":{{"HOST":{{"username":"u","password":{{"p":"{s}"}}}}}}}}"#),
        format!(r#"{{"auths":{{"HOST":{{"identitytoken":["{s}"]}}}}}}"#),
        format!(r#"{{"auths":{{"HOST":{{"registrytoken":"{s}"}}}}}}"#),
        // A helper that does not exist, for the host and as the store.
        format!(r#"{{"credHelpers":{{"HOST":"{s}"}}}}"#),
        format!(r#"{{"credsStore":"{s}"}}"#),
        // Broken JSON around a credential.
        format!(r#"{{"auths":{{"HOST":{{"auth":"{s}"}},}}"#),
        format!(r#"{{"auths":{{"HOST":{{"auth":"{s}"#),
    ]
}

/// The parts of the secret that must never appear (the whole and its decoded pieces).
fn secret_parts() -> Vec<&'static str> {
    vec![
        SECRET,
        "s3cr3t-value",
        "super:",
        "c3VwZXJzM2NyM3Q",
        "s3cr3t",
    ]
}

/// Case 14: every malformed credential shape through every path that reads it — `tags` and
/// `cleanup` (credential lookup on a 401), `ci-env` (the copy) and `login` (the rewrite) —
/// never shows credential material; the errors name the file.
#[test]
fn no_credential_shape_appears_in_any_message() {
    let server = harness::spawn_server(challenge_router());
    let host = server.addr().to_string();
    let repo = format!("{host}/app");
    let (_git, clone, _, _) = git();
    for shape in credential_shapes() {
        let text = shape.replace("HOST", &host);
        let dir = harness::temp_dir();
        let config = dir.path().join("config.json");
        fs::write(&config, &text).unwrap();
        let mut outputs = vec![
            run(berth()
                .env("DOCKER_CONFIG", dir.path())
                .args(["tags", &repo])),
            run(berth()
                .env("DOCKER_CONFIG", dir.path())
                .args(["cleanup", "--dry-run", "--repo", &repo, "--git-dir"])
                .arg(&clone)),
        ];
        let home = harness::temp_dir();
        fs::create_dir(home.path().join(".docker")).unwrap();
        fs::write(home.path().join(".docker/config.json"), &text).unwrap();
        outputs.push(ci_env_in(home.path(), &[]));
        outputs.push(run(berth()
            .args(["login", &host, "-u", "someone"])
            .env("BERTH_PASSWORD", "pw")
            .env("DOCKER_CONFIG", dir.path())));
        for out in &outputs {
            let all = format!("{}{}", out.stdout, out.stderr);
            for part in secret_parts() {
                assert!(!all.contains(part), "`{part}` shown for {text}:\n{all}");
            }
        }
        // The lookup's error names the file.
        let lookup = &outputs[0];
        if lookup.stderr.contains("cannot use the docker config") {
            assert!(
                lookup.stderr.contains(&config.display().to_string()),
                "{}",
                lookup.stderr
            );
        }
    }
}

/// Case 15: `::add-mask::` data escaped as the runner parses it, the whole value and each line.
#[test]
fn add_mask_escapes_percent_and_line_breaks() {
    let temp = harness::temp_dir();
    let token = "to%25ken\rwith\nlines";
    let out = run(berth()
        .args(["ci-env", "github", "--no-login"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_SHA", "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d")
        .env("GITHUB_ACTOR", "me")
        .env("GITHUB_TOKEN", token)
        .env("RUNNER_TEMP", temp.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let masks: Vec<&str> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .collect();
    assert_eq!(
        masks,
        ["to%2525ken%0Dwith%0Alines", "to%2525ken", "with", "lines"],
        "{}",
        out.stderr
    );
}

/// Case 21 (login): a REGISTRY that is no host is a usage error naming the input and the form.
#[test]
fn login_to_something_that_is_no_host_is_a_usage_error() {
    for bad in ["not a host", "reg.example:99999", "-bad.example", "[::1"] {
        let out = run(berth()
            .args(["login", "-u", "me", "--", bad])
            .env("BERTH_PASSWORD", "pw"));
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("`{bad}` is not a registry")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("host[:port]"), "{}", out.stderr);
    }
}

/// Case 22: each cause is printed once: a `--config` that is a directory, and a per-job
/// directory that cannot be created (an os error under ci-env's own error).
#[test]
fn each_cause_is_printed_once() {
    let dir = harness::temp_dir();
    let out = run(berth()
        .args([
            "cleanup",
            "--dry-run",
            "--repo",
            "127.0.0.1:9/app",
            "--config",
        ])
        .arg(dir.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("is a directory").count(),
        1,
        "{}",
        out.stderr
    );

    let file = dir.path().join("not-a-dir");
    fs::write(&file, "").unwrap();
    let out = run(berth()
        .args(["ci-env", "generic", "--no-login"])
        .env("TMPDIR", file.join("sub")));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stderr.matches("(os error").count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("Not a directory (os error 20)"),
        "{}",
        out.stderr
    );

    // A registry error that quotes its cause and also returns it as its source: `config.json`
    // a directory, read on the registry's 401.
    let server = harness::spawn_server(challenge_router());
    let docker = dir.path().join("docker");
    fs::create_dir_all(docker.join("config.json")).unwrap();
    let repo = format!("{}/app", server.addr());
    // The project's own checkout is no fixture: its remote may have moved on.
    let (_git, clone, _, _) = git();
    let clone = clone.to_str().unwrap();
    for args in [
        vec!["tags", &repo],
        vec!["cleanup", "--dry-run", "--repo", &repo, "--git-dir", clone],
    ] {
        let out = run(berth().env("DOCKER_CONFIG", &docker).args(&args));
        assert_ne!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stderr.matches("Is a directory (os error 21)").count(),
            1,
            "{}",
            out.stderr
        );
    }
}

/// A registry that answers everything with a Basic challenge, so berth looks up credentials.
fn challenge_router() -> axum::Router {
    use axum::http::{HeaderMap, StatusCode};
    axum::Router::new().fallback(|| async {
        let mut h = HeaderMap::new();
        h.insert("www-authenticate", "Basic realm=\"test\"".parse().unwrap());
        (StatusCode::UNAUTHORIZED, h, "")
    })
}

/// Values worth trying: every character that means something to some shell, line breaks,
/// and unicode (including the typographic quotes PowerShell reads as quotes).
fn value() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '$', '`', '\'', '"', '\\', '%', '!', '^', '&', '|', '<', '>', ';', '(', ')', '{', '}', '*',
        '?', '[', ']', '~', '#', '=', ' ', '\t', '\n', '\r', '-', 'ü', '€', '日', '🚀', '\u{2018}',
        '\u{2019}', '\u{201A}', '\u{201B}', '\u{201C}', '\u{201E}',
    ]);
    let plain = prop::char::range('a', 'z');
    prop::collection::vec(prop_oneof![2 => special, 1 => plain], 0..24)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Renders `BERTH_P=value` in `format`, sources it in `shell` and returns what the shell holds.
fn through_shell(shell_name: &str, format: Format, value: &str) -> String {
    let dir = harness::temp_dir();
    let script = dir.path().join("vars");
    let line = Line::Set {
        name: "BERTH_P".into(),
        value: value.into(),
    };
    fs::write(&script, shell::render(format, &[line]).unwrap()).unwrap();
    let quoted = shell::posix_quote(&script.display().to_string());
    let command = match shell_name {
        "fish" => format!("source {quoted}; and printf %s \"$BERTH_P\""),
        _ => format!(". {quoted} && printf %s \"$BERTH_P\""),
    };
    let out = Command::new(shell_name)
        .arg("-c")
        .arg(&command)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {shell_name} ({e}); run scripts/test.sh, which installs it")
        });
    assert!(
        out.status.success(),
        "{shell_name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// GitLab's dotenv reading (`parse_dotenv_artifact_service.rb`): each line `^(.*?)=(.*)$`, key
/// and value stripped of ASCII whitespace and NUL, quotes kept.
fn gitlab_dotenv(text: &str) -> BTreeMap<String, String> {
    let strip = |s: &str| {
        s.trim_matches(|c: char| matches!(c, '\0' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' '))
            .to_string()
    };
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('=').expect("a dotenv line is KEY=VALUE");
            (strip(k), strip(v))
        })
        .collect()
}

/// PowerShell reads a verbatim string `'…'` with each quote character (the ASCII one and
/// U+2018..U+201B) doubled to stand for itself. pwsh is not installed, so this follows the
/// language specification (§2.3.5.2).
fn powershell_unquote(line: &str) -> String {
    let quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
    let body = line.strip_prefix("$Env:BERTH_P = ").unwrap();
    let mut chars = body.chars().peekable();
    assert!(chars.next().is_some_and(quote));
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if quote(c) {
            match chars.next() {
                Some(d) if quote(d) => out.push(d),
                None => return out,
                Some(d) => panic!("unescaped quote before {d:?} in {line:?}"),
            }
        } else {
            out.push(c);
        }
    }
    panic!("unterminated string: {line:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bash_reads_back_every_value(v in value()) {
        prop_assert_eq!(through_shell("bash", Format::Posix, &v), v);
    }

    #[test]
    fn zsh_reads_back_every_value(v in value()) {
        prop_assert_eq!(through_shell("zsh", Format::Posix, &v), v);
    }

    #[test]
    fn fish_reads_back_every_value(v in value()) {
        prop_assert_eq!(through_shell("fish", Format::Fish, &v), v);
    }

    #[test]
    fn powershell_reads_back_every_value(v in value()) {
        let text = shell::render(Format::PowerShell, &[Line::Set { name: "BERTH_P".into(), value: v.clone() }]).unwrap();
        prop_assert_eq!(powershell_unquote(text.strip_suffix('\n').unwrap()), v);
    }

    /// cmd: `set "K=V"` with `%` doubled; refused exactly when the value has a line break or a
    /// double quote. (cmd.exe is not available here: the reading follows cmd's rules.)
    #[test]
    fn cmd_reads_back_or_refuses(v in value()) {
        let rendered = shell::render(Format::Cmd, &[Line::Set { name: "BERTH_P".into(), value: v.clone() }]);
        if v.contains(['\n', '\r', '"']) {
            prop_assert!(rendered.is_err());
        } else {
            let text = rendered.unwrap();
            let body = text.strip_prefix("set \"BERTH_P=").unwrap().strip_suffix("\"\n").unwrap();
            prop_assert_eq!(body.replace("%%", "%"), v);
        }
    }

    /// dotenv: what berth writes, GitLab reads back unchanged; what GitLab would change
    /// (line breaks, surrounding whitespace, a leading quote, a `$` it would expand) or Jenkins
    /// would read as an escape (`\`) is refused.
    #[test]
    fn gitlab_reads_back_every_dotenv_value_or_berth_refuses_it(v in value()) {
        let rendered = shell::render(Format::Dotenv, &[Line::Set { name: "BERTH_P".into(), value: v.clone() }]);
        let unsafe_value = v.contains(['\n', '\r', '\\', '$']) || v.trim() != v || v.starts_with(['"', '\'']);
        match rendered {
            Ok(text) => {
                prop_assert!(!unsafe_value, "{:?} was written", v);
                prop_assert_eq!(&gitlab_dotenv(&text)["BERTH_P"], &v);
            }
            Err(_) => prop_assert!(unsafe_value, "{:?} was refused", v),
        }
    }
}
