//! `berth ci-env`: ci reads the environment → the login is verified through `registry` → ci
//! writes the per-job docker config and renders the exports; `policy` gives the tags.
//!
//! Nothing is written before the login is verified, so wrong credentials leave no directory,
//! no script and no `$GITHUB_ENV` lines behind.

use std::borrow::Cow;
use std::path::Path;

use anyhow::Context;

use crate::ci::docker_config::{self, Credentials, Source};
use crate::ci::shell::{self, Format, Line};
use crate::ci::{self, CiContext, CiKind, Env, JobRef};
use crate::cli::{CiEnvArgs, GlobalArgs};
use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::git::RefKind;
use crate::policy::slug::SlugStyle;
use crate::policy::templates::{Template, for_push, render_tags};
use crate::registry::detect::detect;
use crate::registry::naming::Image;
use crate::registry::repo_mode::split_repo;
use crate::registry::{self, Connector};
use crate::report;
use crate::settings;
use crate::settings::ci_env::{Destination, ImageNaming};

/// Runs the command.
pub async fn run(global: &GlobalArgs, args: CiEnvArgs) -> anyhow::Result<ExitStatus> {
    let env = Env::from_process();
    let settings = settings::ci_env::resolve(global, &args, &env)
        .map_err(|e| Failure::new(ExitStatus::Usage, e))?;
    if settings.cleanup {
        return cleanup(&env);
    }
    let kind = settings.ci.unwrap_or_else(|| ci::detect(&env));
    let mut ctx = ci::read(kind, &env).map_err(|e| Failure::new(ExitStatus::Usage, e))?;
    if ctx.sha.is_none() {
        ctx.sha = head_commit();
    }

    let login = match (&ctx.login, settings.login) {
        (Some(login), true) => {
            Connector::new(settings::registry_options(global, &settings::process_env))
                .verify_login(&login.host, &login.username, &login.password)
                .await
                .with_context(|| {
                    format!(
                        "cannot log into {} with {}; nothing was written",
                        login.host, login.source
                    )
                })?;
            tracing::info!(host = %login.host, user = %login.username, "login verified");
            Some(login.clone())
        }
        (Some(_), false) => None,
        (None, _) => {
            if settings.login {
                if let Some(reason) = &ctx.no_login_reason {
                    tracing::warn!("no registry login: {reason}");
                }
            }
            None
        }
    };

    let source = docker_config_source(&settings, &env)?;
    let parent = ctx.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let (job_dir, notes) = docker_config::create_job_dir(
        &parent,
        &source,
        login.as_ref().map(|l| Credentials {
            host: &l.host,
            username: &l.username,
            password: &l.password,
        }),
    )?;
    for skipped in &notes.skipped {
        tracing::warn!("not copied into the per-job docker config: {skipped}");
    }
    // From here on a failure must not leave a half-set-up directory behind.
    match finish(&settings, &env, &ctx, &job_dir, &notes, &settings.templates) {
        Ok(status) => Ok(status),
        Err(err) => {
            let _ = docker_config::remove_job_dir(&job_dir);
            Err(err)
        }
    }
}

/// `--cleanup`: removes the directory `$DOCKER_CONFIG` names, if ci-env made it.
fn cleanup(env: &Env) -> anyhow::Result<ExitStatus> {
    let dir = env.get(env_vars::DOCKER_CONFIG).ok_or_else(|| {
        Failure::new(
            ExitStatus::Usage,
            anyhow::anyhow!(
                "--cleanup removes the directory named by DOCKER_CONFIG, which is not set; run it \
                 in the same job, after the script ci-env printed was sourced"
            ),
        )
    })?;
    let removed = docker_config::remove_job_dir(Path::new(dir))
        .map_err(|e| Failure::new(ExitStatus::Refused, e))?;
    if removed == Path::new(dir) {
        tracing::info!("removed the per-job docker config {}", removed.display());
    } else {
        tracing::info!(
            "removed the per-job docker config {} (DOCKER_CONFIG {dir} resolves to it; that \
             link is left)",
            removed.display()
        );
    }
    Ok(ExitStatus::Success)
}

/// The commit of the checkout in the working directory (generic CI without `BERTH_GIT_SHA`).
fn head_commit() -> Option<String> {
    let repo = crate::git::open(&crate::git::GitOptions::default())
        .map_err(|e| tracing::debug!("no git checkout for BERTH_GIT_SHA: {e}"))
        .ok()?;
    repo.head().ok().flatten().map(|c| c.to_hex())
}

fn docker_config_source(
    settings: &settings::ci_env::CiEnvSettings,
    env: &Env,
) -> anyhow::Result<Source> {
    let auth_config = env.get(env_vars::DOCKER_AUTH_CONFIG);
    if settings.use_docker_auth_config {
        let text = auth_config
            .ok_or_else(|| Failure::new(ExitStatus::Usage, ci::Error::NoDockerAuthConfig))?;
        return Ok(Source::AuthConfig(crate::secret::Secret::new(text)));
    }
    let dir = settings.docker_config_dir.clone();
    let has_config = dir
        .as_ref()
        .is_some_and(|d| d.join("config.json").is_file());
    // GitLab runners hand credentials in DOCKER_AUTH_CONFIG and have no ~/.docker: use it
    // when it is all there is.
    if let (false, Some(text)) = (has_config, auth_config) {
        tracing::info!("no docker config.json found; building it from DOCKER_AUTH_CONFIG");
        return Ok(Source::AuthConfig(crate::secret::Secret::new(text)));
    }
    Ok(Source::Dir(dir.unwrap_or_default()))
}

/// Renders and writes the output once the directory exists.
fn finish(
    settings: &settings::ci_env::CiEnvSettings,
    env: &Env,
    ctx: &CiContext,
    job_dir: &Path,
    notes: &docker_config::Notes,
    templates: &[Template],
) -> anyhow::Result<ExitStatus> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let exports = exports(ctx, env, job_dir, templates, &settings.naming, &now);
    let mut lines = vec![Line::Comment(format!(
        "berth ci-env {}: per-job docker config, registry login, image variables",
        ctx.kind.name()
    ))];
    if let Some(store) = &notes.dropped_creds_store {
        let text = format!(
            "the per-job docker config leaves out credsStore `{store}` (the runner's shared \
             store); registries that only it knows need credHelpers or a login in the job"
        );
        tracing::warn!("{text}");
        lines.push(Line::Comment(text));
    }
    if let Some(helper) = &notes.dropped_cred_helper {
        lines.push(Line::Comment(format!(
            "credHelpers entry `{helper}` of the CI registry replaced by the job's own login"
        )));
    }
    match (&ctx.login, &ctx.no_login_reason) {
        (Some(login), _) if settings.login => lines.push(Line::Comment(format!(
            "logged into {} as {} (verified), stored inline in config.json",
            login.host, login.username
        ))),
        _ if !settings.login => {
            lines.push(Line::Comment("registry login skipped (--no-login)".into()))
        }
        (None, Some(reason)) => lines.push(Line::Comment(format!("no registry login: {reason}"))),
        _ => {}
    }
    let dotenv_values;
    let values = if settings.format == Format::Dotenv {
        dotenv_values = dotenv_exports(ctx.kind, &exports)?;
        &dotenv_values
    } else {
        &exports.values
    };
    for export in values {
        match export {
            Export::Set(name, value) => lines.push(Line::Set {
                name: name.to_string(),
                value: value.clone(),
            }),
            Export::AlreadySet(name, _) => {
                tracing::info!("{name} is already set; left alone");
                lines.push(Line::Comment(format!("{name} is already set; left alone")));
            }
            Export::Unknown(name, why) => {
                lines.push(Line::Comment(format!("{name} not set: {why}")));
            }
        }
    }
    let text = shell::render(settings.format, &lines).map_err(|e| {
        Failure::new(
            ExitStatus::Usage,
            anyhow::Error::new(e).context(format!(
                "cannot write the variables as {}",
                format_name(settings.format)
            )),
        )
    })?;

    if let Some(files) = &ctx.github_files {
        for secret in &ctx.secrets_to_mask {
            report::ci_env::add_mask(&ci::github::mask_commands(secret.expose()));
        }
        github_files(files, &exports)?;
    }

    match &settings.destination {
        Destination::Stdout => report::ci_env::script(&text)?,
        Destination::File(path) => write_output(path, &text)?,
        Destination::FileAndPrintPath(path) => {
            write_output(path, &text)?;
            report::ci_env::path(path)?;
        }
        Destination::NewFile => {
            let path = job_dir.join(format!(
                "ci-env.{}",
                settings::ci_env::extension(settings.format)
            ));
            write_output(&path, &text)?;
            report::ci_env::path(&path)?;
        }
    }
    Ok(ExitStatus::Success)
}

/// GitLab's defaults for a dotenv report (`dotenv_variables`, `dotenv_size`): past them the
/// job fails at upload, after berth succeeded, so berth refuses first.
const DOTENV_MAX_VARIABLES: usize = 20;
const DOTENV_MAX_BYTES: usize = 5 * 1024;

/// The exports as a dotenv file carries them. Later jobs read it, not this shell, so a value
/// the user set is written too (with the user's value); lists are comma-separated and label
/// keys and values percent-encoded, since GitLab forbids spaces. On GitLab the file is an
/// artifact later jobs on other runners read, so `DOCKER_CONFIG`, a path on this machine, is
/// left out (Jenkins' `readProperties` reads it in the same workspace, where it is needed).
fn dotenv_exports(kind: CiKind, exports: &Exports) -> anyhow::Result<Vec<Export>> {
    let mut out = Vec::new();
    for export in &exports.values {
        let (name, value) = match export {
            Export::Set(name, value) | Export::AlreadySet(name, value) => (name, value),
            Export::Unknown(..) => continue,
        };
        if name == env_vars::DOCKER_CONFIG && kind == CiKind::Gitlab {
            continue;
        }
        let value = match name.as_ref() {
            "BERTH_IMAGE_TAGS" => exports.tags.join(","),
            "BERTH_IMAGE_LABELS" => exports
                .labels
                .iter()
                .map(|label| match label.split_once('=') {
                    Some((k, v)) => format!("{}={}", percent_encode(k), percent_encode(v)),
                    None => percent_encode(label),
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => value.clone(),
        };
        out.push(Export::Set(name.clone(), value));
    }
    if out.len() > DOTENV_MAX_VARIABLES {
        return Err(Failure::new(
            ExitStatus::Usage,
            anyhow::anyhow!(
                "the dotenv file would hold {} variables; GitLab passes at most \
                 {DOTENV_MAX_VARIABLES} to later jobs by default (instance limit \
                 dotenv_variables); list fewer images, or use the shell script output \
                 (--as-file) in each job",
                out.len()
            ),
        )
        .into());
    }
    let size: usize = out
        .iter()
        .map(|e| match e {
            Export::Set(n, v) => n.len() + v.len() + 2,
            _ => 0,
        })
        .sum();
    if size > DOTENV_MAX_BYTES {
        return Err(Failure::new(
            ExitStatus::Usage,
            anyhow::anyhow!(
                "the dotenv file would be {size} bytes; GitLab accepts at most \
                 {DOTENV_MAX_BYTES} by default (instance limit dotenv_size); list fewer \
                 images or tag templates, or use the shell script output (--as-file) in each job"
            ),
        )
        .into());
    }
    Ok(out)
}

/// Percent-encodes (UTF-8 bytes, upper-case hex) every byte outside `A-Z a-z 0-9 - . _ ~ /
/// : @ +`: spaces, commas, `=`, `%`, `$` (GitLab expands it), quotes, `\` (a Java
/// Properties escape) and line breaks never reach the file.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/:@+".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Posix => "a POSIX shell script",
        Format::Fish => "a fish script",
        Format::PowerShell => "a PowerShell script",
        Format::Cmd => "a cmd batch file",
        Format::Dotenv => "a dotenv file",
    }
}

/// Writes (truncating) an output file, created 0600 when new.
fn write_output(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write the ci-env output to {}", path.display()))
}

/// One exported variable's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Export {
    /// Exported with this value.
    Set(Cow<'static, str>, String),
    /// The user had set it (to this value); left alone.
    AlreadySet(Cow<'static, str>, String),
    /// Not known in this job, and why.
    Unknown(Cow<'static, str>, String),
}

/// The exports plus what GitHub's step outputs need.
struct Exports {
    values: Vec<Export>,
    /// The repository later steps push to (the user's `BERTH_REPO` when set).
    repo: Option<String>,
    tags: Vec<String>,
    labels: Vec<String>,
}

/// Computes the exports. Values the user already set are left alone *and* used in place of
/// berth's own (their `BERTH_GIT_SHA` names the tags), so the variables agree with each other.
fn exports(
    ctx: &CiContext,
    env: &Env,
    job_dir: &Path,
    templates: &[Template],
    naming: &ImageNaming,
    now: &str,
) -> Exports {
    let mut values = Vec::new();
    let mut effective = |name: Cow<'static, str>, own: Result<String, String>| -> Option<String> {
        if let Some(existing) = env.get(&name) {
            let existing = existing.to_string();
            values.push(Export::AlreadySet(name, existing.clone()));
            return Some(existing);
        }
        match own {
            Ok(v) => {
                values.push(Export::Set(name, v.clone()));
                Some(v)
            }
            Err(why) => {
                values.push(Export::Unknown(name, why));
                None
            }
        }
    };
    // DOCKER_CONFIG is always replaced: the user's one is the copy source.
    let docker_config = job_dir.display().to_string();
    let repo = ctx.repo.clone();
    let sha = ctx.sha.clone();
    let git_ref = ctx.git_ref.clone();
    let style = if ctx.kind == CiKind::Gitlab {
        SlugStyle::Gitlab
    } else {
        SlugStyle::Berth
    };

    let mut out_values = vec![Export::Set(env_vars::DOCKER_CONFIG.into(), docker_config)];
    let repo = effective(
        env_vars::BERTH_REPO.into(),
        repo.ok_or_else(|| "set BERTH_REPO to the repository images are pushed to".into()),
    );
    effective(
        env_vars::BERTH_CONTAINER_REGISTRY.into(),
        ctx.container_registry
            .map(str::to_string)
            .ok_or_else(|| "detected from the registry host".into()),
    );
    let sha = effective(
        "BERTH_GIT_SHA".into(),
        sha.ok_or_else(|| "no commit known: set BERTH_GIT_SHA or run in a git checkout".into()),
    );
    let full_ref = effective(
        "BERTH_GIT_REF".into(),
        git_ref
            .as_ref()
            .map(JobRef::full_name)
            .ok_or_else(|| "no ref known: set BERTH_GIT_REF (e.g. refs/heads/main)".into()),
    );
    let job_ref = full_ref.as_deref().map(JobRef::parse);
    let ref_slug = job_ref.as_ref().map(|r| match r {
        JobRef::Branch(name) | JobRef::Tag(name) => style.apply(name),
        JobRef::PullRequest { number, .. } => format!("pr-{number}"),
    });
    effective(
        "BERTH_GIT_REF_SLUG".into(),
        ref_slug.ok_or_else(|| "no ref known".into()),
    );
    let tags = match &sha {
        Some(sha) => {
            let number;
            let kind_name = match &job_ref {
                Some(JobRef::Branch(b)) => Some((RefKind::Branch, b.as_str())),
                Some(JobRef::Tag(t)) => Some((RefKind::Tag, t.as_str())),
                Some(JobRef::PullRequest { number: n, .. }) => {
                    number = n.to_string();
                    Some((RefKind::PullRequest(*n), number.as_str()))
                }
                None => None,
            };
            // GitLab's CI_COMMIT_SHORT_SHA is 8 long, metadata-action's short SHA 7.
            let short = if style == SlugStyle::Gitlab { 8 } else { 7 };
            render_tags(&for_push(templates, short), sha, kind_name, style)
        }
        None => Vec::new(),
    };
    let tags: Vec<String> = effective(
        "BERTH_IMAGE_TAGS".into(),
        if tags.is_empty() {
            Err("no commit known".into())
        } else {
            Ok(tags.join(" "))
        },
    )
    .map(|t| split_list(&t))
    .unwrap_or_default();
    let mut labels = Vec::new();
    if let Some(sha) = &sha {
        labels.push(format!("org.opencontainers.image.revision={sha}"));
    }
    if let Some(source) = &ctx.source_url {
        labels.push(format!("org.opencontainers.image.source={source}"));
    }
    labels.push(format!("org.opencontainers.image.created={now}"));
    if let Some(full_ref) = &full_ref {
        labels.push(format!("berth.git.ref={full_ref}"));
    }
    // berth's own labels stay whole (a source URL may hold spaces); a user's list is split.
    let user_labels = env.get("BERTH_IMAGE_LABELS").is_some();
    let joined = effective("BERTH_IMAGE_LABELS".into(), Ok(labels.join(" ")));
    let labels = match joined {
        Some(l) if user_labels => l.split_whitespace().map(str::to_string).collect(),
        _ => labels,
    };
    if !naming.images.is_empty() {
        let names: Vec<String> = naming.images.iter().map(ToString::to_string).collect();
        effective(env_vars::BERTH_IMAGE_NAMES.into(), Ok(names.join(",")));
        for image in &naming.images {
            let variable = match image.variable_suffix() {
                Some(suffix) => format!("{}_{suffix}", env_vars::BERTH_IMAGE_REFS),
                None => env_vars::BERTH_IMAGE_REFS.to_string(),
            };
            effective(
                variable.into(),
                image_refs(repo.as_deref(), &tags, image, naming),
            );
        }
    }
    out_values.extend(values);
    Exports {
        values: out_values,
        repo,
        tags,
        labels,
    }
}

/// A tag list the user set: space-separated (the shell outputs) or comma-separated (dotenv).
fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The references one image of `images:` is pushed as: each tag under the image's final name
/// (comma-separated, which GitLab's dotenv and every shell keep as it is).
fn image_refs(
    repo: Option<&str>,
    tags: &[String],
    image: &Image,
    naming: &ImageNaming,
) -> Result<String, String> {
    let repo = repo.ok_or("no repository known: set BERTH_REPO")?;
    if tags.is_empty() {
        return Err("no commit known".into());
    }
    let (host, _) = split_repo(repo);
    let kind = detect(host, naming.container_registry, &naming.ci).kind;
    let mode = registry::naming::mode_for(repo, kind, naming.repo_mode);
    let name = registry::naming::final_name(repo, image, mode, kind).map_err(|e| {
        tracing::warn!("image {image}: {e}");
        e.to_string()
    })?;
    Ok(tags
        .iter()
        .map(|t| name.reference(t))
        .collect::<Vec<_>>()
        .join(","))
}

/// Appends the exports to `$GITHUB_ENV`, the step outputs to `$GITHUB_OUTPUT` (`tags` and
/// `labels` newline-separated, full image references, as docker/build-push-action reads them,
/// and `json` as docker/metadata-action writes it)
/// and a short summary to `$GITHUB_STEP_SUMMARY`.
fn github_files(files: &ci::github::Files, exports: &Exports) -> anyhow::Result<()> {
    if let Some(path) = &files.env {
        let mut text = String::new();
        for export in &exports.values {
            if let Export::Set(name, value) = export {
                text.push_str(&shell::github_heredoc(name, value)?);
            }
        }
        ci::github::append(path, &text)?;
    }
    let full_refs: Vec<String> = match &exports.repo {
        Some(repo) => exports.tags.iter().map(|t| format!("{repo}:{t}")).collect(),
        None => Vec::new(),
    };
    if let Some(path) = &files.output {
        let mut text = String::new();
        // Outputs carry every value later steps see, the user's own included.
        for export in &exports.values {
            if let Export::Set(name, value) | Export::AlreadySet(name, value) = export {
                let output = name
                    .trim_start_matches("BERTH_")
                    .to_ascii_lowercase()
                    .replace('_', "-");
                text.push_str(&shell::github_heredoc(&output, value)?);
            }
        }
        text.push_str(&shell::github_heredoc("tags", &full_refs.join("\n"))?);
        text.push_str(&shell::github_heredoc(
            "labels",
            &exports.labels.join("\n"),
        )?);
        text.push_str(&shell::github_heredoc(
            "json",
            &metadata_json(&full_refs, &exports.labels),
        )?);
        ci::github::append(path, &text)?;
    }
    if let Some(path) = &files.step_summary {
        let mut text = String::from("### berth ci-env\n\n");
        if let Some(repo) = &exports.repo {
            text.push_str(&format!("Repository: `{repo}`\n\n"));
        }
        for r in &full_refs {
            text.push_str(&format!("- `{r}`\n"));
        }
        text.push('\n');
        ci::github::append(path, &text)?;
    }
    Ok(())
}

/// docker/metadata-action's `json` output shape: `{"tags":[...],"labels":{"k":"v"}}`.
fn metadata_json(full_refs: &[String], labels: &[String]) -> String {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    serde_json::json!({ "tags": full_refs, "labels": labels }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::templates::defaults;
    use std::path::PathBuf;

    #[test]
    fn user_values_are_left_alone_and_drive_the_tags() {
        let env = Env::from_pairs([("BERTH_GIT_SHA", "ffffffffffffffffffffffffffffffffffffffff")]);
        let mut ctx = ci::read(
            CiKind::Gitlab,
            &Env::from_pairs([
                ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
                ("CI_REGISTRY_IMAGE", "registry.gitlab.com/g/p"),
                ("CI_COMMIT_BRANCH", "Feature/X"),
            ]),
        )
        .unwrap();
        ctx.source_url = Some("https://gitlab.com/g/p".into());
        let dir = PathBuf::from("/tmp/job");
        let e = exports(
            &ctx,
            &env,
            &dir,
            &defaults(),
            &ImageNaming::default(),
            "2026-01-01T00:00:00Z",
        );
        assert!(e.values.contains(&Export::AlreadySet(
            "BERTH_GIT_SHA".into(),
            "ffffffffffffffffffffffffffffffffffffffff".into()
        )));
        assert!(e.values.contains(&Export::Set(
            "BERTH_GIT_REF_SLUG".into(),
            "feature-x".into()
        )));
        assert_eq!(e.tags[1], "sha-fffffff");
        assert!(e.tags.contains(&"feature-x".to_string()));
        assert!(
            e.labels
                .contains(&"berth.git.ref=refs/heads/Feature/X".to_string())
        );
        assert_eq!(e.repo.as_deref(), Some("registry.gitlab.com/g/p"));
    }

    #[test]
    fn dotenv_values_follow_gitlab_rules() {
        assert_eq!(
            percent_encode("a b,c=d%e$f\ng\\h:/@+~ü"),
            "a%20b%2Cc%3Dd%25e%24f%0Ag%5Ch:/@+~%C3%BC"
        );
        let exports = Exports {
            values: vec![
                Export::Set(env_vars::DOCKER_CONFIG.into(), "/tmp/job".into()),
                Export::AlreadySet("BERTH_REPO".into(), "r.example/x".into()),
                Export::Set("BERTH_IMAGE_TAGS".into(), "a b".into()),
                Export::Set("BERTH_IMAGE_LABELS".into(), "k=v w".into()),
                Export::Unknown("BERTH_GIT_SHA".into(), "no commit".into()),
            ],
            repo: None,
            tags: vec!["a".into(), "b".into()],
            labels: vec!["berth.git.ref=refs/heads/a,b=c d".into()],
        };
        let gitlab = dotenv_exports(CiKind::Gitlab, &exports).unwrap();
        assert_eq!(
            gitlab,
            vec![
                Export::Set("BERTH_REPO".into(), "r.example/x".into()),
                Export::Set("BERTH_IMAGE_TAGS".into(), "a,b".into()),
                Export::Set(
                    "BERTH_IMAGE_LABELS".into(),
                    "berth.git.ref=refs/heads/a%2Cb%3Dc%20d".into()
                ),
            ]
        );
        let jenkins = dotenv_exports(CiKind::Jenkins, &exports).unwrap();
        assert_eq!(
            jenkins[0],
            Export::Set(env_vars::DOCKER_CONFIG.into(), "/tmp/job".into())
        );
    }

    #[test]
    fn dotenv_limits_are_refused_with_what_to_do() {
        let many = |n: usize, len: usize| Exports {
            values: (0..n)
                .map(|i| Export::Set(format!("BERTH_V{i}").into(), "x".repeat(len)))
                .collect(),
            repo: None,
            tags: Vec::new(),
            labels: Vec::new(),
        };
        assert!(dotenv_exports(CiKind::Gitlab, &many(20, 10)).is_ok());
        let err = dotenv_exports(CiKind::Gitlab, &many(21, 10)).unwrap_err();
        assert!(err.to_string().contains("21 variables"), "{err}");
        let err = dotenv_exports(CiKind::Gitlab, &many(2, 3000)).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
    }
}
