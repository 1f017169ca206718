//! `berth ci-env` and `berth login` against the real Distribution registry (htpasswd and token
//! modes), with each CI's variables set the way that CI sets them. Independent checks: skopeo
//! reads the written config, the scripts are sourced by the real shells (bash, zsh, dash,
//! fish) and the values read back from their environment.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth::ci::shell::{self, Format, Line};

use crate::harness::{self, Auth, ImageSpec, PASSWORD, Seeder, TestRegistry, USER, berth, run};

const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

/// Values that break naive quoting in at least one shell.
const NASTY: &[&str] = &[
    "plain",
    "",
    "with space",
    "dollar $HOME and ${HOME} and $(id) and `id`",
    "single ' quote and '' two",
    "double \" quote",
    "back\\slash \\n not a newline \\",
    "new\nline\n",
    "\ttab and trailing space ",
    "percent %PATH% and bang !x! and caret ^ & | < > ;",
    "unicode: ü € 日本 🚀 ‘typographic’ „quotes“",
    "glob * ? [a] ~ #hash",
    "-n",
    "--",
];

/// Sources `script` in `shell` and returns the exported environment it leaves (`env -0`).
fn source_in(shell: &str, script: &Path) -> BTreeMap<String, String> {
    let quoted = shell::posix_quote(&script.display().to_string());
    let command = match shell {
        "fish" => format!("source {quoted}; and env -0"),
        _ => format!(". {quoted} && env -0"),
    };
    let out = Command::new(shell)
        .arg("-c")
        .arg(&command)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
    assert!(
        out.status.success(),
        "{shell} failed to source {}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 environment")
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SHELLS: [(&str, Format); 4] = [
    ("bash", Format::Posix),
    ("zsh", Format::Posix),
    ("dash", Format::Posix),
    ("fish", Format::Fish),
];

#[test]
fn every_shell_reads_back_every_nasty_value_unchanged() {
    let dir = harness::temp_dir();
    let lines: Vec<Line> = NASTY
        .iter()
        .enumerate()
        .map(|(i, v)| Line::Set {
            name: format!("BERTH_T{i}"),
            value: v.to_string(),
        })
        .collect();
    for (shell_name, format) in SHELLS {
        let script = dir.path().join(format!("vars.{shell_name}"));
        fs::write(&script, shell::render(format, &lines).unwrap()).unwrap();
        let env = source_in(shell_name, &script);
        for (i, value) in NASTY.iter().enumerate() {
            assert_eq!(
                env.get(&format!("BERTH_T{i}")).map(String::as_str),
                Some(*value),
                "{shell_name} changed value #{i}"
            );
        }
    }
}

fn github_env(registry: &TestRegistry, temp: &Path, token: &str) -> Vec<(String, String)> {
    [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "Octo-Org/App"),
        ("GITHUB_SHA", SHA),
        ("GITHUB_REF", "refs/heads/feature/Login"),
        ("GITHUB_REF_NAME", "feature/Login"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_ACTOR", USER),
        ("GITHUB_TOKEN", token),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        // The test registry stands in for ghcr.io.
        ("BERTH_CI_REGISTRY".to_string(), registry.host()),
        (
            "RUNNER_TEMP".to_string(),
            temp.join("runner").display().to_string(),
        ),
        (
            "GITHUB_ENV".to_string(),
            temp.join("github_env").display().to_string(),
        ),
        (
            "GITHUB_OUTPUT".to_string(),
            temp.join("github_output").display().to_string(),
        ),
        (
            "GITHUB_STEP_SUMMARY".to_string(),
            temp.join("step_summary").display().to_string(),
        ),
    ])
    .collect()
}

/// The only subdirectory of `parent` (the per-job directory berth made).
fn only_dir(parent: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "expected one directory in {}",
        parent.display()
    );
    dirs[0].clone()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// skopeo, an independent client, inspects `image` with `authfile` only.
fn skopeo_inspect(authfile: &Path, image: &str) -> harness::Output {
    run(harness::skopeo()
        .args(["inspect", "--tls-verify=false", "--authfile"])
        .arg(authfile)
        .arg(format!("docker://{image}")))
}

/// `berth tags REPO` with `DOCKER_CONFIG` set to the written config: berth itself gets in.
fn berth_lists_tags(config_dir: &Path, repo: &str) -> Result<Vec<String>, String> {
    let out = run(berth()
        .args(["tags", repo, "--output", "json"])
        .env("DOCKER_CONFIG", config_dir));
    if out.code != 0 {
        return Err(out.stderr);
    }
    let report: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| e.to_string())?;
    let tags = report["tags"]
        .as_array()
        .ok_or_else(|| format!("no `tags` array in {}", out.stdout))?;
    Ok(tags
        .iter()
        .filter_map(|t| t["tag"].as_str().map(str::to_string))
        .collect())
}

async fn private_image(registry: &TestRegistry, repo: &str) {
    Seeder::new(registry)
        .push_image(repo, "v1", &ImageSpec::new(repo))
        .await;
}

async fn github_job_reaches_the_private_image(auth: Auth) {
    let registry = TestRegistry::start(auth);
    private_image(&registry, "octo-org/app").await;
    let temp = harness::temp_dir();
    let out = run(berth()
        .arg("ci-env")
        .envs(github_env(&registry, temp.path(), PASSWORD)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains(PASSWORD), "the script leaks the token");
    assert!(out.stderr.contains(&format!("::add-mask::{PASSWORD}")));

    let script = temp.path().join("script.sh");
    fs::write(&script, &out.stdout).unwrap();
    let env = source_in("bash", &script);
    let job_dir = only_dir(&temp.path().join("runner"));
    assert_eq!(env["DOCKER_CONFIG"], job_dir.display().to_string());
    assert_eq!(mode(&job_dir), 0o700);
    for file in fs::read_dir(&job_dir).unwrap() {
        assert_eq!(mode(&file.unwrap().path()), 0o600);
    }
    assert_eq!(
        env["BERTH_REPO"],
        format!("{}/octo-org/app", registry.host())
    );
    assert_eq!(env["BERTH_CONTAINER_REGISTRY"], "github");
    assert_eq!(env["BERTH_GIT_SHA"], SHA);
    assert_eq!(env["BERTH_GIT_REF"], "refs/heads/feature/Login");
    assert_eq!(env["BERTH_GIT_REF_SLUG"], "feature-login");
    assert_eq!(
        env["BERTH_IMAGE_TAGS"],
        format!("{SHA} sha-1a2b3c4 feature-login-1a2b3c4 feature-login")
    );
    let labels = &env["BERTH_IMAGE_LABELS"];
    assert!(labels.contains(&format!("org.opencontainers.image.revision={SHA}")));
    assert!(labels.contains("org.opencontainers.image.source=https://github.com/Octo-Org/App"));
    assert!(labels.contains("berth.git.ref=refs/heads/feature/Login"));
    assert!(labels.contains("org.opencontainers.image.created=20"));

    // The GitHub files carry the same values in heredocs; outputs name full references.
    let github_env = fs::read_to_string(temp.path().join("github_env")).unwrap();
    assert!(github_env.contains("DOCKER_CONFIG<<ghadelimiter_"));
    assert!(github_env.contains(&format!("\n{}\nghadelimiter_", job_dir.display())));
    let outputs = fs::read_to_string(temp.path().join("github_output")).unwrap();
    assert!(outputs.contains(&format!(
        "\n{}/octo-org/app\nghadelimiter_",
        registry.host()
    )));
    assert!(
        outputs.starts_with("docker-config<<ghadelimiter_"),
        "{outputs}"
    );
    assert!(outputs.contains(&format!(
        "\n{host}/octo-org/app:sha-1a2b3c4\n{host}/octo-org/app:feature-login-1a2b3c4\n",
        host = registry.host()
    )));
    // `json` has docker/metadata-action's shape: full references and a label map.
    let json_line = outputs
        .split("\n")
        .skip_while(|l| !l.starts_with("json<<"))
        .nth(1)
        .expect("a json output");
    let json: serde_json::Value = serde_json::from_str(json_line).unwrap();
    let expected: Vec<String> = env["BERTH_IMAGE_TAGS"]
        .split(' ')
        .map(|t| format!("{}/octo-org/app:{t}", registry.host()))
        .collect();
    assert_eq!(json["tags"], serde_json::json!(expected));
    assert_eq!(json["labels"]["org.opencontainers.image.revision"], SHA);
    assert_eq!(json["labels"]["berth.git.ref"], "refs/heads/feature/Login");

    let authfile = job_dir.join("config.json");
    let image = format!("{}/octo-org/app:v1", registry.host());
    let inspected = skopeo_inspect(&authfile, &image);
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
    assert!(inspected.stdout.contains("\"Digest\""));
    // The image really is private: without the login skopeo is refused.
    let empty = temp.path().join("empty.json");
    fs::write(&empty, "{}").unwrap();
    assert_ne!(skopeo_inspect(&empty, &image).code, 0);
    let tags = berth_lists_tags(&job_dir, &format!("{}/octo-org/app", registry.host())).unwrap();
    assert_eq!(tags, vec!["v1".to_string()]);

    // --cleanup removes exactly that directory.
    let out = run(berth()
        .args(["ci-env", "--cleanup"])
        .env("DOCKER_CONFIG", &job_dir));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!job_dir.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn github_htpasswd_login_works_for_skopeo_and_berth() {
    github_job_reaches_the_private_image(Auth::Htpasswd).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn github_token_login_works_for_skopeo_and_berth() {
    github_job_reaches_the_private_image(Auth::Token).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_fail_before_anything_is_written() {
    for auth in [Auth::Htpasswd, Auth::Token] {
        let registry = TestRegistry::start(auth);
        let temp = harness::temp_dir();
        let out = run(berth()
            .arg("ci-env")
            .envs(github_env(&registry, temp.path(), "wrong")));
        assert_eq!(out.code, 1, "{auth:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("rejected the credentials"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("wrong"),
            "the password leaks: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
        assert!(!temp.path().join("runner").exists());
        assert!(!temp.path().join("github_env").exists());
        assert!(!temp.path().join("github_output").exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_job_with_as_file_in_token_mode() {
    let registry = TestRegistry::start(Auth::Token);
    private_image(&registry, "group/project").await;
    let temp = harness::temp_dir();
    let builds = temp.path().join("builds");
    let image_repo = format!("{}/group/project", registry.host());
    let out = run(berth()
        .args(["ci-env", "--as-file"])
        .env("GITLAB_CI", "true")
        .env("CI", "true")
        .env("CI_SERVER_URL", "https://gitlab.example.com")
        .env("CI_PROJECT_URL", "https://gitlab.example.com/group/project")
        .env("CI_PROJECT_PATH", "group/project")
        .env("CI_REGISTRY", registry.host())
        .env("CI_REGISTRY_IMAGE", &image_repo)
        .env("CI_REGISTRY_USER", USER)
        .env("CI_REGISTRY_PASSWORD", PASSWORD)
        .env("CI_JOB_TOKEN", "unused-job-token")
        .env("CI_COMMIT_SHA", SHA)
        .env("CI_COMMIT_REF_NAME", "v1.2.0")
        .env("CI_COMMIT_REF_SLUG", "v1-2-0")
        .env("CI_COMMIT_TAG", "v1.2.0")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_BUILDS_DIR", &builds));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let path = PathBuf::from(out.stdout.trim_end());
    let job_dir = only_dir(&builds.join("tmp"));
    assert_eq!(path, job_dir.join("ci-env.sh"));
    assert_eq!(mode(&path), 0o600);
    let env = source_in("bash", &path);
    assert_eq!(env["DOCKER_CONFIG"], job_dir.display().to_string());
    assert_eq!(env["BERTH_REPO"], image_repo);
    assert_eq!(env["BERTH_CONTAINER_REGISTRY"], "gitlab");
    assert_eq!(env["BERTH_GIT_REF"], "refs/tags/v1.2.0");
    // GitLab's own slug rules for a GitLab job.
    assert_eq!(env["BERTH_GIT_REF_SLUG"], "v1-2-0");
    // GitLab: the 8-character short SHA, and metadata-action's semver forms of the tag.
    assert_eq!(
        env["BERTH_IMAGE_TAGS"],
        format!("{SHA} sha-1a2b3c4 1a2b3c4d v1-2-0 1.2.0 1.2 1")
    );
    let inspected = skopeo_inspect(&job_dir.join("config.json"), &format!("{image_repo}:v1"));
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
    assert_eq!(
        berth_lists_tags(&job_dir, &image_repo).unwrap(),
        vec!["v1".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jenkins_job_writes_a_dotenv_file() {
    let registry = TestRegistry::start(Auth::Htpasswd);
    private_image(&registry, "team/app").await;
    let temp = harness::temp_dir();
    let workspace = temp.path().join("ws");
    fs::create_dir(&workspace).unwrap();
    let env_file = temp.path().join("berth.env");
    fs::write(
        &env_file,
        "a much longer old content that must not survive ".repeat(50),
    )
    .unwrap();
    let repo = format!("{}/team/app", registry.host());
    let out = run(berth()
        .args(["ci-env", "jenkins", "--as-env-file", "-o"])
        .arg(&env_file)
        .env("JENKINS_URL", "http://jenkins.example.com/")
        .env("BUILD_TAG", "jenkins-app-main-7")
        .env("WORKSPACE", &workspace)
        .env("GIT_COMMIT", SHA)
        .env("GIT_BRANCH", "origin/main")
        .env("GIT_URL", "https://git.example.com/team/app.git")
        .env("BERTH_REPO", &repo)
        .env("BERTH_REPO_USERNAME", USER)
        .env("BERTH_REPO_PASSWORD", PASSWORD));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim_end(), env_file.display().to_string());
    let text = fs::read_to_string(&env_file).unwrap();
    assert!(!text.contains("old content"), "-o must truncate");
    let vars: BTreeMap<&str, &str> = text
        .lines()
        .map(|l| l.split_once('=').expect("every dotenv line is K=V"))
        .collect();
    let job_dir = only_dir(&temp.path().join("ws@tmp"));
    assert_eq!(vars["DOCKER_CONFIG"], job_dir.display().to_string());
    assert_eq!(vars["BERTH_GIT_REF"], "refs/heads/main");
    assert_eq!(
        vars["BERTH_IMAGE_TAGS"],
        format!("{SHA},sha-1a2b3c4,main-1a2b3c4,main"),
        "dotenv lists are comma-separated"
    );
    let labels: Vec<&str> = vars["BERTH_IMAGE_LABELS"].split(',').collect();
    assert!(
        labels.contains(&"org.opencontainers.image.source=https://git.example.com/team/app"),
        "{labels:?}"
    );
    // Later stages read the file alone, so the user's BERTH_REPO is in it, unchanged.
    assert_eq!(vars["BERTH_REPO"], repo);
    let inspected = skopeo_inspect(&job_dir.join("config.json"), &format!("{repo}:v1"));
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_job_in_token_mode_with_fish() {
    let registry = TestRegistry::start(Auth::Token);
    private_image(&registry, "generic/app").await;
    let temp = harness::temp_dir();
    let repo = format!("{}/generic/app", registry.host());
    let script = temp.path().join("env.fish");
    let out = run(berth()
        .args(["ci-env", "generic", "--shell", "fish", "-o"])
        .arg(&script)
        .env("TMPDIR", temp.path())
        .env("BERTH_GIT_SHA", SHA)
        .env("BERTH_GIT_REF", "refs/pull/12/head")
        .env("BERTH_REPO_USERNAME", USER)
        .env("BERTH_REPO_PASSWORD", PASSWORD)
        .env("BERTH_REPO", &repo));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "", "-o without --as-file prints nothing");
    let env = source_in("fish", &script);
    let job_dir = PathBuf::from(&env["DOCKER_CONFIG"]);
    assert!(job_dir.starts_with(temp.path()));
    // BERTH_GIT_SHA / BERTH_GIT_REF were given: left alone, but used for the tags.
    assert!(!env.contains_key("BERTH_GIT_SHA"));
    assert_eq!(env["BERTH_GIT_REF_SLUG"], "pr-12");
    assert_eq!(env["BERTH_IMAGE_TAGS"], format!("{SHA} sha-1a2b3c4 pr-12"));
    let inspected = skopeo_inspect(&job_dir.join("config.json"), &format!("{repo}:v1"));
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_jobs_get_separate_directories_and_logins() {
    let first = TestRegistry::start(Auth::Htpasswd);
    let second = TestRegistry::start(Auth::Htpasswd);
    private_image(&first, "a/app").await;
    private_image(&second, "b/app").await;
    let temp = harness::temp_dir();
    let user_config = temp.path().join("user-docker");
    fs::create_dir(&user_config).unwrap();
    let original = r#"{"auths":{"quay.io":{"auth":"dTpw"}}}"#;
    fs::write(user_config.join("config.json"), original).unwrap();
    let job = |registry: &TestRegistry, repo: &str, runner: &str| {
        let mut cmd = berth();
        cmd.args(["ci-env", "generic"])
            .env("DOCKER_CONFIG", &user_config)
            .env("TMPDIR", temp.path().join(runner))
            .env("BERTH_GIT_SHA", SHA)
            .env("BERTH_REPO", format!("{}/{repo}", registry.host()))
            .env("BERTH_REPO_USERNAME", USER)
            .env("BERTH_REPO_PASSWORD", PASSWORD);
        cmd
    };
    // Same runner temp dir for both: they must still not meet.
    let (mut a, mut b) = (job(&first, "a/app", "tmp"), job(&second, "b/app", "tmp"));
    let (out_a, out_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| run(&mut a));
        let tb = s.spawn(|| run(&mut b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(
        (out_a.code, out_b.code),
        (0, 0),
        "{}\n{}",
        out_a.stderr,
        out_b.stderr
    );
    let dir_of = |stdout: &str| {
        let script = temp.path().join(format!("s{}.sh", fastrand::u32(..)));
        fs::write(&script, stdout).unwrap();
        PathBuf::from(&source_in("dash", &script)["DOCKER_CONFIG"])
    };
    let (dir_a, dir_b) = (dir_of(&out_a.stdout), dir_of(&out_b.stdout));
    assert_ne!(dir_a, dir_b);
    let auths = |dir: &Path| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        v["auths"].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(auths(&dir_a), vec![first.host(), "quay.io".to_string()]);
    assert_eq!(auths(&dir_b), vec![second.host(), "quay.io".to_string()]);
    assert_eq!(
        fs::read_to_string(user_config.join("config.json")).unwrap(),
        original
    );
    let image_b = format!("{}/b/app:v1", second.host());
    assert_eq!(skopeo_inspect(&dir_b.join("config.json"), &image_b).code, 0);
    assert_ne!(skopeo_inspect(&dir_a.join("config.json"), &image_b).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_creds_store_is_never_written_and_does_not_shadow_the_login() {
    let registry = TestRegistry::start(Auth::Htpasswd);
    private_image(&registry, "octo-org/app").await;
    let temp = harness::temp_dir();
    let user_config = temp.path().join("user-docker");
    fs::create_dir_all(user_config.join("cli-plugins")).unwrap();
    fs::write(user_config.join("cli-plugins/docker-buildx"), "binary").unwrap();
    // A credsStore whose helper does not even exist here: any attempt to use it would fail.
    let original = format!(
        r#"{{"credsStore":"desktop","credHelpers":{{"{}":"desktop","gcr.io":"gcloud"}}}}"#,
        registry.host()
    );
    fs::write(user_config.join("config.json"), &original).unwrap();
    let out = run(berth()
        .args(["ci-env", "--docker-config"])
        .arg(&user_config)
        .envs(github_env(&registry, temp.path(), PASSWORD)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("leaves out credsStore `desktop`"));
    assert_eq!(
        fs::read_to_string(user_config.join("config.json")).unwrap(),
        original
    );
    let job_dir = only_dir(&temp.path().join("runner"));
    assert!(!job_dir.join("cli-plugins").exists());
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(job_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config.get("credsStore"), None);
    assert_eq!(
        config["credHelpers"],
        serde_json::json!({"gcr.io": "gcloud"})
    );
    let image = format!("{}/octo-org/app:v1", registry.host());
    let inspected = skopeo_inspect(&job_dir.join("config.json"), &image);
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
    let tags = berth_lists_tags(&job_dir, &format!("{}/octo-org/app", registry.host()));
    assert_eq!(tags, Ok(vec!["v1".to_string()]));
}

#[test]
fn cleanup_refuses_a_directory_ci_env_did_not_make() {
    let temp = harness::temp_dir();
    fs::write(temp.path().join("config.json"), "{}").unwrap();
    let out = run(berth()
        .args(["ci-env", "--cleanup"])
        .env("DOCKER_CONFIG", temp.path()));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("refusing to remove"), "{}", out.stderr);
    assert!(temp.path().join("config.json").exists());
}

#[test]
fn missing_ci_variable_is_named() {
    let out = run(berth()
        .args(["ci-env", "github"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SHA", SHA));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("GITHUB_REPOSITORY"), "{}", out.stderr);
}

#[test]
fn cmd_refuses_a_value_it_cannot_hold() {
    let temp = harness::temp_dir();
    let out = run(berth()
        .args(["ci-env", "generic", "--no-login", "--shell", "cmd"])
        .env("TMPDIR", temp.path())
        .env("BERTH_GIT_SHA", SHA)
        .env("BERTH_GIT_SOURCE", "https://example.com/\"x\""));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("BERTH_IMAGE_LABELS"), "{}", out.stderr);
    assert!(out.stderr.contains("--shell powershell"), "{}", out.stderr);
    // The directory made for the job is gone again.
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
}

#[test]
fn odd_values_from_the_ci_arrive_unchanged_in_every_shell() {
    let temp = harness::temp_dir();
    let odd_tmp = temp.path().join("runner $HOME `id` 'q' \"dq\" ü\nline");
    fs::create_dir(&odd_tmp).unwrap();
    let source = "https://example.com/a$b`c`'d'\"e\"\\f%g%!h!";
    for (shell_name, flag) in [
        ("bash", "bash"),
        ("zsh", "zsh"),
        ("dash", "bash"),
        ("fish", "fish"),
    ] {
        let out = run(berth()
            .args(["ci-env", "generic", "--no-login", "--shell", flag])
            .env("TMPDIR", &odd_tmp)
            .env("BERTH_GIT_SHA", SHA)
            .env("BERTH_GIT_SOURCE", source));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let script = temp.path().join(format!("script.{shell_name}"));
        fs::write(&script, &out.stdout).unwrap();
        let env = source_in(shell_name, &script);
        let dir = PathBuf::from(&env["DOCKER_CONFIG"]);
        assert_eq!(dir.parent(), Some(odd_tmp.as_path()), "{shell_name}");
        assert!(dir.join("config.json").is_file(), "{shell_name}");
        assert!(
            env["BERTH_IMAGE_LABELS"]
                .contains(&format!("org.opencontainers.image.source={source} ")),
            "{shell_name}: {}",
            env["BERTH_IMAGE_LABELS"]
        );
        fs::remove_dir_all(dir).unwrap();
    }
}

/// The output of each format for a fixed GitLab job, with the temp path and time filtered.
#[test]
fn snapshot_of_each_output_format() {
    let temp = harness::temp_dir();
    let run_with = |args: &[&str]| {
        let out = run(berth()
            .arg("ci-env")
            .args(args)
            .env("GITLAB_CI", "true")
            .env("CI_COMMIT_SHA", SHA)
            .env("CI_COMMIT_BRANCH", "feature/Snap")
            .env("CI_COMMIT_REF_NAME", "feature/Snap")
            .env("CI_REGISTRY", "registry.example.com")
            .env("CI_REGISTRY_IMAGE", "registry.example.com/group/project")
            .env("CI_PROJECT_URL", "https://gitlab.example.com/group/project")
            .env("CI_BUILDS_DIR", temp.path())
            .env("BERTH_IMAGE_TAGS", "user-chosen"));
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"/[^\s'\x22]*/berth-docker-config-[A-Za-z0-9]+",
        "[JOB_DIR]",
    );
    settings.add_filter(r"created=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "created=[TIME]");
    settings.bind(|| {
        for (name, args) in [
            ("bash", &["--no-login", "--shell", "bash"][..]),
            ("zsh", &["--no-login", "--shell", "zsh"][..]),
            ("fish", &["--no-login", "--shell", "fish"][..]),
            ("powershell", &["--no-login", "--shell", "powershell"][..]),
            ("cmd", &["--no-login", "--shell", "cmd"][..]),
            ("dotenv", &["--no-login", "--as-env-file"][..]),
        ] {
            let mut text = run_with(args);
            if name == "dotenv" {
                // --as-env-file prints the path of the file it wrote.
                text = fs::read_to_string(text.trim_end()).unwrap();
            }
            insta::assert_snapshot!(format!("ci_env_{name}"), text);
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn login_stores_a_verified_login_inline() {
    for auth in [Auth::Htpasswd, Auth::Token] {
        let registry = TestRegistry::start(auth);
        private_image(&registry, "login/app").await;
        let temp = harness::temp_dir();
        let config_dir = temp.path().join("docker");
        fs::create_dir(&config_dir).unwrap();
        fs::write(
            config_dir.join("config.json"),
            r#"{"credsStore":"desktop","auths":{"quay.io":{"auth":"dTpw"}},"psFormat":"table"}"#,
        )
        .unwrap();
        let mut child = berth()
            .args(["login", &registry.host(), "-u", USER, "--password-stdin"])
            .env("DOCKER_CONFIG", &config_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{auth:?}: {stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
        // The user's credsStore would shadow the entry: berth says so and leaves it alone.
        assert!(stderr.contains("credsStore = desktop"), "{stderr}");
        let path = config_dir.join("config.json");
        assert_eq!(mode(&path), 0o600);
        let config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(config["credsStore"], "desktop");
        assert_eq!(config["psFormat"], "table");
        assert_eq!(config["auths"]["quay.io"]["auth"], "dTpw");
        assert!(config["auths"][registry.host()]["auth"].is_string());
        let image = format!("{}/login/app:v1", registry.host());
        assert_eq!(skopeo_inspect(&path, &image).code, 0);
    }
}

#[test]
fn login_errors_say_what_went_wrong_and_store_nothing() {
    let registry = TestRegistry::start(Auth::Htpasswd);
    let temp = harness::temp_dir();
    let config_dir = temp.path().join("docker");
    let login = |host: &str, password: &str| {
        run(berth()
            .args(["login", host, "-u", USER])
            .env("BERTH_PASSWORD", password)
            .env("DOCKER_CONFIG", &config_dir))
    };
    let out = login(&registry.host(), "not-the-password");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("rejected the credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not-the-password"));
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_host = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = login(&closed_host, PASSWORD);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    assert!(!config_dir.join("config.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_auth_config_is_used_when_it_is_all_there_is() {
    use base64::Engine;
    let registry = TestRegistry::start(Auth::Htpasswd);
    private_image(&registry, "auth-config/app").await;
    let temp = harness::temp_dir();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let auth_config = format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        registry.host()
    );
    let job = |extra: &[&str], auth_config: Option<&str>| {
        let mut cmd = berth();
        cmd.args(["ci-env", "generic", "--no-login"])
            .args(extra)
            .env("TMPDIR", temp.path())
            .env("BERTH_GIT_SHA", SHA);
        if let Some(text) = auth_config {
            cmd.env("DOCKER_AUTH_CONFIG", text);
        }
        run(&mut cmd)
    };
    // No ~/.docker/config.json (fresh HOME): DOCKER_AUTH_CONFIG is used without the flag.
    let out = job(&[], Some(&auth_config));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains(&auth),
        "the script leaks the auth config"
    );
    let job_dir = only_dir(temp.path());
    let image = format!("{}/auth-config/app:v1", registry.host());
    let inspected = skopeo_inspect(&job_dir.join("config.json"), &image);
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
    assert_eq!(mode(&job_dir.join("config.json")), 0o600);
    fs::remove_dir_all(&job_dir).unwrap();
    // The flag without the variable is a usage error that says what to set.
    let out = job(&["--use-docker-auth-config"], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("DOCKER_AUTH_CONFIG is empty"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
}
