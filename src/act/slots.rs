//! Moving slots with their keys, and closing slots left open: the steps of `redis-cli
//! --cluster reshard` and `--cluster fix`, done with Redis's own commands and no prompts.
//!
//! Every step is safe to repeat, so a pass that dies half-way through a slot is finished by
//! the next one from whatever state it left.

use super::redis::{run_at, split_addr};
use super::ActError;
use crate::context::Context;
use crate::plan::Peer;
use crate::spec::SlotRange;

/// Keys per MIGRATE: big enough to move a dev node's slots in few round trips, small enough
/// that one batch never blocks the source for long.
const MIGRATE_BATCH: usize = 100;
/// How long the source waits on the target for one batch.
const MIGRATE_TIMEOUT_MS: u64 = 5000;

/// Moves `ranges` with their keys from `from` to `to`.
pub(super) async fn move_slots(
    ctx: &Context,
    ranges: &[SlotRange],
    from: &Peer,
    to: &Peer,
) -> Result<(), ActError> {
    let rest = declared_except(ctx, &[from, to]);
    let mut keys = 0;
    for slot in ranges.iter().flat_map(SlotRange::slots) {
        setslot(ctx, to, slot, &["IMPORTING", &from.id]).await?;
        setslot(ctx, from, slot, &["MIGRATING", &to.id]).await?;
        keys += migrate_keys(ctx, from, to, slot, true).await?;
        // The target first: it bumps its config epoch as it takes the slot, so its claim
        // wins over the source's everywhere, then the source and the rest learn it at once.
        setslot(ctx, to, slot, &["NODE", &to.id]).await?;
        setslot(ctx, from, slot, &["NODE", &to.id]).await?;
        for peer in &rest {
            setslot(ctx, peer, slot, &["NODE", &to.id]).await?;
        }
    }
    tracing::info!(from = %from.name, to = %to.name, keys, "moved slots");
    Ok(())
}

/// Closes `ranges` at `owner`: keys left on the nodes that have them open go to the owner,
/// then every node is told the slots are stable.
pub(super) async fn close_slots(
    ctx: &Context,
    ranges: &[SlotRange],
    owner: &Peer,
    open_on: &[Peer],
) -> Result<(), ActError> {
    let rest = declared_except(ctx, &[owner]);
    let mut keys = 0;
    for slot in ranges.iter().flat_map(SlotRange::slots) {
        // The open nodes first, so none accepts another write for the slot (through an ASK
        // redirect) after its keys have been taken; MIGRATE still works there while the
        // slot is open, and the owner accepts what it owns.
        for peer in open_on {
            keys += migrate_keys(ctx, peer, owner, slot, false).await?;
            setslot(ctx, peer, slot, &["STABLE"]).await?;
        }
        setslot(ctx, owner, slot, &["STABLE"]).await?;
        for peer in rest
            .iter()
            .filter(|p| !open_on.iter().any(|o| o.addr == p.addr))
        {
            setslot(ctx, peer, slot, &["STABLE"]).await?;
        }
    }
    tracing::info!(owner = %owner.name, keys, "closed open slots");
    Ok(())
}

/// Moves every key `from` holds in `slot` to `to`, in batches; returns how many.
///
/// With `replace`, `from` is the slot's owner and its copy is the one clients saw; without,
/// a key on both sides is a conflict a person has to settle, not one to guess at.
async fn migrate_keys(
    ctx: &Context,
    from: &Peer,
    to: &Peer,
    slot: u16,
    replace: bool,
) -> Result<usize, ActError> {
    // MIGRATE travels like cluster traffic: over TLS to the TLS port when the bus uses TLS.
    let target = ctx.spec.nodes.iter().find(|n| n.addr() == to.addr);
    let (ip, port) = match target {
        Some(node) => (node.ip.to_string(), node.cluster_port),
        None => {
            let (ip, port) = split_addr(&to.addr);
            (ip.to_string(), port)
        }
    };
    let mut moved = 0;
    loop {
        let mut get = redis::cmd("CLUSTER");
        get.arg("GETKEYSINSLOT").arg(slot).arg(MIGRATE_BATCH);
        let keys: Vec<Vec<u8>> =
            run_at(ctx, &from.name, &from.addr, "CLUSTER GETKEYSINSLOT", &get).await?;
        if keys.is_empty() {
            return Ok(moved);
        }
        let mut migrate = redis::cmd("MIGRATE");
        migrate
            .arg(&ip)
            .arg(port)
            .arg("")
            .arg(0)
            .arg(MIGRATE_TIMEOUT_MS);
        if replace {
            migrate.arg("REPLACE");
        }
        if let Some(password) = &ctx.password {
            migrate.arg("AUTH").arg(password.expose());
        }
        migrate.arg("KEYS").arg(&keys);
        match run_at::<()>(ctx, &from.name, &from.addr, "MIGRATE", &migrate).await {
            Err(ActError::Redis { source, .. }) if source.code() == Some("BUSYKEY") => {
                let e = redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "a key of the slot exists on both nodes",
                    format!(
                        "slot {slot}: a key on {} also exists on {}; keep one copy \
                         (`redis-cli -c` DEL or RENAME) and redis-keeper finishes the move",
                        from.name, to.name
                    ),
                ));
                return Err(ActError::Redis {
                    node: from.name.clone(),
                    command: "MIGRATE".into(),
                    source: e,
                    permanent: true,
                });
            }
            other => other?,
        }
        moved += keys.len();
    }
}

async fn setslot(ctx: &Context, on: &Peer, slot: u16, args: &[&str]) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SETSLOT").arg(slot).arg(args);
    let what = format!("CLUSTER SETSLOT {slot} {}", args[0]);
    match run_at::<()>(ctx, &on.name, &on.addr, &what, &cmd).await {
        // Repeating a step an earlier pass already took: the slot is past it.
        Err(ActError::Redis { source, .. })
            if args[0] == "IMPORTING" && source.to_string().contains("already the owner") =>
        {
            Ok(())
        }
        Err(ActError::Redis { source, .. })
            if args[0] == "MIGRATING" && source.to_string().contains("not the owner") =>
        {
            Ok(())
        }
        // A node outside cluster.toml (which keeps Redis's default
        // cluster-allow-replica-migration) turns replica of the target as soon as it hears
        // the target took its last slot: it has nothing left to hand over.
        Err(ActError::Redis { source, .. })
            if args[0] == "NODE" && source.to_string().contains("only with masters") =>
        {
            Ok(())
        }
        other => other,
    }
}

/// The declared nodes other than `except`, as peers (by address: their ids are not needed).
fn declared_except(ctx: &Context, except: &[&Peer]) -> Vec<Peer> {
    ctx.spec
        .nodes
        .iter()
        .filter(|n| !except.iter().any(|p| p.addr == n.addr()))
        .map(|n| Peer {
            id: String::new(),
            addr: n.addr(),
            name: n.name.clone(),
        })
        .collect()
}
