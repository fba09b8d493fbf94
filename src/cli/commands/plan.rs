//! `plan`: the change of shape still to make, and what `up` would do now, in words.

use std::path::Path;

use crate::cli::exit::{CommandError, Exit};
use crate::observe::{self, Topology};
use crate::plan::{self, ShapeChange};
use crate::spec::slots::abbreviated;
use crate::spec::SlotRange;

pub(crate) async fn run(file: &Path) -> Result<Exit, CommandError> {
    let ctx = super::read_only_context(file).await?;
    let observed = observe::observe(&ctx).await?;
    let plan = plan::plan(&ctx.spec, &observed);
    let change = plan::shape_change(&Topology::new(&ctx.spec, &observed));
    if !plan.blocked.is_empty() {
        crate::outln!(
            "cluster {} has drift redis-keeper will not repair:",
            ctx.spec.name
        )?;
        for b in &plan.blocked {
            crate::outln!("  ! {b}")?;
        }
        return Ok(Exit::Unhealthy);
    }
    if !change.is_empty() {
        print_change(&ctx, &change, &observed).await?;
    }
    if plan.actions.is_empty() {
        if !change.is_empty() || !plan.held_back.is_empty() {
            crate::outln!("nothing to do this instant; waiting for:")?;
            for w in &plan.waiting {
                crate::outln!("  … {w}")?;
            }
            if !plan.held_back.is_empty() {
                crate::outln!(
                    "then recreate from the current spec, one at a time: {}",
                    plan.held_back.join(", ")
                )?;
            }
            return Ok(Exit::Changes);
        }
        if plan.waiting.is_empty() {
            crate::outln!(
                "cluster {} is in sync with {}: nothing to do",
                ctx.spec.name,
                file.display()
            )?;
        } else {
            crate::outln!("nothing to do; the cluster is settling:")?;
            for w in &plan.waiting {
                crate::outln!("  … {w}")?;
            }
        }
        return Ok(Exit::Ok);
    }
    crate::outln!("`up` would now, in this order:")?;
    for (i, action) in plan.actions.iter().enumerate() {
        crate::outln!("  {}. {action}", i + 1)?;
    }
    crate::outln!("then wait until every node agrees and reports cluster_state:ok.")?;
    Ok(Exit::Changes)
}

/// The masters to add and remove and every move, with the keys each carries (counted on the
/// node that holds them now); and the declared nodes that did not answer, whose slots no
/// move above can name.
async fn print_change(
    ctx: &crate::runtime::context::Context,
    change: &ShapeChange,
    observed: &observe::Observed,
) -> std::io::Result<()> {
    crate::outln!("cluster.toml changes the cluster's shape:")?;
    for name in &change.add {
        crate::outln!("  + add master {name} (container {}-{name})", ctx.spec.name)?;
    }
    for m in &change.moves {
        let slots: Vec<u16> = m.ranges.iter().flat_map(SlotRange::slots).collect();
        let keys = observe::keys_in_slots(ctx, &m.from_addr, &slots)
            .await
            .map_or_else(|| "keys unknown".to_string(), |k| format!("{k} keys"));
        crate::outln!(
            "  → move slots {} ({} slots, {keys}) from {} to {}",
            abbreviated(&m.ranges),
            slots.len(),
            m.from,
            m.to
        )?;
    }
    for name in &change.remove {
        crate::outln!(
            "  - remove master {name}: drained into the declared owners, forgotten, its container removed (its volume stays until `down --volumes`)"
        )?;
    }
    for (name, container) in &observed.containers {
        let unheard = match observed.redis.get(name).map(observe::RedisState::answer) {
            Some(Ok(_)) => continue,
            Some(Err(unheard)) => unheard,
            None => format!("its container is {}", container.state),
        };
        crate::outln!("  ! {name}: {unheard}: the slots it holds are in no move above")?;
    }
    Ok(())
}
