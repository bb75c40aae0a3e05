//! Hot reload: watches `skills_dir` and reloads a skill folder once its
//! files have been quiet for `reload.debounce_ms`. The new version is
//! validated and swapped in by [`SkillHost::reload_folder`]; a version that
//! fails keeps the old one serving.

use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::host::{ReloadOutcome, SkillHost};

/// The skill folder a changed path belongs to (its first component below
/// `skills_dir`); folders starting with `.` are not skills.
fn folder_of(skills_dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(skills_dir).ok()?;
    match relative.components().next()? {
        Component::Normal(name) => {
            let name = name.to_str()?;
            (!name.starts_with('.')).then(|| name.to_owned())
        }
        _ => None,
    }
}

/// A watch on the skills folder, set up before the host that reloads from
/// it (so a service can set it up beside everything else it opens).
pub struct Watch {
    watcher: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<std::path::PathBuf>,
    skills_dir: std::path::PathBuf,
}

impl Watch {
    /// Starts watching `skills_dir` (recursively). Blocks while the watch
    /// is set up.
    pub fn start(skills_dir: &Path) -> anyhow::Result<Self> {
        // notify reports canonical paths on some platforms.
        let skills_dir = skills_dir
            .canonicalize()
            .unwrap_or_else(|_| skills_dir.to_path_buf());
        let (tx, changes) = mpsc::unbounded_channel::<std::path::PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) => {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "skill folder watch error"),
            })
            .context("starting the skills folder watcher")?;
        watcher
            .watch(&skills_dir, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", skills_dir.display()))?;
        tracing::info!(dir = %skills_dir.display(), "hot reload is watching the skills folder");
        Ok(Self {
            watcher,
            changes,
            skills_dir,
        })
    }
}

/// Starts watching the host's skills folder and reloading from it; the
/// task ends when `stop` turns true.
pub fn spawn(
    host: Arc<SkillHost>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let watch = Watch::start(&host.config().skills_dir)?;
    Ok(run(host, watch, stop))
}

/// Reloads each changed folder once its files have been quiet for
/// `reload.debounce_ms`, until `stop` turns true.
pub fn run(
    host: Arc<SkillHost>,
    watch: Watch,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let debounce = Duration::from_millis(host.config().reload.debounce_ms);
    let Watch {
        watcher,
        changes: mut rx,
        skills_dir,
    } = watch;
    tokio::spawn(async move {
        let _watcher = watcher;
        let mut pending: HashMap<String, Instant> = HashMap::new();
        loop {
            let next = pending.values().min().map(|t| *t + debounce);
            let quiet = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                path = rx.recv() => {
                    let Some(path) = path else { break };
                    if let Some(folder) = folder_of(&skills_dir, &path) {
                        pending.insert(folder, Instant::now());
                    }
                }
                () = quiet => {
                    let now = Instant::now();
                    let ready: Vec<String> = pending
                        .iter()
                        .filter(|(_, changed)| **changed + debounce <= now)
                        .map(|(folder, _)| folder.clone())
                        .collect();
                    for folder in ready {
                        pending.remove(&folder);
                        let host = host.clone();
                        let name = folder.clone();
                        let outcome = tokio::task::spawn_blocking(move || host.reload_folder(&name)).await;
                        match outcome {
                            Ok(ReloadOutcome::Loaded { sha256 }) => tracing::info!(skill = %folder, %sha256, "hot reload: new version serving"),
                            Ok(ReloadOutcome::Rejected(reason)) => tracing::warn!(skill = %folder, %reason, "hot reload: new version rejected"),
                            Ok(ReloadOutcome::Removed) => tracing::info!(skill = %folder, "hot reload: skill removed"),
                            Ok(ReloadOutcome::Unchanged) => {}
                            Err(err) => tracing::error!(skill = %folder, error = %err, "hot reload task failed"),
                        }
                    }
                }
                _ = stop.changed() => {
                    if *stop.borrow() {
                        break;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::folder_of;
    use std::path::Path;

    #[test]
    fn changes_map_to_their_skill_folder() {
        let dir = Path::new("/srv/skills");
        assert_eq!(
            folder_of(dir, Path::new("/srv/skills/triage/skill.wasm")).as_deref(),
            Some("triage")
        );
        assert_eq!(
            folder_of(dir, Path::new("/srv/skills/triage")).as_deref(),
            Some("triage")
        );
        assert_eq!(folder_of(dir, Path::new("/srv/skills/.tmp/x")), None);
        assert_eq!(folder_of(dir, Path::new("/srv/skills")), None);
        assert_eq!(folder_of(dir, Path::new("/elsewhere/x")), None);
    }
}
