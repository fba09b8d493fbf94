//! `balance`: even slot ranges for the declared masters, moving the fewest slots, shown and
//! (with --write) written into cluster.toml for review. `up` or `run` then carries them out.
//! The fewest slots are counted from the layout the cluster serves when it runs (cluster.toml
//! may have been edited since), else from the declared one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::cli::exit::{CommandError, Exit};
use crate::observe::{self, Topology};
use crate::plan;
use crate::spec::balance::{balanced, masters, rewrite, FileMaster};
use crate::spec::slots::abbreviated;
use crate::spec::{ClusterSpec, SlotRange, SpecError};

pub(crate) async fn run(file: &Path, write: bool) -> Result<Exit, CommandError> {
    let read = |source| SpecError::Read {
        path: file.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(file).map_err(read)?;
    let found = masters(&text).map_err(|reason| CommandError::Balance {
        file: file.to_path_buf(),
        reason,
    })?;
    let declared: Vec<Vec<SlotRange>> = found.iter().map(|m| m.slots.clone()).collect();
    let evened = balanced(&declared);
    if evened == declared {
        crate::outln!(
            "{}: the slots are already even over {} masters",
            file.display(),
            found.len()
        )?;
        return Ok(Exit::Ok);
    }
    // The declared layout made even is a valid cluster.toml (a master just added declares no
    // slots, which `up` would refuse): its names, addresses and TLS reach the cluster.
    let spec = parse(file, &rewrite(&text, &found, &evened))?;
    // Keys move from where they are: from the layout the cluster serves, when it runs.
    let (current, source) = match live(spec, &found).await {
        Some(live) => (live, "the slots the cluster serves now"),
        None => (
            declared,
            "the slots cluster.toml declares (no node of the cluster answers)",
        ),
    };
    let layout = balanced(&current);
    crate::outln!("even ranges, from {source}:")?;
    let count = |ranges: &[SlotRange]| ranges.iter().map(SlotRange::len).sum::<usize>();
    for ((master, ranges), now) in found.iter().zip(&layout).zip(&current) {
        let kept = ranges
            .iter()
            .flat_map(SlotRange::slots)
            .filter(|s| now.iter().any(|r| r.contains(*s)))
            .count();
        crate::outln!(
            "  {:<12} {} ({} slots; keeps {kept}, takes {}, gives up {})",
            master.name,
            abbreviated(ranges),
            count(ranges),
            count(ranges) - kept,
            count(now) - kept,
        )?;
    }
    let balanced_text = rewrite(&text, &found, &layout);
    parse(file, &balanced_text)?;
    if !write {
        crate::outln!(
            "not written: `redis-keeper balance --write` writes these ranges into {}",
            file.display()
        )?;
        return Ok(Exit::Changes);
    }
    let mode = std::fs::metadata(file).map_err(read)?.permissions().mode() & 0o777;
    crate::files::write_atomic(file, balanced_text.as_bytes(), mode).map_err(read)?;
    crate::outln!(
        "wrote {}: review it (`git diff`), then `up` or `run` moves the slots",
        file.display()
    )?;
    Ok(Exit::Ok)
}

/// `text` as cluster.toml `file`, validated: what is written must be a cluster.toml `up`
/// accepts.
fn parse(file: &Path, text: &str) -> Result<ClusterSpec, CommandError> {
    ClusterSpec::parse(text, file).map_err(|problems| {
        SpecError::Invalid {
            path: file.to_path_buf(),
            problems,
        }
        .into()
    })
}

/// The slots each master of the file serves now; None when the cluster cannot be reached.
async fn live(spec: ClusterSpec, found: &[FileMaster]) -> Option<Vec<Vec<SlotRange>>> {
    let ctx = super::context_for(spec).await.ok()?;
    let observed = observe::observe(&ctx).await.ok()?;
    let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
    plan::live_layout(&Topology::new(&ctx.spec, &observed), &names)
}
