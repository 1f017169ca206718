//! `berth cleanup`: settings → git facts → scan (tags, digests, manifest graph) → configs the
//! planner asks for → plan → guards → execute → report.
//!
//! Git comes first: it is local and cheap, and a shallow clone or an empty ref list refuses
//! the run before a single registry request. `--plan-out` is written only for a plan that
//! passed the guards, so `--apply FILE` only ever executes guarded plans; it re-resolves
//! every tag it deletes and skips the ones that moved.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::cleanup::cache::ConfigCache;
use crate::cleanup::execute::{self, ExecOptions, ExecReport};
use crate::cleanup::journal::Journal;
use crate::cleanup::plan::{self, Guards, OpenPull, Plan, PlanInput, PullRequests};
use crate::cleanup::scan;
use crate::cli::{CleanupArgs, GlobalArgs};
use crate::exit::{ExitStatus, Failure};
use crate::git::{self, CommitId, GitFacts};
use crate::registry::reference::Reference;
use crate::registry::{self, Connector, Repository};
use crate::report::cleanup::{CleanupReport, Format, Mode};
use crate::report::progress::Progress;
use crate::settings::cleanup::{CleanupSettings, Root, RunMode};

/// A finished cleanup: the plan, what execution did, and the exit status it earns.
pub(crate) struct CleanupRun {
    /// The plan (made now, or read from `--apply FILE`).
    pub plan: Plan,
    /// What execution did (None for a dry run).
    pub exec: Option<ExecReport>,
    /// How it ran.
    pub mode: Mode,
    /// 0; 3 when some deletion failed; 1 when the journal failed before any change.
    pub status: ExitStatus,
}

impl CleanupRun {
    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        crate::report::cleanup::render(
            &CleanupReport {
                plan: &self.plan,
                exec: self.exec.as_ref(),
                mode: self.mode,
            },
            format,
        )
    }
}

/// Runs the command.
pub async fn run(global: &GlobalArgs, args: CleanupArgs) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("could not read the working directory")?;
    let settings =
        crate::settings::cleanup::resolve(global, &args, &|k| std::env::var(k).ok(), &cwd)
            .map_err(|e| Failure::new(ExitStatus::Usage, e))?;
    let connector = Connector::new(settings.registry.clone());
    let done = cleanup(&settings, &connector, Utc::now()).await;
    let counts = connector.request_counts();
    tracing::debug!(
        total = counts.total(),
        get = counts.get,
        head = counts.head,
        put = counts.put,
        delete = counts.delete,
        "HTTP requests sent"
    );
    let done = done?;
    crate::report::stdout(&done.render(settings.format))
        .context("could not write the report to stdout")?;
    if let Some(path) = &settings.step_summary {
        crate::report::cleanup::write_step_summary(path, &done.render(Format::Markdown))
            .with_context(|| {
                format!(
                    "could not append the report to $GITHUB_STEP_SUMMARY ({}); the cleanup \
                     itself is done",
                    path.display()
                )
            })?;
    }
    Ok(done.status)
}

/// The whole pipeline, shared by `cleanup` and `demo`. Refusals and errors before any change
/// come back as `Err` (with [`Failure`] statuses); failed deletions as status 3.
pub(crate) async fn cleanup(
    settings: &CleanupSettings,
    connector: &Connector,
    now: DateTime<Utc>,
) -> anyhow::Result<CleanupRun> {
    if let RunMode::Apply(file) = &settings.mode {
        return apply(settings, connector, file).await;
    }
    let open = open_pull_requests(settings).await;
    let heads: Vec<CommitId> = match &open {
        PullRequests::Known { open, .. } => open.iter().map(|pr| pr.head).collect(),
        PullRequests::Unknown { .. } => Vec::new(),
    };
    let facts = git_facts(settings, heads).await?;
    let pulls = match open {
        PullRequests::Unknown { hint, .. } => PullRequests::Unknown {
            hint,
            refs_complete: facts.pull_refs_complete,
        },
        known => known,
    };
    let (repos, selection) = select_repos(settings, connector).await?;
    let concurrency = settings.registry.concurrency;

    let scan_progress = Progress::new("scan", 0, settings.progress);
    let mut scanned = scan::scan(&repos, concurrency, &scan_progress)
        .await
        .map_err(|e| Failure::new(ExitStatus::Error, e))?;
    for (scan, prefixes) in scanned.scans.iter_mut().zip(&selection.prefixes) {
        scan.image_prefixes.clone_from(prefixes);
    }
    let selection = selection.notes;
    let cache = match &settings.cache_dir {
        Some(dir) => ConfigCache::at(dir),
        None => ConfigCache::disabled(),
    };
    // Labels read in one round can turn more tags into deletion candidates, whose build times
    // the planner then needs too: read until it asks for nothing new.
    let mut asked = std::collections::HashSet::new();
    loop {
        let needed: Vec<_> = plan::configs_needed(&PlanInput {
            scans: &scanned.scans,
            git: &facts,
            config: &settings.config,
            pulls: &pulls,
            now,
        })
        .into_iter()
        .filter(|wanted| asked.insert(wanted.clone()))
        .collect();
        if needed.is_empty() {
            break;
        }
        let stats = scan::read_configs(
            &mut scanned,
            &repos,
            &needed,
            &cache,
            concurrency,
            &scan_progress,
        )
        .await;
        tracing::debug!(?stats, "configs read");
    }
    scan_progress.finish();
    let mut plan = plan::plan(&PlanInput {
        scans: &scanned.scans,
        git: &facts,
        config: &settings.config,
        pulls: &pulls,
        now,
    });
    plan.notes.extend(selection);

    let guards = Guards {
        max_delete_ratio: settings.max_delete_ratio,
        force: settings.force,
    };
    if let Err(refusal) = plan::check_guards(&plan, &facts, &guards) {
        return Err(Failure::new(ExitStatus::Refused, refusal).into());
    }
    if let Some(path) = &settings.plan_out {
        let mut json = serde_json::to_string_pretty(&plan).expect("a plan serialises");
        json.push('\n');
        std::fs::write(path, json).map_err(|e| {
            Failure::new(
                ExitStatus::Error,
                anyhow::anyhow!(
                    "could not write the plan to {}: {e}; check that the directory exists and \
                     is writable",
                    path.display()
                ),
            )
        })?;
    }
    if settings.mode == RunMode::DryRun {
        return Ok(CleanupRun {
            plan,
            exec: None,
            mode: Mode::DryRun,
            status: ExitStatus::Success,
        });
    }
    let by_name = repos
        .iter()
        .map(|r| (r.name().to_string(), r.clone()))
        .collect();
    let exec = run_plan(settings, &plan, &by_name, false).await?;
    Ok(finish(plan, exec, Mode::Run))
}

/// `--apply FILE`: the reviewed plan, every tag re-checked first.
async fn apply(
    settings: &CleanupSettings,
    connector: &Connector,
    file: &std::path::Path,
) -> anyhow::Result<CleanupRun> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::new(
            ExitStatus::Usage,
            anyhow::anyhow!(
                "could not read the plan {}: {e}; check the path",
                file.display()
            ),
        )
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            ExitStatus::Usage,
            anyhow::anyhow!(
                "{} is not a berth plan: {e}; write one with `berth cleanup --dry-run --plan-out FILE`",
                file.display()
            ),
        )
    })?;
    if plan.schema != 1 {
        return Err(Failure::new(
            ExitStatus::Usage,
            anyhow::anyhow!(
                "{} has plan schema {}, this berth reads schema 1; make the plan again with this \
                 version",
                file.display(),
                plan.schema
            ),
        )
        .into());
    }
    let names: Vec<String> = plan.repos.iter().map(|r| r.repo.clone()).collect();
    let repos = open_repos(connector, &names)?;
    let by_name = names.into_iter().zip(repos).collect();
    let exec = run_plan(settings, &plan, &by_name, true).await?;
    Ok(finish(plan, exec, Mode::Apply))
}

async fn run_plan(
    settings: &CleanupSettings,
    plan: &Plan,
    repos: &HashMap<String, Arc<dyn Repository>>,
    recheck: bool,
) -> anyhow::Result<ExecReport> {
    // Opened before the first request that changes anything: a journal that cannot be
    // written stops the run with nothing changed.
    let journal = match &settings.journal {
        Some(path) => Some(Journal::open(path).map_err(|e| Failure::new(ExitStatus::Error, e))?),
        None => None,
    };
    let progress = Progress::new("delete", execute::step_count(plan), settings.progress);
    let options = ExecOptions {
        concurrency: settings.registry.concurrency,
        recheck,
        journal: journal.as_ref(),
    };
    let exec = execute::execute(plan, repos, options, &progress).await;
    progress.finish();
    Ok(exec?)
}

fn finish(plan: Plan, exec: ExecReport, mode: Mode) -> CleanupRun {
    // A journal that failed before any change leaves the registry as it was (exit 1); once
    // something went, the run is partial (exit 3). A drift is the check doing its job: it
    // keeps what a tag now names and fails nothing.
    let status = match exec.journal_failure() {
        Some(f) if !exec.changed() => {
            tracing::error!("{}", f.message);
            ExitStatus::Error
        }
        _ if exec.has_failures() => ExitStatus::Partial,
        _ => ExitStatus::Success,
    };
    CleanupRun {
        plan,
        exec: Some(exec),
        mode,
        status,
    }
}

fn open_repos(connector: &Connector, names: &[String]) -> anyhow::Result<Vec<Arc<dyn Repository>>> {
    names
        .iter()
        .map(|name| {
            connector
                .open(name)
                .map_err(|e| Failure::new(ExitStatus::Usage, e).into())
        })
        .collect()
}

/// How the repositories were chosen.
struct Selection {
    /// For the report.
    notes: Vec<String>,
    /// Per repository (in the order returned): its monorepo image prefixes, empty for one
    /// image.
    prefixes: Vec<Vec<String>>,
}

/// The repositories this run cleans, and notes for the report on how they were chosen: the
/// listed ones, then the ones discovered under `--all-repos` / `--repo-prefix` roots (each
/// once), then the `--shard` share of all of them. Discovery is complete before anything is
/// planned, let alone deleted.
async fn select_repos(
    settings: &CleanupSettings,
    connector: &Connector,
) -> anyhow::Result<(Vec<Arc<dyn Repository>>, Selection)> {
    let mut repos = open_repos(connector, &settings.repos)?;
    let mut notes = Vec::new();
    // Keyed by the opened name, which the shard and the scan know the repositories by.
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for (listed, repo) in settings.repos.iter().zip(&repos) {
        if let Some(prefixes) = settings.image_prefixes.get(listed) {
            by_name.insert(repo.name().to_string(), prefixes.clone());
            notes.push(format!(
                "{listed} is a monorepo of the images of berth.yaml: each tag is linked after \
                 its image prefix ({}) is read off, and each image's tags count on their own",
                prefixes
                    .iter()
                    .map(|p| if p.is_empty() {
                        "none for the unnamed image".to_string()
                    } else {
                        format!("`{p}`")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if !settings.discover.is_empty() {
        let found = discover_repos(connector, &settings.discover).await?;
        let mut seen: HashSet<String> = repos.iter().map(|r| r.name().to_string()).collect();
        let new: Vec<String> = found
            .names
            .into_iter()
            .filter(|name| seen.insert(name.clone()))
            .collect();
        let roots: Vec<String> = settings.discover.iter().map(ToString::to_string).collect();
        notes.push(format!(
            "{} repositories discovered under {} (the registry's catalog); every one is judged \
             against this one git repository, so each must be built from it",
            new.len(),
            roots.join(", ")
        ));
        if !found.invalid.is_empty() {
            notes.push(format!(
                "the catalog listed names that are no valid repository names, skipped: {}",
                found.invalid.join(", ")
            ));
        }
        repos.extend(open_repos(connector, &new)?);
    }
    if let Some(shard) = settings.shard {
        let all = repos.len();
        repos.retain(|repo| shard.contains(repo.name()));
        notes.push(format!(
            "shard {shard}: {} of the {all} repositories (by a hash of each name; the other \
             shards clean the rest)",
            repos.len()
        ));
    }
    let prefixes = repos
        .iter()
        .map(|r| by_name.get(r.name()).cloned().unwrap_or_default())
        .collect();
    Ok((repos, Selection { notes, prefixes }))
}

/// What the catalog holds under the discovery roots.
struct Discovered {
    /// Valid repository names (`host/path`), sorted, each once.
    names: Vec<String>,
    /// Listed names that are no repository reference (never opened, never sent back).
    invalid: Vec<String>,
}

/// Lists the catalog of every root's host once and keeps what lies under a root. A root under
/// which nothing is found is an error: a wrong host or namespace must not pass as a clean run.
async fn discover_repos(connector: &Connector, roots: &[Root]) -> anyhow::Result<Discovered> {
    let mut catalogs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for root in roots {
        if catalogs.contains_key(root.host.as_str()) {
            continue;
        }
        let names = connector
            .list_repositories(&root.host)
            .await
            .map_err(|e| Failure::new(ExitStatus::Error, catalog_error(root, e)))?;
        tracing::info!(host = %root.host, repositories = names.len(), "catalog read");
        catalogs.insert(&root.host, names);
    }
    let mut names = BTreeSet::new();
    let mut invalid = BTreeSet::new();
    for root in roots {
        let mut found = 0;
        for name in catalogs[root.host.as_str()]
            .iter()
            .filter(|name| root.contains(name))
        {
            match Reference::parse(name) {
                Ok(r) if r.tag().is_none() && r.digest().is_none() => {
                    found += 1;
                    names.insert(name.clone());
                }
                _ => {
                    tracing::warn!(name = %name.escape_debug(), "the catalog lists a name that is no repository; skipped");
                    invalid.insert(name.escape_debug().to_string());
                }
            }
        }
        if found == 0 {
            let place = if root.path.is_empty() {
                format!("on {}", root.host)
            } else {
                format!("under {root}")
            };
            return Err(Failure::new(
                ExitStatus::Error,
                anyhow::anyhow!(
                    "{} {root}: the registry's catalog lists no repository {place}, so there is \
                     nothing to clean; check the host and namespace, or list the repositories \
                     with --repo",
                    root.flag
                ),
            )
            .into());
        }
    }
    Ok(Discovered {
        names: names.into_iter().collect(),
        invalid: invalid.into_iter().collect(),
    })
}

/// A catalog failure, with the way out when the registry refuses the listing itself.
fn catalog_error(root: &Root, e: registry::Error) -> anyhow::Error {
    use registry::Error as E;
    let refused = match &e {
        E::Denied { .. }
        | E::NoCredentials { .. }
        | E::WrongCredentials { .. }
        | E::NotFound { .. }
        | E::Unsupported { .. } => true,
        E::Status { status, .. } => matches!(status, 401 | 403 | 404 | 405),
        _ => false,
    };
    let head = format!(
        "{} {root}: could not list the repositories of {} (GET /v2/_catalog)",
        root.flag, root.host
    );
    if refused {
        anyhow::anyhow!(
            "{head}: {e}; discovery needs the registry's catalog and credentials with the \
             `registry:catalog:*` scope, which most hosted registries do not grant: list the \
             repositories with --repo (repeatable) instead of --all-repos / --repo-prefix"
        )
    } else {
        anyhow::anyhow!("{head}: {e}")
    }
}

/// Opens the repository, makes sure it has the remote's whole truth (fetching when allowed),
/// reads the facts.
async fn git_facts(
    settings: &CleanupSettings,
    pr_heads: Vec<CommitId>,
) -> anyhow::Result<GitFacts> {
    let options = settings.git.clone();
    let fetch = settings.fetch;
    let result = tokio::task::spawn_blocking(move || -> Result<GitFacts, git::Error> {
        let repo = git::open(&options)?;
        let completeness = repo.ensure_complete(fetch)?;
        // Open pull requests' heads are walked even where no ref names them (a fork's pull
        // request that the clone has the objects of).
        Ok(repo.facts_with(&pr_heads)?.with_completeness(completeness))
    })
    .await
    .context("the git reader stopped")?;
    result.map_err(|e| {
        let status = if e.is_refusal() {
            ExitStatus::Refused
        } else if matches!(e, git::Error::NotARepository { .. }) {
            // `--git-dir` (or the working directory) is the wrong input, not a failure.
            ExitStatus::Usage
        } else {
            ExitStatus::Error
        };
        Failure::new(status, e).into()
    })
}

/// The open pull requests from the forge, or why their state is unknown. A forge that is
/// configured but fails (a rejected token, a network error) leaves the state unknown with the
/// forge's own message: what depends on a pull request is then kept, never deleted.
async fn open_pull_requests(settings: &CleanupSettings) -> PullRequests {
    let unknown = |hint: String| PullRequests::Unknown {
        hint,
        refs_complete: false,
    };
    let forge = match &settings.forge {
        Ok(forge) => forge,
        Err(unavailable) => return unknown(unavailable.to_string()),
    };
    let name = match forge {
        crate::forge::Forge::GitHub { .. } => "GitHub",
        crate::forge::Forge::GitLab { .. } => "GitLab",
    };
    match crate::forge::open_pull_requests(forge).await {
        Ok(list) => {
            let mut open = Vec::with_capacity(list.len());
            for pr in list {
                match CommitId::from_hex(&pr.head_sha) {
                    Some(head) => open.push(OpenPull {
                        number: pr.number,
                        head,
                        branch: pr.head_ref,
                    }),
                    None => {
                        return unknown(format!(
                            "{name} gave pull request #{} the head `{}`, which is no commit id; \
                             berth keeps what depends on pull requests",
                            pr.number, pr.head_sha
                        ));
                    }
                }
            }
            tracing::info!(forge = name, open = open.len(), "open pull requests read");
            PullRequests::Known {
                forge: name.to_string(),
                open,
            }
        }
        Err(e) => {
            tracing::warn!(forge = name, error = %e, "could not read the open pull requests; what depends on them is kept");
            unknown(e.to_string())
        }
    }
}
