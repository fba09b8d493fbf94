//! `run` repairs drift: each scenario keeps a writer going through a cluster client, injects
//! a fault with real Docker or real Redis commands, waits for the operator to report Ready,
//! then reads every acknowledged write back and runs `check`. Each prints its fault → Ready
//! time ("chaos: …" lines, shown with --nocapture).

use crate::common;

use std::time::{Duration, SystemTime};

use bollard::models::NetworkDisconnectRequest;
use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveVolumeOptions};
use common::{
    cluster_nodes, keys_in_slot, node_id, reshard, stderr, Operator, Stranger, TestCluster, Writer,
    REFERENCE,
};
use redis_keeper::spec::keyslot::key_slot;

const READY: Duration = Duration::from_secs(90);
const WRITES: Duration = Duration::from_secs(30);

/// A cluster brought up from nothing by `run` itself, with a writer going.
async fn healthy(name: &str, octet: u8) -> (TestCluster, Operator, Writer) {
    healthy_with(name, octet, "", &[]).await
}

/// [`healthy`] with every acknowledged write on disk before its reply
/// ([`common::DURABLE`]).
async fn healthy_durable(name: &str, octet: u8) -> (TestCluster, Operator, Writer) {
    healthy_with(name, octet, common::DURABLE, &[]).await
}

/// A healthy cluster whose writer puts every other write into the `hot` slots.
async fn healthy_with(
    name: &str,
    octet: u8,
    extra_toml: &str,
    hot: &[u16],
) -> (TestCluster, Operator, Writer) {
    let cluster = TestCluster::new(name, octet, &REFERENCE).await;
    cluster.write(&format!("{}{extra_toml}", cluster.toml(&REFERENCE)));
    let started = SystemTime::now();
    let operator = Operator::start(&cluster);
    operator.ready_after(started, READY).await;
    let writer = Writer::start_hot(&cluster, name, hot).await;
    writer.wait_for_writes(200, WRITES).await;
    (cluster, operator, writer)
}

/// After the fault: Ready, writes flowing again, every acknowledged write intact except
/// those `may_lose` allows, and `check` green. Returns the writes lost that it allowed.
async fn recovered(
    scenario: &str,
    cluster: &TestCluster,
    operator: &Operator,
    writer: Writer,
    fault: SystemTime,
    may_lose: impl Fn(&str) -> bool,
) -> Vec<String> {
    let took = operator.ready_after(fault, READY).await;
    let repairs: Vec<String> = events_since(operator, fault)
        .into_iter()
        .map(|e| format!("{} ({}, {} ms)", e.action, e.outcome, e.took_ms))
        .collect();
    eprintln!(
        "chaos: {scenario}: fault → Ready in {:.2} s; repairs: {}",
        took.as_secs_f64(),
        repairs.join(", ")
    );
    writer.wait_for_writes(200, WRITES).await;
    let acked = writer.stop().await;
    let what = format!("{scenario}: acknowledged writes");
    let lost = common::assert_kept(cluster, &what, &acked, may_lose).await;
    cluster.check_green_after_fault().await;
    lost
}

fn nothing_lost(_: &str) -> bool {
    false
}

#[tokio::test]
async fn a_killed_container_is_started_with_its_identity() {
    let (cluster, operator, writer) = healthy_durable("heal-kill", 40).await;
    let id = node_id(&cluster, 16).await;
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-2")).await;
    recovered(
        "container killed",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    assert_eq!(node_id(&cluster, 16).await, id, "same node id");
}

#[tokio::test]
async fn a_removed_container_is_recreated_from_its_volume() {
    let (cluster, operator, writer) = healthy("heal-rm", 41).await;
    let id = node_id(&cluster, 17).await;
    let fault = SystemTime::now();
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    common::docker()
        .await
        .remove_container(&cluster.container("redis-3"), Some(options))
        .await
        .unwrap();
    recovered(
        "container removed, volume kept",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    assert_eq!(
        node_id(&cluster, 17).await,
        id,
        "the volume kept its node id"
    );
}

#[tokio::test]
async fn a_node_that_lost_its_volume_rejoins_and_only_its_slots_keys_are_lost() {
    let (cluster, operator, writer) = healthy("heal-vol", 42).await;
    let old = node_id(&cluster, 17).await;
    // The operator is held still while both go, as a laptop asleep would be.
    operator.signal("STOP");
    let fault = SystemTime::now();
    let docker = common::docker().await;
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    docker
        .remove_container(&cluster.container("redis-3"), Some(options))
        .await
        .unwrap();
    docker
        .remove_volume(
            &format!("{}-redis-3-data", cluster.name),
            None::<RemoveVolumeOptions>,
        )
        .await
        .unwrap();
    operator.signal("CONT");
    let lost_range = 10923..=16383u16;
    let lost = recovered(
        "container and volume removed",
        &cluster,
        &operator,
        writer,
        fault,
        |k| lost_range.contains(&key_slot(k.as_bytes())),
    )
    .await;
    // The read-back sees what the volume took with it: the writer had written to redis-3's
    // slots for 200 acknowledgements before the fault, so a read-back that reported nothing
    // lost here would be one that cannot see a loss.
    assert!(
        !lost.is_empty(),
        "the keys redis-3's volume held are read back as lost"
    );
    let new = node_id(&cluster, 17).await;
    assert_ne!(new, old, "a new identity");
    for last in [13, 16] {
        let nodes = cluster_nodes(&cluster, last).await;
        assert!(
            !nodes.contains(&old),
            "the old id is forgotten everywhere:\n{nodes}"
        );
    }
    let events = operator.status().unwrap().events;
    assert!(
        events
            .iter()
            .any(|e| e.action == "forget"
                && e.message.contains("the keys of its 5461 slots are lost")),
        "an event says how many slots' keys were lost: {events:#?}"
    );
}

#[tokio::test]
async fn a_paused_container_is_unpaused() {
    let (cluster, operator, writer) = healthy("heal-pause", 43).await;
    let fault = SystemTime::now();
    common::docker()
        .await
        .pause_container(&cluster.container("redis-1"))
        .await
        .unwrap();
    recovered(
        "container paused",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

#[tokio::test]
async fn a_disconnected_container_is_reattached_with_its_address() {
    let (cluster, operator, writer) = healthy("heal-net", 44).await;
    let fault = SystemTime::now();
    let request = NetworkDisconnectRequest {
        container: cluster.container("redis-2"),
        force: Some(true),
    };
    common::docker()
        .await
        .disconnect_network(&format!("{}-net", cluster.name), request)
        .await
        .unwrap();
    recovered(
        "container disconnected",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

#[tokio::test]
async fn a_removed_network_is_recreated_and_every_container_reattached() {
    let (cluster, operator, writer) = healthy("heal-netrm", 45).await;
    operator.signal("STOP");
    let fault = SystemTime::now();
    let docker = common::docker().await;
    for n in ["redis-1", "redis-2", "redis-3"] {
        let request = NetworkDisconnectRequest {
            container: cluster.container(n),
            force: Some(true),
        };
        docker
            .disconnect_network(&format!("{}-net", cluster.name), request)
            .await
            .unwrap();
    }
    docker
        .remove_network(&format!("{}-net", cluster.name))
        .await
        .unwrap();
    operator.signal("CONT");
    recovered(
        "network removed",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

#[tokio::test]
async fn a_spec_change_recreates_containers_one_by_one_keeping_identity_and_data() {
    let (cluster, operator, writer) = healthy("heal-spec", 46).await;
    let ids = [
        node_id(&cluster, 13).await,
        node_id(&cluster, 16).await,
        node_id(&cluster, 17).await,
    ];
    let before = cluster.containers().await;
    let docker = common::docker().await;
    let container_ids = |names: Vec<String>| {
        let docker = docker.clone();
        async move {
            let mut out = Vec::new();
            for n in names {
                out.push(
                    docker
                        .inspect_container(&n, None)
                        .await
                        .unwrap()
                        .id
                        .unwrap(),
                );
            }
            out
        }
    };
    let old_ids = container_ids(before.clone()).await;
    let fault = SystemTime::now();
    let text = std::fs::read_to_string(&cluster.file)
        .unwrap()
        .replace("node_timeout_ms = 5000", "node_timeout_ms = 6000");
    cluster.write(&text);
    recovered(
        "spec changed (node_timeout_ms)",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    let new_ids = container_ids(before).await;
    assert!(
        old_ids.iter().zip(&new_ids).all(|(a, b)| a != b),
        "every container was recreated"
    );
    assert_eq!(
        ids,
        [
            node_id(&cluster, 13).await,
            node_id(&cluster, 16).await,
            node_id(&cluster, 17).await
        ]
    );
    assert_eq!(
        config_get(&cluster, 13, "cluster-node-timeout").await,
        "6000"
    );
    let recreations: Vec<String> = operator
        .status()
        .unwrap()
        .events
        .iter()
        .filter(|e| e.action == "recreate-container")
        .map(|e| e.at.clone())
        .collect();
    assert_eq!(recreations.len(), 3, "one recreation per node");
}

#[tokio::test]
async fn deleted_slots_are_given_back_to_their_owner() {
    let (cluster, operator, writer) = healthy("heal-delslots", 47).await;
    let fault = SystemTime::now();
    let mut conn = cluster.node(13).await;
    let () = redis::cmd("CLUSTER")
        .arg("DELSLOTSRANGE")
        .arg(0)
        .arg(999)
        .query_async(&mut conn)
        .await
        .unwrap();
    recovered(
        "slots deleted (DELSLOTSRANGE 0 999)",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

#[tokio::test]
async fn a_forgotten_node_is_met_again() {
    let (cluster, operator, writer) = healthy("heal-forget", 48).await;
    let id = node_id(&cluster, 13).await;
    let fault = SystemTime::now();
    let mut conn = cluster.node(16).await;
    let () = redis::cmd("CLUSTER")
        .arg("FORGET")
        .arg(&id)
        .query_async(&mut conn)
        .await
        .unwrap();
    recovered(
        "node forgotten by a peer",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

#[tokio::test]
async fn redis_config_drift_is_set_back_live() {
    let extra = "\n[redis]\nmaxmemory = \"64mb\"\nmaxmemory-policy = \"allkeys-lru\"\n";
    let (cluster, operator, writer) = healthy_with("heal-config", 49, extra, &[]).await;
    let before = run_ids(&cluster, &[16]).await;
    let fault = SystemTime::now();
    config_set(&cluster, 16, "maxmemory-policy", "noeviction").await;
    recovered(
        "CONFIG SET drift",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    assert_eq!(
        config_get(&cluster, 16, "maxmemory-policy").await,
        "allkeys-lru"
    );
    assert_eq!(
        run_ids(&cluster, &[16]).await,
        before,
        "set live, no restart"
    );
}

#[tokio::test]
async fn a_sigkilled_operator_mid_repair_is_replaced_and_converges() {
    let (cluster, operator, writer) = healthy_durable("heal-sigkill", 50).await;
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-1")).await;
    operator.signal("KILL");
    drop(operator);
    // The lock died with its holder: a new operator starts at once.
    let replacement = Operator::start(&cluster);
    recovered(
        "operator SIGKILLed mid-repair",
        &cluster,
        &replacement,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

#[tokio::test]
async fn one_operator_per_cluster_and_sigterm_exits_cleanly() {
    let cluster = TestCluster::new("heal-lock", 51, &REFERENCE).await;
    let started = SystemTime::now();
    let operator = Operator::start(&cluster);
    operator.ready_after(started, READY).await;
    for command in [&["run"][..], &["up"], &["down"]] {
        let out = cluster.expect(command, 1).await;
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "is being managed by `redis-keeper run` (pid {}",
                operator.pid()
            )),
            "{command:?} names the holder: {err}"
        );
    }
    let status = cluster.expect(&["status"], 0).await;
    assert!(common::stdout(&status).contains("operator: `redis-keeper run`"));
    assert_eq!(
        operator.terminate(),
        Some(0),
        "SIGTERM ends run with exit 0"
    );
    cluster.expect(&["up"], 0).await;
}

/// Every action the operator took since `since` succeeded the first time.
fn no_failed_repairs(operator: &Operator, since: SystemTime) {
    let failed: Vec<_> = events_since(operator, since)
        .into_iter()
        .filter(|e| e.outcome != "ok")
        .collect();
    assert!(failed.is_empty(), "failed repairs: {failed:#?}");
}

/// The events the operator recorded at or after `since`.
fn events_since(
    operator: &Operator,
    since: SystemTime,
) -> Vec<redis_keeper::runtime::status::Event> {
    let since = humantime::format_rfc3339_millis(since).to_string();
    let events = operator.status().expect("status file").events;
    events.into_iter().filter(|e| e.at >= since).collect()
}

/// The kinds of action the operator has taken, in order.
fn actions_taken(operator: &Operator) -> Vec<String> {
    let status = operator.status().expect("status file");
    status.events.iter().map(|e| e.action.clone()).collect()
}

#[tokio::test]
async fn slots_resharded_to_the_wrong_node_come_home_with_their_keys() {
    // redis-cli moves the lowest slots of its source first.
    let hot = [0, 7, 19];
    let (cluster, operator, writer) = healthy_with("heal-reshard", 52, "", &hot).await;
    let (one, two) = (node_id(&cluster, 13).await, node_id(&cluster, 16).await);
    // Held still so the operator does not race redis-cli mid-reshard: the drift is found
    // whole, as after a reshard run while the operator was away.
    operator.signal("STOP");
    reshard(&cluster, &one, &two, 20).await;
    let mut redis_2 = cluster.node(16).await;
    for slot in hot {
        assert!(
            keys_in_slot(&mut redis_2, slot).await > 0,
            "the reshard moved slot {slot} with keys to redis-2"
        );
    }
    let plan = common::stdout(&cluster.expect(&["plan"], 3).await);
    assert!(
        plan.contains("move slots 0-19 (20 slots) with their keys from redis-2 to redis-1"),
        "plan shows the repair run is about to make: {plan}"
    );
    let fault = SystemTime::now();
    operator.signal("CONT");
    recovered(
        "slots resharded to the wrong node",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    no_failed_repairs(&operator, fault);
    let mut redis_1 = cluster.node(13).await;
    for slot in hot {
        assert!(
            keys_in_slot(&mut redis_1, slot).await > 0,
            "slot {slot}'s keys are home"
        );
        assert_eq!(keys_in_slot(&mut redis_2, slot).await, 0);
    }
    assert!(actions_taken(&operator).contains(&"move-slots".to_string()));
}

#[tokio::test]
async fn open_slots_in_every_shape_are_closed_without_losing_keys() {
    // All declared for redis-1. 100: a reshard to redis-2 interrupted half-way. 200: keys
    // left on redis-3, which still imports the slot, after its source gave up. 300:
    // MIGRATING alone. 400: redis-1 dropped the slot (DELSLOTS) while redis-2 imports it.
    let hot = [100, 200, 300, 400];
    let (cluster, operator, writer) = healthy_with("heal-open", 53, "", &hot).await;
    let ids = [
        node_id(&cluster, 13).await,
        node_id(&cluster, 16).await,
        node_id(&cluster, 17).await,
    ];
    let (mut r1, mut r2, mut r3) = (
        cluster.node(13).await,
        cluster.node(16).await,
        cluster.node(17).await,
    );
    operator.signal("STOP");
    let fault = SystemTime::now();
    setslot(&mut r2, 100, &["IMPORTING", &ids[0]]).await;
    setslot(&mut r1, 100, &["MIGRATING", &ids[1]]).await;
    migrate_half(&cluster, &mut r1, 100, 16).await;
    setslot(&mut r3, 200, &["IMPORTING", &ids[0]]).await;
    setslot(&mut r1, 200, &["MIGRATING", &ids[2]]).await;
    migrate_half(&cluster, &mut r1, 200, 17).await;
    setslot(&mut r1, 200, &["STABLE"]).await;
    setslot(&mut r1, 300, &["MIGRATING", &ids[1]]).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("DELSLOTS")
        .arg(400)
        .query_async(&mut r1)
        .await
        .unwrap();
    setslot(&mut r2, 400, &["IMPORTING", &ids[0]]).await;
    assert!(keys_in_slot(&mut r2, 100).await > 0 && keys_in_slot(&mut r3, 200).await > 0);
    operator.signal("CONT");
    recovered(
        "slots left open",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    no_failed_repairs(&operator, fault);
    // Slot 400 is claimed by its importer (or, on Valkey 8.1+, the importer took it
    // itself), never added to redis-1 beside it: the importer's newer claim would win, and
    // redis-1 delete the slot's keys.
    let added: Vec<_> = events_since(&operator, fault)
        .into_iter()
        .filter(|e| e.action == "add-slots")
        .collect();
    assert!(added.is_empty(), "ADDSLOTS beside an importer: {added:#?}");
    for (last, conn) in [(13, &mut r1), (16, &mut r2), (17, &mut r3)] {
        let nodes = cluster_nodes(&cluster, last).await;
        assert!(
            !nodes.contains("->-") && !nodes.contains("-<-"),
            "nothing open: {nodes}"
        );
        if last != 13 {
            for slot in hot {
                assert_eq!(
                    keys_in_slot(conn, slot).await,
                    0,
                    "no keys of {slot} left on .{last}"
                );
            }
        }
    }
}

async fn setslot(conn: &mut redis::aio::MultiplexedConnection, slot: u16, args: &[&str]) {
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg(args)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("SETSLOT {slot} {args:?}: {e}"));
}

/// MIGRATEs half the keys `from` holds in `slot` to the node at `.to_last`.
async fn migrate_half(
    cluster: &TestCluster,
    from: &mut redis::aio::MultiplexedConnection,
    slot: u16,
    to_last: u8,
) {
    let keys: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(10_000)
        .query_async(from)
        .await
        .unwrap();
    assert!(
        keys.len() >= 2,
        "slot {slot} holds keys to move: {}",
        keys.len()
    );
    let _: () = redis::cmd("MIGRATE")
        .arg(cluster.ip(to_last))
        .arg(6379)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("AUTH")
        .arg(cluster.password())
        .arg("KEYS")
        .arg(&keys[..keys.len() / 2])
        .query_async(from)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_foreign_node_serving_slots_is_emptied_into_their_owner_and_forgotten() {
    let hot = [0, 7, 19];
    let (cluster, operator, writer) = healthy_with("heal-foreign", 54, "", &hot).await;
    operator.signal("STOP");
    let stranger = Stranger::start(&cluster, 30).await;
    let mut conn = stranger_connection(&cluster, &stranger).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("MEET")
        .arg(cluster.ip(13))
        .arg(6379)
        .query_async(&mut conn)
        .await
        .unwrap();
    let stranger_id: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut conn)
        .await
        .unwrap();
    for last in [13, 16, 17] {
        wait_until_known(&cluster, last, &stranger_id).await;
    }
    // A node accepts keys (RESTORE) only once it sees the cluster ok.
    let every = Duration::from_millis(50);
    let ok = "the stranger seeing the cluster ok";
    common::poll_until(ok, Duration::from_secs(10), every, async || {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .unwrap();
        if info.contains("cluster_state:ok") {
            Ok(())
        } else {
            Err(info)
        }
    })
    .await;
    reshard(&cluster, &node_id(&cluster, 13).await, &stranger_id, 20).await;
    for slot in hot {
        assert!(
            keys_in_slot(&mut conn, slot).await > 0,
            "the stranger serves {slot} with keys"
        );
    }
    let fault = SystemTime::now();
    operator.signal("CONT");
    recovered(
        "a foreign node joined and took slots",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    no_failed_repairs(&operator, fault);
    for last in [13, 16, 17] {
        let nodes = cluster_nodes(&cluster, last).await;
        assert!(
            !nodes.contains(&stranger_id),
            ".{last} forgot the stranger: {nodes}"
        );
    }
    let taken = actions_taken(&operator);
    let moved = taken
        .iter()
        .position(|a| a == "move-slots")
        .expect("slots moved");
    let forgot = taken
        .iter()
        .position(|a| a == "forget")
        .expect("stranger forgotten");
    assert!(
        moved < forgot,
        "slots moved before the stranger was forgotten: {taken:?}"
    );
}

async fn stranger_connection(
    cluster: &TestCluster,
    stranger: &Stranger,
) -> redis::aio::MultiplexedConnection {
    let url = format!("redis://:{}@{}", cluster.password(), stranger.addr);
    let client = redis::Client::open(url).unwrap();
    let every = Duration::from_millis(50);
    common::poll_until(
        "the stranger answering",
        Duration::from_secs(10),
        every,
        async || {
            let conn = client.get_multiplexed_async_connection().await;
            conn.map_err(|e| e.to_string())
        },
    )
    .await
}

/// Waits until the node knows `id` past the handshake.
async fn wait_until_known(cluster: &TestCluster, last: u8, id: &str) {
    let every = Duration::from_millis(50);
    let learned = format!(".{last} learning of {id}");
    common::poll_until(&learned, Duration::from_secs(10), every, async || {
        let nodes = cluster_nodes(cluster, last).await;
        let line = nodes.lines().find(|l| l.starts_with(id));
        if line.is_some_and(|l| !l.contains("handshake")) {
            Ok(())
        } else {
            Err(nodes)
        }
    })
    .await
}

#[tokio::test]
async fn an_invalid_cluster_toml_is_reported_and_the_last_good_one_stays_in_force() {
    use redis_keeper::runtime::status::ConditionType::{Degraded, Ready};
    let (cluster, operator, writer) = healthy_durable("heal-badspec", 55).await;
    let good = std::fs::read_to_string(&cluster.file).unwrap();
    // A gap in the slots: the kind of mistake a review can miss.
    cluster.write(&good.replace("\"0-5460\"", "\"0-5000\""));
    operator
        .wait_for("Degraded: InvalidSpec", Duration::from_secs(30), |s| {
            s.condition(Degraded).is_some_and(|c| {
                c.status && c.reason == "InvalidSpec" && c.message.contains("5001-5460")
            })
        })
        .await;
    assert!(
        operator.status().unwrap().condition(Ready).unwrap().status,
        "the cluster itself is still as (last validly) declared"
    );
    // Repairs go on with the last good spec.
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-1")).await;
    operator.ready_after(fault, READY).await;
    // Fixed within the clock tick of the broken save, as an editor that truncates and then
    // writes can leave it: the time stamp does not change, and the fix must be seen anyway.
    let broken_at = std::fs::metadata(&cluster.file)
        .unwrap()
        .modified()
        .unwrap();
    let fixed = cluster.file.with_extension("fixed");
    std::fs::write(&fixed, &good).unwrap();
    let file = std::fs::File::options().write(true).open(&fixed).unwrap();
    file.set_modified(broken_at).unwrap();
    std::fs::rename(&fixed, &cluster.file).unwrap();
    operator
        .wait_for("Degraded cleared", Duration::from_secs(30), |s| {
            s.condition(Degraded).is_some_and(|c| !c.status)
        })
        .await;
    // Ready came while cluster.toml was still invalid; now the writes and `check`.
    recovered(
        "container killed while cluster.toml is invalid",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

/// Settings the operator puts on the command line (failover timing, never turning a declared
/// master into a replica) are kept live like `[redis]`: changed with CONFIG SET on a healthy
/// cluster, they are set back and reported as repairs, with no restart.
#[tokio::test]
async fn the_operators_own_settings_changed_live_are_set_back() {
    let (cluster, operator, writer) = healthy("heal-own-config", 58).await;
    let before = run_ids(&cluster, &[16, 17]).await;
    let fault = SystemTime::now();
    config_set(&cluster, 16, "cluster-node-timeout", "60000").await;
    config_set(&cluster, 17, "cluster-allow-replica-migration", "yes").await;
    let fault_at = humantime::format_rfc3339_millis(fault).to_string();
    operator
        .wait_for("both settings set back", READY, |s| {
            let repaired = |node: &str, setting: &str| {
                s.events.iter().any(|e| {
                    e.at >= fault_at
                        && e.action == "set-config"
                        && e.outcome == "ok"
                        && e.message.contains(&format!("{setting} on {node}"))
                })
            };
            repaired("redis-2", "cluster-node-timeout 5000")
                && repaired("redis-3", "cluster-allow-replica-migration no")
        })
        .await;
    assert_eq!(
        config_get(&cluster, 16, "cluster-node-timeout").await,
        "5000"
    );
    assert_eq!(
        config_get(&cluster, 17, "cluster-allow-replica-migration").await,
        "no"
    );
    assert_eq!(
        run_ids(&cluster, &[16, 17]).await,
        before,
        "set live, no restart"
    );
    recovered(
        "the operator's own settings changed live",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
}

/// What CONFIG GET answers for `setting` on the node at `.last`.
async fn config_get(cluster: &TestCluster, last: u8, setting: &str) -> String {
    let reply: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(setting)
        .query_async(&mut cluster.node(last).await)
        .await
        .unwrap();
    reply[1].clone()
}

/// CONFIG SET on the node at `.last`, as someone at a redis-cli would.
async fn config_set(cluster: &TestCluster, last: u8, setting: &str, value: &str) {
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(setting)
        .arg(value)
        .query_async(&mut cluster.node(last).await)
        .await
        .unwrap();
}

/// The `run_id` of each node at `.last`: a new one means the server restarted.
async fn run_ids(cluster: &TestCluster, lasts: &[u8]) -> Vec<Option<String>> {
    let mut ids = Vec::new();
    for &last in lasts {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut cluster.node(last).await)
            .await
            .unwrap();
        ids.push(
            info.lines()
                .find(|l| l.starts_with("run_id:"))
                .map(str::to_string),
        );
    }
    ids
}

/// The `set-config` attempts on redis-1 so far: one event counting up while they repeat.
fn set_config_attempts(operator: &Operator) -> u32 {
    let status = operator.status().expect("status file");
    let events: Vec<_> = status
        .events
        .iter()
        .filter(|e| e.action == "set-config" && e.message.contains("on redis-1"))
        .collect();
    assert!(
        events.len() <= 1,
        "repeats fold into one event: {events:#?}"
    );
    events.first().map_or(0, |e| e.repeats)
}

/// A fault the operator cannot fix: a `[redis]` value the server accepts but reads back in
/// another spelling (CONFIG GET client-output-buffer-limit answers every client class, not
/// the one that was set). The same CONFIG SET comes back every pass without effect; before
/// the stall guard it was repeated as fast as the servers answered. Now it backs off, says
/// so in Degraded naming the action and the server's answer, and keeps one event.
#[tokio::test]
async fn an_action_without_effect_backs_off_and_says_so() {
    use redis_keeper::runtime::status::ConditionType;
    let (cluster, operator, writer) = healthy("heal-stall", 56).await;
    let fault = SystemTime::now();
    cluster.write(&format!(
        "{}\n[redis]\nclient-output-buffer-limit = \"pubsub 64mb 16mb 90\"\n",
        cluster.toml(&REFERENCE)
    ));
    operator
        .wait_for("Degraded: Stalled", READY, |s| {
            s.condition(ConditionType::Degraded)
                .is_some_and(|c| c.status && c.reason == "Stalled")
        })
        .await;
    let degraded = operator.status().unwrap();
    let message = &degraded.condition(ConditionType::Degraded).unwrap().message;
    assert!(
        message.contains("client-output-buffer-limit") && message.contains("answered OK"),
        "names the action and the server's answer: {message}"
    );
    // The rate, measured over a window: the wait is the measurement.
    let window = Duration::from_secs(30);
    let before = set_config_attempts(&operator);
    tokio::time::sleep(window).await;
    let during = set_config_attempts(&operator) - before;
    let per_minute = f64::from(during) * 60.0 / window.as_secs_f64();
    eprintln!(
        "stall: {before} attempts until Degraded ({:.1} s after the edit), then {during} in {} s ({per_minute:.0}/min)",
        fault.elapsed().unwrap_or_default().as_secs_f64() - window.as_secs_f64(),
        window.as_secs()
    );
    assert!(
        per_minute <= 20.0,
        "{during} attempts in {window:?}: the operator is looping"
    );
    // Undo the edit: Ready again, nothing lost on the way. The edit wakes the operator: it
    // is not left waiting out a backoff that has reached its cap of 30 s by now.
    let fixed = SystemTime::now();
    cluster.write(&cluster.toml(&REFERENCE));
    let took = operator.ready_after(fixed, READY).await;
    assert!(
        took < Duration::from_secs(10),
        "Ready {took:?} after the edit was undone: the edit waited for the backoff"
    );
    recovered(
        "a stalled action, then the edit undone",
        &cluster,
        &operator,
        writer,
        fixed,
        nothing_lost,
    )
    .await;
    let status = operator.status().unwrap();
    assert!(!status.condition(ConditionType::Degraded).unwrap().status);
}

/// Runs `cmd` on a node that imports the key's slot, as a client redirected by ASK would.
async fn asking(conn: &mut redis::aio::MultiplexedConnection, cmd: &mut redis::Cmd) {
    let mut pipe = redis::pipe();
    pipe.cmd("ASKING")
        .ignore()
        .add_command(cmd.clone())
        .ignore();
    let () = pipe
        .query_async(conn)
        .await
        .expect("ASKING and the command");
}

/// A key on both sides of an open slot, as redis-cli's fix meets it: equal copies (compared
/// by DUMP) are replaced and the slot closes; different copies stop the close naming the
/// key, the owner's copy untouched, until a person keeps one.
#[tokio::test]
async fn a_key_on_both_sides_of_an_open_slot_is_replaced_when_equal_and_named_when_not() {
    use redis::AsyncCommands;
    let (cluster, operator, writer) = healthy("heal-busykey", 57).await;
    let (r1_id, mut r1, mut r2) = (
        node_id(&cluster, 13).await,
        cluster.node(13).await,
        cluster.node(16).await,
    );
    let (same, differs) = (
        format!("{{{}}}:same", common::tag_for_slot(600)),
        format!("{{{}}}:differs", common::tag_for_slot(700)),
    );
    let mut client = cluster.cluster_client().await;
    let () = client.set(&same, "owner's").await.unwrap();
    let () = client.set(&differs, "owner's").await.unwrap();
    operator.signal("STOP");
    // redis-2 imports both slots (an interrupted reshard that gave up on the source's side)
    // and holds a copy of each key: the same value for one, another for the other.
    for (slot, key) in [(600, &same), (700, &differs)] {
        setslot(&mut r2, slot, &["IMPORTING", &r1_id]).await;
        let _: () = redis::cmd("MIGRATE")
            .arg(cluster.ip(16))
            .arg(6379)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("COPY")
            .arg("AUTH")
            .arg(cluster.password())
            .arg("KEYS")
            .arg(key)
            .query_async(&mut r1)
            .await
            .unwrap();
    }
    asking(&mut r2, redis::cmd("SET").arg(&differs).arg("importer's")).await;
    let fault = SystemTime::now();
    operator.signal("CONT");
    operator
        .wait_for(
            "the close of slot 700 stopped, naming the key",
            READY,
            |s| {
                s.events
                    .iter()
                    .any(|e| e.outcome.contains(&format!("key '{differs}'")))
            },
        )
        .await;
    let owner_copy: String = r1.get(&differs).await.unwrap();
    assert_eq!(
        owner_copy, "owner's",
        "the owner's copy is never overwritten on a guess"
    );
    // A person keeps the owner's copy: the close finishes.
    asking(&mut r2, redis::cmd("DEL").arg(&differs)).await;
    recovered(
        "a key on both sides of an open slot",
        &cluster,
        &operator,
        writer,
        fault,
        nothing_lost,
    )
    .await;
    for key in [&same, &differs] {
        let value: String = client.get(key).await.unwrap();
        assert_eq!(value, "owner's", "{key}");
    }
    assert_eq!(
        keys_in_slot(&mut r2, 600).await,
        0,
        "the equal copy went home"
    );
}
