//! Image naming (DESIGN §6): `berth name` on every example of the seeds' werf naming tables,
//! and cleanups of multi-image projects from `images:` in berth.yaml, monorepo (one
//! repository, `IMAGE-` tag prefixes) and multirepo (one repository per image).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};

use crate::fixtures::Fixture;
use crate::harness::{self, Auth, ImageSpec, Seeder, TestRegistry, run};

/// `berth name ARGS` in an empty working directory (no berth.yaml).
fn name(args: &[&str]) -> harness::Output {
    let dir = harness::temp_dir();
    run(harness::berth()
        .arg("name")
        .args(args)
        .current_dir(dir.path()))
}

#[test]
fn the_seeds_naming_table() {
    // (arguments, why the row is there)
    let rows: &[(&[&str], &str)] = &[
        // 003: Docker Hub account foo, images frontend and backend.
        (
            &["frontend", "--repo", "foo", "--tag", "tag"],
            "Docker Hub namespace: multirepo",
        ),
        (
            &["backend", "--repo", "foo", "--tag", "tag"],
            "Docker Hub namespace: multirepo",
        ),
        (
            &["frontend", "--repo", "foo/project", "--tag", "tag"],
            "Docker Hub repository: monorepo",
        ),
        (
            &["backend", "--repo", "foo/project", "--tag", "tag"],
            "Docker Hub repository: monorepo",
        ),
        // 000: the Docker Hub account flant.
        (
            &["frontend", "--repo", "flant", "--tag", "tag"],
            "Docker Hub namespace: multirepo",
        ),
        (
            &["backend", "--repo", "flant/project", "--tag", "tag"],
            "Docker Hub repository: monorepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "index.docker.io/library",
                "--tag",
                "tag",
            ],
            "Docker Hub namespace with its host",
        ),
        // 003: GitHub repository github.com/company/project.
        (
            &[
                "frontend",
                "--repo",
                "docker.pkg.github.com/company/project",
                "--tag",
                "tag",
            ],
            "GitHub Packages project: multirepo",
        ),
        (
            &[
                "backend",
                "--repo",
                "docker.pkg.github.com/company/project",
                "--tag",
                "tag",
            ],
            "GitHub Packages project: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "docker.pkg.github.com/company/project/app",
                "--tag",
                "tag",
            ],
            "GitHub Packages package: monorepo",
        ),
        (
            &[
                "backend",
                "--repo",
                "docker.pkg.github.com/company/project/app",
                "--tag",
                "tag",
            ],
            "GitHub Packages package: monorepo",
        ),
        // 003: the Quay organisation quay.io/company.
        (
            &["frontend", "--repo", "quay.io/company", "--tag", "tag"],
            "Quay organisation: multirepo",
        ),
        (
            &["backend", "--repo", "quay.io/company", "--tag", "tag"],
            "Quay organisation: multirepo",
        ),
        (
            &["frontend", "--repo", "quay.io/company/app", "--tag", "tag"],
            "Quay repository: monorepo",
        ),
        (
            &["backend", "--repo", "quay.io/company/app", "--tag", "tag"],
            "Quay repository: monorepo",
        ),
        // Registries that nest repositories: multirepo at any depth, monorepo when asked.
        (
            &["frontend", "--repo", "gcr.io/project", "--tag", "tag"],
            "GCR nests: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "eu.gcr.io/project/app",
                "--tag",
                "tag",
            ],
            "GCR nests: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "europe-west1-docker.pkg.dev/project/repository",
                "--tag",
                "tag",
            ],
            "Artifact Registry nests below project/repository: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "registry.gitlab.com/group/project",
                "--tag",
                "tag",
            ],
            "GitLab nests: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "registry.gitlab.com/group/project",
                "--repo-mode",
                "monorepo",
                "--tag",
                "tag",
            ],
            "GitLab, monorepo asked for",
        ),
        (
            &[
                "frontend",
                "--repo",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/project",
                "--tag",
                "tag",
            ],
            "ECR nests: multirepo",
        ),
        // The seeds' Azure CR row: registry + multirepo, repository + monorepo or multirepo.
        (
            &[
                "frontend",
                "--repo",
                "myregistry.azurecr.io",
                "--tag",
                "tag",
            ],
            "ACR registry: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "myregistry.azurecr.io/team/project",
                "--tag",
                "tag",
            ],
            "ACR nests: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "myregistry.azurecr.io/project",
                "--repo-mode",
                "monorepo",
                "--tag",
                "tag",
            ],
            "ACR, monorepo asked for",
        ),
        (
            &["frontend", "--repo", "localhost:5000", "--tag", "tag"],
            "a registry alone: multirepo",
        ),
        (
            &[
                "frontend",
                "--repo",
                "ghcr.io/acme",
                "--tag",
                "sha-1a2b3c4",
                "--tag",
                "main",
            ],
            "ghcr owner: multirepo, two tags",
        ),
        (
            &["frontend", "--repo", "ghcr.io/acme/app"],
            "ghcr repository, no tag: the placeholder",
        ),
        // The unnamed image is REPO itself in either mode.
        (
            &["~", "--repo", "foo/project", "--tag", "tag"],
            "unnamed on Docker Hub",
        ),
        (
            &[
                "",
                "--repo",
                "registry.gitlab.com/group/project",
                "--repo-mode",
                "multirepo",
                "--tag",
                "tag",
            ],
            "unnamed, empty name, multirepo",
        ),
        // What names no image: exit 2, saying why.
        (
            &[
                "frontend",
                "--repo",
                "ghcr.io",
                "--repo-mode",
                "monorepo",
                "--tag",
                "tag",
            ],
            "monorepo on a registry",
        ),
        (
            &["~", "--repo", "ghcr.io", "--tag", "tag"],
            "unnamed on a registry",
        ),
        (
            &["~", "--repo", "foo", "--tag", "tag"],
            "unnamed on a Docker Hub namespace",
        ),
        (
            &[
                "frontend",
                "--repo",
                "quay.io/company",
                "--repo-mode",
                "monorepo",
            ],
            "monorepo on a Quay organisation",
        ),
        (
            &[
                "frontend",
                "--repo",
                "foo/project",
                "--repo-mode",
                "multirepo",
            ],
            "multirepo below a Docker Hub repository",
        ),
        (&["Frontend", "--repo", "foo"], "not an image name"),
        (
            &["frontend", "--repo", "foo/project", "--tag=.x"],
            "not a tag",
        ),
    ];
    let mut table = String::new();
    for (args, why) in rows {
        let out = name(args);
        table.push_str(&format!("# {why}\n$ berth name {}\n", shown(args)));
        table.push_str(&out.stdout);
        if !out.stderr.is_empty() {
            table.push_str(&format!("stderr: {}", out.stderr));
        }
        table.push_str(&format!("exit {}\n\n", out.code));
        let want = if is_error_row(why) { 2 } else { 0 };
        assert_eq!(out.code, want, "{why}: {out:?}");
    }
    insta::assert_snapshot!("name_table", table);
}

/// The rows under "What names no image".
fn is_error_row(why: &str) -> bool {
    [
        "monorepo on a",
        "unnamed on a",
        "multirepo below",
        "not an image",
        "not a tag",
    ]
    .iter()
    .any(|p| why.starts_with(p))
}

/// Arguments as a shell would take them back.
fn shown(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(['~', '{']) {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_mode_comes_from_berth_yaml_unless_the_flag_says_otherwise() {
    let dir = harness::temp_dir();
    std::fs::write(dir.path().join("berth.yaml"), "repo_mode: monorepo\n").unwrap();
    let at = |extra: &[&str]| {
        run(harness::berth()
            .args(["name", "web", "--repo", "127.0.0.1:5000/shop", "--tag", "t"])
            .args(extra)
            .current_dir(dir.path()))
    };
    let out = at(&[]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "127.0.0.1:5000/shop:web-t\n"),
        "{out:?}"
    );
    let out = at(&["--repo-mode", "auto"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "127.0.0.1:5000/shop/web:t\n"),
        "{out:?}"
    );
    let out = at(&["-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["repo_mode"], "monorepo");
    assert_eq!(json["repo_mode_by"], "config");
    assert_eq!(json["tag_prefix"], "web-");
    assert_eq!(json["container_registry"], "default");
}

/// An image built `hours` ago, tied to `git_ref` by its label as `ci-env` labels builds.
fn built(unique: &str, hours: i64, git_ref: &str) -> ImageSpec {
    let at = Utc::now() - Duration::hours(hours) + Duration::minutes(5);
    ImageSpec::new(unique)
        .created(&at.to_rfc3339())
        .label("berth.git.ref", git_ref)
}

fn sha7(commit: &str) -> String {
    format!("sha-{}", &commit[..7])
}

/// A project with `main`, a live branch `live` and a branch `feature/gone` deleted on the
/// remote after its images were built; returns the fixture, the CI clone, and the commits of
/// main, live and the gone branch.
fn project() -> (Fixture, std::path::PathBuf, [String; 3]) {
    let f = Fixture::new();
    let m1 = f.commit_ago("main", "m1", 48);
    let l1 = f.commit_ago("live", "l1", 30);
    let g1 = f.commit_ago("feature/gone", "g1", 26);
    f.git(&["checkout", "-q", "main"]);
    f.push_all();
    f.delete_remote_branch("feature/gone");
    let clone = f.clone_ci();
    (f, clone, [m1, l1, g1])
}

/// `berth cleanup --repo REPO` with `berth.yaml` holding `yaml`; the JSON report.
fn cleanup(f: &Fixture, clone: &Path, repo: &str, yaml: &str) -> serde_json::Value {
    let config = f.root().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();
    let out = run(harness::berth()
        .env("XDG_CACHE_HOME", f.root().join("cache"))
        .args(["cleanup", "--repo", repo, "--output", "json", "--config"])
        .arg(&config)
        .arg("--git-dir")
        .arg(clone));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// The reason of every tag of every repository in a report: `repo tag` → `action: reason`.
fn reasons(report: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for repo in report["repos"].as_array().unwrap() {
        for t in repo["tags"].as_array().unwrap() {
            out.insert(
                format!(
                    "{} {}",
                    repo["repo"].as_str().unwrap(),
                    t["tag"].as_str().unwrap()
                ),
                format!("{}: {}", t["action"].as_str().unwrap(), t["reason"]),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monorepo_cleanup_reads_each_image_prefix_off_before_linking() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let (f, clone, [m1, l1, g1]) = project();
    let images = vec![
        (
            format!("frontend-{}", sha7(&m1)),
            built("f-m1", 48, "refs/heads/main"),
        ),
        (
            "backend-main".to_string(),
            built("b-main", 48, "refs/heads/main"),
        ),
        (
            "backend-live".to_string(),
            built("b-live", 30, "refs/heads/live"),
        ),
        (
            format!("frontend-{}", sha7(&l1)),
            built("f-l1", 30, "refs/heads/live"),
        ),
        (
            "backend-feature-gone".to_string(),
            built("b-gone", 26, "refs/heads/feature/gone"),
        ),
        (
            format!("frontend-{}", sha7(&g1)),
            built("f-g1", 26, "refs/heads/feature/gone"),
        ),
        // No image prefix: nothing ties it to git.
        (
            "latest".to_string(),
            built("latest", 26, "refs/heads/feature/gone"),
        ),
    ];
    seeder.push_images("shop", &images).await;
    let repo = format!("{}/shop", registry.host());

    let report = cleanup(
        &f,
        &clone,
        &repo,
        "images: [frontend, backend]\nrepo_mode: monorepo\n",
    );
    let why = reasons(&report);
    let left = seeder.tags("shop").await;
    let gone = [
        "backend-feature-gone".to_string(),
        format!("frontend-{}", sha7(&g1)),
    ];
    for (tag, _) in &images {
        let key = format!("{repo} {tag}");
        assert_eq!(
            left.contains_key(tag),
            !gone.contains(tag),
            "{tag}: {}",
            why[&key]
        );
    }
    assert!(
        why[&format!("{repo} backend-feature-gone")].contains("branch feature/gone"),
        "{why:#?}"
    );
    assert!(
        why[&format!("{repo} latest")].contains("starts with none of the images' prefixes"),
        "{why:#?}"
    );
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("is a monorepo")),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multirepo_cleanup_cleans_every_image_repository_of_one_images_list() {
    let registry = TestRegistry::start(Auth::None);
    let seeder = Seeder::new(&registry);
    let (f, clone, [m1, l1, g1]) = project();
    for image in ["frontend", "backend"] {
        let images = vec![
            (
                sha7(&m1),
                built(&format!("{image}-m1"), 48, "refs/heads/main"),
            ),
            (
                "live".to_string(),
                built(&format!("{image}-live"), 30, "refs/heads/live"),
            ),
            (
                sha7(&l1),
                built(&format!("{image}-l1"), 30, "refs/heads/live"),
            ),
            (
                "feature-gone".to_string(),
                built(&format!("{image}-gone"), 26, "refs/heads/feature/gone"),
            ),
            (
                sha7(&g1),
                built(&format!("{image}-g1"), 26, "refs/heads/feature/gone"),
            ),
        ];
        seeder
            .push_images(&format!("project/{image}"), &images)
            .await;
    }
    let repo = format!("{}/project", registry.host());

    // `auto` on a registry that nests repositories: multirepo.
    let report = cleanup(&f, &clone, &repo, "images: [frontend, backend]\n");
    let cleaned: Vec<&str> = report["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repo"].as_str().unwrap())
        .collect();
    assert_eq!(
        cleaned,
        [format!("{repo}/frontend"), format!("{repo}/backend")],
        "{report:#}"
    );
    for image in ["frontend", "backend"] {
        let left: Vec<String> = seeder
            .tags(&format!("project/{image}"))
            .await
            .into_keys()
            .collect();
        let mut want = vec![sha7(&m1), sha7(&l1), "live".to_string()];
        want.sort();
        assert_eq!(left, want, "{image}: {:#?}", reasons(&report));
    }
}

#[test]
fn images_that_name_no_repository_stop_the_cleanup_before_any_request() {
    let f = Fixture::new();
    f.commit_ago("main", "m1", 1);
    f.push_all();
    let clone = f.clone_ci();
    let config = f.root().join("berth.yaml");
    std::fs::write(&config, "images: [web]\nrepo_mode: monorepo\n").unwrap();
    let out = run(harness::berth()
        .args(["cleanup", "--repo", "127.0.0.1:9", "--config"])
        .arg(&config)
        .arg("--git-dir")
        .arg(&clone));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "--repo 127.0.0.1:9 with the images of {}: monorepo needs a repository, \
             `127.0.0.1:9` is only a registry: give REPO as 127.0.0.1:9/APP or use multirepo"
                .replace("{}", &config.display().to_string())
                .as_str()
        ),
        "{}",
        out.stderr
    );
}

const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

/// `berth ci-env --no-login ARGS` with berth.yaml holding `yaml` and the CI's variables `env`;
/// the script (or, with `--as-env-file`, the file it wrote).
fn ci_env(yaml: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let temp = harness::temp_dir();
    let config = temp.path().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();
    let out = run(harness::berth()
        .arg("--config")
        .arg(&config)
        .args(["ci-env", "--no-login"])
        .args(args)
        .envs(env.iter().copied())
        .env("TMPDIR", temp.path())
        .env("RUNNER_TEMP", temp.path())
        .env("CI_BUILDS_DIR", temp.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = if args.contains(&"--as-env-file") {
        std::fs::read_to_string(out.stdout.trim_end()).unwrap()
    } else {
        out.stdout
    };
    let job_dir = regex::Regex::new(r"/[^\s'\x22]*/berth-docker-config-[A-Za-z0-9]+").unwrap();
    let time = regex::Regex::new(r"created=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = job_dir.replace_all(&text, "[JOB_DIR]");
    time.replace_all(&text, "created=[TIME]").into_owned()
}

#[test]
fn ci_env_exports_the_image_names_and_each_images_references() {
    let gitlab = [
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_SHA", SHA),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_REGISTRY", "registry.example.com"),
        ("CI_REGISTRY_IMAGE", "registry.example.com/group/project"),
    ];
    let yaml = "images: [frontend, api-v2, ~]\ntags: [\"sha-{sha8}\", \"{branch}\"]\n";
    let bash = ci_env(yaml, &["--shell", "bash"], &gitlab);
    let dotenv = ci_env(yaml, &["--as-env-file"], &gitlab);
    for text in [&bash, &dotenv] {
        assert!(text.contains("BERTH_CONTAINER_REGISTRY"), "{text}");
        assert!(text.contains("BERTH_IMAGE_NAMES"), "{text}");
    }
    insta::assert_snapshot!("ci_env_images_bash", bash);
    insta::assert_snapshot!("ci_env_images_dotenv", dotenv);

    // GitHub Actions: the kind is github, and a repository under an owner is a monorepo.
    let github = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_SHA", SHA),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_REF_TYPE", "branch"),
    ];
    let dotenv = ci_env(
        "images: [frontend, backend]\ntags: [\"sha-{sha7}\"]\n",
        &["--as-env-file"],
        &github,
    );
    let lines: Vec<&str> = dotenv.lines().collect();
    for want in [
        "BERTH_CONTAINER_REGISTRY=github",
        "BERTH_IMAGE_NAMES=frontend,backend",
        // ghcr.io nests packages: the Actions default REPO ghcr.io/OWNER/REPO holds one
        // package per image.
        "BERTH_IMAGE_REFS_FRONTEND=ghcr.io/acme/app/frontend:sha-1a2b3c4",
        "BERTH_IMAGE_REFS_BACKEND=ghcr.io/acme/app/backend:sha-1a2b3c4",
    ] {
        assert!(lines.contains(&want), "{want}:\n{dotenv}");
    }
}
