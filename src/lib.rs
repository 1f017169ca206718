//! berth: a container-registry companion for CI pipelines.
//!
//! Two jobs: `ci-env` prepares a CI job for a registry (isolated docker config, verified
//! login, exported variables), and `cleanup` deletes the images that nobody needs any more,
//! decided from the project's git history.
//!
//! Layout (DESIGN §7): `cli` holds clap structs only, `settings` resolves them into validated
//! settings, `app` orchestrates one command per file, `report` is the only module that prints.
//! `registry`, `git`, `ci` and `forge` are adapters that never import each other; `policy` and
//! `cleanup::plan` are pure.

pub mod app;
pub mod ci;
pub mod cleanup;
pub mod cli;
pub mod env_vars;
pub mod exit;
pub mod file_kind;
pub mod forge;
pub mod git;
pub mod policy;
pub mod registry;
pub mod report;
pub mod secret;
pub mod settings;
