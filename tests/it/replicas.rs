//! Replicas and failover on real Docker and Redis: the seed's 3 + 3 layout. Each scenario
//! keeps a writer going whose acknowledgement is `WAIT 1` (a write a replica holds), injects
//! a fault, waits until every node stands in its declared role again, then reads every
//! acknowledged write back and runs `check`. Each prints the affected shard's write outage,
//! the longest gap between two acknowledged writes ("failover: …" lines, with --nocapture).

use crate::common;

use std::time::{Duration, SystemTime};

use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveVolumeOptions};
use common::replicated::ReplicatedWriter;
use common::{node_id, Operator, TestCluster, REFERENCE};

const REPLICAS: [(&str, u8, &str); 3] = [
    ("redis-4", 14, "redis-1"),
    ("redis-5", 15, "redis-2"),
    ("redis-6", 18, "redis-3"),
];
const SETTLE: Duration = Duration::from_secs(90);
const WRITES: Duration = Duration::from_secs(30);
/// The first shard's slots (redis-1 and redis-4), where the faults strike.
const SHARD_1: std::ops::Range<u16> = 0..5461;

/// A 3 + 3 cluster brought up by `run`, with a replicated writer on the first shard.
async fn replicated(name: &str, octet: u8) -> (TestCluster, Operator, ReplicatedWriter) {
    let cluster = TestCluster::new(name, octet, &REFERENCE).await;
    cluster.write(&cluster.toml_with_replicas(&REFERENCE, &REPLICAS));
    let started = SystemTime::now();
    let operator = Operator::start(&cluster);
    operator.ready_after(started, SETTLE).await;
    declared_roles(&cluster, SETTLE).await;
    let writer = ReplicatedWriter::start(&cluster, name, SHARD_1).await;
    writer.wait_for_writes(200, WRITES).await;
    (cluster, operator, writer)
}

/// Waits until `status` shows a healthy cluster with every master serving its declared slots
/// and every replica following its declared master with its link up.
async fn declared_roles(cluster: &TestCluster, timeout: Duration) {
    let every = Duration::from_millis(100);
    common::poll_until("roles as declared", timeout, every, async || {
        let status = cluster.status().await;
        let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
        let as_declared = nodes.iter().all(|n| match n["replica_of"].as_str() {
            Some(master) => {
                n["role"] == "replica"
                    && n["replication"]["master"] == master
                    && n["replication"]["link"] == "up"
            }
            None => n["role"] == "master" && n["slots"] == n["declared_slots"],
        });
        if as_declared && status["healthy"] == true {
            Ok(())
        } else {
            Err(format!("{:#}", status["nodes"]))
        }
    })
    .await
}

/// After the fault: declared roles, writes replicated again, every acknowledged write
/// intact, `check` green (within the node timeout). Returns the shard's write outage.
async fn recovered(
    scenario: &str,
    cluster: &TestCluster,
    writer: ReplicatedWriter,
    fault: SystemTime,
) -> Duration {
    recovered_within(scenario, cluster, writer, fault, SETTLE).await
}

/// [`recovered`], the declared roles back within `settle`.
async fn recovered_within(
    scenario: &str,
    cluster: &TestCluster,
    writer: ReplicatedWriter,
    fault: SystemTime,
    settle: Duration,
) -> Duration {
    declared_roles(cluster, settle).await;
    writer.wait_for_writes(200, WRITES).await;
    let (acked, outage) = writer.stop().await;
    eprintln!(
        "failover: {scenario}: declared roles back {:.2} s after the fault; longest write outage {} ms over {} replicated writes",
        fault.elapsed().unwrap_or_default().as_secs_f64(),
        outage.as_millis(),
        acked.len()
    );
    let what = format!("{scenario}: replicated writes");
    common::assert_kept(cluster, &what, &acked, |_| false).await;
    cluster.check_green_after_fault().await;
    outage
}

/// `plan` has nothing to do and nothing to wait for; else what it says.
async fn in_sync(cluster: &TestCluster) -> Result<(), String> {
    let out = cluster.run(&["plan"]).await;
    let said = common::stdout(&out);
    match out.status.code() == Some(0) && said.contains("is in sync with") {
        true => Ok(()),
        false => Err(said),
    }
}

/// The id of the master `last`'s node replicates; None while it is a master.
async fn master_of(cluster: &TestCluster, last: u8) -> Option<String> {
    let mut conn = cluster.node(last).await;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .expect("INFO replication");
    if !info.contains("role:slave") {
        return None;
    }
    common::cluster_nodes(cluster, last)
        .await
        .lines()
        .find(|l| l.contains("myself"))
        .and_then(|l| l.split_whitespace().nth(3))
        .map(str::to_string)
}

#[tokio::test]
async fn three_masters_and_three_replicas_form_from_nothing() {
    let cluster = TestCluster::new("rep-form", 90, &REFERENCE).await;
    cluster.write(&cluster.toml_with_replicas(&REFERENCE, &REPLICAS));
    let out = cluster.up().await;
    assert!(
        common::stdout(&out).contains("3 masters, 3 replicas in sync"),
        "{}",
        common::stdout(&out)
    );
    declared_roles(&cluster, SETTLE).await;
    for (replica, last, master) in REPLICAS {
        let master_last = REFERENCE.iter().find(|(n, _, _)| *n == master).unwrap().1;
        assert_eq!(
            master_of(&cluster, last).await,
            Some(node_id(&cluster, master_last).await),
            "{replica} replicates {master}"
        );
    }
    cluster.expect(&["check"], 0).await;
    cluster.expect(&["plan"], 0).await;
}

#[tokio::test]
async fn a_killed_master_is_replaced_by_its_replica_at_once_and_takes_its_slots_back() {
    let (cluster, operator, writer) = replicated("rep-kill", 91).await;
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-1")).await;
    let outage = recovered("master docker-killed", &cluster, writer, fault).await;
    let events = operator.status().map(|s| s.events).unwrap_or_default();
    let shown: Vec<String> = events
        .iter()
        .map(|e| format!("{} {} ({}, {} ms)", e.at, e.action, e.outcome, e.took_ms))
        .collect();
    eprintln!("failover: master docker-killed: {}", shown.join("; "));
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for kind in ["promote", "start-container", "failover"] {
        assert!(actions.contains(&kind), "no {kind} in {actions:?}");
    }
    // Redis's own failover cannot start before node_timeout (5 s) has passed. The write
    // outage is longer than the promotion: a `WAIT 1` write waits, after it, for the killed
    // node to be started again and to sync as the new master's replica (Docker's start alone
    // took 3 s on a loaded CI machine), so the promotion is what is timed.
    let promoted = events
        .iter()
        .find(|e| e.action == "promote")
        .map(|e| humantime::parse_rfc3339(&e.at).expect("an event's timestamp"))
        .and_then(|at| at.duration_since(fault).ok())
        .expect("a promotion after the fault");
    eprintln!("failover: master docker-killed: promoted {promoted:?} after the kill");
    assert!(
        promoted < Duration::from_secs(5),
        "promoted {promoted:?} after the kill (write outage {outage:?}): not faster than Redis's own failover"
    );
}

#[tokio::test]
async fn a_master_removed_with_its_volume_loses_no_key() {
    let (cluster, _operator, writer) = replicated("rep-vol", 92).await;
    let docker = common::docker().await;
    let fault = SystemTime::now();
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    docker
        .remove_container(&cluster.container("redis-1"), Some(options))
        .await
        .expect("remove redis-1");
    docker
        .remove_volume(
            &format!("{}-redis-1-data", cluster.name),
            None::<RemoveVolumeOptions>,
        )
        .await
        .expect("remove redis-1's volume");
    recovered("master removed with its volume", &cluster, writer, fault).await;
}

#[tokio::test]
async fn a_killed_replica_and_a_replica_of_the_wrong_master_are_put_back() {
    let (cluster, _operator, writer) = replicated("rep-replica", 93).await;
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-4")).await;
    declared_roles(&cluster, SETTLE).await;
    // Someone attaches redis-6 to redis-1 by hand.
    let redis_1 = node_id(&cluster, 13).await;
    let mut conn = cluster.node(18).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("REPLICATE")
        .arg(&redis_1)
        .query_async(&mut conn)
        .await
        .expect("CLUSTER REPLICATE");
    recovered(
        "replica killed, then one attached to the wrong master",
        &cluster,
        writer,
        fault,
    )
    .await;
    assert_eq!(
        master_of(&cluster, 18).await,
        Some(node_id(&cluster, 17).await),
        "redis-6 follows redis-3 again"
    );
}

#[tokio::test]
async fn an_operator_sigkilled_during_a_failback_is_replaced_and_finishes_it() {
    let (cluster, operator, writer) = replicated("rep-sigkill", 94).await;
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-1")).await;
    // Promoted: redis-4 serves the shard; the failback is still to come.
    let every = Duration::from_millis(20);
    common::poll_until(
        "redis-4 promoted",
        SETTLE,
        every,
        async || match master_of(&cluster, 14).await {
            None => Ok(()),
            Some(master) => Err(format!("it still replicates {master}")),
        },
    )
    .await;
    operator.signal("KILL");
    drop(operator);
    let _successor = Operator::start(&cluster);
    recovered(
        "operator SIGKILLed during a failback",
        &cluster,
        writer,
        fault,
    )
    .await;
}

#[tokio::test]
async fn a_rolling_change_recreates_every_container_with_no_write_lost() {
    let (cluster, operator, writer) = replicated("rep-roll", 95).await;
    // One writer per shard, to measure each shard's longest stall.
    let others = [
        ReplicatedWriter::start(&cluster, "rep-roll-2", 5461..10923).await,
        ReplicatedWriter::start(&cluster, "rep-roll-3", 10923..16384).await,
    ];
    let ids: Vec<String> = futures_util::future::join_all(
        [13u8, 16, 17, 14, 15, 18].map(|last| node_id(&cluster, last)),
    )
    .await;
    let fault = SystemTime::now();
    // A hashed setting: every container is recreated from the new spec.
    let text = std::fs::read_to_string(&cluster.file).expect("cluster.toml");
    cluster.write(&text.replace("node_timeout_ms = 5000", "node_timeout_ms = 6000"));
    // Ready only counts once the change has been made: plan has nothing left.
    let every = Duration::from_millis(200);
    common::poll_until("the rolling change finished", SETTLE, every, async || {
        in_sync(&cluster)
            .await
            .map_err(|said| format!("plan says {said}"))
    })
    .await;
    let outage = recovered("rolling change of a 3 + 3 cluster", &cluster, writer, fault).await;
    let mut stalls = vec![outage];
    for other in others {
        let (acked, stall) = other.stop().await;
        common::assert_kept(
            &cluster,
            "rolling change: replicated writes",
            &acked,
            |_| false,
        )
        .await;
        stalls.push(stall);
    }
    let events = operator.status().map(|s| s.events).unwrap_or_default();
    let recreations: Vec<String> = events
        .iter()
        .filter(|e| e.action == "recreate-container")
        .map(|e| format!("{} x{}", e.message, e.repeats))
        .collect();
    let recreated = recreations.len();
    assert_eq!(
        recreated, 6,
        "every container recreated once: {recreations:#?}"
    );
    let after: Vec<String> = futures_util::future::join_all(
        [13u8, 16, 17, 14, 15, 18].map(|last| node_id(&cluster, last)),
    )
    .await;
    assert_eq!(ids, after, "every node kept its identity (volumes kept)");
    let shown: Vec<String> = stalls
        .iter()
        .map(|s| format!("{} ms", s.as_millis()))
        .collect();
    eprintln!(
        "failover: rolling change: {recreated} containers recreated in {:.1} s; longest write stall per shard: {}",
        fault.elapsed().unwrap_or_default().as_secs_f64(),
        shown.join(", ")
    );
}

/// A fresh connection to the node at `last` authenticating with `password`: Ok if accepted.
async fn auth_with(cluster: &TestCluster, last: u8, password: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(format!("redis://:{password}@{}:6379", cluster.ip(last)))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING").query_async(&mut conn).await
}

#[tokio::test]
async fn the_password_is_rotated_live_with_no_write_lost() {
    let (cluster, operator, writer) = replicated("rep-pass", 96).await;
    let old = cluster.password();
    let new = "a-new-password-rotated-live-42";
    let fault = SystemTime::now();
    std::fs::write(cluster.dir.path().join("pw"), new).expect("write the new password");
    let all = [13u8, 16, 17, 14, 15, 18];
    let every = Duration::from_millis(200);
    common::poll_until("the new password in force", SETTLE, every, async || {
        let mut old_kept = Vec::new();
        for last in all {
            let rotated = auth_with(&cluster, last, new).await.is_ok()
                && auth_with(&cluster, last, &old).await.is_err();
            if !rotated {
                old_kept.push(last);
            }
        }
        if !old_kept.is_empty() {
            return Err(format!("nodes .{old_kept:?} still take the old one"));
        }
        in_sync(&cluster)
            .await
            .map_err(|said| format!("plan says {said}"))
    })
    .await;
    recovered("password rotated", &cluster, writer, fault).await;
    // Replication kept authenticating (every replica's link is up: declared_roles checked it)
    // and nothing restarted: the same containers, the same ids.
    let events = operator.status().map(|s| s.events).unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e.action == "rotate-password" && e.outcome == "ok"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.action.contains("container")
        && e.at >= humantime::format_rfc3339_millis(fault).to_string()));
    // The password shows nowhere: not in the operator's log or events, nor in `docker inspect`.
    let log = std::fs::read_to_string(cluster.dir.path().join("run.log")).expect("run.log");
    let status = serde_json::to_string(&operator.status().map(|s| s.events).unwrap_or_default())
        .unwrap_or_default();
    let docker = common::docker().await;
    for node in ["redis-1", "redis-4"] {
        let inspect = docker
            .inspect_container(
                &cluster.container(node),
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .expect("inspect");
        let text = format!("{inspect:?}");
        assert!(
            !text.contains(new) && !text.contains(&old),
            "a password in docker inspect of {node}"
        );
    }
    assert!(
        !log.contains(new) && !log.contains(&old),
        "a password in the operator's log"
    );
    assert!(!status.contains(new), "a password in the events");
}

#[tokio::test]
async fn without_failback_the_promoted_replica_keeps_the_slots() {
    let cluster = TestCluster::new("rep-nofb", 97, &REFERENCE).await;
    let text = cluster.toml_with_replicas(&REFERENCE, &REPLICAS);
    cluster.write(&text.replace(
        "node_timeout_ms = 5000",
        "node_timeout_ms = 5000\nfailback = false",
    ));
    let started = SystemTime::now();
    let operator = Operator::start(&cluster);
    operator.ready_after(started, SETTLE).await;
    declared_roles(&cluster, SETTLE).await;
    let writer = ReplicatedWriter::start(&cluster, "rep-nofb", SHARD_1).await;
    writer.wait_for_writes(200, WRITES).await;
    common::kill(&cluster.container("redis-1")).await;
    // redis-4 serves the shard; redis-1 came back as its replica, in sync, and stays so.
    let deadline = tokio::time::Instant::now() + SETTLE;
    let every = Duration::from_millis(100);
    let settled = "redis-4 serving the shard with redis-1 its replica";
    common::poll_until(settled, SETTLE, every, async || {
        let status = cluster.status().await;
        let node = |name: &str| {
            status["nodes"]
                .as_array()
                .and_then(|n| n.iter().find(|n| n["name"] == name).cloned())
                .unwrap_or_default()
        };
        let (redis_1, redis_4) = (node("redis-1"), node("redis-4"));
        if status["healthy"] == true
            && redis_4["role"] == "master"
            && redis_4["slots"] == redis_1["declared_slots"]
            && redis_1["replication"]["master"] == "redis-4"
            && redis_1["replication"]["link"] == "up"
        {
            Ok(())
        } else {
            Err(format!("{:#}", status["nodes"]))
        }
    })
    .await;
    // Nothing left to do: no failback is planned.
    while let Err(said) = in_sync(&cluster).await {
        assert!(tokio::time::Instant::now() < deadline, "plan says {said}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = cluster.status().await;
    let redis_4 = status["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "redis-4").cloned());
    assert_eq!(
        redis_4.map(|n| n["role"].clone()),
        Some("master".into()),
        "still redis-4's"
    );
    writer.wait_for_writes(200, WRITES).await;
    let (acked, outage) = writer.stop().await;
    eprintln!(
        "failover: without failback: longest write outage {} ms",
        outage.as_millis()
    );
    common::assert_kept(
        &cluster,
        "without failback: replicated writes",
        &acked,
        |_| false,
    )
    .await;
    cluster.check_green_after_fault().await;
}

/// A failover in the middle of a move: redis-1 hands its first 4096 slots (50,000 keys) to
/// redis-2 and is SIGKILLed while they move (in one atomic job on the servers that have it,
/// by MIGRATE on the others). A job's pace is set by bytes, MIGRATE's by keys: 200 MB keep a
/// job going until the kill, and 50 MB do for keys (more only loads the disk that the
/// restarted master and its full sync need, beside the other scenarios). Its replica is promoted, the move goes on from there, redis-1
/// comes back and takes the slots it keeps back, and no replicated write or loaded key is
/// lost.
#[tokio::test]
async fn a_failover_during_a_move_loses_no_write() {
    let (cluster, operator, writer) = replicated("rep-move", 69).await;
    let size = match common::server().moves_slots_atomically() {
        true => 4000,
        false => 1000,
    };
    common::load_redis_1(&cluster, 50_000, size).await;
    let moved: [(&str, u8, &[&str]); 3] = [
        ("redis-1", 13, &["4096-5460"]),
        ("redis-2", 16, &["0-4095", "5461-10922"]),
        ("redis-3", 17, &["10923-16383"]),
    ];
    cluster.write(&cluster.toml_with_replicas(&moved, &REPLICAS));
    let moving = operator
        .wait_for("the move under way", SETTLE, |s| s.moving.is_some())
        .await
        .moving;
    let fault = SystemTime::now();
    common::kill(&cluster.container("redis-1")).await;
    common::assert_mid_move(moving);
    // The roles come back once the move is done, and the rest of it runs at the servers'
    // pace: on Valkey 8.0, whose SETSLOT waits for the replicas, about 800 keys/s beside
    // another job (a cold run, 2026-12-07), past SETTLE.
    let settle = Duration::from_secs(240);
    recovered_within("master killed mid-move", &cluster, writer, fault, settle).await;
    let status = cluster.status().await;
    let redis_1 = status["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == "redis-1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(redis_1["slots"], redis_1["declared_slots"], "{redis_1:#}");
    assert_eq!(common::loaded_keys(&cluster).await, 50_000);
}

/// Every node's shard id in a `nodes.conf`, by node id; empty on a server that writes none.
fn shard_ids(conf: &str) -> std::collections::HashMap<String, String> {
    conf.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let id = fields.next()?;
            let shard = fields
                .next()?
                .split(',')
                .find_map(|aux| aux.strip_prefix("shard-id="))?;
            Some((id.to_string(), shard.to_string()))
        })
        .collect()
}

/// `redis-1`'s `nodes.conf` with `replica`'s shard id made stale, as a node stopped before
/// the id settled writes it. Valkey checks a replica's line against its primary's only when
/// the primary's came first: the stale line goes last, before `vars`. None when the server
/// writes no shard ids.
fn with_stale_shard_id(conf: &str, master: &str, replica: &str) -> Option<String> {
    let shards = shard_ids(conf);
    let current = shards.get(replica)?;
    // Right after forming, the id may not have settled yet: it is stale already.
    let stale = match current == &shards[master] {
        true => "0123456789abcdef0123456789abcdef01234567",
        false => current,
    };
    let line = conf.lines().find(|l| l.starts_with(replica))?;
    let stale_line = line.replace(&format!("shard-id={current}"), &format!("shard-id={stale}"));
    let mut lines: Vec<&str> = conf.lines().filter(|l| *l != line).collect();
    let vars = lines
        .iter()
        .position(|l| l.starts_with("vars"))
        .unwrap_or(lines.len());
    lines.insert(vars, &stale_line);
    Some(format!("{}\n", lines.join("\n")))
}

/// How many times the container's server refused its `nodes.conf`, by its log.
async fn refusals(container: &str) -> usize {
    use futures_util::TryStreamExt;
    let options = bollard::query_parameters::LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .build();
    let log: Vec<bollard::container::LogOutput> = common::docker()
        .await
        .logs(container, Some(options))
        .try_collect()
        .await
        .expect("docker logs");
    log.iter()
        .filter(|line| line.to_string().contains("corrupted cluster config file"))
        .count()
}

/// Valkey up to 8.1.1 refuses a `nodes.conf` where a replica's shard id differs from its
/// master's, and Docker's restart policy loops on it. A node stopped with such a file is
/// started by the operator without a crash (it aligns the file first); one already
/// crash-looping is repaired and restarted.
#[tokio::test]
async fn a_node_with_a_stale_shard_id_in_nodes_conf_is_started_and_repaired() {
    let cluster = TestCluster::new("rep-shard", 75, &REFERENCE).await;
    cluster.write(&cluster.toml_with_replicas(&REFERENCE, &REPLICAS));
    cluster.expect(&["up"], 0).await;
    let (master, replica) = (node_id(&cluster, 13).await, node_id(&cluster, 14).await);
    let container = cluster.container("redis-1");
    let docker = common::docker().await;
    let stop_and_break = async || {
        // redis-1 must itself know redis-4 as its replica: right after a failback it may
        // still see a master, and a master's shard id is never checked.
        let every = Duration::from_millis(50);
        common::poll_until(
            "redis-1 seeing redis-4 as its replica",
            SETTLE,
            every,
            async || {
                let nodes = common::cluster_nodes(&cluster, 13).await;
                let seen = nodes
                    .lines()
                    .find(|l| l.starts_with(&replica))
                    .unwrap_or("");
                match seen.contains(&format!("slave {master}")) {
                    true => Ok(()),
                    false => Err(nodes),
                }
            },
        )
        .await;
        docker
            .stop_container(
                &container,
                None::<bollard::query_parameters::StopContainerOptions>,
            )
            .await
            .expect("docker stop redis-1");
        let conf = common::read_file(&container, "/data/nodes.conf").await;
        let broken = with_stale_shard_id(&conf, &master, &replica)?;
        common::write_file(&container, "/data", "nodes.conf", &broken).await;
        Some(())
    };
    let aligned = async || {
        let conf = common::read_file(&container, "/data/nodes.conf").await;
        let shards = shard_ids(&conf);
        assert_eq!(shards[&replica], shards[&master], "{conf}");
    };
    let server = common::server();
    if stop_and_break().await.is_none() {
        eprintln!("{}: writes no shard ids, so none can go stale", server.name);
        return;
    }

    // Stopped with a stale id: the operator starts it without a crash.
    cluster.expect(&["up"], 0).await;
    declared_roles(&cluster, SETTLE).await;
    assert_eq!(
        refusals(&container).await,
        0,
        "redis-1 crashed on its nodes.conf"
    );
    aligned().await;

    // Started with it behind the operator's back: on a server that refuses the file, it
    // crash-loops until the operator repairs the file and restarts it.
    stop_and_break().await.expect("a stale shard id again");
    docker
        .start_container(
            &container,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .expect("docker start redis-1");
    if server.refuses_stale_shard_ids() {
        let every = Duration::from_millis(50);
        common::poll_until(
            "redis-1 refusing its nodes.conf",
            SETTLE,
            every,
            async || match refusals(&container).await {
                0 => Err("no refusal in its log".to_string()),
                _ => Ok(()),
            },
        )
        .await;
    }
    cluster.expect(&["up"], 0).await;
    declared_roles(&cluster, SETTLE).await;
    aligned().await;
}
