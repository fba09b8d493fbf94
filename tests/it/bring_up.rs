//! `up`, `plan`, `status`, `check`, `keyslot` and `down` against real Docker and real Redis.
//! Each test owns its cluster name and subnet (172.30.<n>.0/24), so they run in parallel.

use crate::common;

use std::collections::BTreeMap;

use common::{stderr, stdout, TestCluster, REFERENCE};
use redis::AsyncCommands;
use redis_keeper::spec::keyslot::key_slot;

/// Every node's slots as reported by Redis itself (`myself` line of CLUSTER NODES).
async fn slots_by_node(
    cluster: &TestCluster,
    nodes: &[(&str, u8, &[&str])],
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, last, _) in nodes {
        let mut conn = cluster.node(*last).await;
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await
            .unwrap();
        let me = text
            .lines()
            .find(|l| l.contains("myself"))
            .expect("myself line");
        let slots = me.split_whitespace().skip(8).map(str::to_string).collect();
        out.insert(name.to_string(), slots);
    }
    out
}

#[tokio::test]
async fn up_from_nothing_then_reads_and_writes_follow_moved_and_up_again_changes_nothing() {
    let cluster = TestCluster::new("bringup", 11, &REFERENCE).await;
    cluster.up().await;

    // Every node agrees the cluster is ok, with the reference slots.
    for (_, last, _) in REFERENCE {
        let mut conn = cluster.node(last).await;
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
    }

    // A key on redis-1 asked of redis-2 answers MOVED, which a cluster client follows.
    let mut direct = cluster.node(16).await;
    let moved: redis::RedisResult<Option<String>> = direct.get("user:1000").await;
    let err = moved.expect_err("redis-2 does not serve slot 1649");
    assert!(
        err.to_string().contains("MOVED") || err.to_string().contains("Moved"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&cluster.ip(13)),
        "redirected to redis-1: {err}"
    );

    let mut client = cluster.cluster_client().await;
    for i in 0..300 {
        let () = client.set(format!("key:{i}"), i).await.unwrap();
    }
    for i in 0..300 {
        let v: i64 = client.get(format!("key:{i}")).await.unwrap();
        assert_eq!(v, i);
    }

    // The second `up` adopts what is there: same containers, same node ids, nothing planned.
    let before = cluster.status().await;
    cluster.up().await;
    let after = cluster.status().await;
    for (b, a) in before["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["nodes"].as_array().unwrap())
    {
        assert_eq!(b["node_id"], a["node_id"]);
        assert!(b["node_id"].is_string());
    }
    let plan = cluster.expect(&["plan"], 0).await;
    assert!(stdout(&plan).contains("nothing to do"), "{}", stdout(&plan));
    cluster.expect(&["check"], 0).await;
    assert_eq!(after["healthy"], true);
}

#[tokio::test]
async fn non_contiguous_declared_ranges_are_served_exactly_as_declared() {
    let layout: [(&str, u8, &[&str]); 3] = [
        ("a", 21, &["0-1000", "8000-9000", "16383"]),
        ("b", 22, &["1001-7999"]),
        ("c", 23, &["9001-16382"]),
    ];
    let cluster = TestCluster::new("ranges", 12, &layout).await;
    cluster.up().await;
    let slots = slots_by_node(&cluster, &layout).await;
    let expected: BTreeMap<String, Vec<String>> = layout
        .iter()
        .map(|(n, _, s)| (n.to_string(), s.iter().map(|r| r.to_string()).collect()))
        .collect();
    assert_eq!(slots, expected);
    let status = cluster.status().await;
    let spans = status["slot_map"].as_array().unwrap();
    let runs: Vec<(u64, u64, &str)> = spans
        .iter()
        .map(|s| {
            (
                s["start"].as_u64().unwrap(),
                s["end"].as_u64().unwrap(),
                s["owner"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            (0, 1000, "a"),
            (1001, 7999, "b"),
            (8000, 9000, "a"),
            (9001, 16382, "c"),
            (16383, 16383, "a")
        ]
    );
}

#[tokio::test]
async fn a_half_formed_cluster_is_finished_and_keeps_its_node_ids() {
    let cluster = TestCluster::new("halfway", 13, &REFERENCE).await;
    cluster.up().await;
    // Put the cluster into the state a crash mid-formation leaves: all nodes fresh, then
    // redis-1 and redis-2 given epochs and slots and introduced, redis-3 untouched.
    for (_, last, _) in REFERENCE {
        let mut conn = cluster.node(last).await;
        let () = redis::cmd("CLUSTER")
            .arg("RESET")
            .arg("HARD")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let mut one = cluster.node(13).await;
    let mut two = cluster.node(16).await;
    let () = redis::cmd("CLUSTER")
        .arg("SET-CONFIG-EPOCH")
        .arg(1)
        .query_async(&mut one)
        .await
        .unwrap();
    let () = redis::cmd("CLUSTER")
        .arg("SET-CONFIG-EPOCH")
        .arg(2)
        .query_async(&mut two)
        .await
        .unwrap();
    let () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(5460)
        .query_async(&mut one)
        .await
        .unwrap();
    let () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(5461)
        .arg(10922)
        .query_async(&mut two)
        .await
        .unwrap();
    let () = redis::cmd("CLUSTER")
        .arg("MEET")
        .arg(cluster.ip(16))
        .arg(6379)
        .query_async(&mut one)
        .await
        .unwrap();
    let ids_before: Vec<String> = {
        let mut ids = Vec::new();
        for conn in [&mut one, &mut two] {
            let id: String = redis::cmd("CLUSTER")
                .arg("MYID")
                .query_async(conn)
                .await
                .unwrap();
            ids.push(id);
        }
        ids
    };

    let plan = cluster.expect(&["plan"], 3).await;
    let text = stdout(&plan);
    assert!(
        text.contains("assign slots 10923-16383 (5461 slots) to redis-3"),
        "{text}"
    );
    assert!(
        !text.contains("slots 0-5460") && !text.contains("slots 5461-10922"),
        "the slots redis-1 and redis-2 hold are kept, not assigned again: {text}"
    );

    cluster.up().await;
    let status = cluster.status().await;
    let ids_after: Vec<String> = status["nodes"].as_array().unwrap()[..2]
        .iter()
        .map(|n| n["node_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids_before, ids_after, "adopted, not re-created");
    assert_eq!(
        slots_by_node(&cluster, &REFERENCE).await["redis-3"],
        vec!["10923-16383".to_string()]
    );
}

/// An action carries the id of the node it was planned for, and one that would do harm on
/// another identity is not carried out once the node has another: a reset repeated after a
/// crash must not reset the fresh identity again. Planned for the id the node has, it is.
#[tokio::test]
async fn an_action_planned_for_an_identity_the_node_no_longer_has_is_refused() {
    use redis_keeper::actions::{apply_all, ActError, Peer, ResetNode};
    use redis_keeper::spec::secret::{self, Missing};
    let cluster = TestCluster::new("identity", 20, &REFERENCE).await;
    cluster.up().await;
    let spec = redis_keeper::spec::load(&cluster.file).expect("the test's cluster.toml");
    let redis_3 = Peer {
        id: "0".repeat(40),
        addr: spec.nodes[2].addr(),
        name: "redis-3".into(),
    };
    let password = secret::resolve(&spec.auth, Missing::Fail).expect("the test's password");
    let ctx = redis_keeper::runtime::context::Context::connect(spec, password)
        .await
        .expect("a context");
    let id = common::node_id(&cluster, 17).await;
    let reset = |node: &Peer| vec![ResetNode { node: node.clone() }.into()];

    let refused = apply_all(&ctx, &reset(&redis_3), &mut |_| {})
        .await
        .expect_err("planned for another id");
    assert!(
        matches!(refused, ActError::NotTheSameNode { .. }) && !refused.is_permanent(),
        "{refused}"
    );
    assert_eq!(common::node_id(&cluster, 17).await, id, "not reset");

    let current = Peer {
        id: id.clone(),
        ..redis_3
    };
    apply_all(&ctx, &reset(&current), &mut |_| {})
        .await
        .expect("planned for the id it has");
    assert_ne!(common::node_id(&cluster, 17).await, id, "reset: a new id");
}

#[tokio::test]
async fn invalid_spec_exits_2_names_every_problem_and_creates_nothing() {
    let cluster = TestCluster::new("invalid", 14, &REFERENCE).await;
    let broken = cluster
        .toml(&REFERENCE)
        .replace("\"5461-10922\"", "\"5461-9000\"")
        .replace(&cluster.ip(17), "10.1.2.3");
    cluster.write(&broken);
    for command in [
        &["up"][..],
        &["plan"],
        &["status"],
        &["check"],
        &["keyslot", "k"],
    ] {
        let out = cluster.expect(command, 2).await;
        let err = stderr(&out);
        assert!(
            err.contains("1922 slot(s) belong to no node: 9001-10922"),
            "{command:?}: {err}"
        );
        assert!(
            err.contains("10.1.2.3 is outside the subnet"),
            "{command:?}: {err}"
        );
        assert!(
            err.contains("cluster.toml:"),
            "problems carry their place: {err}"
        );
    }
    assert!(cluster.containers().await.is_empty());
    assert!(cluster.volumes().await.is_empty());
    assert!(!cluster.network_exists().await);
    assert!(
        !cluster.dir.path().join("pw").exists(),
        "no password file written for a bad spec"
    );
}

#[tokio::test]
async fn down_removes_containers_and_network_and_volumes_only_when_asked() {
    let cluster = TestCluster::new("down", 15, &REFERENCE).await;
    cluster.up().await;
    assert_eq!(cluster.containers().await.len(), 3);
    cluster.expect(&["down"], 0).await;
    assert!(cluster.containers().await.is_empty());
    assert!(!cluster.network_exists().await);
    assert_eq!(
        cluster.volumes().await.len(),
        3,
        "volumes survive a plain down"
    );
    cluster.expect(&["down", "--volumes"], 0).await;
    assert!(cluster.volumes().await.is_empty());
}

/// A reader that goes away (`status | head -3`) ends a command the way it ends `ls`: exit
/// status 141 (128 + SIGPIPE) and nothing on stderr, no panic.
#[tokio::test]
async fn output_to_a_closed_pipe_ends_the_command_quietly() {
    let cluster = TestCluster::new("closed-pipe", 19, &REFERENCE).await;
    for args in [
        &["status"][..],
        &["status", "-o", "json"],
        &["plan"],
        &["check"],
        &["keyslot", "user:1000"],
    ] {
        // The reading end is closed before the command starts, so even its first line (keyslot
        // prints at once) meets a reader that has gone: dropped after the start, it raced it.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = tokio::process::Command::new(common::BIN)
            .args(args)
            .arg("-f")
            .arg(&cluster.file)
            .env("RUST_LOG", "warn")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run redis-keeper")
            .wait_with_output()
            .await
            .expect("wait for redis-keeper");
        assert_eq!(
            out.status.code(),
            Some(141),
            "{args:?}: stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(common::stderr(&out), "", "{args:?} says nothing");
    }
}

#[tokio::test]
async fn keyslot_agrees_with_redis_for_plain_and_tagged_keys() {
    let cluster = TestCluster::new("keyslot", 16, &REFERENCE).await;
    cluster.up().await;
    let mut conn = cluster.node(13).await;
    let mut keys: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    keys.extend(
        [
            "user:1000",
            "{user:1000}.name",
            "foo{}{bar}",
            "foo{{bar}}zap",
            "a{b}c{d}",
            "",
            "{",
            "}{x}",
        ]
        .map(String::from),
    );
    for key in &keys {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(key_slot(key.as_bytes()), slot, "key {key:?}");
    }
    let out = cluster.expect(&["keyslot", "user:1000"], 0).await;
    assert_eq!(
        stdout(&out).trim(),
        format!("user:1000: slot 1649 on redis-1 ({}:6379)", cluster.ip(13))
    );
}

#[tokio::test]
async fn the_password_stays_out_of_docker_inspect_and_its_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let cluster = TestCluster::new("secret", 17, &REFERENCE).await;
    cluster.up().await;
    let password = cluster.password();
    assert!(password.len() >= 32);
    let mode = std::fs::metadata(cluster.dir.path().join("pw"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let docker = common::docker().await;
    for name in cluster.containers().await {
        let inspect = docker.inspect_container(&name, None).await.unwrap();
        let json = serde_json::to_string(&inspect).unwrap();
        assert!(
            !json.contains(&password),
            "{name}'s inspect output holds the password"
        );
    }
    // Without the password, a node refuses.
    let url = format!("redis://{}:6379", cluster.ip(13));
    let mut anon = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let denied: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut anon).await;
    assert!(denied.unwrap_err().to_string().contains("NOAUTH"));
}

/// `docker compose` (v2, by project label alone) or `docker-compose` (v1, which needs a file
/// naming the services) run against the cluster's project.
fn compose(cluster: &TestCluster, args: &[&str]) -> std::process::Output {
    let v2 = std::process::Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if v2 {
        let mut c = std::process::Command::new("docker");
        c.args(["compose", "-p", &cluster.name]);
        c
    } else {
        let file = cluster.dir.path().join("docker-compose.yml");
        let services: String = REFERENCE
            .iter()
            .map(|(n, _, _)| format!("  {n}: {{image: scratch}}\n"))
            .collect();
        std::fs::write(&file, format!("version: \"2.4\"\nservices:\n{services}")).unwrap();
        let mut c = std::process::Command::new("docker-compose");
        c.arg("-p").arg(&cluster.name).arg("-f").arg(&file);
        c
    };
    cmd.args(args)
        .output()
        .expect("docker compose or docker-compose is installed (./dev installs it)")
}

#[tokio::test]
async fn docker_compose_sees_the_cluster_as_its_project() {
    let cluster = TestCluster::new("compose", 18, &REFERENCE).await;
    cluster.up().await;
    let ps = compose(&cluster, &["ps"]);
    let listed = stdout(&ps);
    for name in cluster.containers().await {
        assert!(
            listed.contains(&name),
            "compose ps lists {name}:\n{listed}{}",
            stderr(&ps)
        );
    }
    let down = compose(&cluster, &["down"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(
        cluster.containers().await.is_empty(),
        "compose down removed the containers"
    );
}
