//! Planner cases for shards with replicas: attachment, promotion, failback, on hand-built
//! 3 + 3 states (redis-4, -5, -6 declared as replicas of redis-1, -2, -3).

use super::*;
use crate::spec::test_support::replicated_spec;

/// redis-1's container died; redis-4's link to it went down `down_for` seconds ago.
fn master_died(spec: &ClusterSpec, down_for: u64) -> Observed {
    let mut roles = declared(spec);
    roles[3] = Role::Replica(0, Link::DownFor(down_for));
    let mut observed = observed_with(spec, &roles);
    observed.redis.remove("redis-1");
    if let Some(c) = observed.containers.get_mut("redis-1") {
        c.state = RunState::Exited;
    }
    observed
}

#[test]
fn three_masters_with_in_sync_replicas_are_converged() {
    let spec = replicated_spec();
    let plan = plan(&spec, &observed_with(&spec, &declared(&spec)));
    assert!(plan.is_converged(), "{plan:?}");
}

#[test]
fn a_node_declared_replica_that_is_an_empty_master_replicates_its_master() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[4] = Role::Master(Vec::new());
    let plan = plan(&spec, &observed_with(&spec, &roles));
    assert_eq!(
        plan.actions,
        [Action::Replicate(Replicate {
            node: peer(&spec, 4),
            master: peer(&spec, 1)
        })]
    );
}

#[test]
fn a_replica_following_the_wrong_master_is_moved_back() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[5] = Role::Replica(0, Link::Up);
    let plan = plan(&spec, &observed_with(&spec, &roles));
    assert_eq!(
        plan.actions,
        [Action::Replicate(Replicate {
            node: peer(&spec, 5),
            master: peer(&spec, 2)
        })]
    );
}

#[test]
fn a_replica_still_syncing_is_waited_for() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[3] = Role::Replica(0, Link::Syncing);
    let plan = plan(&spec, &observed_with(&spec, &roles));
    assert!(plan.actions.is_empty(), "{plan:?}");
    assert_eq!(plan.waiting, ["redis-4: syncing from redis-1"]);
}

#[test]
fn a_dead_masters_in_sync_replica_is_promoted_before_the_master_restarts() {
    let spec = replicated_spec();
    let plan = plan(&spec, &master_died(&spec, 1));
    assert_eq!(kinds(&plan), ["promote", "start-container"]);
    assert_eq!(
        plan.actions[0],
        Action::Promote(Promote {
            node: peer(&spec, 3),
            shard: "redis-1".into()
        })
    );
}

#[test]
fn a_replica_cut_off_long_before_its_master_died_is_not_promoted() {
    let spec = replicated_spec();
    let plan = plan(&spec, &master_died(&spec, 60));
    assert_eq!(kinds(&plan), ["start-container"]);
}

#[test]
fn a_master_that_lost_its_volume_is_replaced_by_its_replica_and_rejoins_as_its_replica() {
    let spec = replicated_spec();
    // redis-1 came back empty under a new id; redis-4 still follows the old one.
    let mut roles = declared(&spec);
    roles[3] = Role::Replica(0, Link::DownFor(1));
    let mut observed = observed_with(&spec, &roles);
    let fresh = NodeView {
        nodes: vec![ClusterNode {
            id: id(99),
            ..entry(&spec, 0, true, Vec::new(), 0)
        }],
        ..fresh_view(&spec, 0)
    };
    observed
        .redis
        .insert("redis-1".into(), RedisState::Up(fresh));
    let plan = plan(&spec, &observed);
    assert_eq!(kinds(&plan)[0], "promote", "{plan:?}");

    // Promoted: redis-4 serves 0-5460; redis-1 (new id, met) is an empty master.
    let mut roles = declared(&spec);
    roles[3] = Role::Master(spec.nodes[0].slots.clone());
    roles[0] = Role::Master(Vec::new());
    let plan = super::plan(&spec, &observed_with(&spec, &roles));
    assert_eq!(
        plan.actions,
        [Action::Replicate(Replicate {
            node: peer(&spec, 0),
            master: peer(&spec, 3)
        })]
    );
}

/// redis-4 was promoted; redis-1 came back as its replica.
fn promoted(spec: &ClusterSpec, link: Link) -> Observed {
    let mut roles = declared(spec);
    roles[3] = Role::Master(spec.nodes[0].slots.clone());
    roles[0] = Role::Replica(3, link);
    observed_with(spec, &roles)
}

#[test]
fn a_declared_master_in_sync_takes_its_slots_back_with_a_coordinated_failover() {
    let spec = replicated_spec();
    let plan = plan(&spec, &promoted(&spec, Link::Up));
    assert_eq!(
        plan.actions,
        [Action::Failover(Failover {
            node: peer(&spec, 0),
            from: "redis-4".into()
        })]
    );
    let plan = super::plan(&spec, &promoted(&spec, Link::Syncing));
    assert!(plan.actions.is_empty());
    assert_eq!(plan.waiting, ["redis-1: syncing from redis-4"]);
}

#[test]
fn without_failback_the_promoted_replica_keeps_the_slots_and_nothing_moves() {
    let mut spec = replicated_spec();
    spec.failback = false;
    let plan = plan(&spec, &promoted(&spec, Link::Up));
    assert!(plan.is_converged(), "{plan:?}");
}

#[test]
fn a_restarted_master_and_its_promoted_replica_claiming_the_slots_at_once_are_waited_for() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[3] = Role::Master(spec.nodes[0].slots.clone());
    let plan = plan(&spec, &observed_with(&spec, &roles));
    assert!(plan.actions.is_empty(), "{plan:?}");
    assert!(
        plan.waiting[0].contains("claimed by redis-1 and redis-4 at once"),
        "{plan:?}"
    );
}

#[test]
fn an_empty_master_holding_keys_is_not_made_a_replica() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[4] = Role::Master(Vec::new());
    let mut observed = observed_with(&spec, &roles);
    if let Some(RedisState::Up(view)) = observed.redis.get_mut("redis-5") {
        view.server.insert("db0".into(), "keys=7,expires=0".into());
    }
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty());
    assert!(plan.blocked[0].contains("holds 7 key(s)"), "{plan:?}");
}

#[test]
fn a_replica_gets_no_slots_even_when_its_view_has_none_assigned() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[0] = Role::Replica(3, Link::Syncing);
    roles[3] = Role::Master(Vec::new());
    // Nobody serves 0-5460: the declared owner is a replica, so no ADDSLOTS goes to it.
    let plan = plan(&spec, &observed_with(&spec, &roles));
    assert!(
        !plan.actions.iter().any(
            |a| matches!(a, Action::AddSlots(AddSlots { node, .. }) if node.name == "redis-1")
        ),
        "{plan:?}"
    );
}

#[test]
fn no_failback_while_some_node_still_takes_the_restarted_master_for_a_master() {
    let spec = replicated_spec();
    let mut observed = promoted(&spec, Link::Up);
    // redis-2 has not heard yet that redis-1 came back as redis-4's replica: it would deny
    // its vote.
    let mut stale = declared(&spec);
    stale[3] = Role::Master(spec.nodes[0].slots.clone());
    stale[0] = Role::Master(Vec::new());
    observed.redis.insert(
        "redis-2".into(),
        RedisState::Up(roles_view(&spec, 1, &stale)),
    );
    let plan = plan(&spec, &observed);
    assert!(
        !plan.actions.iter().any(|a| a.kind() == "failover"),
        "{plan:?}"
    );
    // Not converged meanwhile: `plan` and `up` wait for the failback.
    assert_eq!(
        plan.waiting,
        ["redis-1: takes its slots back from redis-4 once every node sees it as a replica"]
    );
}

/// `observed` with the containers of `nodes` made from an older spec.
fn drifted(mut observed: Observed, nodes: &[&str]) -> Observed {
    for node in nodes {
        if let Some(c) = observed.containers.get_mut(*node) {
            c.spec_hash = Some("an older spec".into());
        }
    }
    observed
}

#[test]
fn a_rolling_change_recreates_replicas_first() {
    let spec = replicated_spec();
    let observed = drifted(
        observed_with(&spec, &declared(&spec)),
        &["redis-1", "redis-4"],
    );
    let plan = plan(&spec, &observed);
    assert!(
        matches!(&plan.actions[..], [Action::RecreateContainer(RecreateContainer { node, .. })] if node == "redis-4"),
        "{plan:?}"
    );
}

#[test]
fn a_rolling_change_hands_a_masters_slots_to_its_replica_before_recreating_it() {
    let spec = replicated_spec();
    let observed = drifted(observed_with(&spec, &declared(&spec)), &["redis-1"]);
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        [Action::Failover(Failover {
            node: peer(&spec, 3),
            from: "redis-1".into()
        })]
    );
    // Once it is redis-4's replica, redis-1 is recreated; failback waits for that.
    let plan = super::plan(&spec, &drifted(promoted(&spec, Link::Up), &["redis-1"]));
    assert!(
        matches!(&plan.actions[..], [Action::RecreateContainer(RecreateContainer { node, .. })] if node == "redis-1"),
        "{plan:?}"
    );
}

#[test]
fn a_replica_following_a_ghost_every_other_node_forgot_is_promoted_not_told_to_forget_it() {
    let spec = replicated_spec();
    let mut roles = declared(&spec);
    roles[2] = Role::Master(Vec::new());
    roles[5] = Role::Replica(2, Link::DownFor(300));
    let mut observed = observed_with(&spec, &roles);
    let ghost = ClusterNode {
        id: id(77),
        addr: String::new(),
        bus_port: None,
        slots: spec.nodes[2].slots.clone(),
        ..entry(&spec, 2, false, Vec::new(), 9)
    };
    if let Some(RedisState::Up(view)) = observed.redis.get_mut("redis-6") {
        view.nodes.push(ghost);
        if let Some(me) = view.nodes.iter_mut().find(|e| e.is_myself()) {
            me.master_id = Some(id(77));
        }
    }
    let plan = plan(&spec, &observed);
    assert!(
        plan.actions.contains(&Action::Promote(Promote {
            node: peer(&spec, 5),
            shard: "redis-3".into()
        })),
        "{plan:?}"
    );
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Forget(Forget { on, .. }) if on.iter().any(|p| p.name == "redis-6"))),
        "a replica is never told to forget its own master: {plan:?}"
    );
}

#[test]
fn a_replica_declared_a_master_now_is_cut_loose_before_slots_move_to_it() {
    let mut spec = replicated_spec();
    // redis-6 is a master now, taking 16000-16383 from redis-3.
    spec.nodes[5].replica_of = None;
    spec.nodes[5].slots = vec![SlotRange {
        start: 16000,
        end: 16383,
    }];
    spec.nodes[2].slots = vec![SlotRange {
        start: 10923,
        end: 15999,
    }];
    // The cluster still stands as it was declared before the edit.
    let before = declared(&replicated_spec());
    let plan = plan(&spec, &observed_with(&spec, &before));
    assert_eq!(
        plan.actions,
        [Action::Detach(Detach {
            node: peer(&spec, 5)
        })],
        "nothing moves to a replica (SETSLOT refuses one)"
    );
}

#[test]
fn a_replica_far_behind_its_masters_offset_is_not_in_sync_yet() {
    let spec = replicated_spec();
    let mut observed = observed_with(&spec, &declared(&spec));
    if let Some(RedisState::Up(view)) = observed.redis.get_mut("redis-1") {
        view.server
            .insert("master_repl_offset".into(), (100 + (2 << 20)).to_string());
    }
    let plan = plan(&spec, &observed);
    assert_eq!(plan.waiting, ["redis-4: syncing from redis-1"], "{plan:?}");
}

/// Valkey 8 replicates SETSLOT to replicas: redis-5 carries a copy of its master redis-2's
/// IMPORTING mark on slot 7 (redis-1's). A replica refuses SETSLOT and holds its master's
/// keys: only redis-2 gives its keys to the owner, and the close clears both marks.
#[test]
fn an_open_slot_copied_to_a_replica_is_closed_at_its_master_alone() {
    let spec = replicated_spec();
    let roles = declared(&spec);
    let observed = with_views(&spec, |i| {
        let mut v = roles_view(&spec, i, &roles);
        if i == 1 || i == 4 {
            v.nodes[i].importing = vec![(7, id(0))];
        }
        v
    });
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::CloseSlots(CloseSlots {
            ranges: vec![SlotRange::new(7, 7)],
            owner: peer(&spec, 0),
            open_on: vec![peer(&spec, 1)],
        })]
    );
}
