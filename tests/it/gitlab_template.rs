//! The GitLab template (`gitlab-ci-template.yml`, and its component copy) and berth's dotenv
//! output, checked the way GitLab checks them: the jobs part against SchemaStore's gitlab-ci
//! schema (`check-jsonschema`), and `berth ci-env gitlab --as-env-file` output with hostile
//! values through a parser that mirrors GitLab's (`Ci::ParseDotenvArtifactService`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{self, berth, run};

const TEMPLATE: &str = include_str!("../../gitlab-ci-template.yml");

/// GitLab's dotenv rules (packaging.md §2.3): every line `^(.*?)=(.*)$` with a key of
/// `[A-Za-z0-9_]`, no blank lines or comments, values stripped, no spaces (artifacts_reports.md),
/// under 5 KB and at most 20 variables (self-managed defaults).
fn gitlab_dotenv(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.len() > 5 * 1024 {
        return Err(format!("dotenv is {} bytes, over 5 KB", text.len()));
    }
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("Invalid Format: {line:?}"))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("Invalid Format: key {key:?}"));
        }
        if value.contains(char::is_whitespace) || value.starts_with(['"', '\'']) {
            return Err(format!("{key}: value {value:?} has spaces or quotes"));
        }
        vars.insert(key.to_string(), value.to_string());
    }
    if vars.len() > 20 {
        return Err(format!("{} variables, over 20", vars.len()));
    }
    Ok(vars)
}

/// Percent-decoding as the README documents it for label keys and values.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The template with each `$[[ inputs.x ]]` replaced by the input's default, as GitLab
/// interpolates an include without `inputs:`; returns the jobs part (after `---`).
fn jobs_with_defaults(template: &str) -> String {
    let (spec, jobs) = template
        .split_once("\n---\n")
        .expect("spec header, then ---");
    let mut jobs = jobs.to_string();
    let mut name = None;
    for line in spec.lines() {
        if let Some(n) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if !n.starts_with(' ') {
                name = Some(n.to_string());
            }
        }
        if let (Some(n), Some(default)) = (&name, line.trim().strip_prefix("default: ")) {
            let default = default.trim_matches('"');
            jobs = jobs.replace(&format!("$[[ inputs.{n} ]]"), default);
        }
    }
    assert!(!jobs.contains("$[["), "an input without a default: {jobs}");
    jobs
}

#[test]
fn component_copy_is_identical_to_the_template() {
    let component = include_str!("../../templates/berth.yml");
    assert_eq!(
        component, TEMPLATE,
        "templates/berth.yml must be a copy of gitlab-ci-template.yml: cp gitlab-ci-template.yml templates/berth.yml"
    );
}

#[test]
fn template_jobs_pass_the_gitlab_ci_schema() {
    let temp = harness::temp_dir();
    let jobs = jobs_with_defaults(TEMPLATE);
    assert!(jobs.contains("berth-ci-env:") && jobs.contains("berth-cleanup:"));
    assert!(jobs.contains("GIT_DEPTH: \"0\""));
    assert!(jobs.contains("dotenv: berth.env"));
    // No global keywords: every top-level key is a job.
    for line in jobs
        .lines()
        .filter(|l| !l.starts_with([' ', '-']) && !l.is_empty())
    {
        assert!(
            line.starts_with(".berth-") || line.starts_with("berth-"),
            "global keyword in the template: {line}"
        );
    }
    let path = temp.path().join("jobs.yml");
    fs::write(&path, &jobs).unwrap();
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&path)
        .output()
        .expect("check-jsonschema is not installed: pip install check-jsonschema (scripts/test.sh does)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The schema check can fail: a job with an unknown keyword is rejected.
    fs::write(&path, format!("{jobs}\nbroken:\n  scriptt: [x]\n")).unwrap();
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn gitlab_env_file(dir: &Path, branch: &str, project_url: &str) -> harness::Output {
    let path = dir.join("berth.env");
    let out = run(berth()
        .args(["ci-env", "gitlab", "--no-login", "--as-env-file", "-o"])
        .arg(&path)
        .env("GITLAB_CI", "true")
        .env("CI_COMMIT_SHA", "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d")
        .env("CI_COMMIT_BRANCH", branch)
        .env("CI_COMMIT_REF_NAME", branch)
        .env("CI_REGISTRY", "registry.example.com")
        .env("CI_REGISTRY_IMAGE", "registry.example.com/group/project")
        .env("CI_PROJECT_URL", project_url)
        .env("CI_BUILDS_DIR", dir)
        .env("BERTH_CONTAINER_REGISTRY", "default"));
    if out.code == 0 {
        harness::Output {
            stdout: fs::read_to_string(&path).unwrap(),
            ..out
        }
    } else {
        out
    }
}

#[test]
fn dotenv_output_with_hostile_values_passes_gitlabs_parser() {
    let temp = harness::temp_dir();
    let url = "https://gitlab.example.com/g/p q,r=s%t$u\nv\\w";
    let out = gitlab_env_file(temp.path(), "feat/a,b=c%d", url);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let vars = gitlab_dotenv(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout));
    assert!(!vars.contains_key("DOCKER_CONFIG"), "{vars:?}");
    assert_eq!(vars["BERTH_GIT_REF"], "refs/heads/feat/a,b=c%d");
    assert_eq!(vars["BERTH_REPO"], "registry.example.com/group/project");
    assert_eq!(
        vars["BERTH_CONTAINER_REGISTRY"], "default",
        "the user's value"
    );
    assert!(!vars["BERTH_IMAGE_TAGS"].contains(' '));
    assert!(
        vars["BERTH_IMAGE_TAGS"]
            .split(',')
            .any(|t| t == "sha-1a2b3c4")
    );
    let labels: BTreeMap<String, String> = vars["BERTH_IMAGE_LABELS"]
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("k=v");
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    assert_eq!(labels["org.opencontainers.image.source"], url);
    assert_eq!(labels["berth.git.ref"], "refs/heads/feat/a,b=c%d");
    // Java Properties (Jenkins readProperties) reads the same values: no `\` escapes in it.
    assert!(!out.stdout.contains('\\'));
}

#[test]
fn dotenv_refuses_a_value_gitlab_would_expand() {
    let temp = harness::temp_dir();
    let out = gitlab_env_file(temp.path(), "feat/$HOME", "https://gitlab.example.com/g/p");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("BERTH_GIT_REF"), "{}", out.stderr);
    assert!(out.stderr.contains("shell script output"), "{}", out.stderr);
    assert!(!temp.path().join("berth.env").exists());
}
