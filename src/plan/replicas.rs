//! Replicas and failover, shard by shard: a dead master's in-sync replica is promoted at once
//! (Redis itself would wait out `cluster-node-timeout` and an election), every other node of
//! the shard follows the node serving its slots, and a declared master takes its slots back
//! with a coordinated failover once its copy is complete (`[cluster] failback`).
//!
//! Replica migration stays off (`cluster-allow-replica-migration no`): a replica belongs to
//! the shard cluster.toml puts it in, and the operator, not Redis, moves it back there.

use super::{peer, Plan};
use crate::actions::{Action, Detach, Failover, Promote, Replicate};
use crate::observe::{Member, Shard, Standing, Topology};

/// How long after its master died a replica still counts as holding its master's data: the
/// operator hears of a death from Docker within a second; a replica cut off longer may have
/// missed writes its master acknowledged alone.
fn promotion_window_s(topology: &Topology) -> u64 {
    (topology.spec.node_timeout_ms / 1000).max(2)
}

/// Adds each shard's role changes to `plan`. `drifted` holds the recreations a rolling
/// change waits to make: a declared master among them does not take its slots back before
/// its container is new (it handed them over to be recreated).
pub(super) fn replicas(topology: &Topology, drifted: &[Action], plan: &mut Plan) {
    detach(topology, plan);
    for master in topology.spec.masters() {
        if topology.spec.shard(&master.name).nth(1).is_none() {
            continue;
        }
        let shard = topology.shard(master);
        if let Some(successor) = shard.successor(topology, promotion_window_s(topology)) {
            plan.actions.push(
                Promote {
                    node: peer(successor),
                    shard: master.name.clone(),
                }
                .into(),
            );
            continue;
        }
        follow(topology, &shard, drifted, plan);
    }
}

/// A node cluster.toml now declares a master (it was a replica) while it still replicates a
/// node of another shard: it is cut loose (`CLUSTER RESET SOFT`: an empty master with the
/// same id, which meets the others again), and its declared slots then come to it with
/// their keys. SETSLOT refuses a replica, so nothing could move to it before.
fn detach(topology: &Topology, plan: &mut Plan) {
    for member in topology.members() {
        let Some(master) = member.master_id() else {
            continue;
        };
        let own_shard = topology
            .member_by_id(master)
            .is_some_and(|m| m.spec.shard() == member.spec.shard());
        if !member.spec.is_replica() && !own_shard {
            plan.actions.push(Detach { node: peer(member) }.into());
        }
    }
}

/// Every member of a shard with one leader: replicas attach to it, and the declared master
/// takes the slots back once in sync. What a shard waits for otherwise (a sync, a node still
/// to be met, keys in the way) is health's to report.
fn follow(topology: &Topology, shard: &Shard, drifted: &[Action], plan: &mut Plan) {
    let Some(leader) = shard.leader() else {
        return;
    };
    for member in &shard.members {
        let Some(standing) = shard.standing(topology, member) else {
            continue;
        };
        let recreating = drifted
            .iter()
            .any(|a| a.recreated_node() == Some(member.spec.name.as_str()));
        match standing {
            // A declared master in sync under the node serving its slots takes them back,
            // unless a rolling change handed them over to recreate it.
            Standing::Follows { in_sync: true }
                if !member.spec.is_replica() && topology.spec.failback && !recreating =>
            {
                if known_as_replica(topology, member, leader) {
                    plan.actions.push(
                        Failover {
                            node: peer(member),
                            from: leader.spec.name.clone(),
                        }
                        .into(),
                    );
                } else {
                    plan.waiting.push(format!(
                        "{}: takes its slots back from {} once every node sees it as a replica",
                        member.spec.name, leader.spec.name
                    ));
                }
            }
            Standing::Idle { keys: 0 } | Standing::FollowsOther(_) if member.knows(leader.id()) => {
                plan.actions.push(
                    Replicate {
                        node: peer(member),
                        master: peer(leader),
                    }
                    .into(),
                )
            }
            // In sync, syncing, leading, or not ready: what health reports.
            _ => {}
        }
    }
}

/// Every node that answers sees `member` as a replica of `leader`. A failover needs their
/// votes, and a node that still takes the candidate for a master (it restarted a moment ago
/// and the news is still spreading) denies its vote: the failover would time out.
fn known_as_replica(topology: &Topology, member: &Member, leader: &Member) -> bool {
    topology.members().iter().all(|m| {
        m.view.nodes.iter().any(|e| {
            e.id == member.id() && e.is_replica() && e.master_id.as_deref() == Some(leader.id())
        })
    })
}

/// The next step of a rolling change, given the containers that differ from their spec
/// (each a [`Action::RecreateContainer`]): a replica is recreated first; a node serving slots
/// first hands them to an in-sync replica of its shard with a coordinated failover, and is
/// recreated once it is a replica itself (failback makes it master again). A shard without
/// a replica is recreated in place, as without replicas.
pub(super) fn rolling(topology: &Topology, mut drifted: Vec<Action>) -> Option<Action> {
    let member = |a: &Action| a.recreated_node().and_then(|node| topology.member(node));
    drifted.sort_by_key(|a| !member(a).is_some_and(|m| m.is_replica()));
    let next = drifted.into_iter().next()?;
    let Some(serving) = member(&next).filter(|m| !m.is_replica()) else {
        return Some(next);
    };
    let shard = topology.shard(topology.spec.node(serving.spec.shard())?);
    let successor = shard.members.iter().find(|m| {
        shard.standing(topology, m) == Some(Standing::Follows { in_sync: true })
            && known_as_replica(topology, m, serving)
    });
    Some(match successor {
        Some(successor) => Failover {
            node: peer(successor),
            from: serving.spec.name.clone(),
        }
        .into(),
        None => next,
    })
}
