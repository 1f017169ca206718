//! Settings of `berth ci-env` and `berth login`: which CI, which output format and where it
//! goes, where the user's docker config is, and the tag templates (`tags:` in `berth.yaml`).

use std::path::{Path, PathBuf};

use super::ConfigFileError;
use crate::ci::{CiKind, Env, shell::Format};
use crate::cli::{CiEnvArgs, CiSystem, GlobalArgs, Shell};
use crate::env_vars;
use crate::policy::{CleanupConfig, templates::Template};
use crate::registry::naming::Image;
use crate::registry::providers::{self, ContainerRegistry};
use crate::registry::repo_mode::RepoMode;

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
    /// How the project's images are named, for `BERTH_IMAGE_NAMES`.
    pub naming: ImageNaming,
}

/// `images:` and `repo_mode:` of berth.yaml, with what detection of the registry kind needs.
#[derive(Debug, Clone, Default)]
pub struct ImageNaming {
    /// The project's images; empty: REPO is the one image and no image variables are written.
    pub images: Vec<Image>,
    /// `repo_mode:`; None: auto.
    pub repo_mode: Option<RepoMode>,
    /// `--container-registry` / `BERTH_CONTAINER_REGISTRY`.
    pub container_registry: Option<ContainerRegistry>,
    /// The CI job as detection reads it.
    pub ci: providers::CiContext,
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
    let ci_kind = args.ci.map(|c| match c {
        CiSystem::Github => CiKind::Github,
        CiSystem::Gitlab => CiKind::Gitlab,
        CiSystem::Jenkins => CiKind::Jenkins,
        CiSystem::Generic => CiKind::Generic,
    });
    let config = config(global.config.as_deref())?;
    let providers = super::registry_options(global, &|k| env.get(k).map(str::to_string)).providers;
    Ok(CiEnvSettings {
        ci: ci_kind,
        format,
        destination,
        use_docker_auth_config: args.use_docker_auth_config,
        login: !args.no_login,
        cleanup: args.cleanup,
        docker_config_dir: docker_config_dir(global, env),
        templates: config.templates,
        naming: ImageNaming {
            images: config.images,
            repo_mode: config.repo_mode,
            container_registry: providers.container_registry,
            ci: providers.ci,
        },
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

/// `--config` / `berth.yaml` / `.berth.yaml` in the working directory when there is one,
/// else berth's defaults: the tag templates (what `cleanup` reads back) and the images.
fn config(explicit: Option<&Path>) -> Result<CleanupConfig, ConfigFileError> {
    Ok(
        match super::load_config_file(explicit, &[PathBuf::from(".")])? {
            Some((config, _)) => config,
            None => CleanupConfig::default(),
        },
    )
}

/// The registry host a `berth login REGISTRY` argument names: a scheme, a path and a trailing
/// slash are dropped (`https://index.docker.io/v1/` → `index.docker.io`). What is left must be
/// `host[:port]` (DNS labels or `[IPv6]`, a port 1 to 65535); otherwise the error says why.
pub fn login_host(registry: &str) -> Result<String, String> {
    let rest = registry
        .split_once("://")
        .map_or(registry, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    check_host(&host)?;
    Ok(match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => host,
    })
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or("an IPv6 address needs its closing `]`")?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("only `:PORT` may follow `]`")?),
            };
            (None, port)
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        },
    };
    if let Some(name) = name {
        if name.is_empty() {
            return Err("the host name is empty".into());
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if let Some(bad) = name.split('.').find(|l| !label_ok(l)) {
            return Err(format!(
                "`{bad}` is not a host name label (letters, digits and inner `-`, dot-separated)"
            ));
        }
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) || port.starts_with('+') {
            return Err(format!("`{port}` is not a port (1 to 65535)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_host_drops_scheme_and_path() {
        let host = |r| login_host(r).unwrap();
        assert_eq!(host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(
            host("Registry.Example.com:5000"),
            "registry.example.com:5000"
        );
        assert_eq!(host("127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(host("[::1]:5000"), "[::1]:5000");
        assert_eq!(host("localhost"), "localhost");
    }

    #[test]
    fn login_host_refuses_what_is_no_host() {
        for (bad, why) in [
            ("not a host", "`not a host` is not a host name label"),
            ("", "empty"),
            ("https://", "empty"),
            ("reg.io:99999", "`99999` is not a port"),
            ("reg.io:0", "`0` is not a port"),
            ("reg.io:", "`` is not a port"),
            ("-bad.io", "`-bad` is not"),
            ("a..b", "`` is not"),
            ("a_b.io", "`a_b` is not"),
            ("[::1", "closing `]`"),
            ("[zz]:5000", "not an IPv6 address"),
        ] {
            let err = login_host(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
