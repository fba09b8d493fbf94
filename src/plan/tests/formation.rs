//! Forming the cluster and keeping it formed: epochs, slots, introductions, forgetting.

use super::*;

#[test]
fn fresh_nodes_get_epochs_exact_slots_and_meet_every_peer() {
    let spec = reference_spec();
    let plan = plan(&spec, &with_views(&spec, |i| fresh_view(&spec, i)));
    assert_eq!(
        plan.actions,
        vec![
            Action::SetConfigEpoch(SetConfigEpoch {
                node: peer(&spec, 0),
                epoch: 1
            }),
            Action::SetConfigEpoch(SetConfigEpoch {
                node: peer(&spec, 1),
                epoch: 2
            }),
            Action::SetConfigEpoch(SetConfigEpoch {
                node: peer(&spec, 2),
                epoch: 3
            }),
            Action::AddSlots(AddSlots {
                node: peer(&spec, 0),
                ranges: vec![SlotRange::new(0, 5460)]
            }),
            Action::AddSlots(AddSlots {
                node: peer(&spec, 1),
                ranges: vec![SlotRange::new(5461, 10922)]
            }),
            Action::AddSlots(AddSlots {
                node: peer(&spec, 2),
                ranges: vec![SlotRange::new(10923, 16383)]
            }),
            Action::Meet(Meet {
                node: peer(&spec, 0),
                peer: peer(&spec, 1),
                addr: "172.20.2.16:6390".into()
            }),
            Action::Meet(Meet {
                node: peer(&spec, 0),
                peer: peer(&spec, 2),
                addr: "172.20.2.17:6390".into()
            }),
            Action::Meet(Meet {
                node: peer(&spec, 1),
                peer: peer(&spec, 2),
                addr: "172.20.2.17:6390".into()
            }),
        ]
    );
}

#[test]
fn fresh_nodes_wait_while_a_declared_node_does_not_answer() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| fresh_view(&spec, i));
    observed.redis.insert(
        "redis-1".into(),
        RedisState::Unreachable("connection refused".into()),
    );
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(plan
        .waiting
        .iter()
        .any(|w| w.contains("redis-1: Redis does not answer")));
}

#[test]
fn non_contiguous_declared_ranges_are_assigned_exactly() {
    let mut spec = reference_spec();
    spec.nodes[0].slots = vec![SlotRange::new(0, 1000), SlotRange::new(8000, 9000)];
    spec.nodes[1].slots = vec![SlotRange::new(1001, 7999)];
    spec.nodes[2].slots = vec![SlotRange::new(9001, 16383)];
    let plan = plan(&spec, &with_views(&spec, |i| fresh_view(&spec, i)));
    assert!(plan.actions.contains(&Action::AddSlots(AddSlots {
        node: peer(&spec, 0),
        ranges: vec![SlotRange::new(0, 1000), SlotRange::new(8000, 9000)],
    })));
}

#[test]
fn a_healthy_cluster_as_declared_needs_nothing() {
    let spec = reference_spec();
    let plan = plan(&spec, &with_views(&spec, |i| formed_view(&spec, i)));
    assert!(plan.is_converged(), "{plan:?}");
}

#[test]
fn settling_cluster_waits_without_acting() {
    let spec = reference_spec();
    let plan = plan(
        &spec,
        &with_views(&spec, |i| {
            let mut v = formed_view(&spec, i);
            if i == 2 {
                v.info = info("fail", 3, 3);
            }
            v
        }),
    );
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.waiting,
        vec!["redis-3: reports cluster_state:fail".to_string()]
    );
}

#[test]
fn half_formed_cluster_is_finished_not_recreated() {
    // A crash after redis-1 and redis-2 met and took their slots, before redis-3 was touched.
    let spec = reference_spec();
    let observed = with_views(&spec, |i| match i {
        2 => fresh_view(&spec, 2),
        _ => NodeView {
            nodes: (0..2)
                .map(|j| entry(&spec, j, i == j, spec.nodes[j].slots.clone(), j as u64 + 1))
                .collect(),
            info: info("fail", 2, 2),
            server: BTreeMap::new(),
            config: kept_settings(&spec, &spec.nodes[i]),
            version: None,
            password_stale: false,
        },
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![
            Action::SetConfigEpoch(SetConfigEpoch {
                node: peer(&spec, 2),
                epoch: 2 + 3
            }),
            Action::AddSlots(AddSlots {
                node: peer(&spec, 2),
                ranges: vec![SlotRange::new(10923, 16383)]
            }),
            Action::Meet(Meet {
                node: peer(&spec, 0),
                peer: peer(&spec, 2),
                addr: "172.20.2.17:6390".into()
            }),
            Action::Meet(Meet {
                node: peer(&spec, 1),
                peer: peer(&spec, 2),
                addr: "172.20.2.17:6390".into()
            }),
        ]
    );
}

#[test]
fn slots_already_claimed_in_any_view_are_not_assigned_again() {
    // redis-1 took its slots but crashed before the introductions.
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = fresh_view(&spec, i);
        if i == 0 {
            v.nodes[0].slots = spec.nodes[0].slots.clone();
            v.nodes[0].config_epoch = 1;
            v.info = info("fail", 1, 1);
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(!plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::AddSlots(AddSlots { node, .. }) if node.name == "redis-1")));
    assert!(plan.actions.contains(&Action::AddSlots(AddSlots {
        node: peer(&spec, 1),
        ranges: vec![SlotRange::new(5461, 10922)]
    })));
}

#[test]
fn a_node_that_forgot_the_anchor_meets_it() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        if i == 1 {
            v.nodes.retain(|n| n.addr != spec.nodes[0].addr());
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::Meet(Meet {
            node: peer(&spec, 1),
            peer: peer(&spec, 0),
            addr: "172.20.2.13:6390".into()
        })]
    );
}

#[test]
fn handshake_in_progress_is_not_met_again() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        for n in v.nodes.iter_mut().filter(|n| !n.is_myself()) {
            n.flags = vec!["handshake".into()];
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(plan
        .waiting
        .iter()
        .any(|w| w.contains("still in handshake")));
}

/// Redis 7.2+ and Valkey 8 name a peer by its TLS port (to a TLS connection), by port 0 (a
/// peer learned through gossip and not heard from directly yet), or by the plaintext port: it
/// is the same node each time.
#[test]
fn a_peer_is_known_by_id_and_ip_whichever_port_the_server_names() {
    let spec = reference_spec();
    for port in ["6390", "0", "6379"] {
        let observed = with_views(&spec, |i| {
            let mut v = formed_view(&spec, i);
            for n in v.nodes.iter_mut().filter(|n| !n.is_myself()) {
                n.addr = format!("{}:{port}", n.addr.rsplit_once(':').unwrap().0);
            }
            v
        });
        let plan = plan(&spec, &observed);
        assert!(plan.is_converged(), "peers named at port {port}: {plan:?}");
    }
}

/// A handshake entry has a placeholder id at a declared node's IP (port 0 on 7.2+): neither a
/// foreign node nor an old identity, so nothing is forgotten and the MEET is not repeated.
#[test]
fn a_handshake_at_port_0_is_neither_foreign_nor_an_old_identity() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = fresh_view(&spec, i);
        v.info = info("fail", 1, 1);
        v.nodes[0].config_epoch = i as u64 + 1;
        if i == 0 {
            for j in 1..3 {
                let mut handshake = entry(&spec, j, false, Vec::new(), 0);
                handshake.id = format!("{:040x}", 100 + j);
                handshake.addr = format!("{}:0", spec.nodes[j].ip);
                handshake.flags = vec!["handshake".into()];
                handshake.link_connected = false;
                v.nodes.push(handshake);
            }
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Forget(Forget { .. }))),
        "{:?}",
        plan.actions
    );
    let meets: Vec<(&str, &str)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Meet(Meet { node, peer, .. }) => Some((node.name.as_str(), peer.name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        meets,
        vec![("redis-2", "redis-3")],
        "redis-1's handshakes are left to finish"
    );
}

#[test]
fn a_peer_does_not_meet_back_while_a_handshake_with_it_is_in_flight() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        match i {
            0 => v.nodes[1].flags = vec!["handshake".into()],
            1 => v.nodes.retain(|n| n.addr != spec.nodes[0].addr()),
            _ => {}
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[test]
fn a_node_that_lost_its_identity_is_forgotten_everywhere_then_rejoins_fresh() {
    let spec = reference_spec();
    // redis-3's volume was lost: it answers with a new id and knows nobody, while the others
    // still list its old id, with its slots.
    let observed = with_views(&spec, |i| match i {
        2 => {
            let mut v = fresh_view(&spec, 2);
            v.nodes[0].id = "f".repeat(40);
            v
        }
        _ => {
            let mut v = formed_view(&spec, i);
            v.nodes[2].flags = vec!["master".into(), "fail".into()];
            v.nodes[2].link_connected = false;
            v
        }
    });
    let plan = plan(&spec, &observed);
    // The newcomer is named by its new id: what the epoch and the introductions are for.
    let fresh = Peer {
        id: "f".repeat(40),
        ..peer(&spec, 2)
    };
    assert_eq!(
        plan.actions,
        vec![
            Action::Forget(Forget {
                id: id(2),
                was: "redis-3's old identity".into(),
                lost_slots: 5461,
                on: vec![peer(&spec, 0), peer(&spec, 1)],
            }),
            Action::SetConfigEpoch(SetConfigEpoch {
                node: fresh.clone(),
                epoch: 3 + 3
            }),
            Action::Meet(Meet {
                node: peer(&spec, 0),
                peer: fresh.clone(),
                addr: "172.20.2.17:6390".into()
            }),
            Action::Meet(Meet {
                node: peer(&spec, 1),
                peer: fresh.clone(),
                addr: "172.20.2.17:6390".into()
            }),
        ],
        "no slots yet: the old identity still claims them until it is forgotten"
    );
    assert!(plan.actions[0]
        .to_string()
        .contains("the keys of its 5461 slots are lost"));
}

#[test]
fn once_the_old_identity_is_forgotten_its_slots_go_to_the_new_node() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| match i {
        2 => fresh_view(&spec, 2),
        _ => {
            let mut v = formed_view(&spec, i);
            v.nodes.remove(2);
            v
        }
    });
    let plan = plan(&spec, &observed);
    assert!(plan.actions.contains(&Action::AddSlots(AddSlots {
        node: peer(&spec, 2),
        ranges: vec![SlotRange::new(10923, 16383)]
    })));
}

#[test]
fn slots_a_node_dropped_itself_are_given_back_though_its_peers_still_list_them() {
    // CLUSTER DELSLOTS 0 .. 99 on redis-1: its own view no longer lists them.
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        if i == 0 {
            v.nodes[0].slots = vec![SlotRange::new(100, 5460)];
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::AddSlots(AddSlots {
            node: peer(&spec, 0),
            ranges: vec![SlotRange::new(0, 99)]
        })]
    );
}

#[test]
fn a_foreign_node_without_slots_is_forgotten() {
    let spec = reference_spec();
    let empty = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes.push(stranger(&spec, Vec::new(), None));
        v
    });
    assert_eq!(
        plan(&spec, &empty).actions,
        vec![Action::Forget(Forget {
            id: "e".repeat(40),
            was: "foreign node 172.20.2.99:6379".into(),
            lost_slots: 0,
            on: vec![peer(&spec, 0), peer(&spec, 1), peer(&spec, 2)],
        })]
    );
}

#[test]
fn a_failed_foreign_node_is_forgotten_with_its_slots_and_a_suspected_one_is_awaited() {
    let spec = reference_spec();
    let failed = plan(&spec, &with_stranger_serving_slot_0(&spec, Some("fail")));
    assert_eq!(
        failed.actions,
        vec![Action::Forget(Forget {
            id: "e".repeat(40),
            was: "foreign node 172.20.2.99:6379".into(),
            lost_slots: 1,
            on: vec![peer(&spec, 0), peer(&spec, 1), peer(&spec, 2)],
        })]
    );
    let suspected = plan(&spec, &with_stranger_serving_slot_0(&spec, Some("fail?")));
    assert!(suspected.actions.is_empty(), "{:?}", suspected.actions);
    assert!(
        suspected.waiting[0].contains("which is failing"),
        "{:?}",
        suspected.waiting
    );
}

#[test]
fn an_unanswered_ping_keeps_the_cluster_settling() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.at_ms = 1_700_000_010_000;
    if let Some(RedisState::Up(v)) = observed.redis.get_mut("redis-2") {
        v.nodes[0].ping_sent = 1_700_000_009_000;
    }
    let stale = plan(&spec, &observed);
    assert_eq!(
        stale.waiting,
        vec!["redis-2: ping to redis-1 unanswered for 1000 ms".to_string()]
    );
    if let Some(RedisState::Up(v)) = observed.redis.get_mut("redis-2") {
        v.nodes[0].ping_sent = 1_700_000_009_900;
    }
    assert!(
        plan(&spec, &observed).is_converged(),
        "a ping in flight for 100 ms is normal"
    );
}

/// A slot a node claims by its own word is never assigned to another; an open slot nobody
/// serves is claimed once, by the node importing it (as Valkey 8.1+ would by itself), and
/// comes home by a move later.
#[test]
fn slots_another_node_claims_are_never_added_and_open_ones_are_taken_by_their_importer() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(2, 5460)];
        // Slot 0 is redis-2's by its own word; slot 1 is open (importing) on redis-3.
        v.nodes[1].slots.push(SlotRange::new(0, 0));
        if i == 2 {
            v.nodes[2].importing = vec![(1, id(1))];
        }
        v
    });
    let plan = plan(&spec, &observed);
    let assigned: Vec<(&str, &Vec<SlotRange>)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::AddSlots(AddSlots { node, ranges }) => Some((node.name.as_str(), ranges)),
            Action::TakeSlots(TakeSlots { node, ranges }) => Some((node.name.as_str(), ranges)),
            _ => None,
        })
        .collect();
    assert_eq!(
        assigned,
        vec![("redis-3", &vec![SlotRange::new(1, 1)])],
        "slot 0 is redis-2's by its own word: moved, never added"
    );
    assert_eq!(moves_of(&plan), vec![("redis-2".into(), "redis-1".into())]);
}

/// What is left of redis-3's old identity after redis-1 forgot it: redis-2 still lists it,
/// without an address, serving redis-3's slots, suspected but never agreed failed (redis-1
/// cannot vote on a node it does not know). Forgotten everywhere, its slots then go home.
#[test]
fn a_ghost_without_address_that_some_node_forgot_is_forgotten_everywhere() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        for n in v.nodes.iter_mut() {
            if n.id == id(2) && !n.is_myself() {
                n.slots.clear();
            }
        }
        if i != 2 {
            v.nodes[2].slots.clear();
        }
        if i == 1 {
            let mut ghost = entry(&spec, 2, false, vec![SlotRange::new(10923, 16383)], 3);
            ghost.id = "9".repeat(40);
            ghost.addr = String::new();
            ghost.flags = vec!["master".into(), "fail?".into(), "noaddr".into()];
            v.nodes.push(ghost);
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::Forget(Forget { id, on, .. })
            if *id == "9".repeat(40) && on == &vec![peer(&spec, 1)])),
        "{:?}",
        plan.actions
    );
}

/// redis-3 was removed (drained, forgotten) and is declared again: its volume's nodes.conf
/// still knows redis-1 and redis-2, which know nothing at its address. It is reset to a new
/// id instead of being met: a forgotten id is banned for 60 s, and Valkey 8.0 keeps it out
/// even through MEET.
#[test]
fn a_declared_node_the_cluster_forgot_is_reset_not_met() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        for n in v.nodes.iter_mut() {
            if n.id == id(1) {
                n.slots = vec![SlotRange::new(5461, 16383)];
            }
            if n.id == id(2) {
                n.slots.clear();
            }
        }
        if i != 2 {
            v.nodes.retain(|n| n.id != id(2));
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::ResetNode(ResetNode {
            node: peer(&spec, 2)
        })],
        "reset first; it meets the others once it is fresh"
    );
    // While the cluster is being formed, nodes that know only themselves are not reset.
    let forming = with_views(&spec, |i| {
        let mut v = fresh_view(&spec, i);
        v.nodes[0].config_epoch = i as u64 + 1;
        v
    });
    assert!(
        !plan_of(&spec, &forming)
            .actions
            .iter()
            .any(|a| matches!(a, Action::ResetNode(ResetNode { .. }))),
        "formation resets nothing"
    );
}

/// redis-2 and redis-3 were both removed (drained, forgotten) and are declared again: their
/// volumes' nodes.conf remember each other, and redis-1, which serves every slot, knows
/// neither. Each is reset: a node the cluster forgot is not known because another forgotten
/// node remembers it.
#[test]
fn two_declared_nodes_the_cluster_forgot_are_reset_though_they_know_each_other() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        for n in v.nodes.iter_mut() {
            n.slots = if n.id == id(0) {
                vec![SlotRange::new(0, 16383)]
            } else {
                Vec::new()
            };
        }
        if i == 0 {
            v.nodes.retain(|n| n.id == id(0));
        }
        v
    });
    let plan = plan(&spec, &observed);
    let reset: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::ResetNode(_)))
        .collect();
    assert_eq!(
        reset,
        vec![
            &Action::ResetNode(ResetNode {
                node: peer(&spec, 1)
            }),
            &Action::ResetNode(ResetNode {
                node: peer(&spec, 2)
            })
        ],
        "{:?}",
        plan.actions
    );
}
