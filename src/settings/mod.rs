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
