//! `berth name IMAGE --repo REPO`: the final name of one of the project's images (DESIGN §6).
//! The registry kind comes from detection (or `--container-registry`), the mode from
//! `--repo-mode`, else `repo_mode:` in berth.yaml, else the kind's default for REPO.
//!
//! With `--tag` the output is one full reference per tag, for `docker push "$(berth name …)"`;
//! without, the name with a `{tag}` placeholder, as berth's tag templates write it.

use anyhow::Context;

use crate::cli::{GlobalArgs, NameArgs, OutputFormat, RepoModeArg};
use crate::exit::{ExitStatus, Failure};
use crate::registry::detect::detect;
use crate::registry::naming::{self, Image};
use crate::registry::providers::ContainerRegistry;
use crate::registry::repo_mode::{RepoMode, split_repo};
use crate::settings;

/// Where the mode came from, for the JSON report.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum ModeBy {
    Flag,
    Config,
    Auto,
}

/// `--output json` (schema 1).
#[derive(serde::Serialize)]
struct NameReport<'a> {
    schema: u32,
    /// None for the unnamed image.
    image: Option<&'a str>,
    repo: &'a str,
    container_registry: ContainerRegistry,
    repo_mode: RepoMode,
    repo_mode_by: ModeBy,
    repository: &'a str,
    tag_prefix: &'a str,
    references: &'a [String],
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: NameArgs) -> anyhow::Result<ExitStatus> {
    let usage = |e: anyhow::Error| Failure::new(ExitStatus::Usage, e);
    let image = Image::parse(&args.image).map_err(|e| usage(anyhow::anyhow!("IMAGE {e}")))?;
    let repo = args.repo.trim();
    if repo.is_empty() {
        return Err(usage(anyhow::anyhow!(
            "--repo is empty: pass the registry, namespace or repository images are pushed \
             under (e.g. --repo ghcr.io/acme/app), or set BERTH_REPO"
        ))
        .into());
    }
    let cwd = std::env::current_dir().context("could not read the working directory")?;
    let configured = settings::load_config_file(global.config.as_deref(), &[cwd])
        .map_err(|e| usage(e.into()))?
        .and_then(|(config, _)| config.repo_mode);
    let (mode_given, by) = match (args.repo_mode, configured) {
        (Some(RepoModeArg::Monorepo), _) => (Some(RepoMode::Monorepo), ModeBy::Flag),
        (Some(RepoModeArg::Multirepo), _) => (Some(RepoMode::Multirepo), ModeBy::Flag),
        (Some(RepoModeArg::Auto), _) | (None, None) => (None, ModeBy::Auto),
        (None, Some(mode)) => (Some(mode), ModeBy::Config),
    };
    let options = settings::registry_options(global, &settings::process_env);
    let (host, _) = split_repo(repo);
    let kind = detect(
        host,
        options.providers.container_registry,
        &options.providers.ci,
    )
    .kind;
    let mode = naming::mode_for(repo, kind, mode_given);
    let name = naming::final_name(repo, &image, mode, kind).map_err(|e| usage(e.into()))?;
    for tag in &args.tags {
        name.check_tag(tag).map_err(|e| usage(e.into()))?;
    }
    let references: Vec<String> = if args.tags.is_empty() {
        vec![name.reference("{tag}")]
    } else {
        args.tags.iter().map(|t| name.reference(t)).collect()
    };
    let text = match args.output {
        OutputFormat::Json => {
            let mut json = serde_json::to_string_pretty(&NameReport {
                schema: 1,
                image: image.name(),
                repo,
                container_registry: kind,
                repo_mode: mode,
                repo_mode_by: by,
                repository: &name.repository,
                tag_prefix: &name.tag_prefix,
                references: &references,
            })
            .expect("a name serialises");
            json.push('\n');
            json
        }
        OutputFormat::Text | OutputFormat::Markdown => {
            references.iter().map(|r| format!("{r}\n")).collect()
        }
    };
    crate::report::stdout(&text).context("could not write the name to stdout")?;
    Ok(ExitStatus::Success)
}
