//! berth's integration tests: one binary, one module per area.
//! Registry tests run the real Distribution registry; git tests use real repositories.

mod fixtures;
mod harness;

// The registry client against the real Distribution registry (all three auth modes).
mod registry;
// `berth tags` through the binary.
mod tags;
// The git adapter on fixture repositories made with the git CLI.
mod git;
// Bare, mirror, single-branch, stale and remote-less clones as `--git-dir`.
mod clones;
// `berth cleanup` end to end (real registry + git fixtures, and oci: layouts).
mod cleanup;
// `berth ci-env` and `berth login`.
mod ci_env;
// The forge adapter (pull-request state) against fakes of GitHub's and GitLab's APIs.
mod forge;
// Cleanup decisions: pull-request state, tag forms, image counting, dates, reasons.
mod decisions;
// `berth cleanup` on OCI layouts with missing children, untagged children and child referrers.
mod layouts;
// Bad usage: exit 2 with a message that names the input.
mod usage;
// Hostile registries (lying, looping, flooding, echoing secrets) and malformed references.
mod hostile;
// Hostile local inputs: layouts, berth.yaml, docker configs, CI output, export round trips.
mod inputs;
// Race-proof deletion: a tag that moves between scan and deletion cancels what it names.
mod races;
// `cleanup --journal` and `berth restore`: a killed run converges, its journal restores all.
mod journal;
// Many repositories: discovery from the catalog (`--all-repos`, `--repo-prefix`), `--shard`.
mod repos;
// Faults injected through a cleanup of thousands of tags on the real registry.
mod faults;
// `berth detect`: every host pattern, CI case and override, repo modes, credential sources.
mod detect;
// GitHub Packages (ghcr.io REST, legacy GraphQL) against a fake in front of the real registry.
mod github;
// Image naming: `berth name` on the seeds' tables, monorepo and multirepo cleanups from `images:`.
mod naming;
// The Docker Hub provider against a fake Hub API in front of the real registry.
mod dockerhub;
// The Harbor provider against a fake Harbor API in front of the real registry.
mod harbor;
// The GitLab provider against a fake of GitLab's REST API in front of the real registry.
mod gitlab;
// The Quay provider: the API with a token, the registry alone without one.
mod quay;
// Nexus: digest deletes only, and the keep rule for tags it cannot remove alone.
mod nexus;
// The ACR provider: the /acr/v1 API, the docker config's login or an Azure AD login.
mod acr;
// The Google provider (gcr.io / Artifact Registry) against its fake in front of the real registry.
mod gcr;
// dist/install.sh against a loopback release mirror: checksums, tools, URLs, bin dir.
mod install;
// action.yml run as GitHub runs a composite: install, ci-env, outputs; empty inputs unset.
mod action;
// GitLab template and the dotenv output GitLab's parser reads.
mod gitlab_template;
