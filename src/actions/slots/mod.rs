//! Moving slots with their keys, and closing slots left open: the steps of `redis-cli
//! --cluster reshard` and `--cluster fix`, done with Redis's own commands and no prompts.
//!
//! Every step is safe to repeat, so a pass that dies half-way through a slot is finished by
//! the next one from whatever state it left.
//!
//! This file holds the four kinds of action on slots; how keys travel is beside it: by
//! MIGRATE in rounds (`by_keys`), or as the server's own job (`atomic`), and how far the
//! moves in flight have got (`progress`).

mod atomic;
mod by_keys;
pub(crate) mod progress;

use std::fmt;

use super::redis::run_checked;
use super::{shown_ranges, ActError, Kind, Peer, Stage};
use crate::observe::ServerKind;
use crate::runtime::context::Context;
use crate::spec::SlotRange;
use by_keys::{close_round, declared_except, move_round, run_rounds, setslots, take_slots, Lanes};

/// Failed atomic jobs between the same two nodes, in one operator process, after which
/// `slot_migration = "auto"` moves their slots by keys instead (`"atomic"` keeps trying).
const ATOMIC_TRIES: usize = 2;

/// Declared slots no node serves, and that no node claims or has open: ADDSLOTS on their
/// declared owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddSlots {
    pub(crate) node: Peer,
    pub(crate) ranges: Vec<SlotRange>,
}

impl Kind for AddSlots {
    const NAME: &'static str = "add-slots";
    const STAGE: Stage = Stage::Slots;

    fn why(&self) -> &'static str {
        "declared slots are served by no node"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("ADDSLOTSRANGE");
        for r in &self.ranges {
            cmd.arg(r.start).arg(r.end);
        }
        run_checked(ctx, &self.node, "CLUSTER ADDSLOTSRANGE", &cmd).await
    }
}

impl fmt::Display for AddSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "assign slots {} to {}",
            shown_ranges(&self.ranges),
            self.node.name
        )
    }
}

/// Slots no node serves by its own word, taken by `node` with SETSLOT NODE and BUMPEPOCH so
/// its claim wins everywhere, then every other node is told: their declared owner, where
/// views still name another declared node (an interrupted hand-over), or the node importing
/// open slots nobody serves (as Valkey 8.1+ would by itself; they then come home by a move).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeSlots {
    pub(crate) node: Peer,
    pub(crate) ranges: Vec<SlotRange>,
}

impl Kind for TakeSlots {
    const NAME: &'static str = "take-slots";
    const STAGE: Stage = Stage::Slots;

    fn why(&self) -> &'static str {
        "declared slots are served by nobody, and some node still names an owner or imports them"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        take_slots(ctx, &self.node, &self.ranges).await
    }
}

impl fmt::Display for TakeSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "have {} take slots {} (SETSLOT NODE and BUMPEPOCH), then tell every node",
            self.node.name,
            shown_ranges(&self.ranges)
        )
    }
}

/// Move slots with their keys from the node serving them to `to`: in one server-side job
/// where the servers can ([`atomic`]), or the way a reshard does: IMPORTING on `to`,
/// MIGRATING on `from`, MIGRATE in batches, then SETSLOT NODE on `to`, on `from`, and on the
/// rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveSlots {
    pub(crate) ranges: Vec<SlotRange>,
    pub(crate) from: Peer,
    pub(crate) to: Peer,
    /// Completes a move someone started (the slots are open from `from` to `to`), rather
    /// than bringing slots home to their declared owner.
    pub(crate) finishing: bool,
    pub(crate) transfer: Transfer,
}

/// How a move carries its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// MIGRATE, a batch of keys at a time, as `redis-cli --cluster reshard` does.
    /// `setslot_waits`: the masters answer SETSLOT only once their replicas acknowledged it
    /// (see [`by_keys::Lanes`]).
    Keys { setslot_waits: bool },
    /// One job of the server's atomic slot migration. Unless `required`, a pair of nodes
    /// whose jobs failed [`ATOMIC_TRIES`] times moves by keys.
    Atomic { kind: ServerKind, required: bool },
}

impl Kind for MoveSlots {
    const NAME: &'static str = "move-slots";
    const STAGE: Stage = Stage::Move;

    fn why(&self) -> &'static str {
        if self.finishing {
            "slots are left open (an interrupted reshard)"
        } else {
            "slots are served by another node than cluster.toml declares"
        }
    }

    fn slots_moved(&self) -> usize {
        self.ranges.iter().map(SlotRange::len).sum()
    }

    /// In one job ([`MoveSlots::apply_atomically`]), or the way a reshard does it, a round
    /// of slots at a time ([`move_round`]).
    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let (from, to) = (&self.from, &self.to);
        let slots: Vec<u16> = self.ranges.iter().flat_map(SlotRange::slots).collect();
        // Counted first (one pipeline) so progress can tell how many keys are left. Counted
        // on the source: a target hides the slots it imports from its counts.
        let per_slot = crate::observe::keys_per_slot(ctx, &from.addr, &slots).await;
        let counted = per_slot
            .as_ref()
            .map(|keys| usize::try_from(keys.iter().sum::<u64>()).unwrap_or(usize::MAX));
        if let Some(keys) = counted {
            ctx.moves.expect_keys(keys);
        }
        if let Transfer::Atomic { kind, required } = self.transfer {
            let failures = ctx.moves.atomic_failures(&from.id, &to.id);
            if required || failures < ATOMIC_TRIES {
                return self.apply_atomically(ctx, kind, slots.len(), counted).await;
            }
            tracing::warn!(from = %from.name, to = %to.name, failures,
                "atomic slot migration failed {failures} times between these nodes: moving by keys");
        }
        let rest = declared_except(ctx, &[from, to]);
        let lanes = match self.transfer {
            Transfer::Keys {
                setslot_waits: true,
            } => Lanes::Many,
            _ => Lanes::One,
        };
        let steps = move_round(from, to, &rest);
        let keys = run_rounds(ctx, &steps, &slots, per_slot.as_deref(), lanes).await?;
        tracing::info!(from = %from.name, to = %to.name, slots = slots.len(), keys, "moved slots");
        Ok(())
    }
}

impl MoveSlots {
    /// In one server-side job; the slots' keys count as moved when it succeeds (the servers
    /// report no count while it runs).
    async fn apply_atomically(
        &self,
        ctx: &Context,
        kind: ServerKind,
        slots: usize,
        keys: Option<usize>,
    ) -> Result<(), ActError> {
        let (from, to) = (&self.from, &self.to);
        // Any error counts as a failed job: a node that refuses the command (an older server
        // of a removed master) must not be asked forever.
        let outcome = atomic::move_slots(ctx, kind, from, to, &self.ranges)
            .await
            .inspect_err(|_| ctx.moves.atomic_failed(&from.id, &to.id))?;
        match outcome {
            atomic::Outcome::Moved => {
                ctx.moves.keys_moved(keys.unwrap_or(0));
                ctx.moves.round_done(slots);
                tracing::info!(from = %from.name, to = %to.name, slots, keys, "moved slots atomically");
                Ok(())
            }
            atomic::Outcome::Stopped => {
                tracing::info!(from = %from.name, to = %to.name, "slot migration cancelled: stopping");
                Ok(())
            }
            atomic::Outcome::Ended(job) => {
                ctx.moves.atomic_failed(&from.id, &to.id);
                Err(ActError::SlotJob {
                    from: from.name.clone(),
                    to: to.name.clone(),
                    job: job.id,
                    state: job.state,
                    message: job.message,
                })
            }
        }
    }
}

impl fmt::Display for MoveSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ranges, from, to) = (shown_ranges(&self.ranges), &self.from.name, &self.to.name);
        if self.finishing {
            write!(
                f,
                "finish moving slots {ranges} with their keys from {from} to {to} (an interrupted reshard)"
            )
        } else {
            write!(
                f,
                "move slots {ranges} with their keys from {from} to {to}, their declared owner"
            )?;
            match self.transfer {
                Transfer::Keys { .. } => Ok(()),
                Transfer::Atomic { .. } => write!(f, ", atomically (one server-side job)"),
            }
        }
    }
}

/// Close slots left open by an interrupted reshard: keys left on the nodes that have them
/// open go to `owner` (MIGRATE works there while a slot is open), then SETSLOT STABLE
/// everywhere. (Open slots nobody serves are first claimed, with [`TakeSlots`] by the node
/// importing them or [`AddSlots`] by their declared owner.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseSlots {
    pub(crate) ranges: Vec<SlotRange>,
    pub(crate) owner: Peer,
    pub(crate) open_on: Vec<Peer>,
}

impl Kind for CloseSlots {
    const NAME: &'static str = "close-slots";
    const STAGE: Stage = Stage::Move;

    fn why(&self) -> &'static str {
        "slots are left open (an interrupted reshard)"
    }

    fn slots_moved(&self) -> usize {
        self.ranges.iter().map(SlotRange::len).sum()
    }

    /// A round of slots at a time ([`close_round`]).
    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let owner = &self.owner;
        let slots: Vec<u16> = self.ranges.iter().flat_map(SlotRange::slots).collect();
        // A node importing a slot ignores gossip about who serves it, and one that saw the
        // owner fail over and back sees it served by nobody: it then reports fail and
        // refuses MIGRATE. Naming the owner first (SETSLOT NODE keeps the slot open there,
        // and the keys) brings it back, for all the slots before any round moves keys.
        for open in &self.open_on {
            setslots(ctx, open, &slots, &["NODE", &owner.id], Lanes::One).await?;
        }
        let rest = declared_except(ctx, &[owner]);
        let steps = close_round(owner, &self.open_on, &rest);
        let keys = run_rounds(ctx, &steps, &slots, None, Lanes::One).await?;
        tracing::info!(owner = %owner.name, keys, "closed open slots");
        Ok(())
    }
}

impl fmt::Display for CloseSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open: Vec<&str> = self.open_on.iter().map(|p| p.name.as_str()).collect();
        write!(
            f,
            "close open slots {} at their owner {}",
            shown_ranges(&self.ranges),
            self.owner.name
        )?;
        if !open.is_empty() {
            write!(f, ", bringing keys left on {} to it", open.join(", "))?;
        }
        Ok(())
    }
}
