//! `balance`: even slot ranges for the declared masters, moving the fewest slots, shown and
//! (with --write) written into cluster.toml for review. `up` or `run` then carries them out.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::exit::{CommandError, Exit};
use crate::spec::balance::{balanced, masters, rewrite};
use crate::spec::slots::abbreviated;
use crate::spec::{ClusterSpec, SlotRange, SpecError};

pub fn run(file: &Path, write: bool) -> Result<Exit, CommandError> {
    let read = |source| SpecError::Read {
        path: file.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(file).map_err(read)?;
    let found = masters(&text).map_err(|reason| CommandError::Balance {
        file: file.to_path_buf(),
        reason,
    })?;
    let current: Vec<Vec<SlotRange>> = found.iter().map(|m| m.slots.clone()).collect();
    let layout = balanced(&current);
    if layout == current {
        crate::outln!(
            "{}: the slots are already even over {} masters",
            file.display(),
            found.len()
        )?;
        return Ok(Exit::Ok);
    }
    let count = |ranges: &[SlotRange]| ranges.iter().map(SlotRange::len).sum::<usize>();
    for (master, ranges) in found.iter().zip(&layout) {
        let kept = ranges
            .iter()
            .flat_map(SlotRange::slots)
            .filter(|s| master.slots.iter().any(|r| r.contains(*s)))
            .count();
        crate::outln!(
            "  {:<12} {} ({} slots; keeps {kept}, takes {}, gives up {})",
            master.name,
            abbreviated(ranges),
            count(ranges),
            count(ranges) - kept,
            count(&master.slots) - kept,
        )?;
    }
    let balanced_text = rewrite(&text, &found, &layout);
    // What is written must be a cluster.toml `up` accepts.
    ClusterSpec::parse(&balanced_text, file).map_err(|problems| SpecError::Invalid {
        path: file.to_path_buf(),
        problems,
    })?;
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
