//! Image naming (DESIGN §6): `berth name` on every example of the seeds' werf naming tables,
//! and cleanups of multi-image projects from `images:` in berth.yaml, monorepo (one
//! repository, `IMAGE-` tag prefixes) and multirepo (one repository per image).

use crate::harness::{self, run};

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
