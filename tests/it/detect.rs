//! `berth detect` through the binary: every host pattern, the GitLab CI cases, the override,
//! the repo mode of every seed example, the credential sources (named, never shown), and the
//! usage errors.

use std::path::Path;

use crate::harness::layout::Layout;
use crate::harness::{Output, berth, run, temp_dir};

/// A docker config with an inline login for quay.io and Docker Hub and a credential helper
/// for one ECR registry (never run: detect only names it).
fn docker_config(dir: &Path) {
    std::fs::write(
        dir.join("config.json"),
        r#"{
  "auths": {
    "quay.io": {"username": "robot", "password": "quay-password-value"},
    "https://index.docker.io/v1/": {"username": "hubuser", "password": "hub-password-value"}
  },
  "credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}
}"#,
    )
    .unwrap();
}

fn detect(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run(berth()
        .arg("--docker-config")
        .arg(config)
        .arg("detect")
        .args(args)
        .envs(env.iter().copied()))
}

/// Every case as `$ [ENV…] berth detect ARGS`, then what it printed, with the docker config
/// directory (a temp dir) shown as `[DOCKER_CONFIG]`.
/// One run: the arguments after `detect`, and the variables set for it.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

fn table(config: &Path, cases: &[Case]) -> String {
    let mut out = String::new();
    for (args, env) in cases {
        let result = detect(config, args, env);
        assert_eq!(result.code, 0, "{args:?}: {}", result.stderr);
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        out.push_str(&format!(
            "$ {}berth detect {}\n{}\n",
            env.concat(),
            args.join(" "),
            result.stdout
        ));
    }
    out.replace(&config.display().to_string(), "[DOCKER_CONFIG]")
}

#[test]
fn every_host_pattern_ci_case_override_and_seed_example() {
    let config = temp_dir();
    docker_config(config.path());
    let gitlab_job: &[(&str, &str)] = &[
        ("GITLAB_CI", "true"),
        ("CI_REGISTRY", "gitlab.example.com:5050"),
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
        ("CI_PROJECT_PATH", "group/project"),
        ("CI_JOB_TOKEN", "job-token-value"),
    ];
    let cases: &[Case] = &[
        // Docker Hub: the seeds' account `flant` is a namespace, `flant/project` a repository.
        (&["flant"], &[]),
        (
            &["flant/project"],
            &[("BERTH_DOCKERHUB_TOKEN", "hub-token-value")],
        ),
        (&["index.docker.io/flant"], &[]),
        (&["index.docker.io/library/alpine"], &[]),
        (
            &["registry-1.docker.io/flant/project"],
            &[
                ("BERTH_DOCKERHUB_USERNAME", "hubuser"),
                ("BERTH_DOCKERHUB_PASSWORD", "hub-pat-value"),
            ],
        ),
        (
            &["registry.hub.docker.com/flant/project"],
            &[("BERTH_DOCKERHUB_USERNAME", "hubuser")],
        ),
        // GitHub Packages: ghcr.io/OWNER and docker.pkg.github.com/OWNER/PROJECT are namespaces.
        (&["ghcr.io"], &[]),
        (
            &["ghcr.io/company"],
            &[("GITHUB_TOKEN", "github-token-value")],
        ),
        (
            &["ghcr.io/company/app"],
            &[
                ("BERTH_GITHUB_TOKEN", "berth-github-token-value"),
                ("GITHUB_TOKEN", "github-token-value"),
            ],
        ),
        (&["docker.pkg.github.com/company/project"], &[]),
        (
            &["docker.pkg.github.com/company/project/app"],
            &[(
                "GITHUB_GRAPHQL_URL",
                "https://github.example.com/api/graphql",
            )],
        ),
        // GitLab: nested, multirepo at any depth.
        (&["registry.gitlab.com/group/project"], &[]),
        (
            &["gitlab.com/group/project"],
            &[("BERTH_GITLAB_TOKEN", "gitlab-token-value")],
        ),
        (&["gitlab.example.com:5050/group/project"], gitlab_job),
        (
            &["registry.example.com/group/project"],
            &[("GITLAB_CI", "true")],
        ),
        // Without GITLAB_CI the same host is nothing in particular.
        (&["registry.example.com/group/project"], &[]),
        (&["123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"], &[]),
        (
            &["123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app"],
            &[],
        ),
        (
            &["123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app"],
            &[],
        ),
        (&["myregistry.azurecr.io/team/app"], &[]),
        (&["myregistry.azurecr.io"], &[]),
        (&["contoso.azurecr.cn/group/sub/app"], &[]),
        (
            &["contoso.azurecr.us/app"],
            &[("AZURE_CLIENT_ID", "0c5d2f51-8a5e-4a4b-9a51-3f1c1e2d3b4a")],
        ),
        (&["gcr.io/project/app"], &[]),
        (&["eu.gcr.io/project/app"], &[]),
        (&["europe-west3-docker.pkg.dev/project/repo/app"], &[]),
        (
            &["europe-west1-docker.pkg.dev/project/repository/team/image"],
            &[],
        ),
        (&["quay.io/company"], &[]),
        (&["quay.io/company/app"], &[]),
        (&["quay.example.com/company/app"], &[]),
        (&["harbor.example.com/library/app"], &[]),
        (&["demo.goharbor.io/project/app"], &[]),
        (&["company.jfrog.io/docker/app"], &[]),
        (&["cr.yandex/crp123/app"], &[]),
        (&["localhost:5000"], &[]),
        (&["localhost:5000/team/app"], &[]),
        // The override, by flag and by its env twin; `auto` is detection.
        (
            &["--container-registry", "nexus", "nexus.example.com/app"],
            &[],
        ),
        (
            &["ghcr.io/company/app"],
            &[("BERTH_CONTAINER_REGISTRY", "default")],
        ),
        (
            &["--container-registry", "auto", "ghcr.io/company/app"],
            &[("BERTH_CONTAINER_REGISTRY", "quay")],
        ),
        (
            &[
                "--container-registry",
                "github",
                "packages.example.com/company/app",
            ],
            &[],
        ),
    ];
    insta::assert_snapshot!("detect_table", table(config.path(), cases));
}

#[test]
fn json_reports_and_the_oci_layout() {
    let config = temp_dir();
    docker_config(config.path());
    let layout = Layout::new();
    layout.images(&[]);
    let oci = format!("oci:{}", layout.0.path().display());
    let mut out = String::new();
    for (repo, env) in [
        (
            "ghcr.io/company/app",
            &[("GITHUB_TOKEN", "github-token-value")][..],
        ),
        (
            "gitlab.example.com:5050/group/project",
            &[
                ("GITLAB_CI", "true"),
                ("CI_REGISTRY", "gitlab.example.com:5050"),
                ("CI_PROJECT_ID", "42"),
                ("CI_JOB_TOKEN", "job-token-value"),
            ][..],
        ),
        ("flant", &[][..]),
        (oci.as_str(), &[][..]),
    ] {
        let result = detect(config.path(), &["--output", "json", repo], env);
        assert_eq!(result.code, 0, "{repo}: {}", result.stderr);
        let parsed: serde_json::Value = serde_json::from_str(&result.stdout).expect("JSON");
        // Exactly the issue's keys plus `credentials` (serde_json's map is sorted by key).
        let keys: Vec<&str> = parsed
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "capabilities",
                "container_registry",
                "credentials",
                "detected_by",
                "nested_repositories",
                "repo_mode",
                "repository",
                "schema"
            ]
        );
        out.push_str(&result.stdout);
    }
    let out = out
        .replace(&config.path().display().to_string(), "[DOCKER_CONFIG]")
        .replace(&layout.0.path().display().to_string(), "[LAYOUT]");
    insta::assert_snapshot!("detect_json", out);

    let text = detect(config.path(), &[&oci], &[]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("container registry:        oci\n")
            && text
                .stdout
                .contains("the `oci:` prefix: an OCI image layout on disk"),
        "{}",
        text.stdout
    );

    // A path that holds no layout is said, naming the path.
    let missing = format!("oci:{}/nowhere", layout.0.path().display());
    let result = detect(config.path(), &[&missing], &[]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    assert!(
        result.stderr.contains("nowhere") && result.stderr.contains("oci-layout"),
        "{}",
        result.stderr
    );
}

#[test]
fn the_login_source_is_a_helper_a_store_or_nothing() {
    let config = temp_dir();
    std::fs::write(
        config.path().join("config.json"),
        r#"{"credHelpers": {"ghcr.io": "pass"}, "credsStore": "desktop"}"#,
    )
    .unwrap();
    let login = |repo: &str, dir: &Path| {
        let result = detect(dir, &["-o", "json", repo], &[]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        let parsed: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
        parsed["credentials"]["registry_login"]
            .as_str()
            .unwrap()
            .replace(&dir.display().to_string(), "[DIR]")
    };
    assert_eq!(
        login("ghcr.io/owner/app", config.path()),
        "credential helper `pass` (credHelpers in [DIR]/config.json)"
    );
    assert_eq!(
        login("quay.io/owner/app", config.path()),
        "credsStore `desktop` ([DIR]/config.json)"
    );
    let empty = temp_dir();
    assert_eq!(
        login("quay.io/owner/app", empty.path()),
        "none (anonymous): [DIR]/config.json has no login for quay.io; run `berth login quay.io`"
    );
    // A config berth cannot use is said (every other command would stop on it), value unshown.
    let broken = temp_dir();
    std::fs::write(
        broken.path().join("config.json"),
        r#"{"auths": {"ghcr.io": {"auth": "s3cret not base64"}}}"#,
    )
    .unwrap();
    let said = login("ghcr.io/owner/app", broken.path());
    assert!(
        said.starts_with("cannot use the docker config [DIR]/config.json")
            && said.contains("not base64")
            && !said.contains("s3cret"),
        "{said}"
    );
}

#[test]
fn no_secret_value_is_ever_printed() {
    let config = temp_dir();
    std::fs::write(
        config.path().join("config.json"),
        r#"{"auths": {
            "ghcr.io": {"auth": "dXNlcjpzM2NyZXQtaW4tYXV0aHM="},
            "registry.gitlab.com": {"username": "u", "password": "s3cret-password-field"},
            "quay.io": {"identitytoken": "s3cret-identity-token"}
        }}"#,
    )
    .unwrap();
    let secrets = [
        ("BERTH_GITHUB_TOKEN", "s3cret-berth-github"),
        ("GITHUB_TOKEN", "s3cret-github"),
        ("BERTH_GITLAB_TOKEN", "s3cret-berth-gitlab"),
        ("CI_JOB_TOKEN", "s3cret-job"),
        ("BERTH_DOCKERHUB_TOKEN", "s3cret-hub-token"),
        ("BERTH_DOCKERHUB_PASSWORD", "s3cret-hub-password"),
        ("BERTH_PASSWORD", "s3cret-berth-password"),
    ];
    let shown = [
        "s3cret",
        // base64 of `user:s3cret-in-auths`, and its decoded half.
        "dXNlcjpzM2NyZXQtaW4tYXV0aHM",
    ];
    let mut env = secrets.to_vec();
    env.push(("BERTH_DOCKERHUB_USERNAME", "hubuser"));
    env.push(("GITLAB_CI", "true"));
    for repo in [
        "ghcr.io/owner/app",
        "docker.pkg.github.com/owner/project",
        "registry.gitlab.com/group/project",
        "flant/project",
        "quay.io/company/app",
        "localhost:5000/app",
    ] {
        for output in ["text", "json"] {
            let result = detect(config.path(), &["-vv", "--output", output, repo], &env);
            assert_eq!(result.code, 0, "{repo}: {}", result.stderr);
            for needle in shown {
                assert!(
                    !result.stdout.contains(needle) && !result.stderr.contains(needle),
                    "{repo} {output} printed a secret:\n{}\n{}",
                    result.stdout,
                    result.stderr
                );
            }
            // The variables are named instead.
            assert!(
                result.stdout.contains("BERTH_")
                    || result.stdout.contains("`auths` entry")
                    || repo.starts_with("localhost"),
                "{repo} {output}: {}",
                result.stdout
            );
        }
    }
}

#[test]
fn bad_usage_is_exit_2_naming_the_input() {
    let config = temp_dir();
    let unknown = detect(
        config.path(),
        &["--container-registry", "foo", "ghcr.io/owner/app"],
        &[],
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stdout);
    assert!(unknown.stderr.contains("`foo`"), "{}", unknown.stderr);
    for kind in [
        "auto",
        "default",
        "dockerhub",
        "github",
        "gitlab",
        "harbor",
        "quay",
        "acr",
        "ecr",
        "gcr",
        "jfrog",
        "nexus",
        "yandex",
    ] {
        assert!(unknown.stderr.contains(kind), "{kind}: {}", unknown.stderr);
    }
    let from_env = detect(
        config.path(),
        &["ghcr.io/owner/app"],
        &[("BERTH_CONTAINER_REGISTRY", "artifactory")],
    );
    assert_eq!(from_env.code, 2, "{}", from_env.stdout);
    assert!(
        from_env.stderr.contains("`artifactory`"),
        "{}",
        from_env.stderr
    );

    for (repo, why) in [
        ("ghcr.io/owner/app:v1", "names an image"),
        (
            "ghcr.io/owner/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "names an image",
        ),
        ("ghcr.io/Owner/app", "must be lowercase"),
        ("bad_host:99999", "not a registry host"),
    ] {
        let result = detect(config.path(), &[repo], &[]);
        assert_eq!(result.code, 2, "{repo}: {}", result.stdout);
        assert!(
            result.stderr.contains(&format!("`{repo}`")) && result.stderr.contains(why),
            "{repo}: {}",
            result.stderr
        );
        assert!(result.stdout.is_empty(), "{repo}: {}", result.stdout);
    }

    let markdown = detect(config.path(), &["-o", "markdown", "ghcr.io/owner/app"], &[]);
    assert_eq!(markdown.code, 2, "{}", markdown.stdout);
    assert!(
        markdown.stderr.contains("text, json"),
        "{}",
        markdown.stderr
    );
}
