//! The reconcile loop: observe → plan → act, until the cluster is healthy and as declared.
//!
//! [`reconcile`] is one pass and says what should happen next, like kube-runtime's
//! `reconcile(obj, ctx) -> Result<Action>`; [`converge`] drives passes until done or a
//! deadline, with [`error_policy`] deciding how to retry a failed pass.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use crate::actions::{self, ActError, Applied};
use crate::docker::DockerError;
use crate::observe;
use crate::plan::{self, Plan};
use crate::runtime::context::Context;

/// How soon to look again while Redis settles (gossip, the 2 s writable delay).
pub(crate) const SETTLE_POLL: Duration = Duration::from_millis(50);

/// What a pass says should happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Healthy and as declared.
    Done,
    /// Look again after this long; `waiting` says for what.
    Requeue {
        after: Duration,
        waiting: Vec<String>,
        /// The same actions keep coming back without effect: what, and what the server
        /// answered. `after` is then a growing backoff, not an immediate look.
        stalled: Option<String>,
    },
}

/// Notices a plan that comes back unchanged right after it was applied: its actions succeed
/// (or fail) without moving the world the way the planner needs. Without it, a no-op action
/// (a MEET that never completes, a setting the server reads back in another spelling) would
/// be repeated as fast as the servers answer.
#[derive(Debug, Default)]
pub(crate) struct Stall {
    last: Vec<crate::actions::Action>,
    repeats: u32,
    answer: String,
}

impl Stall {
    /// Passes in a row with the same actions before backing off: a repair legitimately
    /// plans the same action again while Docker or Redis catches up.
    const TOLERATED: u32 = 3;
    const FIRST_DELAY: Duration = Duration::from_millis(500);
    const MAX_DELAY: Duration = Duration::from_secs(30);

    /// Records this pass's plan.
    fn planned(&mut self, actions: &[crate::actions::Action]) {
        if actions.is_empty() || actions != self.last.as_slice() {
            self.last = actions.to_vec();
            self.repeats = u32::from(!actions.is_empty());
        } else {
            self.repeats += 1;
        }
    }

    fn heard(&mut self, applied: &Applied) {
        if Some(&applied.action) == self.last.first() {
            self.answer = match &applied.result {
                Ok(()) => "the server answered OK".into(),
                Err(e) => format!("it failed: {e}"),
            };
        }
    }

    /// How long to wait before the next pass, and why, once the plan keeps repeating.
    fn backoff(&self) -> Option<(Duration, String)> {
        let over = self.repeats.checked_sub(Self::TOLERATED + 1)?;
        let delay = Self::FIRST_DELAY
            .saturating_mul(2u32.saturating_pow(over))
            .min(Self::MAX_DELAY);
        let first = self.last.first()?;
        let more = match self.last.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more action(s))"),
        };
        Some((
            delay,
            format!(
                "{first}{more}: planned {} times in a row without effect; {}; next try in {:.1} s",
                self.repeats,
                self.answer,
                delay.as_secs_f64()
            ),
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Observe(#[from] DockerError),
    #[error(transparent)]
    Act(#[from] ActError),
    #[error("the cluster has drift redis-keeper will not repair:\n  {}", .0.join("\n  "))]
    Blocked(Vec<String>),
    /// A node runs a server the operator cannot drive: a cluster.toml problem ([image]).
    #[error("{0}")]
    UnsupportedServer(String),
    #[error("not healthy after {}s; still waiting for:\n  {}", .after.as_secs(), .waiting.join("\n  "))]
    Timeout {
        after: Duration,
        waiting: Vec<String>,
    },
}

impl ReconcileError {
    /// Whether another pass could fix it.
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            ReconcileError::Observe(e) => e.is_permanent(),
            ReconcileError::Act(e) => e.is_permanent(),
            ReconcileError::Blocked(_)
            | ReconcileError::UnsupportedServer(_)
            | ReconcileError::Timeout { .. } => true,
        }
    }
}

/// Hears what a pass sees, plans and does, for progress output, events and the API.
pub(crate) trait Observer {
    /// The world as this pass found it (before acting).
    fn observed(&mut self, _observed: &observe::Observed) {}
    fn planned(&mut self, plan: &Plan);
    fn applied(&mut self, applied: &Applied);
}

/// One pass: observe, plan, apply what can be done now. `stall` remembers the passes before.
pub(crate) async fn reconcile(
    ctx: &Context,
    observer: &mut dyn Observer,
    stall: &mut Stall,
) -> Result<Next, ReconcileError> {
    let observed = observe::observe(ctx).await?;
    if let Some(why) = observed.unsupported_servers() {
        observer.observed(&observed);
        return Err(ReconcileError::UnsupportedServer(why));
    }
    renew_tls_identity(ctx, &observed).await;
    let plan = plan::plan(&ctx.spec, &observed);
    observer.observed(&observed);
    observer.planned(&plan);
    stall.planned(&plan.actions);
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
                stalled: None,
            }
        });
    }
    let applied = actions::apply_all(ctx, &plan.actions, &mut |a| {
        stall.heard(a);
        observer.applied(a)
    })
    .await;
    match (applied, stall.backoff()) {
        (Err(e), _) if e.is_permanent() => Err(e.into()),
        (_, Some((after, why))) => Ok(Next::Requeue {
            after,
            waiting: vec![why.clone()],
            stalled: Some(why),
        }),
        (Err(e), None) => Err(e.into()),
        // Acting changed the world: look again at once. Until then, what was just done is
        // what the cluster is waiting on, so a deadline that falls here names it.
        (Ok(()), None) => Ok(Next::Requeue {
            after: Duration::ZERO,
            waiting: plan
                .actions
                .iter()
                .map(|a| format!("the effect of: {a}"))
                .collect(),
            stalled: None,
        }),
    }
}

/// The retry schedule for failed passes: exponential with jitter, reset by a good pass.
pub(crate) fn error_policy() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Runs passes until the cluster is healthy, a permanent error, or `timeout` without
/// progress: a reshard that keeps handing slots over extends the deadline, and a cut-off
/// leaves every slot of the round in flight resumable by the next run.
pub(crate) async fn converge(
    ctx: &Context,
    timeout: Duration,
    observer: &mut dyn Observer,
) -> Result<(), ReconcileError> {
    // The deadline and the time without progress count from the same instant.
    ctx.moves.start_clock();
    let mut deadline = Instant::now() + timeout;
    let mut backoff = error_policy();
    let mut stall = Stall::default();
    let mut waiting = vec!["the first pass (observe, plan, act) to finish".to_string()];
    loop {
        let pass = reconcile(ctx, observer, &mut stall);
        tokio::pin!(pass);
        let outcome = loop {
            tokio::select! {
                outcome = &mut pass => break Some(outcome),
                _ = tokio::time::sleep_until(deadline) => {
                    // A reshard that keeps handing slots over is progress, not a hang.
                    let idle = ctx.moves.since_progress();
                    if idle >= timeout {
                        break None;
                    }
                    deadline = Instant::now() + (timeout - idle);
                }
            }
        };
        let after = match outcome {
            None => break,
            Some(Ok(Next::Done)) => return Ok(()),
            Some(Ok(Next::Requeue {
                after, waiting: w, ..
            })) => {
                backoff = error_policy();
                if !w.is_empty() {
                    waiting = w;
                }
                after
            }
            Some(Err(e)) if e.is_permanent() => return Err(e),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "pass failed; retrying");
                waiting = vec![e.to_string()];
                backoff.next().unwrap_or(Duration::from_secs(2))
            }
        };
        if Instant::now() + after >= deadline && ctx.moves.since_progress() >= timeout {
            break;
        }
        tokio::time::sleep(after).await;
    }
    Err(ReconcileError::Timeout {
        after: timeout,
        waiting,
    })
}

/// Over TLS only: picks up the first node's certificate again when it was renewed or
/// replaced (and `observed` found its files loadable), so a long-running operator never
/// presents an expired one.
async fn renew_tls_identity(ctx: &Context, observed: &observe::Observed) {
    let (Some(tls), Some(first)) = (&ctx.spec.tls, ctx.spec.nodes.first()) else {
        return;
    };
    let loadable = observed
        .certificates
        .get(&first.name)
        .and_then(|c| c.loadable())
        .is_some();
    if tls.plaintext || !loadable {
        return;
    }
    let (tls, first) = (tls.clone(), first.name.clone());
    let read = tokio::task::spawn_blocking(move || crate::tls::load(&tls, &first)).await;
    if let Ok(Ok(material)) = read {
        ctx.redis.renew_identity(material).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{Action, Meet, Peer, SetConfigEpoch};

    fn meet() -> Action {
        Meet {
            node: Peer::test("redis-1", 13),
            peer: Peer::test("redis-2", 16),
            addr: "172.20.2.16:6390".into(),
        }
        .into()
    }

    fn applied(result: Result<(), ActError>) -> Applied {
        Applied {
            action: meet(),
            took: Duration::ZERO,
            result,
        }
    }

    #[test]
    fn a_plan_repeated_without_effect_backs_off_exponentially_to_a_cap() {
        let mut stall = Stall::default();
        let mut delays = Vec::new();
        for _ in 0..12 {
            stall.planned(&[meet()]);
            stall.heard(&applied(Ok(())));
            delays.push(stall.backoff().map(|(d, _)| d.as_millis()));
        }
        assert_eq!(
            delays,
            [None, None, None]
                .into_iter()
                .chain([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000].map(Some))
                .collect::<Vec<_>>()
        );
        let (_, why) = stall.backoff().unwrap();
        assert!(why.contains("introduce redis-1 to redis-2"), "{why}");
        assert!(
            why.contains("planned 12 times in a row without effect"),
            "{why}"
        );
        assert!(why.contains("the server answered OK"), "{why}");
    }

    #[test]
    fn another_plan_or_nothing_to_do_resets_it() {
        let mut stall = Stall::default();
        for _ in 0..6 {
            stall.planned(&[meet()]);
        }
        assert!(stall.backoff().is_some());
        stall.planned(&[]);
        assert!(stall.backoff().is_none());
        for _ in 0..6 {
            stall.planned(&[meet()]);
        }
        stall.planned(&[SetConfigEpoch {
            node: Peer::test("redis-1", 13),
            epoch: 1,
        }
        .into()]);
        assert!(stall.backoff().is_none());
    }

    #[test]
    fn the_answer_named_is_the_servers_error() {
        let mut stall = Stall::default();
        for _ in 0..5 {
            stall.planned(&[meet()]);
            let refused = redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
                "NOPERM",
                "this user has no permissions to run the 'cluster|meet' command".to_string(),
            ));
            stall.heard(&applied(Err(ActError::Redis {
                node: "redis-1".into(),
                command: "CLUSTER MEET".into(),
                source: refused,
                permanent: false,
            })));
        }
        let (_, why) = stall.backoff().unwrap();
        assert!(
            why.contains("it failed: redis-1: CLUSTER MEET failed"),
            "{why}"
        );
        assert!(why.contains("no permissions"), "{why}");
    }
}
