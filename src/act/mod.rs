//! Applying a plan: each action against Docker or Redis, stage by stage, the actions of one
//! stage in parallel. Every action is idempotent, so a crash anywhere and a re-run converge.

mod docker;
mod failover;
mod nodes_conf;
mod password;
mod redis;
mod slots;
mod tracker;

pub use tracker::{MoveProgress, MoveTracker};

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::context::Context;
use crate::docker::DockerError;
use crate::plan::Action;

#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A certificate file that cannot be used (checked before, so it changed since).
    #[error(transparent)]
    Tls(#[from] crate::tls::CertProblem),
    #[error("{node}: {command} failed: {source}")]
    Redis {
        node: String,
        command: String,
        #[source]
        source: ::redis::RedisError,
        /// Redis refused in a way retrying cannot change (e.g. an unknown config parameter).
        permanent: bool,
    },
    /// Work moved off the async runtime (key generation, file writes) panicked.
    #[error("a blocking task failed: {0}")]
    Blocking(#[from] tokio::task::JoinError),
}

impl ActError {
    /// A bad setup (image, address, port); anything else is retried after a fresh look.
    pub fn is_permanent(&self) -> bool {
        match self {
            ActError::Docker(e) => e.is_permanent(),
            ActError::Tls(_) => true,
            ActError::Redis { permanent, .. } => *permanent,
            ActError::Blocking(_) => false,
        }
    }
}

/// What became of one action: the record `up` shows and the self-healing loop keeps.
#[derive(Debug)]
pub struct Applied {
    pub action: Action,
    pub took: Duration,
    pub result: Result<(), ActError>,
}

async fn apply(ctx: &Context, action: &Action) -> Result<(), ActError> {
    match action {
        Action::PrepareImage { .. } => docker::prepare_image(ctx).await,
        Action::CreateNetwork { .. } => docker::create_network(ctx).await,
        Action::CreateVolume { node, .. } => docker::create_volume(ctx, node).await,
        Action::CreateContainer { node, image, .. } => {
            docker::create_container(ctx, node, image).await
        }
        Action::StartContainer { node, container } => docker::start(ctx, node, container).await,
        Action::UnpauseContainer { container, .. } => docker::unpause(ctx, container).await,
        Action::RecreateContainer {
            node,
            container,
            image,
        } => {
            docker::remove_container(ctx, container).await?;
            docker::create_container(ctx, node, image).await
        }
        Action::ReattachNetwork { node, container } => docker::reattach(ctx, node, container).await,
        Action::RemoveContainer { container, .. } => docker::remove_container(ctx, container).await,
        Action::TakeSlots { node, ranges } => slots::take_slots(ctx, node, ranges).await,
        Action::Forget { id, on, .. } => redis::forget(ctx, id, on).await,
        Action::ResetNode { node } => redis::reset_hard(ctx, node).await,
        Action::SetConfig { node, settings } => redis::set_config(ctx, node, settings).await,
        Action::SetConfigEpoch { node, epoch } => redis::set_config_epoch(ctx, node, *epoch).await,
        Action::AddSlots { node, ranges } => redis::add_slots(ctx, node, ranges).await,
        Action::Meet { node, peer, .. } => redis::meet(ctx, node, peer).await,
        Action::LoadCertificates { node, .. } => docker::load_certificates(ctx, node).await,
        Action::IssueCertificates { .. } => {
            // Key generation and file writes: on a blocking thread.
            let spec = ctx.spec.clone();
            tokio::task::spawn_blocking(move || {
                crate::tls::issue::ensure(&spec, std::time::SystemTime::now())
            })
            .await??;
            Ok(())
        }
        Action::Promote { node, .. } => failover::promote(ctx, node).await,
        Action::Failover { node, .. } => failover::coordinated(ctx, node).await,
        Action::Replicate { node, master } => failover::replicate(ctx, node, master).await,
        Action::RotatePassword { nodes } => password::rotate(ctx, nodes).await,
        Action::Detach { node } => redis::reset_soft(ctx, node).await,
        Action::RepairNodesConf { node, container } => {
            nodes_conf::repair(ctx, node, container).await
        }
        Action::MoveSlots {
            ranges, from, to, ..
        } => slots::move_slots(ctx, ranges, from, to).await,
        Action::CloseSlots {
            ranges,
            owner,
            open_on,
        } => slots::close_slots(ctx, ranges, owner, open_on).await,
    }
}

/// Applies `actions` (sorted by stage) and stops after the first stage with a failure, since
/// later stages build on it. `on_applied` hears about each action as it finishes.
pub async fn apply_all(
    ctx: &Context,
    actions: &[Action],
    on_applied: &mut dyn FnMut(&Applied),
) -> Result<(), ActError> {
    let mut rest = actions;
    while let Some(first) = rest.first() {
        let split = rest
            .iter()
            .position(|a| a.stage() != first.stage())
            .unwrap_or(rest.len());
        let (stage, later) = rest.split_at(split);
        rest = later;
        let moving: usize = stage.iter().map(Action::slots_moved).sum();
        if moving > 0 {
            ctx.moves.begin(moving);
        }
        let results = join_all(stage.iter().map(|action| async move {
            let started = Instant::now();
            let result = apply(ctx, action).await;
            Applied {
                action: action.clone(),
                took: started.elapsed(),
                result,
            }
        }))
        .await;
        if moving > 0 {
            ctx.moves.finish();
        }
        let mut failure = None;
        for applied in results {
            on_applied(&applied);
            if let Err(e) = applied.result {
                // Keep the most telling failure: a permanent one wins over a passing one.
                if failure
                    .as_ref()
                    .is_none_or(|f: &ActError| !f.is_permanent())
                {
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}
