//! Command line + environment + `berth.yaml` → validated settings. The only module that reads
//! the `cli` structs; nothing after it knows about clap. Precedence: flag > env > file > default.

pub mod ci_env;
pub mod cleanup;

use std::time::Duration;

use crate::cli::GlobalArgs;
use crate::registry::RegistryOptions;

/// Registry options from the global flags.
pub fn registry_options(global: &GlobalArgs) -> RegistryOptions {
    let defaults = RegistryOptions::default();
    RegistryOptions {
        concurrency: global.concurrency.unwrap_or(defaults.concurrency).max(1),
        insecure_hosts: global.insecure_registry.clone(),
        docker_config: global.docker_config.clone(),
        request_timeout: Duration::from_secs(30),
        retry_budget: defaults.retry_budget,
    }
}

/// berth's cache directory: `$XDG_CACHE_HOME/berth`, else `~/.cache/berth`; None when neither
/// variable is set. `env` reads environment variables (the process environment in production).
pub fn cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    env(crate::env_vars::XDG_CACHE_HOME)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            env(crate::env_vars::HOME)
                .filter(|v| !v.is_empty())
                .map(|h| std::path::Path::new(&h).join(".cache"))
        })
        .map(|d| d.join("berth"))
}

/// A `berth.yaml` that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// Reading the file failed.
    #[error("could not read the config file {}: {source}; check its permissions or the path given to --config", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not parse (the message gives file, line and column).
    #[error(transparent)]
    Invalid(#[from] crate::policy::Error),
}

/// The configuration file: `--config FILE` when given, else the first `berth.yaml` or
/// `.berth.yaml` in `dirs`; `None` when there is none (berth's defaults apply).
pub fn load_config_file(
    explicit: Option<&std::path::Path>,
    dirs: &[std::path::PathBuf],
) -> Result<Option<(crate::policy::CleanupConfig, std::path::PathBuf)>, ConfigFileError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => dirs
            .iter()
            .flat_map(|d| [d.join("berth.yaml"), d.join(".berth.yaml")])
            .find(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    let config = crate::policy::CleanupConfig::parse(&text, &path.display().to_string())?;
    Ok(Some((config, path)))
}
