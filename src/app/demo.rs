//! `berth demo`: the whole cleanup on a throwaway world, no server, no network.
//!
//! In a temp dir it builds a git repository with the git CLI (a `main` with twelve commits and
//! a release tag, a live feature branch that was force-pushed once, a deleted feature branch,
//! a merged and deleted one, a deleted experiment built half an hour ago, a branch named with
//! capitals, a pull request from a fork) and an OCI image layout holding an image per
//! commit, tagged the way CI pipelines tag them (`sha-<7>`, `<branch>-<7>`, `<branch>`, the
//! git tag), with a multi-arch index and cosign signatures. Dates are relative to now, so the
//! default keep policies have something to decide. Then it runs the same code as
//! `berth cleanup` on it: a dry run, then the real run, and prints both reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};

use crate::cli::{DemoArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::git::GitOptions;
use crate::policy::CleanupConfig;
use crate::registry::model::media_type;
use crate::registry::ocidir::OciDir;
use crate::registry::{Descriptor, Platform, RegistryOptions, Repository};
use crate::report::cleanup::Format;
use crate::report::progress::ProgressMode;
use crate::settings::cleanup::{CleanupSettings, DEFAULT_MAX_DELETE_RATIO, RunMode};

/// The empty tree every git knows without storing it: demo commits change no files.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

const EXPLANATION: &str = "\
berth decides from git history which registry tags nobody needs. Here `main` keeps the images \
of its last 10 commits (the oldest goes, with its signature; the second oldest stays because \
the git tag `v1.0.0` points at it), and its multi-arch index keeps both platform images and \
its signature. `feature/login` keeps the images of its last 2 commits: an older one goes, and \
so does the image of the commit a force-push replaced. Every tag of the deleted branch \
`feature/old` goes. `feature/ui` was fast-forwarded into `main` and deleted: its branch tag \
goes by untagging, because the same image stays under `main`'s commit tags. The experiment \
built 30 minutes ago stays although its branch is gone (`built_within: 2h`), and `debug`, \
which nothing ties to git, stays too. `Feature/Search` was tagged the way \
docker/metadata-action writes it (`Feature-Search`, case kept): a live branch's tag. Pull request \
#17 comes from a fork: whether it is still open only the forge knows, so offline its images stay, \
and the reason names the variables that would let berth ask GitHub or GitLab.";

/// Runs the command.
pub async fn run(_global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<ExitStatus> {
    let started = std::time::Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("berth-demo-")
        .tempdir()
        .context("could not create a temp dir for the demo; check $TMPDIR")?;
    let now = Utc::now();
    let root = tmp.path().to_path_buf();
    let world = tokio::task::spawn_blocking(move || build(&root, now))
        .await
        .context("the demo builder stopped")??;

    let settings = |mode: RunMode| CleanupSettings {
        repos: vec![format!("oci:{}", world.layout.display())],
        image_prefixes: Default::default(),
        discover: Vec::new(),
        shard: None,
        git: GitOptions {
            git_dir: Some(world.git.clone()),
            remote: "origin".into(),
            trust: false,
            check_remote: true,
        },
        fetch: false,
        mode,
        plan_out: None,
        journal: None,
        format: Format::Text,
        config: CleanupConfig::default(),
        config_file: None,
        max_delete_ratio: DEFAULT_MAX_DELETE_RATIO,
        force: false,
        registry: RegistryOptions::default(),
        cache_dir: None,
        step_summary: None,
        // The demo is over in a second: a progress bar would only flicker.
        progress: ProgressMode::Hidden,
        // Offline, as a demo is: berth cannot know whether the pull request is open.
        forge: crate::forge::from_env(&|_| None),
    };
    let connector = crate::registry::Connector::new(RegistryOptions::default());
    let tags_before = world.count_tags().await?;
    let blobs_before = world.count_blobs()?;
    let dry = super::cleanup::cleanup(&settings(RunMode::DryRun), &connector, now).await?;
    let after_dry = world.count_tags().await?;
    if after_dry != tags_before {
        bail!("the dry run changed the layout ({tags_before} tags before, {after_dry} after)");
    }
    let real = super::cleanup::cleanup(&settings(RunMode::Run), &connector, now).await?;
    let tags_after = world.count_tags().await?;
    let blobs_after = world.count_blobs()?;

    let mut out = String::new();
    let place = if args.keep {
        "kept after the demo"
    } else {
        "removed after the demo; --keep keeps it"
    };
    out.push_str(&format!(
        "berth demo: a git repository and an OCI image layout in {} ({place})\n\n\
         {EXPLANATION}\n\n",
        tmp.path().display()
    ));
    out.push_str("== 1. berth cleanup --dry-run (nothing is changed) ==\n\n");
    out.push_str(&dry.render(Format::Text));
    out.push_str("\n== 2. berth cleanup ==\n\n");
    out.push_str(&real.render(Format::Text));
    out.push_str(&format!(
        "\nThe layout had {tags_before} tags and {blobs_before} blobs; it has {tags_after} tags \
         and {blobs_after} blobs now ({:.1} s).\n",
        started.elapsed().as_secs_f64()
    ));
    let status = real.status;
    if args.keep {
        let kept = tmp.keep();
        out.push_str(&format!(
            "Explore it: `berth tags oci:{}`, `berth cleanup --dry-run --repo oci:{} --git-dir {}` \
             (then remove {}).\n",
            world.layout.display(),
            world.layout.display(),
            world.git.display(),
            kept.display()
        ));
    }
    crate::report::stdout(&out).context("could not write the report to stdout")?;
    Ok(status)
}

/// The demo's repository and layout.
struct World {
    git: PathBuf,
    layout: PathBuf,
}

impl World {
    async fn count_tags(&self) -> anyhow::Result<usize> {
        let layout = OciDir::open(&self.layout.display().to_string())?;
        Ok(layout.list_tags().await?.len())
    }

    fn count_blobs(&self) -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(self.layout.join("blobs").join("sha256"))?.count())
    }
}

/// Runs git in `dir` with no user or system configuration, optionally at a fixed date.
fn git(dir: &Path, args: &[&str], at: Option<DateTime<Utc>>) -> anyhow::Result<String> {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "user.name=berth demo",
        "-c",
        "user.email=demo@berth.invalid",
    ])
    .args(args)
    .current_dir(dir)
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env_remove("GIT_DIR")
    .env_remove("GIT_WORK_TREE");
    if let Some(at) = at {
        let date = format!("@{} +0000", at.timestamp());
        cmd.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    let out = cmd
        .output()
        .context("could not run `git`; the demo needs git installed")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A commit with no files on top of `parent`, at `at`.
fn commit(
    dir: &Path,
    parent: Option<&str>,
    message: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<String> {
    let mut args = vec!["commit-tree", EMPTY_TREE, "-m", message];
    if let Some(p) = parent {
        args.extend(["-p", p]);
    }
    git(dir, &args, Some(at))
}

/// Writes images into the layout.
struct Images<'a> {
    layout: &'a OciDir,
}

impl Images<'_> {
    /// One platform image for `commit` of `branch`, built at `created`.
    fn image(
        &self,
        commit: Option<&str>,
        branch: Option<&str>,
        created: DateTime<Utc>,
        arch: &str,
    ) -> anyhow::Result<Descriptor> {
        let mut labels = serde_json::Map::new();
        if let Some(c) = commit {
            labels.insert("org.opencontainers.image.revision".into(), c.into());
        }
        if let Some(b) = branch {
            labels.insert("berth.git.ref".into(), b.into());
        }
        let config = serde_json::json!({
            "created": created.to_rfc3339(),
            "architecture": arch,
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let config = self
            .layout
            .put_blob(media_type::OCI_CONFIG, &serde_json::to_vec(&config)?)?;
        let layer = self.layout.put_blob(
            "application/vnd.oci.image.layer.v1.tar",
            format!(
                "app built from {} for {arch}\n",
                commit.unwrap_or("nothing")
            )
            .as_bytes(),
        )?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        let bytes = serde_json::to_vec(&manifest)?;
        let mut desc = self.layout.put_blob(media_type::OCI_MANIFEST, &bytes)?;
        desc.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
        });
        Ok(desc)
    }

    /// Tags an image or index already stored.
    fn tag(&self, desc: &Descriptor, tags: &[String]) -> anyhow::Result<()> {
        let bytes = std::fs::read(
            self.layout
                .path()
                .join("blobs")
                .join(desc.digest.algorithm())
                .join(desc.digest.hex()),
        )?;
        for t in tags {
            self.layout.put_manifest(&bytes, Some(t))?;
        }
        Ok(())
    }

    /// A multi-arch index of amd64 and arm64 images.
    fn index(
        &self,
        commit: &str,
        branch: &str,
        created: DateTime<Utc>,
    ) -> anyhow::Result<Descriptor> {
        let amd = self.image(Some(commit), Some(branch), created, "amd64")?;
        let arm = self.image(Some(commit), Some(branch), created, "arm64")?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": [amd, arm],
        });
        Ok(self
            .layout
            .put_blob(media_type::OCI_INDEX, &serde_json::to_vec(&index)?)?)
    }

    /// A cosign-style signature of `subject`, tagged `sha256-<hex>.sig`.
    fn sign(&self, subject: &Descriptor, created: DateTime<Utc>) -> anyhow::Result<()> {
        let payload = serde_json::json!({
            "critical": {"image": {"docker-manifest-digest": subject.digest}},
        });
        let layer = self.layout.put_blob(
            "application/vnd.dev.cosign.simplesigning.v1+json",
            &serde_json::to_vec(&payload)?,
        )?;
        let config = serde_json::json!({"created": created.to_rfc3339(), "config": {}});
        let config = self
            .layout
            .put_blob(media_type::OCI_CONFIG, &serde_json::to_vec(&config)?)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        let tag = format!(
            "{}-{}.sig",
            subject.digest.algorithm(),
            subject.digest.hex()
        );
        self.layout
            .put_manifest(&serde_json::to_vec(&manifest)?, Some(&tag))?;
        Ok(())
    }
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// Builds the git repository and the layout under `root`.
fn build(root: &Path, now: DateTime<Utc>) -> anyhow::Result<World> {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo)?;
    git(&repo, &["init", "-q", "-b", "main"], None)?;
    let layout = OciDir::create(&root.join("layout"))?;
    let images = Images { layout: &layout };
    let ago = |hours: i64| now - Duration::hours(hours);
    let built = |at: DateTime<Utc>| at + Duration::minutes(4);

    // main: twelve commits, one every two days, the newest 3 hours ago.
    let mut main = Vec::new();
    let mut parent: Option<String> = None;
    for i in 1..=12 {
        let at = ago((12 - i) * 48 + 3);
        let c = commit(&repo, parent.as_deref(), &format!("main: change {i}"), at)?;
        parent = Some(c.clone());
        main.push((c, at));
    }
    git(&repo, &["update-ref", "refs/heads/main", &main[11].0], None)?;
    git(&repo, &["tag", "v1.0.0", &main[1].0], None)?;
    for (i, (c, at)) in main.iter().enumerate() {
        let mut tags = vec![format!("sha-{}", short(c)), format!("main-{}", short(c))];
        // The 11th commit was built on feature/ui, which was then fast-forwarded into main.
        let built_for = if i == 10 { "feature/ui" } else { "main" };
        if i == 10 {
            tags.push("feature-ui".into());
        }
        let desc = if i == 11 {
            tags.extend(["main".to_string(), "latest".to_string()]);
            let index = images.index(c, "main", built(*at))?;
            images.sign(&index, built(*at))?;
            index
        } else {
            images.image(Some(c), Some(built_for), built(*at), "amd64")?
        };
        if i == 1 {
            tags.push("v1.0.0".into());
        }
        if i == 0 {
            images.sign(&desc, built(*at))?;
        }
        images.tag(&desc, &tags)?;
    }

    // feature/login, from main's 10th commit; its second commit was replaced by a force-push.
    let base = &main[9].0;
    let f1 = commit(&repo, Some(base), "login: form", ago(72))?;
    let replaced = commit(&repo, Some(&f1), "login: first try", ago(48))?;
    let f2 = commit(&repo, Some(&f1), "login: second try", ago(24))?;
    let f3 = commit(&repo, Some(&f2), "login: tests", ago(5))?;
    git(
        &repo,
        &["update-ref", "refs/heads/feature/login", &f3],
        None,
    )?;
    for (c, at) in [(&f1, 72), (&replaced, 48), (&f2, 24), (&f3, 5)] {
        let desc = images.image(Some(c), Some("feature/login"), built(ago(at)), "amd64")?;
        let mut tags = vec![
            format!("sha-{}", short(c)),
            format!("feature-login-{}", short(c)),
        ];
        if c == &f3 {
            tags.push("feature-login".into());
        }
        images.tag(&desc, &tags)?;
    }

    // feature/old: two commits nine days ago, then the branch was deleted.
    let o1 = commit(&repo, Some(&main[6].0), "old: start", ago(240))?;
    let o2 = commit(&repo, Some(&o1), "old: more", ago(216))?;
    for (c, at) in [(&o1, 240), (&o2, 216)] {
        let desc = images.image(Some(c), Some("feature/old"), built(ago(at)), "amd64")?;
        let mut tags = vec![
            format!("sha-{}", short(c)),
            format!("feature-old-{}", short(c)),
        ];
        if c == &o2 {
            tags.push("feature-old".into());
        }
        images.tag(&desc, &tags)?;
    }

    // Feature/Search, named with capitals: docker/metadata-action keeps the case in its tag.
    let s1 = commit(&repo, Some(&main[10].0), "search: index", ago(6))?;
    git(
        &repo,
        &["update-ref", "refs/heads/Feature/Search", &s1],
        None,
    )?;
    let desc = images.image(Some(&s1), Some("Feature/Search"), built(ago(6)), "amd64")?;
    images.tag(
        &desc,
        &[format!("sha-{}", short(&s1)), "Feature-Search".into()],
    )?;

    // Pull request #17 from a fork: only `refs/pull/17/head` has its commit. Offline, berth
    // cannot know whether it is still open.
    let p1 = commit(&repo, Some(&main[11].0), "fork: fix typo", ago(8))?;
    git(&repo, &["update-ref", "refs/pull/17/head", &p1], None)?;
    let desc = images.image(Some(&p1), Some("refs/pull/17/head"), built(ago(8)), "amd64")?;
    images.tag(&desc, &[format!("sha-{}", short(&p1)), "pr-17".into()])?;

    // An experiment built 30 minutes ago whose branch is already gone.
    let x_at = now - Duration::minutes(40);
    let x = commit(&repo, Some(&main[11].0), "experiment", x_at)?;
    let desc = images.image(Some(&x), None, now - Duration::minutes(30), "amd64")?;
    images.tag(&desc, &[format!("sha-{}", short(&x))])?;

    // A tag nothing ties to git.
    let desc = images.image(None, None, ago(24 * 30), "amd64")?;
    images.tag(&desc, &["debug".to_string()])?;

    Ok(World {
        git: repo,
        layout: layout.path().to_path_buf(),
    })
}
