//! The per-job docker config directory and `config.json` logins.
//!
//! A job gets its own directory (0700, files 0600) so parallel jobs on one runner never share
//! or race on credentials. The CI login goes *inline* under `auths`, never into a credential
//! helper. Docker looks a host up in `credHelpers[host]`, then `credsStore`, and only then in
//! `auths` — an inline entry is ignored while either names a helper. So the per-job copy drops
//! `credsStore` (the runner's shared keychain is exactly what the job must not read from or
//! write to) and the `credHelpers` entry of the logged-in host; the other `credHelpers` stay.
//! Every client agrees on that reading (docker, containers/image as used by skopeo/podman,
//! go-containerregistry), where tricks such as an empty `credHelpers` entry are read
//! differently by each.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Value, json};

use super::Error;
use crate::secret::Secret;

/// File that marks a directory as made by `berth ci-env`; `--cleanup` removes nothing else.
pub const MARKER: &str = ".berth-ci-env";

/// Subdirectories of a docker config dir that are not copied: plugins and state of other
/// tools, big and machine-specific (the list werf uses).
pub const SKIPPED: [&str; 7] = [
    "cli-plugins",
    "buildx",
    "machine",
    "desktop",
    "run",
    "mutagen",
    "scout",
];

/// Where the per-job config comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Copy this docker config directory (missing: start empty).
    Dir(PathBuf),
    /// Write this JSON (`$DOCKER_AUTH_CONFIG`) as `config.json`.
    AuthConfig(Secret),
}

/// A registry login to store.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Registry host.
    pub host: &'a str,
    /// User name.
    pub username: &'a str,
    /// Password or token.
    pub password: &'a Secret,
}

/// What was changed in a config beyond the plain login, for the user to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    /// The `credsStore` helper that was dropped from the per-job copy.
    pub dropped_creds_store: Option<String>,
    /// The `credHelpers` entry of the logged-in host that was dropped.
    pub dropped_cred_helper: Option<String>,
    /// A helper that still shadows the inline entry (plain `berth login` keeps the user's
    /// helpers; docker will not use the entry while this is set).
    pub shadowed_by: Option<String>,
    /// Entries of the user's docker config dir that were not copied, each with the reason.
    pub skipped: Vec<String>,
}

/// Creates a new per-job directory under `parent` from `source`, with `login` inline.
/// Returns the directory and what was changed.
pub fn create_job_dir(
    parent: &Path,
    source: &Source,
    login: Option<Credentials<'_>>,
) -> Result<(PathBuf, Notes), Error> {
    fs::create_dir_all(parent).map_err(|source| Error::Io {
        what: "could not create the temp directory",
        path: parent.to_path_buf(),
        cause: source,
    })?;
    let dir = tempfile::Builder::new()
        .prefix("berth-docker-config-")
        .tempdir_in(parent)
        .map_err(|source| Error::Io {
            what: "could not create a per-job docker config directory in",
            path: parent.to_path_buf(),
            cause: source,
        })?
        .keep();
    let result = fill_job_dir(&dir, source, login);
    if result.is_err() {
        // Half a config is worse than none: a later step would log in with stale state.
        let _ = fs::remove_dir_all(&dir);
    }
    result.map(|notes| (dir, notes))
}

fn fill_job_dir(
    dir: &Path,
    source: &Source,
    login: Option<Credentials<'_>>,
) -> Result<Notes, Error> {
    set_mode(dir, 0o700)?;
    write_new(
        &dir.join(MARKER),
        b"made by `berth ci-env`; removed by `berth ci-env --cleanup`\n",
    )?;
    let config_path = dir.join("config.json");
    let mut notes = Notes::default();
    let mut config = match source {
        Source::Dir(src) => {
            if src.is_dir() {
                copy_tree(src, dir, true, &mut notes.skipped)?;
            }
            // The copy is berth's business; a broken file is the user's, under its own name.
            read_config(&config_path, &src.join("config.json"))?
        }
        Source::AuthConfig(json) => parse_config(json.expose(), "DOCKER_AUTH_CONFIG")?,
    };
    if let Some(Value::String(store)) = config.remove("credsStore") {
        notes.dropped_creds_store = Some(crate::secret::helper_name(&store));
    }
    if let Some(creds) = login {
        notes.dropped_cred_helper = put_login(&mut config, creds);
    }
    write_atomic(&config_path, &config)?;
    Ok(notes)
}

/// Stores a login inline in an existing docker config dir (`berth login`): keeps every other
/// key, writes atomically with mode 0600, and reports a helper that would shadow the entry.
/// A `config.json` that is a symbolic link is written through: its target gets the new
/// content and the link stays (dotfile managers link it); a link whose target is missing or
/// not a file is refused, with the reason.
pub fn store_login(config_dir: &Path, creds: Credentials<'_>) -> Result<Notes, Error> {
    fs::create_dir_all(config_dir).map_err(|source| Error::Io {
        what: "could not create the docker config directory",
        path: config_dir.to_path_buf(),
        cause: source,
    })?;
    let link = config_dir.join("config.json");
    let path = write_target(&link)?;
    let mut config = read_config(&path, &link)?;
    let key = super::auths_key(creds.host);
    let notes = Notes {
        shadowed_by: config
            .get("credHelpers")
            .and_then(|h| h.get(key).or_else(|| h.get(creds.host)))
            .and_then(Value::as_str)
            .map(|h| format!("credHelpers[{key}] = {}", crate::secret::helper_name(h)))
            .or_else(|| {
                config
                    .get("credsStore")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("credsStore = {}", crate::secret::helper_name(s)))
            }),
        ..Notes::default()
    };
    auths(&mut config).insert(key.to_string(), auth_entry(creds));
    write_atomic(&path, &config)?;
    Ok(notes)
}

/// The file `berth login` writes for `config.json` at `link`: the file itself, or the target
/// of a symbolic link (which must exist and be a regular file).
fn write_target(link: &Path) -> Result<PathBuf, Error> {
    match fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::canonicalize(link).map_err(|cause| Error::Io {
                what: "the docker config is a symbolic link whose target cannot be reached, so \
                       berth did not write through it (create the target or remove the link)",
                path: link.to_path_buf(),
                cause,
            })?;
            if !fs::metadata(&target).is_ok_and(|m| m.is_file()) {
                return Err(Error::Io {
                    what: "the docker config is a symbolic link to something that is not a \
                           regular file, so berth did not write through it",
                    path: link.to_path_buf(),
                    cause: std::io::Error::other(format!("{} is no file", target.display())),
                });
            }
            Ok(target)
        }
        _ => Ok(link.to_path_buf()),
    }
}

/// Removes a per-job directory, only when it carries [`MARKER`]. `dir` may be a symbolic link
/// (`DOCKER_CONFIG` pointing at the directory): the directory it resolves to is what is
/// checked and removed, never the link alone. Returns the directory removed.
pub fn remove_job_dir(dir: &Path) -> Result<PathBuf, Error> {
    let real = fs::canonicalize(dir).map_err(|cause| Error::Io {
        what: "could not resolve the per-job docker config directory",
        path: dir.to_path_buf(),
        cause,
    })?;
    // The marker itself must not be a link: a link to any file would pass for it.
    let marked = fs::symlink_metadata(real.join(MARKER)).is_ok_and(|m| m.is_file());
    if !real.is_dir() || !marked {
        return Err(Error::NotAJobDir {
            path: real,
            marker: MARKER,
        });
    }
    fs::remove_dir_all(&real).map_err(|source| Error::Io {
        what: "could not remove the per-job docker config directory",
        path: real.clone(),
        cause: source,
    })?;
    Ok(real)
}

/// The inline entry, and drops a `credHelpers` entry for the host; returns the dropped helper.
fn put_login(config: &mut Map<String, Value>, creds: Credentials<'_>) -> Option<String> {
    let key = super::auths_key(creds.host).to_string();
    auths(config).insert(key.clone(), auth_entry(creds));
    let helpers = config
        .get_mut("credHelpers")
        .and_then(Value::as_object_mut)?;
    let dropped = helpers
        .remove(&key)
        .or_else(|| helpers.remove(creds.host))?;
    Some(crate::secret::helper_name(
        dropped.as_str().unwrap_or_default(),
    ))
}

fn auth_entry(creds: Credentials<'_>) -> Value {
    let raw = format!("{}:{}", creds.username, creds.password.expose());
    json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) })
}

fn auths(config: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let entry = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry
        .as_object_mut()
        .expect("auths was just made an object")
}

/// Reads `path`; errors name `shown`, the file as the user knows it.
fn read_config(path: &Path, shown: &Path) -> Result<Map<String, Value>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => parse_config(&text, &shown.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(Error::Io {
            what: "could not read the docker config",
            path: shown.to_path_buf(),
            cause: source,
        }),
    }
}

fn parse_config(text: &str, source_name: &str) -> Result<Map<String, Value>, Error> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::InvalidDockerConfig {
            source_name: source_name.to_string(),
            why: "not a JSON object".into(),
        }),
        // serde_json's message quotes no input, so no secret leaks through it.
        Err(e) => Err(Error::InvalidDockerConfig {
            source_name: source_name.to_string(),
            why: e.to_string(),
        }),
    }
}

/// Writes JSON through a 0600 temp file in the same directory and a rename, so a reader never
/// sees half a file and a crash leaves the old one.
fn write_atomic(path: &Path, config: &Map<String, Value>) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |what, source| Error::Io {
        what,
        path: path.to_path_buf(),
        cause: source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(|e| io("could not create a temp file next to", e))?;
    let mut text = serde_json::to_vec_pretty(config).expect("a JSON map serialises");
    text.push(b'\n');
    tmp.write_all(&text)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io("could not write", e))?;
    set_mode(tmp.path(), 0o600)?;
    tmp.persist(path)
        .map_err(|e| io("could not replace", e.error))?;
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|source| Error::Io {
            what: "could not write",
            path: path.to_path_buf(),
            cause: source,
        })
}

/// Copies `src` into `dst` (which exists): directories 0700, files 0600. Only regular files
/// and directories are copied: FIFOs, sockets and devices (a FIFO would block the read) are
/// skipped, each noted in `skipped`. A symbolic link to a file is followed (a relative link
/// would dangle in the copy); one to a directory, or whose target is missing, is skipped.
/// At the top level the [`SKIPPED`] names are left out.
fn copy_tree(src: &Path, dst: &Path, top: bool, skipped: &mut Vec<String>) -> Result<(), Error> {
    let io = |what, path: &Path, source| Error::Io {
        what,
        path: path.to_path_buf(),
        cause: source,
    };
    let entries =
        fs::read_dir(src).map_err(|e| io("could not read the docker config dir", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("could not read the docker config dir", src, e))?;
        let name = entry.file_name();
        if top && (SKIPPED.iter().any(|s| name == *s) || name == MARKER) {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let own = entry
            .file_type()
            .map_err(|e| io("could not stat", &from, e))?;
        let mut skip = |why: &str| skipped.push(format!("{}: {why}", from.display()));
        let kind = if own.is_symlink() {
            match fs::metadata(&from) {
                Ok(target) if target.is_file() => target.file_type(),
                Ok(target) if target.is_dir() => {
                    skip("a symbolic link to a directory (not followed)");
                    continue;
                }
                Ok(target) => {
                    skip(&format!(
                        "a symbolic link to {}",
                        crate::file_kind::describe(&target.file_type())
                    ));
                    continue;
                }
                Err(_) => {
                    skip("a symbolic link whose target does not exist");
                    continue;
                }
            }
        } else {
            own
        };
        if kind.is_dir() {
            fs::create_dir(&to).map_err(|e| io("could not create", &to, e))?;
            set_mode(&to, 0o700)?;
            copy_tree(&from, &to, false, skipped)?;
        } else if kind.is_file() {
            let bytes = fs::read(&from).map_err(|e| io("could not read", &from, e))?;
            write_new(&to, &bytes)?;
        } else {
            skip(&format!(
                "{} (only regular files and directories are copied)",
                crate::file_kind::describe(&kind)
            ));
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| {
            Error::Io {
                what: "could not set permissions on",
                path: path.to_path_buf(),
                cause: source,
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn copies_without_skipped_dirs_drops_creds_store_and_writes_inline() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir_all(user.join("cli-plugins")).unwrap();
        fs::create_dir_all(user.join("buildx/instances")).unwrap();
        fs::create_dir_all(user.join("contexts/meta")).unwrap();
        fs::write(user.join("contexts/meta/m.json"), "{}").unwrap();
        fs::write(user.join("cli-plugins/docker-buildx"), "bin").unwrap();
        let original = r#"{"credsStore":"desktop","credHelpers":{"reg.example:5000":"secretservice","gcr.io":"gcloud"},"auths":{"other.io":{"auth":"eDp5"}},"proxies":{"default":{}}}"#;
        fs::write(user.join("config.json"), original).unwrap();
        let password = Secret::new("p@ss");
        let (dir, notes) = create_job_dir(
            &tmp.path().join("jobs"),
            &Source::Dir(user.clone()),
            Some(Credentials {
                host: "reg.example:5000",
                username: "ci",
                password: &password,
            }),
        )
        .unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("config.json")), 0o600);
        assert_eq!(mode(&dir.join("contexts/meta/m.json")), 0o600);
        assert!(!dir.join("cli-plugins").exists() && !dir.join("buildx").exists());
        assert!(dir.join(MARKER).is_file());
        let config: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config.get("credsStore"), None);
        assert_eq!(config["credHelpers"], json!({"gcr.io": "gcloud"}));
        assert_eq!(config["auths"]["other.io"]["auth"], "eDp5");
        assert_eq!(config["auths"]["reg.example:5000"]["auth"], "Y2k6cEBzcw==");
        assert_eq!(config["proxies"], json!({"default": {}}));
        assert_eq!(notes.dropped_creds_store.as_deref(), Some("desktop"));
        assert_eq!(notes.dropped_cred_helper.as_deref(), Some("secretservice"));
        // The user's own config is untouched.
        assert_eq!(
            fs::read_to_string(user.join("config.json")).unwrap(),
            original
        );
    }

    #[test]
    fn auth_config_source_and_cleanup_marker() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, _) = create_job_dir(
            tmp.path(),
            &Source::AuthConfig(Secret::new(r#"{"auths":{"a.io":{"auth":"YTpi"}}}"#)),
            None,
        )
        .unwrap();
        let text = fs::read_to_string(dir.join("config.json")).unwrap();
        assert!(text.contains("YTpi"));
        let err =
            create_job_dir(tmp.path(), &Source::AuthConfig(Secret::new("[1]")), None).unwrap_err();
        assert!(err.to_string().contains("DOCKER_AUTH_CONFIG"), "{err}");
        let user = tmp.path().join("not-ours");
        fs::create_dir(&user).unwrap();
        assert!(matches!(
            remove_job_dir(&user),
            Err(Error::NotAJobDir { .. })
        ));
        assert!(user.exists());
        remove_job_dir(&dir).unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn the_copy_skips_special_files_and_follows_links_to_files() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir_all(user.join("sub")).unwrap();
        fs::write(
            tmp.path().join("real.json"),
            r#"{"auths":{"a.io":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("../real.json", user.join("config.json")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), user.join("dirlink")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(user.join("sub/pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        let (dir, notes) =
            create_job_dir(&tmp.path().join("jobs"), &Source::Dir(user.clone()), None).unwrap();
        let config = fs::read_to_string(dir.join("config.json")).unwrap();
        assert!(config.contains("YTpi"), "{config}");
        assert!(!dir.join("dirlink").exists() && !dir.join("sub/pipe").exists());
        assert_eq!(notes.skipped.len(), 2, "{:?}", notes.skipped);
        assert!(notes.skipped.iter().any(|s| {
            s.ends_with("sub/pipe: a FIFO (only regular files and directories are copied)")
        }));
        assert!(
            notes
                .skipped
                .iter()
                .any(|s| s.contains("dirlink: a symbolic link to a directory"))
        );

        // A broken user file is named as the user's, not the copy's.
        fs::write(tmp.path().join("real.json"), "{,}").unwrap();
        let err = create_job_dir(&tmp.path().join("jobs"), &Source::Dir(user.clone()), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&user.join("config.json").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn cleanup_through_a_link_removes_the_marked_directory_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, _) =
            create_job_dir(tmp.path(), &Source::Dir(tmp.path().join("none")), None).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert_eq!(
            remove_job_dir(&link).unwrap(),
            fs::canonicalize(tmp.path())
                .unwrap()
                .join(dir.file_name().unwrap())
        );
        assert!(!dir.exists());
        // A marker that is a link does not count.
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        fs::write(tmp.path().join("f"), "").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("f"), user.join(MARKER)).unwrap();
        assert!(matches!(
            remove_job_dir(&user),
            Err(Error::NotAJobDir { .. })
        ));
        assert!(user.exists());
    }

    #[test]
    fn store_login_writes_through_a_linked_config_json() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("dotfiles.json");
        fs::write(&target, r#"{"psFormat":"t"}"#).unwrap();
        let dir = tmp.path().join("docker");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink("../dotfiles.json", dir.join("config.json")).unwrap();
        let password = Secret::new("pw");
        let creds = Credentials {
            host: "r.io",
            username: "me",
            password: &password,
        };
        store_login(&dir, creds).unwrap();
        assert!(dir.join("config.json").is_symlink());
        let text = fs::read_to_string(&target).unwrap();
        assert!(
            text.contains("bWU6cHc=") && text.contains("psFormat"),
            "{text}"
        );
        fs::remove_file(&target).unwrap();
        let err = store_login(&dir, creds).unwrap_err().to_string();
        assert!(err.contains("target cannot be reached"), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn store_login_keeps_keys_and_reports_the_shadowing_store() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("config.json"),
            r#"{"credsStore":"pass","auths":{"x.io":{}}}"#,
        )
        .unwrap();
        let password = Secret::new("pw");
        let notes = store_login(
            tmp.path(),
            Credentials {
                host: "docker.io",
                username: "me",
                password: &password,
            },
        )
        .unwrap();
        assert_eq!(notes.shadowed_by.as_deref(), Some("credsStore = pass"));
        let config: Value =
            serde_json::from_str(&fs::read_to_string(tmp.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["credsStore"], "pass");
        assert!(config["auths"]["x.io"].is_object());
        assert_eq!(
            config["auths"]["https://index.docker.io/v1/"]["auth"],
            "bWU6cHc="
        );
        assert_eq!(mode(&tmp.path().join("config.json")), 0o600);
    }
}
