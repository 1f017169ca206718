//! `berth login REGISTRY`: the same verified login as `ci-env`, stored inline in
//! `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`), never in a credential helper.

use std::io::Read;

use anyhow::Context;

use crate::ci::Env;
use crate::ci::docker_config::{self, Credentials};
use crate::cli::{GlobalArgs, LoginArgs};
use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::registry::Connector;
use crate::report;
use crate::secret::Secret;
use crate::settings;

/// Runs the command.
pub async fn run(global: &GlobalArgs, args: LoginArgs) -> anyhow::Result<ExitStatus> {
    let env = Env::from_process();
    let usage = |msg: String| Failure::new(ExitStatus::Usage, anyhow::anyhow!(msg));
    let host = settings::ci_env::login_host(&args.registry).map_err(|why| {
        usage(format!(
            "`{}` is not a registry: {why}; pass REGISTRY as host[:port] (e.g. ghcr.io, \
             registry.example.com:5000, [::1]:5000), optionally with https:// and a path",
            args.registry
        ))
    })?;
    let username = args.username.clone().ok_or_else(|| {
        usage(format!(
            "no user name for {host}: pass -u USER (or BERTH_USERNAME)"
        ))
    })?;
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        // `echo "$TOKEN" | berth login --password-stdin` adds a line break that is no part of it.
        Secret::new(text.trim_end_matches(['\n', '\r']))
    } else {
        Secret::new(env.get(env_vars::BERTH_PASSWORD).unwrap_or_default())
    };
    if password.is_empty() {
        return Err(usage(format!(
            "no password for {host}: pipe it into --password-stdin or set BERTH_PASSWORD"
        ))
        .into());
    }
    let config_dir = settings::ci_env::docker_config_dir(global, &env).ok_or_else(|| {
        usage(
            "no docker config directory: set DOCKER_CONFIG or HOME, or pass --docker-config".into(),
        )
    })?;

    Connector::new(settings::registry_options(global, &settings::process_env))
        .verify_login(&host, &username, &password)
        .await
        .with_context(|| format!("login to {host} failed; nothing was stored"))?;

    let notes = docker_config::store_login(
        &config_dir,
        Credentials {
            host: &host,
            username: &username,
            password: &password,
        },
    )?;
    if let Some(helper) = &notes.shadowed_by {
        tracing::warn!(
            "{} has {helper}: docker asks that helper for {host} and ignores the entry berth \
             wrote under `auths`; remove it, or use `berth ci-env` for a per-job config",
            config_dir.join("config.json").display()
        );
    }
    report::ci_env::login_succeeded(&host, &config_dir.join("config.json"))?;
    Ok(ExitStatus::Success)
}
