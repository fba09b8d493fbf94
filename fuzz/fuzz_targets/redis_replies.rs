//! What Redis answers, as the operator parses it: CLUSTER NODES, CLUSTER INFO and INFO
//! (fields, replication state, server version). Any bytes a server, a proxy or a broken
//! connection could hand over are parsed without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_keeper::observe::cluster_nodes::{info_fields, parse_cluster_nodes};
use redis_keeper::observe::{ClusterInfo, Replication, ServerVersion};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(nodes) = parse_cluster_nodes(&text) {
        for node in &nodes {
            for range in &node.slots {
                assert!(range.start <= range.end && range.end < 16384, "{range:?}");
            }
        }
    }
    let info = ClusterInfo::parse(&text);
    let _ = format!("{info:?}");
    let fields = info_fields(&text);
    let replication = Replication::of(&fields);
    let _ = (replication.in_sync(), format!("{replication:?}"));
    let _ = ServerVersion::from_info(&fields);
});
