//! The Redis side of observation: every running node's own view of the cluster.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::cluster_nodes::{parse_cluster_nodes, ClusterInfo};
use super::{NodeView, ObservedContainer, RedisState, RunState};
use crate::context::Context;

/// Asks every node whose container runs for `CLUSTER NODES` and `CLUSTER INFO`, in parallel.
pub(super) async fn observe(
    ctx: &Context,
    containers: &BTreeMap<String, ObservedContainer>,
) -> BTreeMap<String, RedisState> {
    let asks = ctx.spec.nodes.iter().filter_map(|node| {
        let container = containers.get(&node.name)?;
        if container.state != RunState::Running {
            return None;
        }
        // Ask where the container actually is; the planner deals with a wrong address.
        let ip = container.ip.unwrap_or(node.ip).to_string();
        Some(async move { (node.name.clone(), view_of(ctx, &ip, node.port).await) })
    });
    join_all(asks).await.into_iter().collect()
}

/// One round-trip (NODES and INFO pipelined), so a node that does not answer costs one
/// timeout, not two.
async fn view_of(ctx: &Context, ip: &str, port: u16) -> RedisState {
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER").arg("NODES").cmd("CLUSTER").arg("INFO");
    match ctx
        .redis
        .query_pipe::<(String, String)>(ip, port, &pipe)
        .await
    {
        Ok((nodes, info)) => match parse_cluster_nodes(&nodes) {
            Ok(nodes) => RedisState::Up(NodeView {
                nodes,
                info: ClusterInfo::parse(&info),
            }),
            Err(e) => RedisState::Unreachable(e.to_string()),
        },
        Err(e) => RedisState::Unreachable(e.to_string()),
    }
}
