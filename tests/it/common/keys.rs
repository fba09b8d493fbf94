//! Keys placed in chosen slots (by hash tag), loaded in bulk, and counted.

use super::*;

/// A hash tag whose keys all land in `slot`.
pub fn tag_for_slot(slot: u16) -> String {
    (0u32..)
        .map(|n| format!("t{n}"))
        .find(|t| redis_keeper::spec::keyslot::key_slot(t.as_bytes()) == slot)
        .expect("every slot has a tag")
}

/// A hash tag for each slot of `slots`, found in one sweep (asking [`tag_for_slot`] slot by
/// slot would search from the start each time).
pub fn tags_for_slots(slots: std::ops::Range<u16>) -> Vec<String> {
    let mut tags: Vec<Option<String>> = vec![None; slots.len()];
    let mut missing = tags.len();
    for n in 0u32.. {
        if missing == 0 {
            break;
        }
        let tag = format!("t{n}");
        let slot = redis_keeper::spec::keyslot::key_slot(tag.as_bytes());
        if slots.contains(&slot) {
            let place = &mut tags[usize::from(slot - slots.start)];
            if place.is_none() {
                *place = Some(tag);
                missing -= 1;
            }
        }
    }
    tags.into_iter().flatten().collect()
}

/// Writes `count` keys of `size` bytes straight to redis-1 (.13), over its first 4096 slots.
pub async fn load_redis_1(cluster: &TestCluster, count: usize, size: usize) {
    // Megabytes per pipeline, written to an append-only file on a machine other tests load
    // too: more time than a command's default timeout.
    let mut redis_1 = cluster
        .node_patient(13, std::time::Duration::from_secs(60))
        .await;
    let tags = tags_for_slots(0..4096);
    let value = "x".repeat(size);
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("{{{}}}:big:{i}", tags[i % tags.len()]))
                .arg(&value)
                .ignore();
        }
        let () = pipe.query_async(&mut redis_1).await.expect("load");
    }
}

/// How many keys [`load_redis_1`] wrote are in the cluster (SCAN on every master).
pub async fn loaded_keys(cluster: &TestCluster) -> usize {
    let mut total = 0;
    for ip in [13, 16, 17] {
        let mut conn = cluster
            .node_patient(ip, std::time::Duration::from_secs(30))
            .await;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("*:big:*")
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .expect("SCAN");
            total += keys.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    total
}

/// The move the operator reported just before a fault was still going: some of its slots
/// were not handed over yet.
pub fn assert_mid_move(moving: Option<redis_keeper::runtime::status::MoveProgress>) {
    let moving = moving.expect("a move in flight");
    eprintln!("killed mid-move at: {moving}");
    assert!(
        moving.slots_done < moving.slots_total,
        "the fault came after the move: {moving}"
    );
}

/// How many keys the node holds in `slot`.
pub async fn keys_in_slot(conn: &mut redis::aio::MultiplexedConnection, slot: u16) -> usize {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query_async(conn)
        .await
        .expect("CLUSTER COUNTKEYSINSLOT")
}
