//! Planner cases across hosts: a 3 + 3 cluster over vm-a, vm-b and vm-c, and what the
//! operator does (and leaves alone) when one of them stops answering.

use super::*;
use crate::spec::test_support::hosted_spec;

/// The formed 3 + 3 cluster, every host answering with its image and network.
fn formed_on_hosts(spec: &ClusterSpec, roles: &[Role]) -> Observed {
    let mut observed = observed_with(spec, roles);
    let local = observed.hosts.remove(LOCAL).expect("the fixture's engine");
    for host in spec.host_names() {
        observed.hosts.insert(host.to_string(), local.clone());
    }
    for node in &spec.nodes {
        if let Some(c) = observed.containers.get_mut(&node.name) {
            c.host = node.host_name().to_string();
            c.address = Some(node.addr());
        }
    }
    observed
}

/// vm-a stops answering: its containers and nodes (redis-1, redis-6) are not seen, and
/// redis-4 lost its link to redis-1 a minute ago.
fn vm_a_cut_off(spec: &ClusterSpec) -> Observed {
    let mut roles = declared(spec);
    roles[3] = Role::Replica(0, Link::DownFor(60));
    let mut observed = formed_on_hosts(spec, &roles);
    observed.hosts.remove("vm-a");
    observed
        .unreachable
        .insert("vm-a".into(), "no answer within 3 s".into());
    for node in spec.nodes_on("vm-a") {
        observed.containers.remove(&node.name);
        observed.redis.remove(&node.name);
    }
    observed
}

#[test]
fn the_image_is_made_on_one_host_then_copied_to_the_others() {
    let spec = hosted_spec();
    let observed = Observed {
        hosts: spec
            .host_names()
            .into_iter()
            .map(|h| (h.to_string(), HostObserved::default()))
            .collect(),
        ..Observed::default()
    };
    let plan = plan(&spec, &observed);
    let made: Vec<String> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PrepareImage(p) => Some(format!("image on {}", p.host)),
            Action::CreateNetwork(n) => Some(format!("network on {}", n.host)),
            _ => None,
        })
        .collect();
    assert_eq!(
        made,
        [
            "image on vm-a",
            "network on vm-a",
            "network on vm-b",
            "network on vm-c"
        ]
    );
    // Once vm-a has it, vm-b and vm-c get it (PrepareImage copies from a host that has it).
    let mut observed = observed;
    if let Some(a) = observed.hosts.get_mut("vm-a") {
        a.image.usable = Some("redis:7.2".into());
    }
    let copies: Vec<String> = plan_of(&spec, &observed)
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PrepareImage(p) => Some(p.host.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copies, ["vm-b", "vm-c"]);
}

#[test]
fn a_formed_cluster_across_hosts_is_converged() {
    let spec = hosted_spec();
    let plan = plan(&spec, &formed_on_hosts(&spec, &declared(&spec)));
    assert!(plan.is_converged(), "{plan:?}");
}

#[test]
fn a_host_that_does_not_answer_is_unknown_not_dead() {
    let spec = hosted_spec();
    let observed = vm_a_cut_off(&spec);
    let plan = plan(&spec, &observed);
    // Not recreated elsewhere or there, not forgotten, not failed over by the operator:
    // Redis's own majority decides, and nothing else changes while the picture is partial.
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(
        plan.waiting
            .iter()
            .any(|w| w.contains("host vm-a is unreachable (no answer within 3 s)")),
        "{:?}",
        plan.waiting
    );
    // The same state with vm-a answering and redis-1's container gone: a replacement and a
    // promotion are planned, which is what the unknown host holds back.
    let mut answering = observed.clone();
    answering.unreachable.clear();
    answering
        .hosts
        .insert("vm-a".into(), HostObserved::default());
    assert!(!plan_of(&spec, &answering).actions.is_empty());
}

#[test]
fn a_stopped_container_on_a_host_that_answers_is_still_started() {
    let spec = hosted_spec();
    let mut observed = vm_a_cut_off(&spec);
    if let Some(c) = observed.containers.get_mut("redis-5") {
        c.state = RunState::Exited;
    }
    observed.redis.remove("redis-5");
    let plan = plan(&spec, &observed);
    assert_eq!(kinds(&plan), ["start-container"], "{:?}", plan.actions);
    assert!(matches!(&plan.actions[0], Action::StartContainer(s) if s.node == "redis-5"));
}

#[test]
fn a_retired_container_is_removed_on_the_host_it_was_found_on() {
    let spec = hosted_spec();
    let mut observed = formed_on_hosts(&spec, &declared(&spec));
    let mut retired = observed.containers["redis-6"].clone();
    retired.name = "dev-redis-7".into();
    retired.host = "vm-c".into();
    retired.address = Some("10.0.0.13:6381".into());
    observed.containers.insert("redis-7".into(), retired);
    let plan = plan(&spec, &observed);
    assert_eq!(
        plan.actions,
        [Action::RemoveContainer(RemoveContainer {
            node: "redis-7".into(),
            container: "dev-redis-7".into(),
            host: "vm-c".into(),
        })]
    );
}

#[test]
fn a_node_removed_from_a_host_is_known_by_the_address_it_announced() {
    let spec = hosted_spec();
    let mut observed = formed_on_hosts(&spec, &declared(&spec));
    let mut retired = observed.containers["redis-5"].clone();
    retired.name = "dev-redis-7".into();
    retired.address = Some("10.0.0.13:6381".into());
    observed.containers.insert("redis-7".into(), retired);
    let topology = Topology::new(&spec, &observed);
    let mut seen = entry(&spec, 4, false, Vec::new(), 9);
    seen.id = "f".repeat(40);
    seen.addr = "10.0.0.13:6381".into();
    assert_eq!(topology.identify(&seen), Who::Retired("redis-7"));
    // Same host, another port: not that node (nodes on a host share the address).
    seen.addr = "10.0.0.13:6382".into();
    assert_eq!(topology.identify(&seen), Who::Foreign);
}

#[test]
fn a_node_cluster_toml_moves_to_another_host_is_not_carried_over() {
    let spec = hosted_spec();
    let mut observed = formed_on_hosts(&spec, &declared(&spec));
    if let Some(c) = observed.containers.get_mut("redis-2") {
        c.host = "vm-c".into();
    }
    let plan = plan(&spec, &observed);
    assert!(
        plan.blocked.iter().any(|b| b.starts_with(
            "redis-2: its container runs on vm-c, cluster.toml puts it on vm-b: a node does not move between hosts"
        )),
        "{plan:?}"
    );
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateContainer(_) | Action::RecreateContainer(_))),
        "{:?}",
        plan.actions
    );
}
