//! The reconcile loop: observe → plan → act, until the cluster is healthy and as declared.
//!
//! [`reconcile`] is one pass and says what should happen next, like kube-runtime's
//! `reconcile(obj, ctx) -> Result<Action>`; [`converge`] drives passes until done or a
//! deadline, with [`error_policy`] deciding how to retry a failed pass.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use crate::act::{self, ActError, Applied};
use crate::context::Context;
use crate::docker::DockerError;
use crate::observe;
use crate::plan::{self, Plan};

/// How soon to look again while Redis settles (gossip, the 2 s writable delay).
pub const SETTLE_POLL: Duration = Duration::from_millis(50);

/// What a pass says should happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Healthy and as declared.
    Done,
    /// Look again after this long; `waiting` says for what.
    Requeue {
        after: Duration,
        waiting: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Observe(#[from] DockerError),
    #[error(transparent)]
    Act(#[from] ActError),
    #[error("the cluster has drift redis-keeper will not repair:\n  {}", .0.join("\n  "))]
    Blocked(Vec<String>),
    #[error("not healthy after {}s; still waiting for:\n  {}", .after.as_secs(), .waiting.join("\n  "))]
    Timeout {
        after: Duration,
        waiting: Vec<String>,
    },
}

impl ReconcileError {
    /// Whether another pass could fix it.
    pub fn is_permanent(&self) -> bool {
        match self {
            ReconcileError::Observe(e) => e.is_permanent(),
            ReconcileError::Act(e) => e.is_permanent(),
            ReconcileError::Blocked(_) | ReconcileError::Timeout { .. } => true,
        }
    }
}

/// Hears what a pass sees, plans and does, for progress output, events and the API.
pub trait Observer {
    /// The world as this pass found it (before acting).
    fn observed(&mut self, _observed: &observe::Observed) {}
    fn planned(&mut self, plan: &Plan);
    fn applied(&mut self, applied: &Applied);
}

/// One pass: observe, plan, apply what can be done now.
pub async fn reconcile(ctx: &Context, observer: &mut dyn Observer) -> Result<Next, ReconcileError> {
    let observed = observe::observe(ctx).await?;
    ctx.renew_tls_identity(&observed).await;
    let plan = plan::plan(&ctx.spec, &observed);
    observer.observed(&observed);
    observer.planned(&plan);
    if !plan.blocked.is_empty() {
        return Err(ReconcileError::Blocked(plan.blocked));
    }
    if plan.actions.is_empty() {
        return Ok(if plan.waiting.is_empty() {
            Next::Done
        } else {
            Next::Requeue {
                after: SETTLE_POLL,
                waiting: plan.waiting,
            }
        });
    }
    act::apply_all(ctx, &plan.actions, &mut |a| observer.applied(a)).await?;
    // Acting changed the world: look again at once.
    Ok(Next::Requeue {
        after: Duration::ZERO,
        waiting: Vec::new(),
    })
}

/// The retry schedule for failed passes: exponential with jitter, reset by a good pass.
pub fn error_policy() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Runs passes until the cluster is healthy, a permanent error, or `timeout`.
pub async fn converge(
    ctx: &Context,
    timeout: Duration,
    observer: &mut dyn Observer,
) -> Result<(), ReconcileError> {
    let deadline = Instant::now() + timeout;
    let mut backoff = error_policy();
    let mut waiting: Vec<String> = Vec::new();
    loop {
        let pass = tokio::time::timeout_at(deadline, reconcile(ctx, observer)).await;
        let after = match pass {
            Err(_elapsed) => break,
            Ok(Ok(Next::Done)) => return Ok(()),
            Ok(Ok(Next::Requeue { after, waiting: w })) => {
                backoff = error_policy();
                if !w.is_empty() {
                    waiting = w;
                }
                after
            }
            Ok(Err(e)) if e.is_permanent() => return Err(e),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pass failed; retrying");
                waiting = vec![e.to_string()];
                backoff.next().unwrap_or(Duration::from_secs(2))
            }
        };
        if Instant::now() + after >= deadline {
            break;
        }
        tokio::time::sleep(after).await;
    }
    Err(ReconcileError::Timeout {
        after: timeout,
        waiting,
    })
}
