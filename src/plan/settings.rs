//! What each node must be told: the password, its certificates, and its configuration.

use super::*;

/// Nodes that refuse the declared password, or keep the one before it, get it in force.
pub(super) fn passwords(topology: &Topology, plan: &mut Plan) {
    let nodes: Vec<String> = topology
        .spec
        .nodes
        .iter()
        .filter(|n| match topology.observed.redis.get(&n.name) {
            Some(RedisState::RefusesPassword) => true,
            Some(RedisState::Up(view)) => view.password_stale,
            _ => false,
        })
        .map(|n| n.name.clone())
        .collect();
    if !nodes.is_empty() {
        plan.actions.push(RotatePassword { nodes }.into());
    }
}

/// A node serving another certificate than its (valid) files hold loads them live. Not one
/// whose files are about to be renewed in this pass: the load would put the renewed files in
/// force while naming the serial they replaced; the next pass loads them by their own.
pub(super) fn certificates(observed: &Observed, plan: &mut Plan) {
    for (node, cert) in &observed.certificates {
        if cert.renew.is_some() {
            continue;
        }
        if let (Some(file), Some(served)) = (cert.loadable(), &cert.served) {
            if file != served {
                plan.actions.push(
                    LoadCertificates {
                        node: node.clone(),
                        served: served.clone(),
                        file: file.to_string(),
                    }
                    .into(),
                );
            }
        }
    }
}

/// Settings a node no longer has (someone ran CONFIG SET), set back live.
pub(super) fn configs(topology: &Topology, plan: &mut Plan) {
    for member in topology.members() {
        let settings: Vec<(String, String)> = topology
            .settings_to_keep(member.spec)
            .into_iter()
            .filter(|(k, v)| !same_setting(member.view.config.get(k).map(String::as_str), v))
            .collect();
        if !settings.is_empty() {
            plan.actions.push(
                SetConfig {
                    node: peer(member),
                    settings,
                }
                .into(),
            );
        }
    }
}
