//! `plan`: what `up` would do now, in words.

use std::path::Path;

use crate::exit::{CommandError, Exit};
use crate::observe;
use crate::plan;

pub async fn run(file: &Path) -> Result<Exit, CommandError> {
    let ctx = super::read_only_context(file).await?;
    let observed = observe::observe(&ctx).await?;
    let plan = plan::plan(&ctx.spec, &observed);
    if !plan.blocked.is_empty() {
        println!(
            "cluster {} has drift redis-keeper will not repair:",
            ctx.spec.name
        );
        for b in &plan.blocked {
            println!("  ! {b}");
        }
        return Ok(Exit::Unhealthy);
    }
    if plan.actions.is_empty() {
        if plan.waiting.is_empty() {
            println!(
                "cluster {} is in sync with {}: nothing to do",
                ctx.spec.name,
                file.display()
            );
        } else {
            println!("nothing to do; the cluster is settling:");
            for w in &plan.waiting {
                println!("  … {w}");
            }
        }
        return Ok(Exit::Ok);
    }
    println!("`up` would, in this order:");
    for (i, action) in plan.actions.iter().enumerate() {
        println!("  {}. {action}", i + 1);
    }
    println!("then wait until every node agrees and reports cluster_state:ok.");
    Ok(Exit::Changes)
}
