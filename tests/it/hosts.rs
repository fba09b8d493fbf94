//! One cluster across three Docker engines, each a simulated host (a network namespace with
//! its own dockerd: one over TCP, one over TCP with TLS client certificates, one over SSH
//! through a docker context): bring-up, clients
//! following redirects to every host, a host cut off and back, a node container removed on
//! a remote host, and a host's dockerd killed, with a writer acknowledged by `WAIT 1`
//! throughout.

use crate::common;

use std::time::{Duration, Instant};

use common::hosts::TestHosts;
use common::replicated::ReplicatedWriter;
use common::router::{Patience, SlotRouter};
use common::{lost_writes, stdout, Operator, TestCluster};
use redis::AsyncCommands;
use redis_keeper::runtime::status::ConditionType;

/// 3 masters and 3 replicas, each replica on another host than its master: vm-a runs
/// redis-1 and redis-6 (replica of redis-3), vm-b redis-2 and redis-4 (of redis-1), vm-c
/// redis-3 and redis-5 (of redis-2).
fn hosted_toml(cluster: &TestCluster, hosts: &TestHosts) -> String {
    // Never pulled (the hosts have no route out): the matrix's server is the image the
    // harness loaded into the first host, which the operator copies to the others; the
    // host's Redis is the host fallback, built on the first host.
    let image = match &cluster.server.image {
        Some(_) => cluster.server.image_toml(),
        None => "[image]\npull = \"never\"\n".to_string(),
    };
    let mut text = format!(
        "[cluster]\nname = \"{}\"\npassword_file = \"pw\"\nnode_timeout_ms = 5000\n\n\
         {}\n[network]\nname = \"{}-net\"\nsubnet = \"{}\"\n",
        cluster.name,
        image,
        cluster.name,
        cluster.subnet()
    );
    text.push_str(&hosts.toml());
    let nodes = [
        ("redis-1", 13, "vm-a", 6379, "slots = [\"0-5460\"]"),
        ("redis-2", 16, "vm-b", 6379, "slots = [\"5461-10922\"]"),
        ("redis-3", 17, "vm-c", 6379, "slots = [\"10923-16383\"]"),
        ("redis-4", 14, "vm-b", 6380, "replica_of = \"redis-1\""),
        ("redis-5", 15, "vm-c", 6380, "replica_of = \"redis-2\""),
        ("redis-6", 18, "vm-a", 6380, "replica_of = \"redis-3\""),
    ];
    for (name, last, host, port, role) in nodes {
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"{name}\"\nip = \"{}\"\nhost = \"{host}\"\nport = {port}\n{role}\n",
            cluster.ip(last)
        ));
    }
    text
}

/// The id of a node's container on its host (None when it has none).
fn container_id(hosts: &TestHosts, host: &str, container: &str) -> Option<String> {
    let out = hosts
        .host(host)
        .docker_cli(&["inspect", "--format", "{{.Id}}", container]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The image the cluster's nodes on `host` run.
fn node_image(hosts: &TestHosts, host: &str, cluster: &TestCluster) -> String {
    let out = hosts.host(host).docker_cli(&[
        "ps",
        "--filter",
        &format!("label=io.redis-keeper.cluster={}", cluster.name),
        "--format",
        "{{.Image}}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The id of the image the cluster's nodes on `host` run (empty when it runs none).
fn node_image_id(hosts: &TestHosts, host: &str, cluster: &TestCluster) -> String {
    let image = node_image(hosts, host, cluster);
    let id = hosts
        .host(host)
        .docker_cli(&["image", "inspect", "--format", "{{.Id}}", &image]);
    String::from_utf8_lossy(&id.stdout).trim().to_string()
}

/// Who the cluster's lease on `host` names (its holder label), None when it has none there.
fn lease_holder(hosts: &TestHosts, host: &str, cluster: &TestCluster) -> Option<String> {
    let out = hosts.host(host).docker_cli(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"io.redis-keeper.lease-holder\"}}",
        &format!("{}-keeper-lease", cluster.name),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Polls until `holds` is true of the lease holders on vm-a and vm-b.
async fn until_leases(
    hosts: &TestHosts,
    cluster: &TestCluster,
    what: &str,
    holds: impl Fn(Option<&str>, Option<&str>) -> bool,
) {
    let every = Duration::from_millis(200);
    common::poll_until(what, Duration::from_secs(30), every, async || {
        let (a, b) = (
            lease_holder(hosts, "vm-a", cluster),
            lease_holder(hosts, "vm-b", cluster),
        );
        if holds(a.as_deref(), b.as_deref()) {
            Ok(())
        } else {
            Err(format!("leases on vm-a: {a:?}, on vm-b: {b:?}"))
        }
    })
    .await
}

/// Waits until a `SET` to a key of each shard succeeds at the node that serves its slot,
/// asking `seeds` for the slot map; returns when that was.
async fn until_writable(seeds: &[&str], password: &str, timeout: Duration) -> Instant {
    let slots = [0u16, 5461, 10923];
    let every = Duration::from_millis(100);
    common::poll_until("every shard writable", timeout, every, async || {
        let mut unwritable = Vec::new();
        for slot in slots {
            let key = format!("{{{}}}:probe", common::tag_for_slot(slot));
            let mut written = false;
            for seed in seeds {
                if set_at_owner(seed, password, &key, slot).await {
                    written = true;
                    break;
                }
            }
            if !written {
                unwritable.push(slot);
            }
        }
        if unwritable.is_empty() {
            Ok(Instant::now())
        } else {
            Err(format!("no write taken for slots {unwritable:?}"))
        }
    })
    .await
}

/// Asks `seed` who serves `slot` and sets `key` there (no redirect followed).
async fn set_at_owner(seed: &str, password: &str, key: &str, slot: u16) -> bool {
    let patience = Patience {
        connect: Duration::from_millis(300),
        reply: Duration::from_millis(500),
    };
    let mut router = SlotRouter::new(vec![seed.to_string()], password.to_string(), patience);
    if !router.refresh().await {
        return false;
    }
    let Some(owner) = router.owner(slot).map(str::to_string) else {
        return false;
    };
    let Some(mut conn) = router.connection(&owner).await else {
        return false;
    };
    conn.set::<_, _, ()>(key, 1).await.is_ok()
}

/// One node's entry in `status -o json`.
async fn node_status(cluster: &TestCluster, node: &str) -> serde_json::Value {
    let status = cluster.status().await;
    let nodes = status["nodes"].as_array().expect("nodes");
    nodes
        .iter()
        .find(|n| n["name"] == node)
        .expect("a declared node")
        .clone()
}

async fn node_id_of(cluster: &TestCluster, node: &str) -> String {
    let n = node_status(cluster, node).await;
    n["node_id"]
        .as_str()
        .expect("answers with its id")
        .to_string()
}

async fn role_of(cluster: &TestCluster, node: &str) -> String {
    let n = node_status(cluster, node).await;
    n["role"].as_str().unwrap_or("none").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_cluster_across_three_hosts_survives_a_cut_a_removed_container_and_a_daemon_kill() {
    let mut hosts = TestHosts::start(1, 3);
    let mut cluster = TestCluster::new("hosts", 98, &[]).await;
    cluster.write(&hosted_toml(&cluster, &hosts));
    cluster.env = hosts.env();
    cluster.seeds = vec![
        hosts.at("vm-a", 6379),
        hosts.at("vm-b", 6379),
        hosts.at("vm-c", 6379),
    ];

    let phase = |what: &str| common::phase("one cluster across three hosts", what);
    phase("up with a host cut off");
    up_with_a_host_cut_off_creates_nothing(&cluster, &hosts).await;
    phase("brought up");
    brought_up_with_the_image_made_once(&cluster, &hosts).await;
    a_client_seeded_with_one_host_follows_moved(&cluster, &hosts).await;
    a_lease_held_elsewhere_refuses_up(&cluster, &hosts).await;

    phase("run");
    let api = format!("127.0.0.1:{}", cluster.server.port(18000, 98));
    let operator = Operator::start_with(&cluster, &["--resync", "1", "--listen", &api]);
    operator
        .wait_for("Ready under run", Duration::from_secs(60), |s| {
            s.condition(ConditionType::Ready).is_some_and(|c| c.status)
        })
        .await;
    the_api_names_nodes_at_their_hosts(&api, &hosts).await;
    let writer = ReplicatedWriter::start_at(
        cluster
            .seeds
            .iter()
            .cloned()
            .chain([
                hosts.at("vm-a", 6380),
                hosts.at("vm-b", 6380),
                hosts.at("vm-c", 6380),
            ])
            .collect(),
        cluster.password(),
        "hosts",
        0..16384,
    )
    .await;
    writer.wait_for_writes(200, Duration::from_secs(30)).await;
    let held = lease_holder(&hosts, "vm-a", &cluster);
    assert!(
        held.as_deref()
            .is_some_and(|h| h.contains(&format!("\"pid\":{},", operator.pid()))),
        "run holds the lease: {held:?}"
    );

    phase("vm-a cut off");
    vm_a_cut_off_fails_over_and_comes_back(&cluster, &hosts, &operator, &writer).await;

    phase("a node removed on a remote host");
    a_node_removed_on_a_remote_host_is_recreated_there(&cluster, &hosts).await;

    phase("a dockerd killed");
    a_killed_dockerd_is_survived(&cluster, &mut hosts).await;
    writer.wait_for_writes(200, Duration::from_secs(30)).await;

    phase("writer stopping");
    let (acked, outage) = writer.stop().await;
    println!(
        "{} writes acknowledged by a replica, longest outage {:.1} s",
        acked.len(),
        outage.as_secs_f64()
    );
    phase("reading the writes back");
    let lost = lost_writes(&cluster, &acked).await;
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    phase("terminating the operator");
    assert_eq!(operator.terminate(), Some(0));
    assert!(
        container_id(&hosts, "vm-a", &format!("{}-keeper-lease", cluster.name)).is_none(),
        "run gave its lease back on SIGTERM"
    );
    drop(cluster);
    drop(hosts);
}

/// With one host out of reach, `up` creates nothing anywhere and names the host.
async fn up_with_a_host_cut_off_creates_nothing(cluster: &TestCluster, hosts: &TestHosts) {
    // With one host out of reach, `up` creates nothing anywhere and names the host.
    hosts.host("vm-c").cut();
    let refused = cluster.expect(&["up"], 1).await;
    assert!(
        common::stderr(&refused)
            .contains("host vm-c: cannot reach its Docker Engine at docker context rk-vm-c (")
            && common::stderr(&refused).contains(
                "): check that the machine is up and `docker --context rk-vm-c info` answers from here"
            ),
        "{}",
        common::stderr(&refused)
    );
    let made = hosts.host("vm-a").docker_cli(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.redis-keeper.cluster={}", cluster.name),
    ]);
    assert!(
        made.status.success() && made.stdout.is_empty(),
        "nothing was created on vm-a"
    );
    hosts.host("vm-c").restore();
}

/// Bring-up across the three engines: the image is made once and copied to the others,
/// and every node is reached and named at its host's address.
async fn brought_up_with_the_image_made_once(cluster: &TestCluster, hosts: &TestHosts) {
    // Bring-up across the three engines: the image is made once and copied to the others.
    let started = Instant::now();
    cluster.up().await;
    println!(
        "bring-up across 3 hosts: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status = cluster.status().await;
    let reached: Vec<(String, bool)> = status["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            (
                h["docker"].as_str().unwrap_or_default().to_string(),
                h["reachable"] == true,
            )
        })
        .collect();
    assert_eq!(
        reached,
        [
            (format!("tcp://{}", hosts.at("vm-a", 2375)), true),
            (format!("tcp://{} (TLS)", hosts.at("vm-b", 2376)), true),
            ("docker context rk-vm-c".to_string(), true), // ssh://root@<vm-c>
        ]
    );
    for (node, host, port) in [("redis-1", "vm-a", 6379), ("redis-4", "vm-b", 6380)] {
        let n = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == node)
            .unwrap();
        assert_eq!(n["host"], host);
        assert_eq!(n["address"], format!("{}:{port}", hosts.host(host).address));
    }
    // The image was made once and copied: every host has the very same image.
    let image_ids: Vec<String> = ["vm-a", "vm-b", "vm-c"]
        .iter()
        .map(|h| node_image_id(hosts, h, cluster))
        .collect();
    assert!(
        !image_ids[0].is_empty() && image_ids.iter().all(|id| *id == image_ids[0]),
        "{image_ids:?}"
    );
    let keyslot = cluster.expect(&["keyslot", "user:1000"], 0).await;
    assert_eq!(
        stdout(&keyslot).trim(),
        format!(
            "user:1000: slot 1649 on redis-1 ({})",
            hosts.at("vm-a", 6379)
        )
    );
}

/// A client on the machine, seeded with one host only, follows MOVED to every host.
async fn a_client_seeded_with_one_host_follows_moved(cluster: &TestCluster, hosts: &TestHosts) {
    // A client on the machine, seeded with one host only, follows MOVED to every host.
    let client = redis::cluster::ClusterClientBuilder::new(vec![format!(
        "redis://{}",
        hosts.at("vm-a", 6379)
    )])
    .password(cluster.password())
    .response_timeout(common::CLUSTER_RESPONSE_TIMEOUT)
    .build()
    .expect("cluster client");
    let mut client = common::connect_cluster(&client).await;
    for slot in [0u16, 5461, 10923, 16383] {
        let key = format!("{{{}}}:redirected", common::tag_for_slot(slot));
        let _: () = client.set(&key, slot).await.expect("a write redirected");
        let got: u16 = client.get(&key).await.expect("read back");
        assert_eq!(got, slot);
    }
}

/// One operator per cluster across machines: a lease held from another machine refuses
/// `up`, naming that machine and how to clear it.
async fn a_lease_held_elsewhere_refuses_up(cluster: &TestCluster, hosts: &TestHosts) {
    // One operator per cluster across machines: a lease on the first host. One held from
    // another machine refuses `up`, naming that machine and how to clear it.
    let lease = format!("{}-keeper-lease", cluster.name);
    let vm_a = hosts.host("vm-a");
    let foreign = vm_a.docker_cli(&[
        "create",
        "--name",
        &lease,
        "--label",
        r#"io.redis-keeper.lease-holder={"machine":"ops-laptop","pid":4242,"command":"run","since":"2026-11-26T07:00:00Z"}"#,
        "redis-keeper/lease:1",
    ]);
    assert!(
        foreign.status.success(),
        "{}",
        String::from_utf8_lossy(&foreign.stderr)
    );
    let refused = cluster.expect(&["up"], 1).await;
    assert!(
        common::stderr(&refused).contains(&format!(
            "is being managed by `redis-keeper run` on ops-laptop (pid 4242, since 2026-11-26T07:00:00Z): stop it there first; if that machine is gone, remove its lease with `docker -H tcp://{} rm {lease}`",
            hosts.at("vm-a", 2375)
        )),
        "{}",
        common::stderr(&refused)
    );
    assert!(vm_a.docker_cli(&["rm", &lease]).status.success());
}

/// The API names every node by the address clients reach it at.
async fn the_api_names_nodes_at_their_hosts(api: &str, hosts: &TestHosts) {
    // The API names every node by the address clients reach it at.
    let nodes = common::http::get(api, "/redis/cluster/nodes").await.json();
    let mut addresses: Vec<String> = nodes["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| format!("{}:{}", n["host"].as_str().unwrap_or_default(), n["port"]))
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        [
            hosts.at("vm-a", 6379),
            hosts.at("vm-a", 6380),
            hosts.at("vm-b", 6379),
            hosts.at("vm-b", 6380),
            hosts.at("vm-c", 6379),
            hosts.at("vm-c", 6380),
        ]
    );
    let hosts_seen = common::http::get(api, "/status").await.json();
    assert_eq!(
        hosts_seen["report"]["hosts"][0]["name"], "vm-a",
        "{hosts_seen}"
    );
}

/// vm-a cut off: Redis fails over on the majority, the operator leaves vm-a's nodes as they
/// are while it cannot see them, and once vm-a is back the roles come back.
async fn vm_a_cut_off_fails_over_and_comes_back(
    cluster: &TestCluster,
    hosts: &TestHosts,
    operator: &Operator,
    writer: &ReplicatedWriter,
) {
    // vm-a cut off: redis-1 (a master) and redis-6 go silent, and so does vm-a's Docker.
    let redis_1 = container_id(hosts, "vm-a", &cluster.container("redis-1")).expect("redis-1");
    let redis_1_id = node_id_of(cluster, "redis-1").await;
    let cut_at = Instant::now();
    hosts.host("vm-a").cut();
    operator
        .wait_for("vm-a reported unreachable", Duration::from_secs(30), |s| {
            s.condition(ConditionType::Ready)
                .is_some_and(|c| !c.status && c.message.contains("host vm-a is unreachable"))
        })
        .await;
    // Redis's own failover (redis-4 on vm-b, by the majority on vm-b and vm-c) makes every
    // slot writable again. Shards 1 and 3 have no replica left to acknowledge a `WAIT 1`
    // until vm-a is back; shard 2's writes go on being acknowledged.
    let outage = until_writable(
        &[&hosts.at("vm-b", 6379), &hosts.at("vm-c", 6379)],
        &cluster.password(),
        Duration::from_secs(60),
    )
    .await;
    println!(
        "every slot writable again {:.1} s after vm-a was cut off",
        (outage - cut_at).as_secs_f64()
    );
    writer.wait_for_writes(30, Duration::from_secs(60)).await;
    assert_eq!(role_of(cluster, "redis-4").await, "master");
    let status = cluster.status().await;
    let vm_a = &status["hosts"].as_array().unwrap()[0];
    assert_eq!(
        (vm_a["name"].as_str(), vm_a["reachable"].as_bool()),
        (Some("vm-a"), Some(false))
    );

    // Back: nothing of vm-a's was recreated meanwhile, and the roles come back (failback).
    let restored_at = Instant::now();
    hosts.host("vm-a").restore();
    let every = Duration::from_millis(250);
    let taken_back = "redis-1 taking its slots back from redis-4";
    common::poll_until(taken_back, Duration::from_secs(120), every, async || {
        let roles = (
            role_of(cluster, "redis-1").await,
            role_of(cluster, "redis-4").await,
        );
        match (roles.0.as_str(), roles.1.as_str()) {
            ("master", "replica") => Ok(()),
            _ => Err(format!("redis-1, redis-4 are {roles:?}")),
        }
    })
    .await;
    cluster
        .check_green_within("after vm-a came back", Duration::from_secs(60))
        .await;
    println!(
        "healthy with roles restored {:.1} s after vm-a came back",
        restored_at.elapsed().as_secs_f64()
    );
    assert_eq!(
        container_id(hosts, "vm-a", &cluster.container("redis-1")).as_deref(),
        Some(redis_1.as_str()),
        "redis-1's container was not recreated while vm-a was unknown"
    );
    assert_eq!(
        node_id_of(cluster, "redis-1").await,
        redis_1_id,
        "redis-1 was neither forgotten nor reset while vm-a was unknown"
    );
}

/// A node container removed on a remote host is recreated there.
async fn a_node_removed_on_a_remote_host_is_recreated_there(
    cluster: &TestCluster,
    hosts: &TestHosts,
) {
    // A node container removed on a remote host is recreated there.
    let redis_3 = container_id(hosts, "vm-c", &cluster.container("redis-3")).expect("redis-3");
    let removed = hosts
        .host("vm-c")
        .docker_cli(&["rm", "-f", &cluster.container("redis-3")]);
    assert!(removed.status.success(), "docker rm on vm-c");
    let every = Duration::from_millis(100);
    common::poll_until(
        "redis-3 recreated on vm-c",
        Duration::from_secs(60),
        every,
        async || match container_id(hosts, "vm-c", &cluster.container("redis-3")) {
            Some(id) if id != redis_3 => Ok(()),
            now => Err(format!("its container is {now:?}")),
        },
    )
    .await;
    cluster
        .check_green_within(
            "after redis-3 was recreated on vm-c",
            Duration::from_secs(120),
        )
        .await;
}

/// vm-b's dockerd killed and started again: the operator resubscribes and converges, and
/// the container that outlived its dockerd is kept.
async fn a_killed_dockerd_is_survived(cluster: &TestCluster, hosts: &mut TestHosts) {
    // vm-b's dockerd killed and started again: the operator resubscribes and converges.
    let redis_2 = container_id(hosts, "vm-b", &cluster.container("redis-2")).expect("redis-2");
    hosts.host_mut("vm-b").restart_daemon();
    cluster
        .check_green_within("after vm-b's dockerd restarted", Duration::from_secs(120))
        .await;
    assert_eq!(
        container_id(hosts, "vm-b", &cluster.container("redis-2")).as_deref(),
        Some(redis_2.as_str()),
        "redis-2's container outlived its dockerd and was kept"
    );
}

/// TLS only, across hosts: each node publishes and announces its own TLS port (two nodes
/// share each host), certificates name the host addresses, and the seed's `redis-cli -c
/// --tls` through one host follows redirects to the others. Under `run`, the lease follows
/// cluster.toml's first host, and a VM added to the file gets a replica and then a master
/// that takes slots, with their keys, from a master on another host. vm-a's engine is named
/// by its `unix://` socket here, the one kind of endpoint the other scenario does not use.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_only_cluster_across_hosts_serves_clients_through_redirects() {
    let mut hosts = TestHosts::start(2, 4);
    hosts.reach_through_socket("vm-a");
    let mut cluster = TestCluster::new("hosts-tls", 96, &[]).await;
    // vm-d is the VM added later.
    let vm_d_entry = hosts.host("vm-d").toml();
    let mut text = hosted_toml(&cluster, &hosts)
        .replace("port = 6380\n", "port = 6380\ntls_port = 6391\n")
        .replace(&vm_d_entry, "");
    text.push_str(
        "\n[tls]\nenabled = true\nport = 6390\nplaintext = false\ncerts_dir = \"certs\"\n",
    );
    cluster.write(&text);
    cluster.env = hosts.env();
    cluster.up().await;
    let status = cluster.status().await;
    let vm_a = &status["hosts"][0];
    assert_eq!(
        (&vm_a["docker"], &vm_a["reachable"]),
        (
            &serde_json::json!(hosts.host("vm-a").endpoint),
            &serde_json::json!(true)
        ),
        "{vm_a}"
    );
    redis_cli_follows_redirects_across_hosts(&cluster, &hosts).await;

    // `run` keeps its lease where cluster.toml says. An edit putting vm-b first waits while
    // another operator holds vm-b's lease, then moves the lease there.
    let operator = Operator::start_with(&cluster, &["--resync", "1"]);
    operator
        .wait_for("Ready under run", Duration::from_secs(60), |s| {
            s.condition(ConditionType::Ready).is_some_and(|c| c.status)
        })
        .await;
    let text = the_lease_follows_cluster_toml(&cluster, &hosts, &operator, text).await;

    let text = a_vm_added_under_run_gets_a_replica(&cluster, &hosts, text, &vm_d_entry).await;
    a_master_on_the_added_vm_takes_slots_with_their_keys(&cluster, &hosts, &text).await;
    assert_eq!(operator.terminate(), Some(0));
    assert_eq!(
        lease_holder(&hosts, "vm-b", &cluster),
        None,
        "run gave its lease back on SIGTERM"
    );
    drop(cluster);
    drop(hosts);
}

/// The seed's `redis-cli -c --tls` through vm-a follows redirects to the other hosts, and
/// redis-4 is vm-b's replica on its own TLS port.
async fn redis_cli_follows_redirects_across_hosts(cluster: &TestCluster, hosts: &TestHosts) {
    let certs = cluster.dir.path().join("certs/redis-2");
    for slot in [100u16, 6000, 12000] {
        let key = format!("{{{}}}:tls", common::tag_for_slot(slot));
        for args in [
            vec!["SET", key.as_str(), "across"],
            vec!["GET", key.as_str()],
        ] {
            let out = common::certs::redis_cli_as(&certs, &cluster.password())
                .args(["-c", "-h", &hosts.host("vm-a").address, "-p", "6390"])
                .args(&args)
                .output()
                .await
                .expect("redis-cli");
            let reply = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                reply == "OK" || reply == "across",
                "{args:?} through vm-a: {reply} {}",
                common::stderr(&out)
            );
        }
    }
    // One observation over TLS can miss a node on a loaded machine (its handshake times
    // out): ask again until redis-4 answers, then it must be vm-b's replica on its TLS port.
    let every = Duration::from_millis(250);
    let four = common::poll_until(
        "redis-4 answers",
        Duration::from_secs(30),
        every,
        async || {
            let four = node_status(cluster, "redis-4").await;
            if !four["role"].is_null() {
                Ok(four)
            } else {
                Err(four.to_string())
            }
        },
    )
    .await;
    assert_eq!(four["address"], hosts.at("vm-b", 6391), "{four}");
    assert_eq!(four["role"], "replica", "{four}");
}

/// `run` keeps its lease where cluster.toml says. An edit putting vm-b first waits while
/// another operator holds vm-b's lease, then moves the lease there. Returns the edited file.
async fn the_lease_follows_cluster_toml(
    cluster: &TestCluster,
    hosts: &TestHosts,
    operator: &Operator,
    text: String,
) -> String {
    let mine = format!("\"pid\":{},", operator.pid());
    until_leases(hosts, cluster, "run holds vm-a's lease", |a, b| {
        a.is_some_and(|a| a.contains(&mine)) && b.is_none()
    })
    .await;
    let lease = format!("{}-keeper-lease", cluster.name);
    let foreign = hosts.host("vm-b").docker_cli(&[
        "create",
        "--name",
        &lease,
        "--label",
        r#"io.redis-keeper.lease-holder={"machine":"ops-laptop","pid":4242,"command":"run","since":"2026-11-26T07:00:00Z"}"#,
        &node_image(hosts, "vm-b", cluster),
        "never-started",
    ]);
    assert!(
        foreign.status.success(),
        "{}",
        String::from_utf8_lossy(&foreign.stderr)
    );
    let vm_a_entry = hosts.host("vm-a").toml();
    let text = format!("{}{vm_a_entry}", text.replace(&vm_a_entry, ""));
    cluster.write(&text);
    operator
        .wait_for(
            "the edit held back by vm-b's lease",
            Duration::from_secs(30),
            |s| {
                s.condition(ConditionType::Degraded).is_some_and(|c| {
                    c.status
                        && c.message.contains("its lease cannot be taken: cluster")
                        && c.message.contains("on ops-laptop (pid 4242")
                        && c.message.contains(&format!(
                            "docker -H tcp://{} --tlsverify rm {lease}`",
                            hosts.at("vm-b", 2376)
                        ))
                })
            },
        )
        .await;
    assert!(
        lease_holder(hosts, "vm-a", cluster).is_some_and(|a| a.contains(&mine)),
        "run kept its lease on vm-a meanwhile"
    );
    assert!(hosts
        .host("vm-b")
        .docker_cli(&["rm", &lease])
        .status
        .success());
    until_leases(hosts, cluster, "the lease moved to vm-b", |a, b| {
        a.is_none() && b.is_some_and(|b| b.contains(&mine))
    })
    .await;
    text
}

/// A VM added under `run`: its [[hosts]] entry and a replica of redis-1 on it. The operator
/// reaches the new engine, copies the image there, and the replica joins at vm-d's address.
/// Returns the edited file.
async fn a_vm_added_under_run_gets_a_replica(
    cluster: &TestCluster,
    hosts: &TestHosts,
    text: String,
    vm_d_entry: &str,
) -> String {
    // A VM added under `run`: its [[hosts]] entry and a replica of redis-1 on it. The
    // operator reaches the new engine, copies the image there, and the replica joins at
    // vm-d's address.
    let text = format!(
        "{text}{vm_d_entry}\n[[nodes]]\nname = \"redis-7\"\nip = \"{}\"\nhost = \"vm-d\"\nreplica_of = \"redis-1\"\n",
        cluster.ip(19)
    );
    cluster.write(&text);
    let every = Duration::from_millis(250);
    let joined = "redis-7 joining from vm-d";
    common::poll_until(joined, Duration::from_secs(90), every, async || {
        let seven = node_status(cluster, "redis-7").await;
        if seven["role"] == "replica" && seven["address"] == hosts.at("vm-d", 6390) {
            Ok(())
        } else {
            Err(seven.to_string())
        }
    })
    .await;
    cluster
        .check_green_within("with vm-d added", Duration::from_secs(60))
        .await;
    assert_eq!(
        node_image_id(hosts, "vm-d", cluster),
        node_image_id(hosts, "vm-a", cluster),
        "vm-d runs the same image"
    );
    text
}

/// A master on the added VM takes slots 0-1000 from redis-1 on vm-a, keys and all: the
/// MIGRATEs go from host to host over TLS, to the address and TLS port vm-d publishes.
async fn a_master_on_the_added_vm_takes_slots_with_their_keys(
    cluster: &TestCluster,
    hosts: &TestHosts,
    text: &str,
) {
    // A master on the added VM takes slots 0-1000 from redis-1 on vm-a, keys and all: the
    // MIGRATEs go from host to host over TLS, to the address and TLS port vm-d publishes.
    let as_redis_1 = cluster.dir.path().join("certs/redis-1");
    let password = cluster.password();
    let moved: Vec<String> = (0u32..)
        .map(|i| format!("moved:{i}"))
        .filter(|key| redis_keeper::spec::keyslot::key_slot(key.as_bytes()) <= 1000)
        .take(2000)
        .collect();
    let at_vm_a = hosts.at("vm-a", 6390);
    let mut redis_1 = common::certs::tls_connection(&at_vm_a, &as_redis_1, &password).await;
    let mut load = redis::pipe();
    for key in &moved {
        load.set(key, key).ignore();
    }
    let () = load
        .query_async(&mut redis_1)
        .await
        .expect("keys written on redis-1");
    cluster.write(&format!(
        "{}\n[[nodes]]\nname = \"redis-8\"\nip = \"{}\"\nhost = \"vm-d\"\nport = 6380\ntls_port = 6391\nslots = [\"0-1000\"]\n",
        text.replace("slots = [\"0-5460\"]", "slots = [\"1001-5460\"]"),
        cluster.ip(20)
    ));
    let every = Duration::from_millis(250);
    let served = "redis-8 serving 0-1000 from vm-d";
    common::poll_until(served, Duration::from_secs(90), every, async || {
        let eight = node_status(cluster, "redis-8").await;
        if eight["role"] == "master"
            && eight["slots"] == eight["declared_slots"]
            && eight["address"] == hosts.at("vm-d", 6391)
        {
            Ok(())
        } else {
            Err(eight.to_string())
        }
    })
    .await;
    cluster
        .check_green_within("with redis-8 on vm-d", Duration::from_secs(60))
        .await;
    let at_vm_d = hosts.at("vm-d", 6391);
    let mut redis_8 = common::certs::tls_connection(&at_vm_d, &as_redis_1, &password).await;
    let mut read = redis::pipe();
    for key in &moved {
        read.get(key);
    }
    let values: Vec<Option<String>> = read
        .query_async(&mut redis_8)
        .await
        .expect("GET on redis-8");
    let missing: Vec<&String> = moved
        .iter()
        .zip(&values)
        .filter(|(key, value)| value.as_deref() != Some(key.as_str()))
        .map(|(key, _)| key)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys not on redis-8, e.g. {:?}",
        missing.len(),
        moved.len(),
        missing.first()
    );
    let mut left = redis::pipe();
    for slot in 0..=1000 {
        left.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
    }
    let counts: Vec<u64> = left
        .query_async(&mut redis_1)
        .await
        .expect("COUNTKEYSINSLOT");
    assert_eq!(
        counts.iter().sum::<u64>(),
        0,
        "keys left on redis-1 in 0-1000"
    );
}
