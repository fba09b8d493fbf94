//! The hand-built observed states the planner tests start from, one builder for all: every
//! node's view of a cluster standing as a list of [`Role`]s says (as declared, unless a test
//! changes a role), then whatever a test changes in it.

use std::collections::BTreeMap;

use super::*;
use crate::docker::blueprint::{kept_settings, spec_hash};

pub(super) const IMAGE: &str = "redis-keeper/redis-host:7.0.15";

pub(super) fn id(i: usize) -> String {
    format!("{:040x}", i + 1)
}

pub(super) fn entry(
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

pub(super) fn info(state: &str, known: usize, epoch: u64) -> ClusterInfo {
    ClusterInfo::parse(&format!(
        "cluster_state:{state}\ncluster_known_nodes:{known}\ncluster_current_epoch:{epoch}\ncluster_my_epoch:{epoch}\n"
    ))
}

pub(super) fn fresh_view(spec: &ClusterSpec, i: usize) -> NodeView {
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
pub(super) fn formed_view(spec: &ClusterSpec, i: usize) -> NodeView {
    roles_view(spec, i, &declared(spec))
}

/// Image, network, volumes and running containers as declared; Redis views from `view`.
pub(super) fn with_views(spec: &ClusterSpec, view: impl Fn(usize) -> NodeView) -> Observed {
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
pub(super) fn nothing() -> Observed {
    Observed {
        hosts: BTreeMap::from([(LOCAL.to_string(), HostObserved::default())]),
        ..Observed::default()
    }
}

/// The local engine's image and network, for tests that change them.
pub(super) fn local(observed: &mut Observed) -> &mut HostObserved {
    observed
        .hosts
        .get_mut(LOCAL)
        .expect("the local engine answered")
}

pub(super) fn peer(spec: &ClusterSpec, i: usize) -> Peer {
    Peer {
        id: id(i),
        addr: spec.nodes[i].addr(),
        name: spec.nodes[i].name.clone(),
    }
}

pub(super) fn stranger(
    spec: &ClusterSpec,
    slots: Vec<SlotRange>,
    flag: Option<&str>,
) -> ClusterNode {
    let mut node = ClusterNode {
        id: "e".repeat(40),
        addr: "172.20.2.99:6379".into(),
        slots,
        ..entry(spec, 0, false, Vec::new(), 9)
    };
    node.flags.extend(flag.map(String::from));
    node
}

/// How a node stands in the hand-built cluster.
#[derive(Clone)]
pub(super) enum Role {
    Master(Vec<SlotRange>),
    /// Replica of node `usize`, its link up or down for some seconds.
    Replica(usize, Link),
}

#[derive(Clone, Copy)]
pub(super) enum Link {
    Up,
    Syncing,
    DownFor(u64),
}

/// The declared roles: each master serving its slots, each replica following its master
/// with its link up.
pub(super) fn declared(spec: &ClusterSpec) -> Vec<Role> {
    spec.nodes
        .iter()
        .map(|n| match &n.replica_of {
            Some(master) => {
                let of = spec.nodes.iter().position(|m| m.name == *master);
                Role::Replica(of.expect("a declared master"), Link::Up)
            }
            None => Role::Master(n.slots.clone()),
        })
        .collect()
}

pub(super) fn role_entry(spec: &ClusterSpec, i: usize, me: usize, role: &Role) -> ClusterNode {
    let mut e = entry(spec, i, i == me, Vec::new(), i as u64 + 1);
    match role {
        Role::Master(slots) => e.slots = slots.clone(),
        Role::Replica(of, _) => {
            e.flags.retain(|f| f != "master");
            e.flags.push("slave".into());
            e.master_id = Some(id(*of));
        }
    }
    e
}

/// Node `me`'s view when every node stands as `roles` says.
pub(super) fn roles_view(spec: &ClusterSpec, me: usize, roles: &[Role]) -> NodeView {
    let nodes = roles
        .iter()
        .enumerate()
        .map(|(i, r)| role_entry(spec, i, me, r))
        .collect();
    let mut server = BTreeMap::new();
    match &roles[me] {
        Role::Master(_) => {
            server.insert("role".to_string(), "master".to_string());
        }
        Role::Replica(_, link) => {
            server.insert("role".into(), "slave".into());
            let (status, syncing, down) = match link {
                Link::Up => ("up", "0", None),
                Link::Syncing => ("down", "1", Some(0)),
                Link::DownFor(s) => ("down", "0", Some(*s)),
            };
            server.insert("master_link_status".into(), status.into());
            server.insert("master_sync_in_progress".into(), syncing.into());
            if let Some(s) = down {
                server.insert("master_link_down_since_seconds".into(), s.to_string());
            }
            server.insert("slave_repl_offset".into(), "100".into());
        }
    }
    NodeView {
        nodes,
        info: info("ok", roles.len(), roles.len() as u64),
        server,
        config: kept_settings(spec, &spec.nodes[me]),
        version: None,
        password_stale: false,
    }
}

pub(super) fn observed_with(spec: &ClusterSpec, roles: &[Role]) -> Observed {
    with_views(spec, |i| roles_view(spec, i, roles))
}

/// Every view knows a foreign node serving slot 0 (declared for redis-1).
pub(super) fn with_stranger_serving_slot_0(spec: &ClusterSpec, flag: Option<&str>) -> Observed {
    with_views(spec, |i| {
        let mut v = formed_view(spec, i);
        v.nodes[0].slots = vec![SlotRange::new(1, 5460)];
        v.nodes
            .push(stranger(spec, vec![SlotRange::new(0, 0)], flag));
        v
    })
}

/// The reference spec with the slots re-dealt: redis-1 0-100, redis-2 101-200, and redis-3
/// the rest, so a cluster formed as the reference one has slots to move along a chain
/// (redis-1's 101-5460 to redis-3 and redis-2's 5461-10922 to redis-3, 101-200 to redis-2).
pub(super) fn chained_spec() -> ClusterSpec {
    let mut spec = reference_spec();
    spec.nodes[0].slots = vec![SlotRange::new(0, 100)];
    spec.nodes[1].slots = vec![SlotRange::new(101, 200)];
    spec.nodes[2].slots = vec![SlotRange::new(201, 16383)];
    spec
}

/// The cluster as formed for the reference spec, planned against `spec`.
pub(super) fn formed_as_reference(spec: &ClusterSpec) -> Observed {
    let reference = reference_spec();
    let mut observed = with_views(&reference, |i| formed_view(&reference, i));
    for (name, c) in observed.containers.iter_mut() {
        let node = spec.node(name).unwrap();
        c.spec_hash = Some(spec_hash(spec, node, IMAGE));
    }
    observed
}

pub(super) fn moves_of(plan: &Plan) -> Vec<(String, String)> {
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
