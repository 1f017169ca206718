//! A small GitHub-like runner for the composite `action.yml`: each `run:` step goes through
//! `bash --noprofile --norc -eo pipefail FILE` as GitHub runs it, with the step's `env:`
//! evaluated, a fresh `GITHUB_OUTPUT` per step, and `GITHUB_ENV` / `GITHUB_PATH` applied to
//! the steps after. Only the expressions the action may use are evaluated (`inputs.*`,
//! `steps.<id>.outputs.*`, `github.token`); any other expression, an `if:`, a `uses:` step or
//! a `${{ }}` inside `run:` fails the test, so the runner cannot silently lie.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

/// The repository root, which is `GITHUB_ACTION_PATH` (the action lives at the top level).
pub fn action_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a run of the action left behind.
#[derive(Debug)]
pub struct ActionRun {
    /// Exit code of the step that failed, or 0.
    pub code: i32,
    /// Ids of the steps that ran, in order.
    pub steps_run: Vec<String>,
    /// The action's outputs, evaluated from `outputs.*.value`.
    pub outputs: BTreeMap<String, String>,
    /// Variables the steps exported through `GITHUB_ENV`.
    pub env: BTreeMap<String, String>,
    /// Directories the steps added through `GITHUB_PATH`.
    pub path: Vec<PathBuf>,
    /// Every step's stdout and stderr.
    pub log: String,
}

/// Runs `action.yml` with `with` as its inputs, in a job whose environment is `job_env` (plus
/// `PATH` and `HOME` of the test). `runner_temp` receives the runner's files.
pub fn run_action(
    with: &[(&str, &str)],
    job_env: &[(String, String)],
    github_token: &str,
    runner_temp: &Path,
) -> ActionRun {
    let text = std::fs::read_to_string(action_path().join("action.yml")).expect("read action.yml");
    let action: Value = serde_yaml_ng::from_str(&text).expect("action.yml is YAML");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));

    let mut inputs = BTreeMap::new();
    for (name, spec) in action["inputs"].as_mapping().expect("inputs") {
        let name = name.as_str().expect("input name").to_string();
        let default = spec["default"].as_str().unwrap_or("").to_string();
        inputs.insert(name, default);
    }
    for (name, value) in with {
        assert!(
            inputs.contains_key(*name),
            "action.yml has no input `{name}`"
        );
        inputs.insert((*name).to_string(), (*value).to_string());
    }
    // Input defaults are expressions too (`${{ github.token }}`).
    let no_steps = BTreeMap::new();
    let inputs: BTreeMap<String, String> = inputs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                eval(v, &BTreeMap::new(), &no_steps, github_token),
            )
        })
        .collect();

    std::fs::create_dir_all(runner_temp).expect("create RUNNER_TEMP");
    let files = runner_temp.join("_runner_files");
    std::fs::create_dir_all(&files).expect("create the runner's file dir");
    let mut exported = BTreeMap::new();
    let mut path = Vec::new();
    let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut run = ActionRun {
        code: 0,
        steps_run: Vec::new(),
        outputs: BTreeMap::new(),
        env: BTreeMap::new(),
        path: Vec::new(),
        log: String::new(),
    };
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    for (n, step) in steps.iter().enumerate() {
        assert!(
            step.get("uses").is_none(),
            "step {n}: the runner runs `run:` steps only"
        );
        assert!(
            step.get("if").is_none(),
            "step {n}: `if:` is not evaluated by this runner"
        );
        assert_eq!(step["shell"].as_str(), Some("bash"), "step {n}: shell");
        let script = step["run"].as_str().expect("a run: script");
        assert!(
            !script.contains("${{"),
            "step {n}: an expression inside run: ({script})"
        );
        let id = step["id"].as_str().map_or(format!("__{n}"), str::to_string);

        let script_file = files.join(format!("step-{n}.sh"));
        std::fs::write(&script_file, script).expect("write the step script");
        let output_file = files.join(format!("output-{n}"));
        let env_file = files.join(format!("env-{n}"));
        let path_file = files.join(format!("path-{n}"));
        let summary_file = files.join(format!("summary-{n}"));
        for f in [&output_file, &env_file, &path_file, &summary_file] {
            std::fs::write(f, "").expect("create a runner file");
        }

        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .env_clear();
        let mut search: Vec<PathBuf> = path.iter().rev().cloned().collect();
        search.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        cmd.env("PATH", std::env::join_paths(search).expect("PATH"));
        if let Some(home) = std::env::var_os("HOME") {
            cmd.env("HOME", home);
        }
        cmd.envs(job_env.iter().map(|(k, v)| (k, v)))
            .envs(&exported)
            .env("GITHUB_ACTION_PATH", action_path())
            .env("RUNNER_TEMP", runner_temp)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_ENV", &env_file)
            .env("GITHUB_PATH", &path_file)
            .env("GITHUB_STEP_SUMMARY", &summary_file);
        if let Some(env) = step.get("env").and_then(Value::as_mapping) {
            for (k, v) in env {
                let value = v.as_str().map_or_else(|| yaml_scalar(v), str::to_string);
                cmd.env(
                    k.as_str().expect("env name"),
                    eval(&value, &inputs, &step_outputs, github_token),
                );
            }
        }
        let out = cmd.output().expect("run bash");
        run.log.push_str(&String::from_utf8_lossy(&out.stdout));
        run.log.push_str(&String::from_utf8_lossy(&out.stderr));
        run.steps_run.push(id.clone());

        step_outputs.insert(
            id,
            parse_commands(&std::fs::read_to_string(&output_file).unwrap()),
        );
        exported.extend(parse_commands(&std::fs::read_to_string(&env_file).unwrap()));
        for line in std::fs::read_to_string(&path_file).unwrap().lines() {
            if !line.trim().is_empty() {
                path.push(PathBuf::from(line.trim()));
            }
        }
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            run.code = code;
            break;
        }
    }
    if run.code == 0 {
        for (name, spec) in action["outputs"].as_mapping().expect("outputs") {
            let value = spec["value"].as_str().expect("an output value");
            run.outputs.insert(
                name.as_str().expect("output name").to_string(),
                eval(value, &inputs, &step_outputs, github_token),
            );
        }
    }
    run.env = exported;
    run.path = path;
    run
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => panic!("env value {other:?} is not a scalar"),
    }
}

/// Evaluates the `${{ … }}` expressions in `text`.
fn eval(
    text: &str,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
    github_token: &str,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("an unclosed expression") + start;
        let expr = rest[start + 3..end].trim();
        let value = if expr == "github.token" {
            github_token.to_string()
        } else if let Some(name) = expr.strip_prefix("inputs.") {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("`{expr}` names no input"))
                .clone()
        } else if let Some(path) = expr.strip_prefix("steps.") {
            let (id, output) = path
                .split_once(".outputs.")
                .unwrap_or_else(|| panic!("`{expr}` is not steps.<id>.outputs.<name>"));
            // GitHub yields "" for an output a step did not set.
            steps
                .get(id)
                .and_then(|o| o.get(output))
                .cloned()
                .unwrap_or_default()
        } else {
            panic!("the runner does not evaluate `{expr}`");
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Parses a `GITHUB_OUTPUT` / `GITHUB_ENV` file: `NAME=value` lines and
/// `NAME<<DELIMITER` … `DELIMITER` blocks.
fn parse_commands(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            loop {
                let next = lines
                    .next()
                    .unwrap_or_else(|| panic!("`{name}`: no closing delimiter {delimiter}"));
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            values.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("a command line without `=`: {line}"));
            values.insert(name.to_string(), value.to_string());
        }
    }
    values
}
