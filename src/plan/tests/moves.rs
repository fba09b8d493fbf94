//! Slots away from home, open slots, atomic and by-keys moves, removed masters drained.

use super::*;

/// A move by keys where SETSLOT answers at once (no Valkey 8 replicas in these states).
const BY_KEYS: Transfer = Transfer::Keys {
    setslot_waits: false,
};

/// Slot 7 (declared for redis-1) open on the nodes `open` says, in every view of the node.
fn with_open_slot(spec: &ClusterSpec, open: impl Fn(usize, &mut ClusterNode)) -> Observed {
    with_views(spec, |i| {
        let mut v = formed_view(spec, i);
        open(i, &mut v.nodes[i]);
        v
    })
}

/// Node `i`'s view once redis-1 dropped slot 7 (DELSLOTS: no view lists it).
fn with_slot_7_dropped_view(spec: &ClusterSpec, i: usize) -> NodeView {
    let mut v = formed_view(spec, i);
    v.nodes[0].slots = vec![SlotRange::new(0, 6), SlotRange::new(8, 5460)];
    v
}

/// Slot 7 dropped by redis-1, and open on the nodes `open` says, each in its own view.
fn with_slot_7_dropped(spec: &ClusterSpec, open: impl Fn(usize, &mut ClusterNode)) -> Observed {
    with_views(spec, |i| {
        let mut v = with_slot_7_dropped_view(spec, i);
        open(i, &mut v.nodes[i]);
        v
    })
}

#[test]
fn slots_served_by_the_wrong_node_are_moved_home_with_their_keys() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(0, 5000)];
        v.nodes[1].slots = vec![SlotRange::new(5001, 10922)];
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::MoveSlots(MoveSlots {
            ranges: vec![SlotRange::new(5001, 5460)],
            from: peer(&spec, 1),
            to: peer(&spec, 0),
            finishing: false,
            transfer: BY_KEYS,
        })]
    );
    assert!(plan.waiting.is_empty() && plan.blocked.is_empty());
}

/// The reference cluster with slots 5001-5460 served by redis-2, every node running the
/// server `label` names except those `other` gives another.
fn misplaced_slots_on(spec: &ClusterSpec, label: &str, other: Option<(usize, &str)>) -> Observed {
    with_views(spec, |i| {
        let mut v = formed_view(spec, i);
        v.nodes[0].slots = vec![SlotRange::new(0, 5000)];
        v.nodes[1].slots = vec![SlotRange::new(5001, 10922)];
        let label = match other {
            Some((j, other)) if j == i => other,
            _ => label,
        };
        v.version = crate::observe::ServerVersion::from_label(label);
        v
    })
}

fn transfers(plan: &Plan) -> Vec<Transfer> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::MoveSlots(m) => Some(m.transfer),
            _ => None,
        })
        .collect()
}

#[test]
fn a_move_is_atomic_where_every_node_runs_one_server_that_can() {
    let spec = reference_spec();
    let atomic = |kind| {
        vec![Transfer::Atomic {
            kind,
            required: false,
        }]
    };
    let valkey = plan(&spec, &misplaced_slots_on(&spec, "valkey 9.1.2", None));
    assert_eq!(transfers(&valkey), atomic(ServerKind::Valkey));
    let redis = plan(&spec, &misplaced_slots_on(&spec, "redis 8.6.3", None));
    assert_eq!(transfers(&redis), atomic(ServerKind::Redis));
    for (label, other) in [
        ("valkey 8.1.1", None),
        ("redis 8.2.0", None),
        ("valkey 9.1.2", Some((2, "valkey 9.0.0"))),
        ("redis 8.6.3", Some((0, "redis 8.4.0"))),
    ] {
        let plan = plan(&spec, &misplaced_slots_on(&spec, label, other));
        assert_eq!(
            transfers(&plan),
            vec![BY_KEYS],
            "{label} with {other:?}: by keys"
        );
    }
}

#[test]
fn slot_migration_keys_moves_by_keys_and_atomic_waits_where_servers_cannot() {
    let mut spec = reference_spec();
    spec.slot_migration = crate::spec::SlotMigration::Keys;
    let plan_keys = plan(&spec, &misplaced_slots_on(&spec, "valkey 9.1.2", None));
    assert_eq!(transfers(&plan_keys), vec![BY_KEYS]);

    spec.slot_migration = crate::spec::SlotMigration::Atomic;
    let required = plan(&spec, &misplaced_slots_on(&spec, "redis 8.6.3", None));
    assert_eq!(
        transfers(&required),
        vec![Transfer::Atomic {
            kind: ServerKind::Redis,
            required: true
        }]
    );
    let mixed = plan(
        &spec,
        &misplaced_slots_on(&spec, "valkey 9.1.2", Some((1, "valkey 8.1.1"))),
    );
    assert!(transfers(&mixed).is_empty(), "{:?}", mixed.actions);
    assert!(
        mixed
            .waiting
            .iter()
            .any(|w| w.starts_with("slots 5001-5460: ")
                && w.contains("different servers (Valkey 8.1.1 on redis-2")
                && w.contains("set it to \"auto\"")),
        "{:?}",
        mixed.waiting
    );
}

/// Every node that answers runs the server `label` names.
fn all_run(observed: &mut Observed, label: &str) {
    for state in observed.redis.values_mut() {
        if let RedisState::Up(view) = state {
            view.version = crate::observe::ServerVersion::from_label(label);
        }
    }
}

#[test]
fn a_move_someone_started_by_keys_is_finished_by_keys_and_a_foreign_source_is_drained_by_keys() {
    let spec = reference_spec();
    let mut observed = with_open_slot(&spec, |i, me| match i {
        0 => me.migrating = vec![(7, id(1))],
        1 => me.importing = vec![(7, id(0))],
        _ => {}
    });
    all_run(&mut observed, "valkey 9.1.2");
    assert_eq!(transfers(&plan(&spec, &observed)), vec![BY_KEYS]);

    let mut stranger = with_stranger_serving_slot_0(&spec, None);
    all_run(&mut stranger, "valkey 9.1.2");
    assert_eq!(transfers(&plan(&spec, &stranger)), vec![BY_KEYS]);
}

#[test]
fn no_atomic_job_starts_while_a_slot_is_open_anywhere() {
    let spec = reference_spec();
    let mut observed = misplaced_slots_on(&spec, "valkey 9.1.2", None);
    // redis-3 has slot 12000 (its own) open toward redis-1: an interrupted move by keys.
    if let Some(RedisState::Up(view)) = observed.redis.get_mut("redis-3") {
        view.nodes[2].migrating = vec![(12000, id(0))];
    }
    let plan_auto = plan(&spec, &observed);
    assert_eq!(
        transfers(&plan_auto),
        vec![BY_KEYS],
        "{:?}",
        plan_auto.actions
    );
    let mut atomic_only = spec.clone();
    atomic_only.slot_migration = crate::spec::SlotMigration::Atomic;
    let waits = plan(&atomic_only, &observed);
    assert!(transfers(&waits).is_empty(), "{:?}", waits.actions);
    assert!(
        waits.waiting.iter().any(|w| w.contains("slots are open")),
        "{:?}",
        waits.waiting
    );
}

#[test]
fn a_move_in_flight_is_finished_before_anything_else() {
    let spec = reference_spec();
    let observed = with_open_slot(&spec, |i, me| match i {
        0 => me.migrating = vec![(7, id(1))],
        1 => me.importing = vec![(7, id(0))],
        _ => {}
    });
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::MoveSlots(MoveSlots {
            ranges: vec![SlotRange::new(7, 7)],
            from: peer(&spec, 0),
            to: peer(&spec, 1),
            finishing: true,
            transfer: BY_KEYS,
        })],
        "redis-cli's fix finishes it too: clients follow it through ASK redirects"
    );
}

#[test]
fn a_slot_open_only_at_its_owner_is_closed_there() {
    let spec = reference_spec();
    let observed = with_open_slot(&spec, |i, me| {
        if i == 0 {
            me.migrating = vec![(7, id(1))];
        }
    });
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::CloseSlots(CloseSlots {
            ranges: vec![SlotRange::new(7, 7)],
            owner: peer(&spec, 0),
            open_on: Vec::new(),
        })]
    );
}

#[test]
fn keys_on_a_node_importing_a_slot_go_to_its_owner() {
    let spec = reference_spec();
    let observed = with_open_slot(&spec, |i, me| {
        if i == 2 {
            me.importing = vec![(7, id(0))];
        }
    });
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::CloseSlots(CloseSlots {
            ranges: vec![SlotRange::new(7, 7)],
            owner: peer(&spec, 0),
            open_on: vec![peer(&spec, 2)],
        })]
    );
}

/// redis-1 (slot 7's declared owner, holding its keys) dropped it while redis-2 imports it.
/// Valkey 8.1 has the importer take such a slot itself with a bumped epoch; were redis-1 to
/// add it beside that, redis-2's newer claim would win and redis-1 delete its keys. So the
/// importer takes it, and it comes home by an ordinary move (redis-1 keeps its keys through
/// the take: it no longer owns the slot).
#[test]
fn an_open_slot_nobody_serves_is_taken_by_its_importer_then_moved_home() {
    let spec = reference_spec();
    let observed = with_slot_7_dropped(&spec, |i, me| {
        if i == 1 {
            me.importing = vec![(7, id(0))];
        }
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::TakeSlots(TakeSlots {
            node: peer(&spec, 1),
            ranges: vec![SlotRange::new(7, 7)],
        })],
        "claimed first (until then the cluster is down and MIGRATE refuses), by the importer"
    );
    // Taken: redis-2 serves slot 7 and nothing is open; it goes home with its keys.
    let taken = with_views(&spec, |i| {
        let mut v = with_slot_7_dropped_view(&spec, i);
        v.nodes[1].slots.push(SlotRange::new(7, 7));
        v
    });
    assert_eq!(
        plan_of(&spec, &taken).actions,
        vec![Action::MoveSlots(MoveSlots {
            ranges: vec![SlotRange::new(7, 7)],
            from: peer(&spec, 1),
            to: peer(&spec, 0),
            finishing: false,
            transfer: BY_KEYS,
        })]
    );
}

/// The declared owner is the importer (redis-2, the source, dropped slot 7 mid-move): it
/// takes the slot itself, and the keys left on redis-2 come to it when the slot is closed.
#[test]
fn an_open_slot_its_declared_owner_imports_is_taken_by_the_owner() {
    let spec = reference_spec();
    let observed = with_slot_7_dropped(&spec, |i, me| {
        if i == 0 || i == 2 {
            me.importing = vec![(7, id(1))];
        }
    });
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::TakeSlots(TakeSlots {
            node: peer(&spec, 0),
            ranges: vec![SlotRange::new(7, 7)],
        })],
        "the declared owner first among the importers"
    );
}

/// Open only as MIGRATING on a node that gave the slot up: nobody imports it, so nobody
/// would take it by itself, and its declared owner adds it; the keys left on the migrating
/// node then come to it when the slot is closed.
#[test]
fn an_open_slot_nobody_serves_or_imports_is_added_by_its_declared_owner() {
    let spec = reference_spec();
    let observed = with_slot_7_dropped(&spec, |i, me| {
        if i == 2 {
            me.migrating = vec![(7, id(0))];
        }
    });
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::AddSlots(AddSlots {
            node: peer(&spec, 0),
            ranges: vec![SlotRange::new(7, 7)],
        })]
    );
    // Claimed, and the cluster ok again: the migrating node's keys go to the owner.
    let claimed = with_open_slot(&spec, |i, me| {
        if i == 2 {
            me.migrating = vec![(7, id(0))];
        }
    });
    assert_eq!(
        plan_of(&spec, &claimed).actions,
        vec![Action::CloseSlots(CloseSlots {
            ranges: vec![SlotRange::new(7, 7)],
            owner: peer(&spec, 0),
            open_on: vec![peer(&spec, 2)],
        })],
        "not only ADDSLOTS: the migrating node may hold its keys"
    );
}

/// A claim bumps the claimer's epoch: the importer that takes an open slot gives no slot in
/// the same pass, so its bump cannot outrank a target's claim mid-hand-over.
#[test]
fn a_node_taking_an_open_slot_gives_no_slot_in_the_same_pass() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        // Slot 7 (redis-1's) dropped while redis-2 imports it; slot 10923 (redis-3's)
        // served by redis-2.
        let mut v = with_slot_7_dropped_view(&spec, i);
        v.nodes[1].slots.push(SlotRange::new(10923, 10923));
        v.nodes[2].slots = vec![SlotRange::new(10924, 16383)];
        if i == 1 {
            v.nodes[1].importing = vec![(7, id(0))];
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::TakeSlots(TakeSlots {
            node: peer(&spec, 1),
            ranges: vec![SlotRange::new(7, 7)],
        })]
    );
    assert!(
        plan.waiting
            .iter()
            .any(|w| w.starts_with("slots 10923: waiting for redis-2's moves in flight")),
        "{:?}",
        plan.waiting
    );
}

/// Redis punishes a move toward a node that is not ok: MIGRATE's RESTORE answers CLUSTERDOWN.
#[test]
fn nothing_moves_while_a_party_reports_cluster_state_fail() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        // redis-2 serves slot 0 (declared for redis-1); redis-1 reports the cluster down.
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes[1].slots.push(SlotRange::new(0, 0));
        if i == 0 {
            v.info = info("fail", 3, 3);
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(
        plan.waiting
            .iter()
            .any(|w| w.contains("redis-1 reports cluster_state:fail")),
        "{:?}",
        plan.waiting
    );
}

/// After the owner failed over and back mid-move, the importing node still imports from it
/// but, deaf to gossip about a slot it imports, sees the slot served by nobody and reports
/// fail. Waiting for it to report ok would wait forever: the close names the owner to it.
#[test]
fn a_node_blind_to_the_owner_of_a_slot_it_imports_gets_it_closed() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        if i == 1 {
            v.nodes[1].importing = vec![(7, id(0))];
            v.nodes[0].slots = vec![SlotRange::new(0, 6), SlotRange::new(8, 5460)];
            v.info = info("fail", 3, 3);
        }
        v
    });
    let close = Action::CloseSlots(CloseSlots {
        ranges: vec![SlotRange::new(7, 7)],
        owner: peer(&spec, 0),
        open_on: vec![peer(&spec, 1)],
    });
    assert_eq!(plan(&spec, &observed).actions, vec![close]);
    // Failing while it sees the slot's owner: that is another trouble, and the close waits.
    let failing = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        if i == 1 {
            v.nodes[1].importing = vec![(7, id(0))];
            v.info = info("fail", 3, 3);
        }
        v
    });
    let plan = plan(&spec, &failing);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(
        plan.waiting
            .iter()
            .any(|w| w.contains("redis-2 reports cluster_state:fail")),
        "{:?}",
        plan.waiting
    );
}

#[test]
fn a_slot_two_nodes_claim_waits_for_redis_to_settle_it() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        if i == 1 {
            v.nodes[1].slots.push(SlotRange::new(7, 7));
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        plan.waiting,
        vec![
            "slots 7: claimed by redis-1 and redis-2 at once; Redis settles this by config epoch"
                .to_string()
        ]
    );
}

#[test]
fn a_move_waits_until_the_target_knows_the_source() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(0, 5000)];
        v.nodes[1].slots = vec![SlotRange::new(5001, 10922)];
        if i == 0 {
            v.nodes[1].flags.push("handshake".into());
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        plan.waiting,
        vec!["slots 5001-5460: redis-1 does not know redis-2 yet".to_string()]
    );
}

#[test]
fn a_live_foreign_nodes_slots_are_moved_to_their_declared_owner() {
    let spec = reference_spec();
    let plan = plan(&spec, &with_stranger_serving_slot_0(&spec, None));
    assert_eq!(
        plan.actions,
        vec![Action::MoveSlots(MoveSlots {
            ranges: vec![SlotRange::new(0, 0)],
            from: Peer {
                id: "e".repeat(40),
                addr: "172.20.2.99:6379".into(),
                name: "foreign node 172.20.2.99:6379".into(),
            },
            to: peer(&spec, 0),
            finishing: false,
            transfer: BY_KEYS,
        })]
    );
}

#[test]
fn a_node_never_gives_and_takes_slots_in_one_pass() {
    let spec = chained_spec();
    let plan = plan(&spec, &formed_as_reference(&spec));
    let moves = moves_of(&plan);
    let givers: Vec<&String> = moves.iter().map(|(f, _)| f).collect();
    for (_, to) in &moves {
        assert!(
            !givers.contains(&to),
            "{to} gives and takes at once: {moves:?}"
        );
    }
    assert_eq!(
        moves,
        vec![
            ("redis-1".to_string(), "redis-2".to_string()),
            ("redis-1".to_string(), "redis-3".to_string())
        ],
        "redis-2's 5461-10922 to redis-3 waits: redis-2 takes this pass"
    );
    assert!(
        plan.waiting
            .iter()
            .any(|w| w.contains("a node never gives and takes slots at once")),
        "{:?}",
        plan.waiting
    );
}

#[test]
fn a_move_waits_until_the_target_has_seen_the_sources_config_epoch() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        // redis-2 serves slot 0 (declared for redis-1) and just bumped its epoch to 9; redis-1
        // has not heard yet.
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes[1].slots.push(SlotRange::new(0, 0));
        if i != 0 {
            v.nodes[1].config_epoch = 9;
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(moves_of(&plan).is_empty(), "{:?}", plan.actions);
    assert!(
        plan.waiting
            .iter()
            .any(|w| w.contains("redis-1 has not seen redis-2's config epoch 9")),
        "{:?}",
        plan.waiting
    );
}

#[test]
fn a_move_waits_until_every_node_knows_the_target() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes[1].slots.push(SlotRange::new(0, 0));
        if i == 2 {
            // redis-3 knows redis-1 only through a handshake (SETSLOT NODE there would fail).
            v.nodes[0].flags = vec!["handshake".into()];
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(moves_of(&plan).is_empty(), "{:?}", plan.actions);
}

/// An interrupted hand-over: nobody serves slot 7 by its own word, but redis-1 (its declared
/// owner) still sees redis-2 as the owner. ADDSLOTS would be refused ("busy"): redis-1 takes it.
#[test]
fn a_slot_nobody_serves_but_views_still_name_a_declared_node_is_taken_home() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(0, 6), SlotRange::new(8, 5460)];
        if i == 0 {
            v.nodes[1].slots.push(SlotRange::new(7, 7));
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::TakeSlots(TakeSlots {
            node: peer(&spec, 0),
            ranges: vec![SlotRange::new(7, 7)],
        })]
    );
}

/// redis-4 was removed from cluster.toml; its container (at .18) still runs.
fn with_retired_redis_4(spec: &ClusterSpec, view: impl Fn(usize) -> NodeView) -> Observed {
    let mut observed = with_views(spec, view);
    observed.containers.insert(
        "redis-4".into(),
        ObservedContainer {
            id: "c4".into(),
            name: "dev-redis-4".into(),
            state: RunState::Running,
            health: Some("healthy".into()),
            ip: Some("172.20.2.18".parse().unwrap()),
            spec_hash: None,
            host: LOCAL.into(),
            address: None,
        },
    );
    observed
}

fn retired_entry(spec: &ClusterSpec, slots: Vec<SlotRange>) -> ClusterNode {
    ClusterNode {
        id: "4".repeat(40),
        addr: "172.20.2.18:6379".into(),
        slots,
        ..entry(spec, 0, false, Vec::new(), 4)
    }
}

/// Node `i`'s view while the removed redis-4 still serves slot 0 (declared for redis-1).
fn retired_serving_slot_0(spec: &ClusterSpec, i: usize) -> NodeView {
    let mut v = formed_view(spec, i);
    v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
    v.nodes
        .push(retired_entry(spec, vec![SlotRange::new(0, 0)]));
    v
}

#[test]
fn a_removed_master_is_drained_atomically_where_the_servers_can() {
    let spec = reference_spec();
    let serving = with_retired_redis_4(&spec, |i| {
        let mut v = retired_serving_slot_0(&spec, i);
        v.version = crate::observe::ServerVersion::from_label("redis 8.6.3");
        v
    });
    assert_eq!(
        transfers(&plan(&spec, &serving)),
        vec![Transfer::Atomic {
            kind: ServerKind::Redis,
            required: false
        }]
    );
}

#[test]
fn a_removed_master_is_drained_then_forgotten_then_its_container_removed() {
    let spec = reference_spec();
    // Serving slot 0 (declared for redis-1): drained first, nothing else.
    let serving = with_retired_redis_4(&spec, |i| retired_serving_slot_0(&spec, i));
    let plan = plan(&spec, &serving);
    assert_eq!(kinds(&plan), vec!["move-slots"], "{:?}", plan.actions);
    match &plan.actions[0] {
        Action::MoveSlots(MoveSlots { from, to, .. }) => {
            assert_eq!(from.name, "redis-4 (removed from cluster.toml)");
            assert_eq!(to.name, "redis-1");
        }
        other => panic!("{other:?}"),
    }
    // Drained: forgotten everywhere; the container stays while nodes know it.
    let drained = with_retired_redis_4(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes.push(retired_entry(&spec, Vec::new()));
        v
    });
    let drained_plan = plan_of(&spec, &drained);
    assert_eq!(
        kinds(&drained_plan),
        vec!["forget"],
        "{:?}",
        drained_plan.actions
    );
    // Forgotten: its container goes.
    let forgotten = with_retired_redis_4(&spec, |i| formed_view(&spec, i));
    assert_eq!(
        plan_of(&spec, &forgotten).actions,
        vec![Action::RemoveContainer(RemoveContainer {
            node: "redis-4".into(),
            container: "dev-redis-4".into(),
            host: LOCAL.into(),
        })]
    );
    let change = shape_change(&Topology::new(&spec, &forgotten));
    assert_eq!(change.remove, vec!["redis-4".to_string()]);
}

/// The operator died while draining a removed master: a declared node imports a slot from
/// it. Its MIGRATING mark is not seen; the move is finished toward the declared node, never
/// reversed (reversing it while another move runs the other way would deadlock MIGRATE).
#[test]
fn an_interrupted_drain_of_a_removed_master_is_finished_toward_the_declared_node() {
    let spec = reference_spec();
    let observed = with_retired_redis_4(&spec, |i| {
        let mut v = retired_serving_slot_0(&spec, i);
        if i == 0 {
            v.nodes[0].importing = vec![(0, "4".repeat(40))];
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(kinds(&plan), vec!["move-slots"], "{:?}", plan.actions);
    match &plan.actions[0] {
        Action::MoveSlots(MoveSlots {
            from,
            to,
            finishing,
            ..
        }) => {
            assert_eq!(
                (from.id.as_str(), to.name.as_str()),
                ("4".repeat(40).as_str(), "redis-1")
            );
            assert!(finishing);
        }
        other => panic!("{other:?}"),
    }
}

/// The 3 + 3 cluster with slots 5001-5460 served by redis-2, every node running `label`.
fn misplaced_with_replicas(label: &str) -> Observed {
    let spec = crate::spec::test_support::replicated_spec();
    let mut roles = declared(&spec);
    roles[0] = Role::Master(vec![SlotRange::new(0, 5000)]);
    roles[1] = Role::Master(vec![SlotRange::new(5001, 10922)]);
    with_views(&spec, |i| {
        let mut v = roles_view(&spec, i, &roles);
        v.version = crate::observe::ServerVersion::from_label(label);
        v
    })
}

#[test]
fn a_move_by_keys_knows_when_setslot_waits_for_replicas() {
    let spec = crate::spec::test_support::replicated_spec();
    let waits = |setslot_waits| vec![Transfer::Keys { setslot_waits }];
    for (label, expected) in [
        ("valkey 8.0.1", true),
        ("valkey 8.1.1", true),
        ("redis 7.0.15", false),
        ("redis 8.0.2", false),
    ] {
        let observed = misplaced_with_replicas(label);
        assert_eq!(
            transfers(&plan(&spec, &observed)),
            waits(expected),
            "{label}"
        );
    }
    // Valkey 8 with no replicas: SETSLOT answers at once.
    let mut spec = reference_spec();
    spec.slot_migration = crate::spec::SlotMigration::Keys;
    let without_replicas = misplaced_slots_on(&spec, "valkey 8.0.1", None);
    assert_eq!(transfers(&plan(&spec, &without_replicas)), waits(false));
}
