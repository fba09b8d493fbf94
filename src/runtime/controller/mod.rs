//! `run`: the long-running controller that keeps the cluster at cluster.toml.
//!
//! One reconcile pass at a time. A pass starts when Docker reports an event on the cluster's
//! objects or cluster.toml is edited (at once; a burst collapses into one pass), when the
//! periodic resync is due (for drift Docker cannot see, inside Redis), or when the previous
//! pass asked to look again soon. Failed passes retry with exponential backoff and jitter,
//! reset by a good pass; the loop never dies on a transient error. A shutdown request lets
//! the pass in flight finish.

mod shared;
mod triggers;

pub use shared::Shared;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::actions::Applied;
use crate::guard::lease::{self, Lease};
use crate::plan::Plan;
use crate::runtime::context::Context;
use crate::runtime::progress::Progress;
use crate::runtime::reconcile::{self, Next, Observer, ReconcileError};
use crate::runtime::status::{self, ConditionType, OperatorStatus};
use crate::spec::secret::Secret;
use crate::spec::{AuthSpec, ClusterSpec};
use triggers::Stamp;

pub(crate) struct RunOptions {
    /// How often to look even when Docker reports nothing.
    pub(crate) resync: Duration,
    /// The cluster file, re-read when it changes (a `git pull` takes effect without a restart).
    pub(crate) file: PathBuf,
}

/// Watches the cluster file: a valid change yields a new context; an invalid one is reported
/// and the last good spec stays in force.
struct SpecWatch {
    file: PathBuf,
    /// The file's stamp when it was last read.
    read: Stamp,
    /// Why the file on disk is not in force, until it is fixed.
    problem: Option<String>,
    /// The cross-machine lease, kept where the spec in force says (see [`crate::guard::lease`]).
    lease: Option<Lease>,
}

/// What the files said, read on a blocking thread.
enum OnDisk {
    /// cluster.toml did not change; the password its source holds now.
    Same { password: Option<Option<Secret>> },
    /// cluster.toml changed: the new spec with its password and certificates ready, or why
    /// it cannot be put in force.
    Changed {
        read: Stamp,
        spec: Result<(Box<ClusterSpec>, Option<Secret>), String>,
    },
}

impl SpecWatch {
    /// Reads cluster.toml when it changed, and the password source every time (blocking:
    /// file reads, and certificates written for a new spec).
    fn look(file: &Path, last: Stamp, cluster: &str, auth: &AuthSpec) -> OnDisk {
        let read = triggers::stamp(file);
        if read == last {
            let password =
                crate::spec::secret::resolve(auth, crate::spec::secret::Missing::Fail).ok();
            return OnDisk::Same { password };
        }
        let spec = crate::spec::load(file)
            .map_err(|e| e.to_string())
            .and_then(|spec| {
                if spec.name != cluster {
                    return Err(format!(
                        "cluster.toml now names cluster {}, not {cluster}: restart `run` to switch clusters",
                        spec.name
                    ));
                }
                let password = crate::spec::secret::resolve(&spec.auth, crate::spec::secret::Missing::Create)
                    .map_err(|e| e.to_string())?;
                crate::tls::prepare(&spec, SystemTime::now()).map_err(|problems| {
                    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    format!("its certificates cannot be used: {}", shown.join("; "))
                })?;
                Ok((Box::new(spec), password))
            });
        OnDisk::Changed { read, spec }
    }

    /// The same spec with the password its source holds now, when that changed (a rotation:
    /// the planner then puts it in force on every node).
    async fn password_changed(ctx: &Arc<Context>, now: Option<Secret>) -> Option<Arc<Context>> {
        if now == ctx.password {
            return None;
        }
        match Context::connect(ctx.spec.clone(), now).await {
            Ok(new) => {
                tracing::info!("the cluster password changed: putting it in force on every node");
                Some(Arc::new(new))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot apply the new password yet");
                None
            }
        }
    }

    async fn reload(&mut self, ctx: &Arc<Context>) -> Option<Arc<Context>> {
        let (file, last) = (self.file.clone(), self.read);
        let (cluster, auth) = (ctx.spec.name.clone(), ctx.spec.auth.clone());
        let on_disk = tokio::task::spawn_blocking(move || Self::look(&file, last, &cluster, &auth))
            .await
            .ok()?;
        let (read, spec) = match on_disk {
            OnDisk::Same { password } => return Self::password_changed(ctx, password?).await,
            OnDisk::Changed { read, spec } => (read, spec),
        };
        self.read = read;
        let (spec, password) = match spec {
            Ok(found) => found,
            Err(why) => {
                if self.problem.as_ref() != Some(&why) {
                    tracing::error!(problem = %why, "cluster.toml changed but cannot be put in force; keeping the last good spec");
                }
                self.problem = Some(why);
                // Read again next pass, whatever its time stamp says: an editor that truncates
                // and then writes can be caught between the two, and the whole file may carry
                // the very time stamp of the empty one (both within one clock tick).
                self.read = None;
                return None;
            }
        };
        self.problem = None;
        if *spec == ctx.spec {
            return None;
        }
        let new = match Context::connect(*spec, password).await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(error = %e, "cannot apply the new cluster.toml yet");
                self.read = None;
                return None;
            }
        };
        match lease::follow(self.lease.take(), &new.spec, &new.engines).await {
            Ok(lease) => self.lease = lease,
            Err((kept, e)) => {
                // Looked at again every pass: the other operator may stop.
                tracing::warn!(error = %e, "cluster.toml changed, but its lease cannot be taken");
                self.lease = kept;
                self.problem = Some(format!("its lease cannot be taken: {e}"));
                self.read = None;
                return None;
            }
        }
        tracing::info!("cluster.toml changed: reconciling to the new spec");
        Some(Arc::new(new))
    }
}

/// Hears a pass: logs each action, records it as an event (in the status and on the API's
/// feed) and counts it, and hands what the pass saw to the API.
struct Recorder<'a> {
    status: &'a mut OperatorStatus,
    log: &'a mut Progress,
    shared: &'a Shared,
    actions: usize,
}

impl Observer for Recorder<'_> {
    fn observed(&mut self, observed: &crate::observe::Observed) {
        self.shared.set_observed(observed.clone());
    }

    fn planned(&mut self, plan: &Plan) {
        self.log.planned(plan);
    }

    fn applied(&mut self, applied: &Applied) {
        self.actions += 1;
        self.log.applied(applied);
        self.shared
            .metrics
            .record_action(applied.action.kind(), applied.result.is_ok());
        let event = self.status.record(applied);
        // No subscriber is no error: the feed is for whoever listens.
        let _ = self.shared.events.send(event);
    }
}

/// What a pass's outcome means for the conditions, and when to look again.
fn settle(
    status: &mut OperatorStatus,
    outcome: &Result<Next, ReconcileError>,
    actions: usize,
    resync: Duration,
    backoff: &mut dyn Iterator<Item = Duration>,
) -> Duration {
    use ConditionType::*;
    match outcome {
        Ok(Next::Done) => {
            status.set(
                Ready,
                true,
                "AsDeclared",
                "every node is up, agrees on the slot map and serves its declared slots",
            );
            status.set(Progressing, false, "Idle", "");
            status.set(Degraded, false, "AsDeclared", "");
            resync
        }
        Ok(Next::Requeue {
            after,
            stalled: Some(why),
            ..
        }) => {
            status.set(Ready, false, "Stalled", why.clone());
            status.set(Progressing, true, "Stalled", why.clone());
            status.set(Degraded, true, "Stalled", why.clone());
            *after
        }
        Ok(Next::Requeue { after, waiting, .. }) => {
            let (reason, message) = if actions > 0 {
                ("Repairing", format!("applied {actions} action(s)"))
            } else {
                ("Settling", waiting.join("; "))
            };
            status.set(Ready, false, reason, message.clone());
            status.set(Progressing, true, reason, message);
            status.set(Degraded, false, reason, "");
            *after
        }
        Err(ReconcileError::UnsupportedServer(why)) => {
            status.set(Ready, false, "UnsupportedServer", why.clone());
            status.set(Progressing, false, "UnsupportedServer", "");
            status.set(Degraded, true, "UnsupportedServer", why.clone());
            resync
        }
        Err(ReconcileError::Blocked(why)) => {
            status.set(Ready, false, "Blocked", why.join("; "));
            status.set(Progressing, false, "Blocked", "");
            status.set(Degraded, true, "Blocked", why.join("; "));
            resync
        }
        Err(e) => {
            status.set(Ready, false, "Error", e.to_string());
            status.set(Progressing, true, "Retrying", e.to_string());
            status.set(Degraded, true, "ReconcileError", e.to_string());
            backoff.next().unwrap_or(resync).min(resync)
        }
    }
}

/// How often the moves of a pass in flight are published (API, status file).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Publishes how far the moves in flight have got: to the API at once, and into the status
/// file so `status` shows it while a long reshard runs.
async fn publish_moves(ctx: &Context, shared: &Shared, path: &Path) {
    let Some(moving) = ctx.moves.snapshot() else {
        return;
    };
    tracing::info!("{moving}");
    shared.set_moves(Some(moving.clone()));
    let mut status = shared.status();
    status.moving = Some(moving);
    if let Err(e) = status.save(path).await {
        tracing::warn!(error = %e, path = %path.display(), "cannot write the status file");
    }
}

/// Runs the controller until `shutdown` turns true, publishing what it sees and does to
/// `shared`; holds `lease` meanwhile (moving it with cluster.toml) and gives it back at the
/// end.
pub(crate) async fn run(
    mut ctx: Arc<Context>,
    options: RunOptions,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    lease: Option<Lease>,
) {
    let mut spec_watch = SpecWatch {
        read: triggers::stamp(&options.file),
        file: options.file.clone(),
        problem: None,
        lease,
    };
    let path = status::path(&ctx.spec.state_dir, &ctx.spec.name);
    let mut status = shared.status();
    let wake = shared.wake.clone();
    let mut watcher = triggers::spawn(&ctx, &wake);
    let mut file_watch =
        triggers::watch_files(triggers::files(&options.file, &ctx.spec.auth), &wake);
    let mut backoff = reconcile::error_policy();
    let mut stall = reconcile::Stall::default();
    let mut next = Instant::now();
    let mut log = Progress::Log {
        waiting: Vec::new(),
    };
    tracing::info!(cluster = %ctx.spec.name, resync_s = options.resync.as_secs_f64(), "controller started");
    while !*shutdown.borrow() {
        tokio::select! {
            _ = shutdown.changed() => continue,
            _ = wake.notified() => {}
            _ = tokio::time::sleep_until(next) => {}
        }
        if let Some(new) = spec_watch.reload(&ctx).await {
            // Network events are watched by name, and each host has its stream: follow a
            // renamed network and hosts added or changed.
            if new.spec.network.name != ctx.spec.network.name || new.spec.hosts != ctx.spec.hosts {
                watcher.iter().for_each(|w| w.abort());
                watcher = triggers::spawn(&new, &wake);
            }
            if new.spec.auth != ctx.spec.auth {
                file_watch.abort();
                file_watch =
                    triggers::watch_files(triggers::files(&options.file, &new.spec.auth), &wake);
            }
            ctx = new;
            shared.set_spec(Arc::new(ctx.spec.clone()));
        }
        let started = Instant::now();
        let mut recorder = Recorder {
            status: &mut status,
            log: &mut log,
            shared: &shared,
            actions: 0,
        };
        let outcome = {
            let pass = reconcile::reconcile(&ctx, &mut recorder, &mut stall);
            tokio::pin!(pass);
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            loop {
                tokio::select! {
                    outcome = &mut pass => break outcome,
                    // SIGTERM during a reshard: finish the round in flight, then stop.
                    _ = shutdown.changed(), if !ctx.moves.stopping() => ctx.moves.request_stop(),
                    _ = tick.tick() => publish_moves(&ctx, &shared, &path).await,
                }
            }
        };
        shared.set_moves(None);
        let actions = recorder.actions;
        if outcome.is_ok() {
            backoff = reconcile::error_policy();
        }
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "reconcile failed");
        }
        let after = settle(&mut status, &outcome, actions, options.resync, &mut backoff);
        if let Some(problem) = &spec_watch.problem {
            status.set(
                ConditionType::Degraded,
                true,
                "InvalidSpec",
                format!("{problem} (the last good cluster.toml stays in force)"),
            );
        }
        let result = match &outcome {
            Ok(Next::Done) => "in sync".to_string(),
            Ok(Next::Requeue { .. }) => "requeue".to_string(),
            Err(e) => format!("error: {e}"),
        };
        shared
            .metrics
            .record_pass(started.elapsed(), outcome.is_ok());
        status.reconciled(started.elapsed(), actions, result);
        shared.set_status(status.clone());
        if let Err(e) = status.save(&path).await {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the status file");
        }
        next = Instant::now() + after;
    }
    watcher.iter().for_each(|w| w.abort());
    file_watch.abort();
    if let Some(lease) = spec_watch.lease {
        lease.release().await;
    }
    tracing::info!("controller stopped");
}
