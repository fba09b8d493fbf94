//! The Redis side of observation: every running node's own view of the cluster.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::cluster_nodes::{info_fields, parse_cluster_nodes, ClusterInfo};
use super::{NodeView, ObservedContainer, RedisState, RunState, ServerVersion};
use crate::docker::blueprint::kept_settings;
use crate::runtime::context::Context;
use crate::spec::NodeSpec;

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
        // Ask where the container actually is; the planner deals with a wrong address. On a
        // host, the container's address is private to it: the node is at the host's.
        let ip = match node.host {
            Some(_) => node.address,
            None => container.ip.unwrap_or(node.ip),
        }
        .to_string();
        Some(async move { (node.name.clone(), view_of(ctx, node, &ip).await) })
    });
    join_all(asks).await.into_iter().collect()
}

/// One round-trip (CLUSTER NODES, CLUSTER INFO, INFO and the settings the node is kept at,
/// pipelined), so a node that does not answer costs one timeout, not four; INFO is kept so
/// the API serves it without a connection per request.
async fn view_of(ctx: &Context, node: &NodeSpec, ip: &str) -> RedisState {
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER")
        .arg("NODES")
        .cmd("CLUSTER")
        .arg("INFO")
        .cmd("INFO");
    let kept = kept_settings(&ctx.spec, node);
    let keys: Vec<&String> = kept.keys().collect();
    pipe.cmd("CONFIG").arg("GET").arg(&keys);
    if ctx.password.is_some() {
        pipe.cmd("CONFIG")
            .arg("GET")
            .arg("masterauth")
            .cmd("ACL")
            .arg("GETUSER")
            .arg("default");
    }
    let replies = match ctx
        .redis
        .query_pipe::<Vec<redis::Value>>(ip, node.client_port, &pipe)
        .await
    {
        Ok(r) => r,
        Err(e) if refused_password(&e) => return RedisState::RefusesPassword,
        Err(e) => return RedisState::Unreachable(e.to_string()),
    };
    let (replies, password) = match ctx.password.as_ref() {
        Some(p) if replies.len() >= 2 => {
            let mut replies = replies;
            let acl = replies.pop();
            let masterauth = replies.pop();
            (replies, Some((p, masterauth, acl)))
        }
        _ => (replies, None),
    };
    match parse_replies(replies) {
        Ok(mut view) => {
            view.password_stale = password
                .is_some_and(|(p, masterauth, acl)| password_stale(p.expose(), masterauth, acl));
            RedisState::Up(view)
        }
        Err(e) => RedisState::Unreachable(e),
    }
}

/// The node answered, but not to the password it was given.
pub(crate) fn refused_password(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
}

/// Whether a node that took `declared` still keeps another password (`ACL GETUSER default`
/// lists one hash per password) or authenticates to its master with another (`masterauth`).
fn password_stale(
    declared: &str,
    masterauth: Option<redis::Value>,
    acl: Option<redis::Value>,
) -> bool {
    let masterauth: Option<Vec<String>> = masterauth.and_then(|v| redis::from_redis_value(v).ok());
    let masterauth_ok =
        masterauth.is_some_and(|kv| kv.get(1).map(String::as_str) == Some(declared));
    let fields: Vec<redis::Value> = acl
        .and_then(|v| redis::from_redis_value(v).ok())
        .unwrap_or_default();
    let passwords = fields
        .chunks(2)
        .find(|kv| {
            kv.first()
                .and_then(|k| redis::from_redis_value::<String>(k.clone()).ok())
                .as_deref()
                == Some("passwords")
        })
        .and_then(|kv| kv.get(1).cloned())
        .and_then(|v| redis::from_redis_value::<Vec<redis::Value>>(v).ok())
        .map_or(0, |p| p.len());
    !masterauth_ok || passwords != 1
}

fn parse_replies(replies: Vec<redis::Value>) -> Result<NodeView, String> {
    let mut replies = replies.into_iter();
    let mut next_string = || -> Result<String, String> {
        let value = replies.next().ok_or("missing reply")?;
        redis::from_redis_value(value).map_err(|e| e.to_string())
    };
    let nodes = parse_cluster_nodes(&next_string()?).map_err(|e| e.to_string())?;
    let info = ClusterInfo::parse(&next_string()?);
    let server = info_fields(&next_string()?);
    let config = match replies.next() {
        None => BTreeMap::new(),
        Some(v) => {
            redis::from_redis_value::<BTreeMap<String, String>>(v).map_err(|e| e.to_string())?
        }
    };
    Ok(NodeView {
        nodes,
        info,
        version: ServerVersion::from_info(&server),
        server,
        config,
        password_stale: false,
    })
}

/// How many keys the node at `addr` holds in each of `slots` (COUNTKEYSINSLOT, one
/// pipeline); None when it does not answer.
pub(crate) async fn keys_per_slot(ctx: &Context, addr: &str, slots: &[u16]) -> Option<Vec<u64>> {
    let (ip, port) = addr.rsplit_once(':')?;
    let mut pipe = redis::pipe();
    for slot in slots {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*slot);
    }
    ctx.redis
        .query_pipe(ip, port.parse().ok()?, &pipe)
        .await
        .ok()
}

/// How many keys the node at `addr` holds in `slots`; None when it does not answer.
pub(crate) async fn keys_in_slots(ctx: &Context, addr: &str, slots: &[u16]) -> Option<u64> {
    Some(keys_per_slot(ctx, addr, slots).await?.iter().sum())
}
