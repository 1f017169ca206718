//! Settings of `berth ci-env` and `berth login`: which CI, which output format and where it
//! goes, where the user's docker config is, and the tag templates (`tags:` in `berth.yaml`).

use std::path::{Path, PathBuf};

use super::ConfigFileError;
use crate::ci::{CiKind, Env, shell::Format};
use crate::cli::{CiEnvArgs, CiSystem, GlobalArgs, Shell};
use crate::env_vars;
use crate::policy::{self, templates::Template};

/// Where the rendered output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Printed on stdout.
    Stdout,
    /// Written (truncating) to this file; nothing printed.
    File(PathBuf),
    /// Written to a new file in the per-job directory, whose path is printed.
    NewFile,
    /// Written (truncating) to this file, whose path is printed.
    FileAndPrintPath(PathBuf),
}

/// Resolved `ci-env` settings.
#[derive(Debug, Clone)]
pub struct CiEnvSettings {
    /// The CI named on the command line (None: detect).
    pub ci: Option<CiKind>,
    /// Output syntax.
    pub format: Format,
    /// Where the output goes.
    pub destination: Destination,
    /// Build `config.json` from `$DOCKER_AUTH_CONFIG` (explicitly asked for).
    pub use_docker_auth_config: bool,
    /// Log into the CI's registry.
    pub login: bool,
    /// Remove the per-job directory instead.
    pub cleanup: bool,
    /// The user's docker config directory (the copy source).
    pub docker_config_dir: Option<PathBuf>,
    /// Tag templates for `BERTH_IMAGE_TAGS`.
    pub templates: Vec<Template>,
}

/// Resolves `ci-env`'s flags against the environment snapshot.
pub fn resolve(
    global: &GlobalArgs,
    args: &CiEnvArgs,
    env: &Env,
) -> Result<CiEnvSettings, ConfigFileError> {
    let format = if args.as_env_file {
        Format::Dotenv
    } else {
        match args.shell {
            Shell::Bash | Shell::Zsh => Format::Posix,
            Shell::Fish => Format::Fish,
            Shell::Powershell => Format::PowerShell,
            Shell::Cmd => Format::Cmd,
        }
    };
    let destination = match (&args.output_file, args.as_file || args.as_env_file) {
        (None, false) => Destination::Stdout,
        (Some(path), false) => Destination::File(path.clone()),
        (None, true) => Destination::NewFile,
        (Some(path), true) => Destination::FileAndPrintPath(path.clone()),
    };
    Ok(CiEnvSettings {
        ci: args.ci.map(|c| match c {
            CiSystem::Github => CiKind::Github,
            CiSystem::Gitlab => CiKind::Gitlab,
            CiSystem::Jenkins => CiKind::Jenkins,
            CiSystem::Generic => CiKind::Generic,
        }),
        format,
        destination,
        use_docker_auth_config: args.use_docker_auth_config,
        login: !args.no_login,
        cleanup: args.cleanup,
        docker_config_dir: docker_config_dir(global, env),
        templates: templates(global.config.as_deref())?,
    })
}

/// The user's docker config directory: `--docker-config`, else `$DOCKER_CONFIG`, else
/// `~/.docker` (None without a home directory).
pub fn docker_config_dir(global: &GlobalArgs, env: &Env) -> Option<PathBuf> {
    global
        .docker_config
        .clone()
        .or_else(|| env.get(env_vars::DOCKER_CONFIG).map(PathBuf::from))
        .or_else(|| {
            env.get(env_vars::HOME)
                .map(|h| Path::new(h).join(".docker"))
        })
}

/// The file extension of a script in this format, for `--as-file`.
pub fn extension(format: Format) -> &'static str {
    match format {
        Format::Posix => "sh",
        Format::Fish => "fish",
        Format::PowerShell => "ps1",
        Format::Cmd => "cmd",
        Format::Dotenv => "env",
    }
}

/// The tag templates: `tags:` of `--config` / `berth.yaml` / `.berth.yaml` in the working
/// directory when there is one, else berth's defaults (what `cleanup` reads back).
fn templates(explicit: Option<&Path>) -> Result<Vec<Template>, ConfigFileError> {
    Ok(
        match super::load_config_file(explicit, &[PathBuf::from(".")])? {
            Some((config, _)) => config.templates,
            None => policy::templates::defaults(),
        },
    )
}

/// The registry host a `berth login REGISTRY` argument names: a scheme, a path and a trailing
/// slash are dropped (`https://index.docker.io/v1/` → `index.docker.io`).
pub fn login_host(registry: &str) -> String {
    let rest = registry
        .split_once("://")
        .map_or(registry, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_host_drops_scheme_and_path() {
        assert_eq!(login_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(
            login_host("Registry.Example.com:5000"),
            "registry.example.com:5000"
        );
        assert_eq!(login_host("127.0.0.1:5000/"), "127.0.0.1:5000");
    }
}
