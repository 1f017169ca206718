//! What the composite action relies on from berth: an input left empty reaches berth as an
//! empty `BERTH_*` variable, which must behave as unset; and the action itself, run by
//! `harness::actions` as GitHub runs a composite: install from a loopback release mirror,
//! `ci-env` against the real registry, a later step using the login.

use std::path::PathBuf;

use crate::harness::actions::run_action;
use crate::harness::release::{Mirror, VERSION};
use crate::harness::skopeo::skopeo;
use crate::harness::{
    Auth, ImageSpec, PASSWORD, Seeder, TestRegistry, USER, berth, run, run as run_cmd, temp_dir,
};

#[test]
fn empty_berth_variables_are_unset() {
    let repo = crate::harness::temp_dir();
    let out = run(berth()
        .current_dir(repo.path())
        .args(["detect", "ghcr.io/o/app"])
        .env("BERTH_OUTPUT", "")
        .env("BERTH_CONTAINER_REGISTRY", "")
        .env("BERTH_DRY_RUN", "")
        .env("BERTH_REPO", ""));
    assert_eq!(
        out.code, 0,
        "an empty variable was taken as a value: {out:?}"
    );
    assert!(
        out.stdout.contains("container registry:        github"),
        "{out:?}"
    );
    // A non-empty bad value is still refused, so the variables are really read.
    let out = run(berth()
        .current_dir(repo.path())
        .args(["detect", "ghcr.io/o/app"])
        .env("BERTH_OUTPUT", "yaml"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("'yaml'"), "{out:?}");
}

const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const TARGET: &str = "x86_64-unknown-linux-musl";

/// The variables GitHub sets in a push job on `feature/Login`, with `BERTH_BASE_URL` pointing
/// install.sh at the loopback mirror.
fn job_env(mirror: &Mirror) -> Vec<(String, String)> {
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
        ("RUNNER_OS", "Linux"),
        ("RUNNER_ARCH", "X64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("BERTH_BASE_URL".to_string(), mirror.base_url())])
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_action_installs_from_the_release_logs_in_and_a_later_step_pulls() {
    let registry = TestRegistry::start(Auth::Htpasswd);
    Seeder::new(&registry)
        .push_image("octo-org/app", "v1", &ImageSpec::new("octo-org/app"))
        .await;
    let mirror = Mirror::new(TARGET);
    let temp = temp_dir();
    let runner_temp = temp.path().join("runner");
    let host = registry.host();
    let run = run_action(
        &[("version", VERSION), ("registry", &host)],
        &job_env(&mirror),
        PASSWORD,
        &runner_temp,
    );
    assert_eq!(run.code, 0, "{}", run.log);
    assert_eq!(run.steps_run, ["install", "berth"]);
    assert!(!run.log.contains(&format!("={PASSWORD}")), "{}", run.log);

    // The installed berth (from the archive, not this checkout's path) is on GITHUB_PATH.
    let bin_dir = runner_temp.join("berth/bin");
    assert_eq!(run.path, std::slice::from_ref(&bin_dir));
    assert_eq!(
        run.outputs["berth-path"],
        bin_dir.join("berth").display().to_string()
    );
    assert!(bin_dir.join("berth").is_file());

    // Outputs in docker/metadata-action's formats.
    let repo = format!("{host}/octo-org/app");
    assert_eq!(run.outputs["repo"], repo);
    let tags: Vec<&str> = run.outputs["tags"].lines().collect();
    assert_eq!(
        tags,
        [
            format!("{repo}:{SHA}"),
            format!("{repo}:sha-1a2b3c4"),
            format!("{repo}:feature-login-1a2b3c4"),
            format!("{repo}:feature-login"),
        ]
    );
    assert!(
        run.outputs["labels"]
            .lines()
            .any(|l| l == format!("org.opencontainers.image.revision={SHA}")),
        "{}",
        run.outputs["labels"]
    );
    let json: serde_json::Value = serde_json::from_str(&run.outputs["json"]).expect("json output");
    assert_eq!(json["tags"], serde_json::json!(tags));
    assert_eq!(json["labels"]["org.opencontainers.image.revision"], SHA);

    // A later step sees DOCKER_CONFIG (a per-job dir under RUNNER_TEMP) and skopeo, an
    // independent client, reads the private image with the login berth wrote there.
    let docker_config = PathBuf::from(&run.env["DOCKER_CONFIG"]);
    assert_eq!(
        run.outputs["docker-config"],
        docker_config.display().to_string()
    );
    assert!(docker_config.starts_with(&runner_temp), "{docker_config:?}");
    assert_eq!(run.env["BERTH_REPO"], repo);
    let inspected = run_cmd(
        skopeo()
            .args(["inspect", "--tls-verify=false", "--authfile"])
            .arg(docker_config.join("config.json"))
            .arg(format!("docker://{repo}:v1")),
    );
    assert_eq!(inspected.code, 0, "skopeo: {}", inspected.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_release_archive_fails_the_install_and_nothing_runs() {
    let mirror = Mirror::new(TARGET);
    mirror.corrupt_archive(TARGET);
    let temp = temp_dir();
    let runner_temp = temp.path().join("runner");
    let run = run_action(
        &[("version", VERSION)],
        &job_env(&mirror),
        PASSWORD,
        &runner_temp,
    );
    assert_ne!(run.code, 0, "{}", run.log);
    assert_eq!(
        run.steps_run,
        ["install"],
        "berth ran after a failed install"
    );
    assert!(run.path.is_empty());
    assert!(!runner_temp.join("berth/bin/berth").exists());
    assert!(run.log.to_lowercase().contains("sha"), "{}", run.log);
}

#[test]
fn an_unsupported_runner_is_named() {
    let mirror = Mirror::new(TARGET);
    let mut env = job_env(&mirror);
    env.retain(|(k, _)| k != "RUNNER_OS");
    env.push(("RUNNER_OS".into(), "Windows".into()));
    let temp = temp_dir();
    let run = run_action(
        &[("version", VERSION)],
        &env,
        PASSWORD,
        &temp.path().join("runner"),
    );
    assert_ne!(run.code, 0);
    assert!(
        run.log.contains("unsupported runner: Windows/X64"),
        "{}",
        run.log
    );
}
