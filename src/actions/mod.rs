//! The steps the reconciler takes toward the desired state.
//!
//! Each kind of action is a struct in the module of what it acts on, with everything about
//! it in one place: the fields the planner fills in (Redis nodes by id, address and name),
//! its `Stage`, the drift that calls for it, how it reads in a plan, and how it is applied.
//! A new kind is that struct, its `Kind` impl and its name in the `actions!` list below.
//!
//! [`apply_all`] runs a plan stage by stage, the actions of one stage in parallel. Every
//! action is idempotent, so a crash anywhere and a re-run converge.
//!
//! Imports `spec`, `tls`, `docker`, the Redis clients, `observe` and `runtime::context`.

mod certificates;
mod config;
mod container_files;
mod containers;
mod failover;
mod membership;
mod nodes_conf;
mod password;
mod redis;
pub(crate) mod slots;

pub(crate) use certificates::{IssueCertificates, LoadCertificates};
pub(crate) use config::SetConfig;
pub(crate) use containers::{
    CreateContainer, CreateNetwork, CreateVolume, PrepareImage, ReattachNetwork, RecreateContainer,
    RemoveContainer, StartContainer, UnpauseContainer,
};
pub(crate) use failover::{Failover, Promote, Replicate};
pub use membership::{Detach, Forget, Meet, ResetNode, SetConfigEpoch};
pub(crate) use nodes_conf::RepairNodesConf;
pub(crate) use password::RotatePassword;
pub(crate) use slots::{AddSlots, CloseSlots, MoveSlots, TakeSlots, Transfer};

use std::fmt;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::docker::DockerError;
use crate::runtime::context::Context;
use crate::spec::SlotRange;

/// What a kind of action says about itself, and how it is carried out.
pub(crate) trait Kind: fmt::Display {
    /// A short machine-friendly name, for logs and metrics.
    const NAME: &'static str;
    const STAGE: Stage;

    /// The drift that calls for it, for events.
    fn why(&self) -> &'static str;

    /// How many slots it hands from one node to another (for progress).
    fn slots_moved(&self) -> usize {
        0
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError>;
}

/// Declares [`Action`], one variant per kind, and its dispatch to the kinds.
macro_rules! actions {
    ($($kind:ident),+ $(,)?) => {
        /// One step toward the desired state. Every action is idempotent: applying it again
        /// after a crash, or when it already took effect, is harmless.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Action {
            $($kind($kind),)+
        }

        $(impl From<$kind> for Action {
            fn from(action: $kind) -> Action {
                Action::$kind(action)
            }
        })+

        impl Action {
            pub(crate) fn stage(&self) -> Stage {
                match self {
                    $(Action::$kind(_) => <$kind as Kind>::STAGE,)+
                }
            }

            /// A short machine-friendly name of the kind of action, for logs and metrics.
            pub(crate) fn kind(&self) -> &'static str {
                match self {
                    $(Action::$kind(_) => <$kind as Kind>::NAME,)+
                }
            }

            /// The drift that calls for this action, for events.
            pub(crate) fn why(&self) -> &'static str {
                match self {
                    $(Action::$kind(action) => action.why(),)+
                }
            }

            /// How many slots this action hands from one node to another (for progress).
            pub(crate) fn slots_moved(&self) -> usize {
                match self {
                    $(Action::$kind(action) => action.slots_moved(),)+
                }
            }

            async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
                match self {
                    $(Action::$kind(action) => action.apply(ctx).await,)+
                }
            }
        }

        impl fmt::Display for Action {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Action::$kind(action) => action.fmt(f),)+
                }
            }
        }
    };
}

actions! {
    PrepareImage,
    IssueCertificates,
    CreateNetwork,
    CreateVolume,
    CreateContainer,
    StartContainer,
    UnpauseContainer,
    RecreateContainer,
    RemoveContainer,
    RepairNodesConf,
    ReattachNetwork,
    RotatePassword,
    Forget,
    ResetNode,
    Detach,
    SetConfigEpoch,
    AddSlots,
    TakeSlots,
    Meet,
    Promote,
    Failover,
    Replicate,
    MoveSlots,
    CloseSlots,
    SetConfig,
    LoadCertificates,
}

impl Action {
    /// The node whose container this action recreates, if it is a recreation.
    pub(crate) fn recreated_node(&self) -> Option<&str> {
        match self {
            Action::RecreateContainer(recreate) => Some(&recreate.node),
            _ => None,
        }
    }
}

/// A Redis node as the planner saw it. Actions on Redis carry it so that they reach the node
/// the plan was made for: by its gossiped address (it may not be in cluster.toml), and,
/// where acting on another identity would do harm, only while it still has this id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    /// `ip:port`.
    pub addr: String,
    /// Its name in cluster.toml, or "foreign node \<addr>".
    pub name: String,
}

impl Peer {
    /// A peer for tests: id `n` (40 hex digits), address 10.0.0.`n`:6379.
    #[cfg(test)]
    pub(crate) fn test(name: &str, n: u8) -> Peer {
        Peer {
            id: format!("{n:040x}"),
            addr: format!("10.0.0.{n}:6379"),
            name: name.into(),
        }
    }
}

/// Actions run stage by stage; actions of one stage are independent and run in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// First: a shard without a master accepts no write until its replica is promoted.
    Failover,
    Image,
    Network,
    Volumes,
    Containers,
    /// Before anything else talks to Redis: a node that refuses the password answers nothing.
    Password,
    Forget,
    Epochs,
    Slots,
    Meet,
    Replicate,
    Move,
    Config,
}

/// Slot ranges as a plan shows them: "0-99, 200-299 (200 slots)".
fn shown_ranges(ranges: &[SlotRange]) -> String {
    let count: usize = ranges.iter().map(SlotRange::len).sum();
    let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
    format!("{} ({count} slots)", shown.join(", "))
}

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
    /// The node at the planned address has another id than the plan was made for (it lost
    /// its volume, or was reset, since): the next pass plans for the node as it is.
    #[error("{node}: has id {found} now, not {planned} as planned; planning again")]
    NotTheSameNode {
        node: String,
        planned: String,
        found: String,
    },
    /// An atomic slot migration job failed, or someone cancelled it: its slots stayed at
    /// the source, and the next pass plans the move again.
    #[error("moving slots from {from} to {to}: job {job} ended {state}: {message}")]
    SlotJob {
        from: String,
        to: String,
        job: String,
        state: String,
        message: String,
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
            ActError::NotTheSameNode { .. } | ActError::SlotJob { .. } | ActError::Blocking(_) => {
                false
            }
        }
    }
}

/// What became of one action: the record `up` shows and the self-healing loop keeps.
#[derive(Debug)]
pub struct Applied {
    pub(crate) action: Action,
    pub(crate) took: Duration,
    pub(crate) result: Result<(), ActError>,
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
            let result = action.apply(ctx).await;
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
