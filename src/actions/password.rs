//! Password rotation, live and in an order that never locks anyone out: every node accepts
//! the new password beside its old one, then every node authenticates to its master with the
//! new one, then the containers' private configs get it (so a restart keeps it), and only
//! then is the old one dropped. Existing connections stay authenticated throughout; the
//! health check has its own PING-only user. No password is ever logged: errors name the
//! node and the command, never its arguments.

use std::fmt;

use futures_util::future::try_join_all;

use super::container_files::{private_password, write_private_config};
use super::{ActError, Context, Kind, Stage};
use crate::redis_clients::NodeClients;
use crate::spec::secret::Secret;

/// Put the declared password (cluster.toml's file or variable changed) in force on these
/// nodes, live: each accepts it beside its old one, every node authenticates to its master
/// with it, the containers' private configs get it, then the old one is dropped. Nobody is
/// locked out at any step: not the operator, the replicas or the health check (its own
/// PING-only user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatePassword {
    pub(crate) nodes: Vec<String>,
}

impl Kind for RotatePassword {
    const NAME: &'static str = "rotate-password";
    const STAGE: Stage = Stage::Password;

    fn why(&self) -> &'static str {
        "nodes refuse the declared password, or still keep the one before it"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        rotate(ctx, &self.nodes).await
    }
}

impl fmt::Display for RotatePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "put the declared password in force on {} (live: both accepted, masterauth, private configs, then the old one dropped)",
            self.nodes.join(", ")
        )
    }
}

async fn rotate(ctx: &Context, nodes: &[String]) -> Result<(), ActError> {
    let Some(new) = ctx.password.as_ref() else {
        return Ok(());
    };
    // 1. Both passwords accepted. A node that refuses the new one is reached with the one its
    //    private config holds (what it started with).
    try_join_all(nodes.iter().map(|node| async move {
        let mut add = redis::cmd("ACL");
        add.arg("SETUSER")
            .arg("default")
            .arg(format!(">{}", new.expose()));
        match on(ctx, &ctx.redis, node, "ACL SETUSER default (add)", &add).await {
            Err(e) if refused(&e) => {
                let container = container_of(ctx, node);
                let Some(old) = private_password(ctx, &container).await? else {
                    return Err(e);
                };
                let old_clients = ctx.redis.with_password(Secret::new(old));
                on(ctx, &old_clients, node, "ACL SETUSER default (add)", &add).await
            }
            other => other,
        }
    }))
    .await?;
    // 2. Replication authenticates with the new one; 3. a restart keeps it.
    try_join_all(nodes.iter().map(|node| async move {
        let mut masterauth = redis::cmd("CONFIG");
        masterauth.arg("SET").arg("masterauth").arg(new.expose());
        on(ctx, &ctx.redis, node, "CONFIG SET masterauth", &masterauth).await?;
        write_private_config(ctx, node, &container_of(ctx, node)).await
    }))
    .await?;
    // 4. Only the new one is accepted.
    try_join_all(nodes.iter().map(|node| async move {
        let mut only = redis::cmd("ACL");
        only.arg("SETUSER")
            .arg("default")
            .arg("resetpass")
            .arg(format!(">{}", new.expose()));
        on(ctx, &ctx.redis, node, "ACL SETUSER default (reset)", &only).await
    }))
    .await?;
    Ok(())
}

fn container_of(ctx: &Context, node: &str) -> String {
    ctx.spec
        .node(node)
        .map_or_else(|| node.to_string(), |n| ctx.spec.container_name(n))
}

/// Runs `cmd` on `node` with `clients`.
async fn on(
    ctx: &Context,
    clients: &NodeClients,
    node: &str,
    what: &str,
    cmd: &redis::Cmd,
) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    clients
        .query::<()>(&spec.address.to_string(), spec.client_port, cmd)
        .await
        .map_err(|source| super::redis::failed(node, what, source))
}

fn refused(e: &ActError) -> bool {
    matches!(e, ActError::Redis { source, .. } if crate::observe::refused_password(source))
}
