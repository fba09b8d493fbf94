//! `keyslot KEY`: the slot of a key and the node declared to own it.

use std::path::Path;

use crate::cli::exit::{CommandError, Exit};
use crate::spec;
use crate::spec::keyslot::key_slot;

pub(crate) fn run(file: &Path, key: &str) -> Result<Exit, CommandError> {
    let spec = spec::load(file)?;
    let slot = key_slot(key.as_bytes());
    match spec.owner_of(slot) {
        Some(node) => crate::outln!("{key}: slot {slot} on {} ({})", node.name, node.addr())?,
        None => crate::outln!("{key}: slot {slot}")?,
    }
    Ok(Exit::Ok)
}
