//! cluster.toml: parsing and validation never panic, and a spec validation accepts is one
//! the rest of the operator can act on: every slot has one declared master, every node gets
//! a container blueprint, and the planner, facing an empty machine, plans without refusing.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use redis_keeper::observe::{HostObserved, Observed};
use redis_keeper::spec::{ClusterSpec, SLOT_COUNT};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = ClusterSpec::parse(text, Path::new("/fuzz/cluster.toml")) else {
        return;
    };
    for slot in 0..SLOT_COUNT {
        let owner = spec
            .owner_of(slot)
            .expect("validation let a slot without a master through");
        assert!(!owner.is_replica(), "slot {slot} is owned by a replica");
    }
    for node in &spec.nodes {
        if let Some(master) = node.replica_of.as_deref() {
            assert!(spec.node(master).is_some_and(|m| !m.is_replica()));
        }
        redis_keeper::docker::blueprint::container_body(&spec, node, "fuzz:latest");
    }
    // Every host answers with the image and nothing else.
    let mut empty = Observed::default();
    for host in spec.host_names() {
        let mut seen = HostObserved::default();
        seen.image.usable = Some("fuzz:latest".into());
        empty.hosts.insert(host.to_string(), seen);
    }
    let plan = redis_keeper::plan::plan(&spec, &empty);
    assert!(
        plan.blocked.is_empty(),
        "validation accepted a spec the planner refuses: {:?}",
        plan.blocked
    );
    assert!(!plan.actions.is_empty(), "an empty machine needs work");
});
