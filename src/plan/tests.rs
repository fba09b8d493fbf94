//! Planner cases on hand-built observed states: no Docker, no Redis.

use std::collections::BTreeMap;

use super::*;
use crate::actions::*;
use crate::blueprint::{kept_settings, spec_hash};
use crate::observe::{
    ClusterInfo, ClusterNode, ImageState, NodeCertificate, NodeView, ObservedContainer,
    ObservedNetwork, RedisState,
};
use crate::spec::test_support::reference_spec;
use crate::spec::{SlotRange, LOCAL};

const IMAGE: &str = "redis-keeper/redis-host:7.0.15";

fn id(i: usize) -> String {
    format!("{:040x}", i + 1)
}

fn entry(
    spec: &ClusterSpec,
    i: usize,
    myself: bool,
    slots: Vec<SlotRange>,
    epoch: u64,
) -> ClusterNode {
    let flags = if myself {
        vec!["myself".into(), "master".into()]
    } else {
        vec!["master".into()]
    };
    ClusterNode {
        id: id(i),
        addr: spec.nodes[i].addr(),
        bus_port: Some(spec.nodes[i].port + 10000),
        tls_port: None,
        flags,
        master_id: None,
        ping_sent: 0,
        pong_recv: 0,
        config_epoch: epoch,
        link_connected: true,
        slots,
        migrating: Vec::new(),
        importing: Vec::new(),
    }
}

fn info(state: &str, known: usize, epoch: u64) -> ClusterInfo {
    ClusterInfo::parse(&format!(
        "cluster_state:{state}\ncluster_known_nodes:{known}\ncluster_current_epoch:{epoch}\ncluster_my_epoch:{epoch}\n"
    ))
}

fn fresh_view(spec: &ClusterSpec, i: usize) -> NodeView {
    NodeView {
        nodes: vec![entry(spec, i, true, Vec::new(), 0)],
        info: info("fail", 1, 0),
        server: BTreeMap::new(),
        config: kept_settings(spec, &spec.nodes[i]),
        version: None,
        password_stale: false,
    }
}

/// Node `i`'s view of a cluster formed exactly as declared.
fn formed_view(spec: &ClusterSpec, i: usize) -> NodeView {
    let nodes = (0..spec.nodes.len())
        .map(|j| entry(spec, j, i == j, spec.nodes[j].slots.clone(), j as u64 + 1))
        .collect();
    NodeView {
        nodes,
        info: info("ok", spec.nodes.len(), spec.nodes.len() as u64),
        server: BTreeMap::new(),
        config: kept_settings(spec, &spec.nodes[i]),
        version: None,
        password_stale: false,
    }
}

/// Image, network, volumes and running containers as declared; Redis views from `view`.
fn with_views(spec: &ClusterSpec, view: impl Fn(usize) -> NodeView) -> Observed {
    let mut containers = BTreeMap::new();
    let mut redis = BTreeMap::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        containers.insert(
            n.name.clone(),
            ObservedContainer {
                id: format!("c{i}"),
                name: spec.container_name(n),
                state: RunState::Running,
                health: Some("healthy".into()),
                ip: Some(n.ip),
                spec_hash: Some(spec_hash(spec, n, IMAGE)),
                host: LOCAL.into(),
                address: None,
            },
        );
        redis.insert(n.name.clone(), RedisState::Up(view(i)));
    }
    let local = HostObserved {
        image: ImageState {
            usable: Some(IMAGE.into()),
            pull_due: false,
            server: None,
        },
        network: Some(ObservedNetwork {
            id: "net".into(),
            subnets: vec![spec.network.subnet.to_string()],
            ours: true,
        }),
    };
    Observed {
        hosts: BTreeMap::from([(LOCAL.to_string(), local)]),
        unreachable: BTreeMap::new(),
        volumes: spec.nodes.iter().map(|n| spec.volume_name(n)).collect(),
        containers,
        redis,
        certificates: BTreeMap::new(),
        at_ms: 0,
    }
}

/// The local engine answers and has nothing of the cluster yet.
fn nothing() -> Observed {
    Observed {
        hosts: BTreeMap::from([(LOCAL.to_string(), HostObserved::default())]),
        ..Observed::default()
    }
}

/// The local engine's image and network, for tests that change them.
fn local(observed: &mut Observed) -> &mut HostObserved {
    observed
        .hosts
        .get_mut(LOCAL)
        .expect("the local engine answered")
}

fn plan_of(spec: &ClusterSpec, observed: &Observed) -> Plan {
    plan(spec, observed)
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(Action::kind).collect()
}

#[test]
fn from_nothing_prepares_image_network_and_volumes_first() {
    let spec = reference_spec();
    let plan = plan(&spec, &nothing());
    assert_eq!(
        kinds(&plan),
        [
            "prepare-image",
            "create-network",
            "create-volume",
            "create-volume",
            "create-volume"
        ]
    );
    assert_eq!(
        plan.waiting.len(),
        3,
        "each node waits for the image: {:?}",
        plan.waiting
    );
    assert!(plan.blocked.is_empty());
}

#[test]
fn with_an_image_creates_every_container_in_one_stage() {
    let spec = reference_spec();
    let mut observed = nothing();
    local(&mut observed).image = ImageState {
        usable: Some(IMAGE.into()),
        pull_due: false,
        server: None,
    };
    let plan = plan(&spec, &observed);
    assert_eq!(
        kinds(&plan),
        [
            "create-network",
            "create-volume",
            "create-volume",
            "create-volume",
            "create-container",
            "create-container",
            "create-container"
        ]
    );
    let stages: Vec<Stage> = plan.actions.iter().map(Action::stage).collect();
    assert!(stages.windows(2).all(|w| w[0] <= w[1]), "sorted by stage");
}

#[test]
fn pull_always_prepares_before_creating_containers() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.containers.clear();
    observed.redis.clear();
    local(&mut observed).image.pull_due = true;
    let plan = plan(&spec, &observed);
    assert_eq!(kinds(&plan), ["prepare-image"]);
}

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
fn stopped_and_paused_containers_are_started_and_unpaused() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.containers.get_mut("redis-1").unwrap().state = RunState::Exited;
    observed.containers.get_mut("redis-2").unwrap().state = RunState::Paused;
    observed.redis.remove("redis-1");
    observed.redis.remove("redis-2");
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![
            Action::StartContainer(StartContainer {
                node: "redis-1".into(),
                container: "dev-redis-1".into()
            }),
            Action::UnpauseContainer(UnpauseContainer {
                node: "redis-2".into(),
                container: "dev-redis-2".into()
            }),
        ]
    );
}

#[test]
fn spec_drift_recreates_one_node_at_a_time_and_only_when_healthy() {
    let mut spec = reference_spec();
    let observed = with_views(&spec, |i| formed_view(&spec, i));
    spec.node_timeout_ms = 15000;
    let healthy = plan(&spec, &observed);
    assert_eq!(
        healthy.actions,
        vec![Action::RecreateContainer(RecreateContainer {
            node: "redis-1".into(),
            container: "dev-redis-1".into(),
            image: IMAGE.into()
        })]
    );
    let mut settling = observed.clone();
    if let Some(RedisState::Up(v)) = settling.redis.get_mut("redis-2") {
        v.info = info("fail", 3, 3);
    }
    assert!(
        plan(&spec, &settling).actions.is_empty(),
        "no recreate while a node is not ok"
    );
}

fn peer(spec: &ClusterSpec, i: usize) -> Peer {
    Peer {
        id: id(i),
        addr: spec.nodes[i].addr(),
        name: spec.nodes[i].name.clone(),
    }
}

/// Slot 7 (declared for redis-1) open on the nodes `open` says, in every view of the node.
fn with_open_slot(spec: &ClusterSpec, open: impl Fn(usize, &mut ClusterNode)) -> Observed {
    with_views(spec, |i| {
        let mut v = formed_view(spec, i);
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
        })]
    );
    assert!(plan.waiting.is_empty() && plan.blocked.is_empty());
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

#[test]
fn an_open_slot_nobody_serves_is_claimed_by_its_declared_owner() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(0, 6), SlotRange::new(8, 5460)];
        if i == 1 {
            v.nodes[1].importing = vec![(7, id(0))];
        }
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::AddSlots(AddSlots {
            node: peer(&spec, 0),
            ranges: vec![SlotRange::new(7, 7)],
        })],
        "claimed first: until then the cluster is down and MIGRATE refuses"
    );
    // Claimed, and the cluster ok again: the importing node's keys go to the owner.
    let claimed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        if i == 1 {
            v.nodes[1].importing = vec![(7, id(0))];
        }
        v
    });
    assert_eq!(
        plan_of(&spec, &claimed).actions,
        vec![Action::CloseSlots(CloseSlots {
            ranges: vec![SlotRange::new(7, 7)],
            owner: peer(&spec, 0),
            open_on: vec![peer(&spec, 1)],
        })],
        "not only ADDSLOTS: the importing node may hold its keys"
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
fn someone_elses_network_with_another_subnet_blocks() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    local(&mut observed).network = Some(ObservedNetwork {
        id: "x".into(),
        subnets: vec!["10.9.0.0/16".into()],
        ours: false,
    });
    let plan = plan(&spec, &observed);
    assert!(
        plan.blocked[0].contains("exists with subnet 10.9.0.0/16, not 172.20.2.0/24"),
        "{:?}",
        plan.blocked
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
fn a_container_off_the_network_is_reattached() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.containers.get_mut("redis-2").unwrap().ip = None;
    observed.redis.remove("redis-2");
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::ReattachNetwork(ReattachNetwork {
            node: "redis-2".into(),
            container: "dev-redis-2".into()
        })]
    );
}

#[test]
fn a_removed_network_is_recreated_and_containers_reattached() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    local(&mut observed).network = None;
    for c in observed.containers.values_mut() {
        c.ip = None;
    }
    observed.redis.clear();
    let plan = plan(&spec, &observed);
    assert_eq!(
        kinds(&plan),
        [
            "create-network",
            "reattach-network",
            "reattach-network",
            "reattach-network"
        ]
    );
}

#[test]
fn redis_config_drift_is_set_back_in_redis_spelling() {
    let mut spec = reference_spec();
    spec.redis.insert("maxmemory".into(), "100mb".into());
    spec.redis
        .insert("maxmemory-policy".into(), "allkeys-lru".into());
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.config.insert(
            "maxmemory".into(),
            if i == 1 {
                "0".into()
            } else {
                "104857600".into()
            },
        );
        v.config
            .insert("maxmemory-policy".into(), "allkeys-lru".into());
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![Action::SetConfig(SetConfig {
            node: peer(&spec, 1),
            settings: vec![("maxmemory".into(), "100mb".into())]
        })]
    );
}

#[test]
fn the_operators_own_settings_are_set_back_when_changed_live() {
    let spec = reference_spec();
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        match i {
            1 => v
                .config
                .insert("cluster-node-timeout".into(), "60000".into()),
            2 => v
                .config
                .insert("cluster-allow-replica-migration".into(), "yes".into()),
            _ => None,
        };
        v
    });
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        vec![
            Action::SetConfig(SetConfig {
                node: peer(&spec, 1),
                settings: vec![("cluster-node-timeout".into(), "5000".into())]
            }),
            Action::SetConfig(SetConfig {
                node: peer(&spec, 2),
                settings: vec![("cluster-allow-replica-migration".into(), "no".into())]
            })
        ]
    );
    let findings = health::findings(&Topology::new(&spec, &observed));
    assert!(
        findings.iter().any(|f| f
            .message
            .contains("redis-2: cluster-node-timeout is 60000, declared 5000")),
        "{findings:?}"
    );
}

#[test]
fn settings_compare_as_redis_spells_them() {
    assert!(same_setting(Some("104857600"), "100mb"));
    assert!(same_setting(Some("1000"), "1k"));
    assert!(same_setting(Some("yes"), "true"));
    assert!(same_setting(Some("allkeys-lru"), "ALLKEYS-LRU"));
    assert!(!same_setting(Some("0"), "100mb"));
    assert!(!same_setting(None, "100mb"));
}

fn stranger(spec: &ClusterSpec, slots: Vec<SlotRange>, flag: Option<&str>) -> ClusterNode {
    let mut node = ClusterNode {
        id: "e".repeat(40),
        addr: "172.20.2.99:6379".into(),
        slots,
        ..entry(spec, 0, false, Vec::new(), 9)
    };
    node.flags.extend(flag.map(String::from));
    node
}

/// Every view knows a foreign node serving slot 0 (declared for redis-1).
fn with_stranger_serving_slot_0(spec: &ClusterSpec, flag: Option<&str>) -> Observed {
    with_views(spec, |i| {
        let mut v = formed_view(spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes
            .push(stranger(spec, vec![SlotRange::new(0, 0)], flag));
        v
    })
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

fn cert(file: Option<&str>, served: Option<&str>, renew: Option<&str>) -> NodeCertificate {
    NodeCertificate {
        file: file.map(|serial| crate::tls::verify::CertInfo {
            serial: serial.into(),
            not_after: std::time::UNIX_EPOCH,
            der: Vec::new(),
        }),
        problem: None,
        served: served.map(String::from),
        renew: renew.map(String::from),
    }
}

#[test]
fn a_certificate_renewed_or_replaced_on_disk_is_loaded_live() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.certificates = BTreeMap::from([
        ("redis-1".to_string(), cert(Some("A1"), Some("A1"), None)),
        ("redis-2".to_string(), cert(Some("B2"), Some("B1"), None)),
        // Not answering a handshake (restarting): nothing to compare yet.
        ("redis-3".to_string(), cert(Some("C2"), None, None)),
    ]);
    assert_eq!(
        plan(&spec, &observed).actions,
        vec![Action::LoadCertificates(LoadCertificates {
            node: "redis-2".into(),
            served: "B1".into(),
            file: "B2".into(),
        })]
    );
}

#[test]
fn certificates_due_are_issued_first_and_unloadable_files_block() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed.certificates = BTreeMap::from([(
        "redis-1".to_string(),
        cert(Some("A1"), Some("A1"), Some("it expires in 12 days")),
    )]);
    let renewing = plan(&spec, &observed);
    assert_eq!(
        renewing.actions,
        vec![Action::IssueCertificates(IssueCertificates {
            nodes: vec![("redis-1".into(), "it expires in 12 days".into())]
        })]
    );
    // Readable, and differing from what is served, but not loadable: never loaded.
    let mut broken = cert(Some("A2"), Some("A1"), None);
    broken.problem =
        Some("certs/redis-1/redis.key: this key does not match the certificate".into());
    observed.certificates = BTreeMap::from([("redis-1".to_string(), broken)]);
    let blocked = plan(&spec, &observed);
    assert!(blocked.actions.is_empty());
    assert_eq!(
        blocked.blocked,
        vec!["redis-1: its certificate files cannot be loaded: certs/redis-1/redis.key: this key does not match the certificate".to_string()]
    );
}

/// The reference spec with the slots re-dealt: redis-1 0-100, redis-2 101-200, and redis-3
/// the rest, so a cluster formed as the reference one has slots to move along a chain
/// (redis-1's 101-5460 to redis-3 and redis-2's 5461-10922 to redis-3, 101-200 to redis-2).
fn chained_spec() -> ClusterSpec {
    let mut spec = reference_spec();
    spec.nodes[0].slots = vec![SlotRange::new(0, 100)];
    spec.nodes[1].slots = vec![SlotRange::new(101, 200)];
    spec.nodes[2].slots = vec![SlotRange::new(201, 16383)];
    spec
}

/// The cluster as formed for the reference spec, planned against `spec`.
fn formed_as_reference(spec: &ClusterSpec) -> Observed {
    let reference = reference_spec();
    let mut observed = with_views(&reference, |i| formed_view(&reference, i));
    for (name, c) in observed.containers.iter_mut() {
        let node = spec.node(name).unwrap();
        c.spec_hash = Some(spec_hash(spec, node, IMAGE));
    }
    observed
}

fn moves_of(plan: &Plan) -> Vec<(String, String)> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::MoveSlots(MoveSlots { from, to, .. }) => {
                Some((from.name.clone(), to.name.clone()))
            }
            _ => None,
        })
        .collect()
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

/// A slot a node claims by its own word is never assigned to another; an open slot nobody
/// serves is claimed by its declared owner alone (the importer keeps its keys until they are
/// brought home: Redis never updates a slot a node is importing).
#[test]
fn slots_another_node_claims_are_never_added_and_open_ones_only_by_their_owner() {
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
        vec![("redis-1", &vec![SlotRange::new(1, 1)])],
        "slot 0 is redis-2's by its own word: moved, never added"
    );
    assert_eq!(moves_of(&plan), vec![("redis-2".into(), "redis-1".into())]);
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

#[test]
fn a_removed_master_is_drained_then_forgotten_then_its_container_removed() {
    let spec = reference_spec();
    // Serving slot 0 (declared for redis-1): drained first, nothing else.
    let serving = with_retired_redis_4(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes
            .push(retired_entry(&spec, vec![SlotRange::new(0, 0)]));
        v
    });
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
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes
            .push(retired_entry(&spec, vec![SlotRange::new(0, 0)]));
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

#[test]
fn the_shape_change_lists_every_move_and_the_masters_to_add() {
    let mut spec = chained_spec();
    let mut redis_4 = spec.nodes[2].clone();
    redis_4.name = "redis-4".into();
    redis_4.ip = "172.20.2.18".parse().unwrap();
    redis_4.slots = vec![SlotRange::new(16000, 16383)];
    spec.nodes[2].slots = vec![SlotRange::new(201, 15999)];
    spec.nodes.push(redis_4);
    let change = shape_change(&Topology::new(&spec, &formed_as_reference(&spec)));
    assert_eq!(change.add, vec!["redis-4".to_string()]);
    let moves: Vec<(String, String, Vec<SlotRange>)> = change
        .moves
        .iter()
        .map(|m| (m.from.clone(), m.to.clone(), m.ranges.clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (
                "redis-1".into(),
                "redis-2".into(),
                vec![SlotRange::new(101, 200)]
            ),
            (
                "redis-1".into(),
                "redis-3".into(),
                vec![SlotRange::new(201, 5460)]
            ),
            (
                "redis-2".into(),
                "redis-3".into(),
                vec![SlotRange::new(5461, 10922)]
            ),
            (
                "redis-3".into(),
                "redis-4".into(),
                vec![SlotRange::new(16000, 16383)]
            ),
        ]
    );
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

#[test]
fn nodes_refusing_the_declared_password_or_keeping_the_old_one_get_it_first() {
    let spec = reference_spec();
    let mut observed = with_views(&spec, |i| formed_view(&spec, i));
    observed
        .redis
        .insert("redis-2".into(), RedisState::RefusesPassword);
    if let Some(RedisState::Up(view)) = observed.redis.get_mut("redis-3") {
        view.password_stale = true;
    }
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions.first(),
        Some(&Action::RotatePassword(RotatePassword {
            nodes: vec!["redis-2".into(), "redis-3".into()]
        })),
        "{plan:?}"
    );
}

mod hosts;
mod replicas;

#[test]
fn the_live_layout_is_what_each_master_serves_by_its_own_word() {
    let spec = reference_spec();
    // Slot 0 moved to redis-2 (and every view says so).
    let observed = with_views(&spec, |i| {
        let mut v = formed_view(&spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes[1].slots = vec![SlotRange::new(0, 0), SlotRange::new(5461, 10922)];
        v
    });
    let live = live_layout(
        &Topology::new(&spec, &observed),
        &["redis-1", "redis-2", "redis-3"],
    );
    assert_eq!(
        live,
        Some(vec![
            vec![SlotRange::new(1, 5460)],
            vec![SlotRange::new(0, 0), SlotRange::new(5461, 10922)],
            vec![SlotRange::new(10923, 16383)],
        ])
    );
    let nothing_runs = Observed::default();
    assert_eq!(
        live_layout(&Topology::new(&spec, &nothing_runs), &["redis-1"]),
        None,
        "no node answers: no live layout"
    );
}
