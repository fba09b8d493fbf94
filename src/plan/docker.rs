//! The Docker side of a plan: the image, the network, volumes and containers, and the
//! recreations spec drift calls for (held back for the rolling order).

use super::*;

/// Plans the Docker side; returns the recreations that spec drift calls for, held back so
/// the caller can roll them one node at a time.
pub(super) fn objects(topology: &Topology, plan: &mut Plan) -> Vec<Action> {
    let (spec, observed) = (topology.spec, topology.observed);
    let renew: Vec<(String, String)> = observed
        .certificates
        .iter()
        .filter_map(|(node, c)| Some((node.clone(), c.renew.clone()?)))
        .collect();
    if !renew.is_empty() {
        plan.actions.push(IssueCertificates { nodes: renew }.into());
    }
    // The image is made once, on the first host that lacks it, and copied to the others
    // from there: every host then runs the very same image, and a build happens once.
    let in_use = |host: &str| spec.nodes_on(host).next().is_some();
    let lacking: Vec<&str> = observed
        .hosts
        .keys()
        .map(String::as_str)
        .filter(|h| in_use(h) && topology.image(h).is_none())
        .collect();
    let made_somewhere = observed.hosts.keys().any(|h| topology.image(h).is_some());
    let to_prepare = if made_somewhere {
        &lacking[..]
    } else {
        &lacking[..lacking.len().min(1)]
    };
    for host in to_prepare {
        plan.actions.push(
            PrepareImage {
                image: spec.image.name.clone(),
                host: host.to_string(),
            }
            .into(),
        );
    }
    for (host, seen) in &observed.hosts {
        network_actions(topology, host, in_use(host), seen, plan);
    }
    let mut drifted = Vec::new();
    // A node on a host that does not answer is unknown, not gone: nothing is made for it.
    let reachable = spec
        .nodes
        .iter()
        .filter(|n| observed.hosts.contains_key(n.host_name()));
    for node in reachable {
        let image = topology.image(node.host_name());
        let container = spec.container_name(node);
        let Some(found) = observed.containers.get(&node.name) else {
            let volume = spec.volume_name(node);
            if !observed.volumes.contains(&volume) {
                plan.actions.push(
                    CreateVolume {
                        node: node.name.clone(),
                        volume,
                    }
                    .into(),
                );
            }
            match &image {
                Some(image) => plan.actions.push(
                    CreateContainer {
                        node: node.name.clone(),
                        container,
                        image: image.to_string(),
                    }
                    .into(),
                ),
                None => plan
                    .waiting
                    .push(format!("{}: waiting for the node image", node.name)),
            }
            continue;
        };
        // Its data and identity live in a volume on the host it runs on: carried to
        // another host, the node would start empty under its old name.
        if found.host != node.host_name() {
            plan.blocked.push(format!(
                "{}: its container runs on {}, cluster.toml puts it on {}: a node does not move between hosts; declare a new node on {} and remove {} (its slots drain to their owners)",
                node.name, found.host, node.host_name(), node.host_name(), node.name
            ));
            continue;
        }
        let node_name = node.name.clone();
        match found.state {
            RunState::Created | RunState::Exited | RunState::Dead => plan.actions.push(
                StartContainer {
                    node: node_name,
                    container,
                }
                .into(),
            ),
            RunState::Paused => plan.actions.push(
                UnpauseContainer {
                    node: node_name,
                    container,
                }
                .into(),
            ),
            RunState::Restarting => plan.actions.push(
                RepairNodesConf {
                    node: node_name,
                    container,
                }
                .into(),
            ),
            RunState::Removing => plan
                .waiting
                .push(format!("{}: container is being removed", node.name)),
            RunState::Running if found.ip != Some(node.ip) => {
                plan.actions.push(
                    ReattachNetwork {
                        node: node_name,
                        container,
                    }
                    .into(),
                );
            }
            RunState::Running => {
                if let Some(image) = image.filter(|_| topology.outdated(node)) {
                    drifted.push(
                        RecreateContainer {
                            node: node_name,
                            container,
                            image: image.to_string(),
                        }
                        .into(),
                    );
                }
            }
        }
    }
    // A node removed from cluster.toml keeps its container until its slots went home and
    // every node forgot it: removed earlier, a peer that still knew it could gossip it back.
    if topology.all_answer() {
        for (name, container) in topology.retired() {
            if !topology.still_known(name) {
                plan.actions.push(
                    RemoveContainer {
                        node: name.to_string(),
                        container: container.name.clone(),
                        host: container.host.clone(),
                    }
                    .into(),
                );
            }
        }
    }
    drifted
}

/// One host's cluster network (`needed` when some node runs there).
fn network_actions(
    topology: &Topology,
    host: &str,
    needed: bool,
    seen: &HostObserved,
    plan: &mut Plan,
) {
    let spec = topology.spec;
    let wanted_subnet = spec.network.subnet.to_string();
    match &seen.network {
        None if needed => plan.actions.push(CreateNetwork {
            name: spec.network.name.clone(),
            subnet: wanted_subnet,
            host: host.to_string(),
        }.into()),
        None => {}
        Some(net) if !net.subnets.contains(&wanted_subnet) => plan.blocked.push(format!(
            "Docker network {} exists with subnet {}, not {wanted_subnet}: remove it (`docker network rm {}`) or change [network].subnet",
            spec.network.name,
            if net.subnets.is_empty() { "none".into() } else { net.subnets.join(", ") },
            spec.network.name
        )),
        Some(_) => {}
    }
}
