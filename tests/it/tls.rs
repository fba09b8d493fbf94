//! `[tls]` against real Docker, with the host's redis-cli and openssl as the independent
//! clients: the seed's TLS command line with redirects, client certificates required,
//! a TLS-only cluster that forms and repairs itself, certificates brought by the user used
//! unchanged, and every bad certificate refused before anything starts.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::certs;
use common::{stderr, tag_for_slot, TestCluster, REFERENCE};

/// A test cluster whose cluster.toml carries `[tls]` with `tls_toml`.
async fn tls_cluster(name: &str, octet: u8, tls_toml: &str) -> TestCluster {
    let cluster = TestCluster::new(name, octet, &REFERENCE).await;
    cluster.write(&format!(
        "{}\n[tls]\nenabled = true\ncerts_dir = \"certs\"\n{tls_toml}",
        cluster.toml(&REFERENCE)
    ));
    cluster
}

/// The seed's command line: `redis-cli -c --tls --cert … --key … --cacert …` as `node`.
async fn tls_cli(cluster: &TestCluster, node: &str, last: u8, args: &[&str]) -> Output {
    let dir = cluster.dir.path().join("certs").join(node);
    certs::redis_cli_as(&dir, &cluster.password())
        .args(["-c", "-h", &cluster.ip(last), "-p", "6390"])
        .args(args)
        .output()
        .await
        .expect("redis-cli")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Through every node, sets and reads back a key in each node's slots: two of three go
/// through a MOVED redirect, which must name the TLS port for redis-cli to follow it.
async fn set_and_get_everywhere(cluster: &TestCluster, as_node: &str) {
    let keys: Vec<String> = [100, 6000, 12000]
        .iter()
        .map(|s| format!("{{{}}}:k", tag_for_slot(*s)))
        .collect();
    for last in [13, 16, 17] {
        for key in &keys {
            let value = format!("{key}@{last}");
            let set = tls_cli(cluster, as_node, last, &["SET", key, &value]).await;
            assert_eq!(text(&set), "OK", "SET {key} via .{last}: {}", stderr(&set));
            let get = tls_cli(cluster, as_node, last, &["GET", key]).await;
            assert_eq!(text(&get), value, "GET {key} via .{last}: {}", stderr(&get));
        }
    }
}

#[tokio::test]
async fn the_seeds_tls_command_line_follows_redirects_on_every_node() {
    let cluster = tls_cluster("tls-seed", 70, "").await;
    cluster.up().await;
    set_and_get_everywhere(&cluster, "redis-2").await;
    // auth_clients = yes (the default): no client certificate, no connection.
    let ca = cluster.dir.path().join("certs/redis-1/ca.crt");
    let anonymous = tokio::process::Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&ca)
        .args(["-h", &cluster.ip(13), "-p", "6390", "PING"])
        .env("REDISCLI_AUTH", cluster.password())
        .output()
        .await
        .unwrap();
    assert_ne!(
        text(&anonymous),
        "PONG",
        "a client without a certificate was served"
    );
    // The key reaches the container through the archive API: never in its config.
    let inspect = common::docker()
        .await
        .inspect_container(
            &cluster.container("redis-1"),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let json = serde_json::to_string(&inspect).unwrap();
    assert!(!json.contains("PRIVATE KEY") && !json.contains(&cluster.password()));
    cluster.expect(&["check"], 0).await;
}

#[tokio::test]
async fn a_tls_only_cluster_forms_and_repairs_a_removed_container_and_a_reshard() {
    let cluster = tls_cluster("tls-only", 71, "plaintext = false\n").await;
    cluster.up().await;
    let plain = tokio::net::TcpStream::connect(format!("{}:6379", cluster.ip(13))).await;
    assert!(plain.is_err(), "the plaintext port is closed");
    set_and_get_everywhere(&cluster, "redis-1").await;
    let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
        .force(true)
        .build();
    common::docker()
        .await
        .remove_container(&cluster.container("redis-3"), Some(options))
        .await
        .unwrap();
    cluster.up().await;
    set_and_get_everywhere(&cluster, "redis-3").await;
    // A reshard over TLS to the wrong node, moved back by `up`: MIGRATE between nodes runs
    // over TLS to their TLS ports.
    let key = format!("{{{}}}:moved", tag_for_slot(7));
    let set = tls_cli(&cluster, "redis-1", 13, &["SET", &key, "home"]).await;
    assert_eq!(text(&set), "OK");
    let dir = cluster.dir.path().join("certs/redis-1");
    let ids: Vec<String> = futures_util::future::join_all([13, 16].map(|last| {
        let cluster = &cluster;
        async move { text(&tls_cli(cluster, "redis-1", last, &["CLUSTER", "MYID"]).await) }
    }))
    .await;
    let reshard = certs::redis_cli_as(&dir, &cluster.password())
        .args(["--cluster", "reshard", &format!("{}:6390", cluster.ip(13))])
        .args(["--cluster-from", &ids[0], "--cluster-to", &ids[1]])
        .args(["--cluster-slots", "20", "--cluster-yes"])
        .output()
        .await
        .unwrap();
    assert!(reshard.status.success(), "{}", text(&reshard));
    let count = tls_cli(
        &cluster,
        "redis-1",
        16,
        &["CLUSTER", "COUNTKEYSINSLOT", "7"],
    )
    .await;
    assert_eq!(text(&count), "1", "the key went with its slot to redis-2");
    cluster.up().await;
    let count = tls_cli(
        &cluster,
        "redis-1",
        13,
        &["CLUSTER", "COUNTKEYSINSLOT", "7"],
    )
    .await;
    assert_eq!(text(&count), "1", "and came home to redis-1");
    let get = tls_cli(&cluster, "redis-2", 17, &["GET", &key]).await;
    assert_eq!(text(&get), "home");
    cluster.expect(&["check"], 0).await;
}

/// A full set of the reference layout's certificates from an openssl CA, in `certs`.
fn bring_certificates(cluster: &TestCluster) -> (std::path::PathBuf, std::path::PathBuf) {
    let certs_dir = cluster.dir.path().join("certs");
    let ca = certs::ca(&cluster.dir.path().join("their-ca"), "corporate-ca");
    for (node, last, _) in REFERENCE {
        let sans = format!("IP:{},IP:127.0.0.1,DNS:{node}", cluster.ip(last));
        certs::node(&certs_dir, &ca, node, &sans, 30);
    }
    ca
}

fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                contents(&path)
            } else {
                vec![(path.display().to_string(), std::fs::read(&path).unwrap())]
            }
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn certificates_brought_by_the_user_are_used_unchanged() {
    let cluster = tls_cluster("tls-brought", 72, "generate = false\n").await;
    bring_certificates(&cluster);
    let certs_dir = cluster.dir.path().join("certs");
    let before = contents(&certs_dir);
    cluster.up().await;
    assert_eq!(
        contents(&certs_dir),
        before,
        "not a byte changed, nothing added"
    );
    for (node, last, _) in REFERENCE {
        let node_dir = certs_dir.join(node);
        assert_eq!(
            certs::served_serial(&format!("{}:6390", cluster.ip(last)), &node_dir).unwrap(),
            certs::serial_of_file(&node_dir.join("redis.crt")),
            "{node} serves the certificate it was given"
        );
    }
    set_and_get_everywhere(&cluster, "redis-3").await;
}

/// What is wrong, how to break a good set that way, and what `up` must say.
type BadCase<'a> = (&'a str, Box<dyn Fn() + 'a>, String);

#[tokio::test]
async fn bad_certificates_are_refused_naming_the_file_and_nothing_starts() {
    let cluster = tls_cluster("tls-bad", 73, "generate = false\n").await;
    let certs_dir = cluster.dir.path().join("certs");
    let ca = bring_certificates(&cluster);
    let other_ca = certs::ca(&cluster.dir.path().join("other-ca"), "someone-else");
    let sans = |last: u8, node: &str| format!("IP:{},DNS:{node}", cluster.ip(last));
    let cases: Vec<BadCase> = vec![
        (
            "a missing file",
            Box::new(|| std::fs::remove_file(certs_dir.join("redis-2/redis.key")).unwrap()),
            format!("{}: missing", certs_dir.join("redis-2/redis.key").display()),
        ),
        (
            "a key that is not the certificate's",
            Box::new(|| {
                std::fs::copy(
                    certs_dir.join("redis-2/redis.key"),
                    certs_dir.join("redis-1/redis.key"),
                )
                .unwrap();
            }),
            format!(
                "{}: this key does not match the certificate",
                certs_dir.join("redis-1/redis.key").display()
            ),
        ),
        (
            "a certificate from another CA",
            Box::new(|| {
                certs::node(&certs_dir, &other_ca, "redis-3", &sans(17, "redis-3"), 30);
                std::fs::copy(&ca.0, certs_dir.join("redis-3/ca.crt")).unwrap();
            }),
            format!(
                "{}: not signed by the CA",
                certs_dir.join("redis-3/redis.crt").display()
            ),
        ),
        (
            "an expired certificate",
            Box::new(|| certs::node(&certs_dir, &ca, "redis-1", &sans(13, "redis-1"), -1)),
            format!(
                "{}: expired on",
                certs_dir.join("redis-1/redis.crt").display()
            ),
        ),
        (
            "a certificate without the node's IP",
            Box::new(|| certs::node(&certs_dir, &ca, "redis-2", "DNS:redis-2", 30)),
            format!(
                "{}: its subject alternative names do not include IP {}",
                certs_dir.join("redis-2/redis.crt").display(),
                cluster.ip(16)
            ),
        ),
    ];
    for (case, break_it, expected) in cases {
        std::fs::remove_dir_all(&certs_dir).unwrap();
        bring_certificates(&cluster);
        break_it();
        let out = cluster.expect(&["up"], 2).await;
        assert!(
            stderr(&out).contains(&expected),
            "{case}: expected `{expected}` in:\n{}",
            stderr(&out)
        );
        assert!(
            cluster.containers().await.is_empty(),
            "{case}: no container started"
        );
        assert!(
            !cluster.network_exists().await,
            "{case}: no network created"
        );
    }
}

/// Watches every node over the plaintext port while something happens: any node not
/// reporting cluster_state:ok, or any cluster-bus link down, is recorded.
struct ClusterWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    looks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl ClusterWatch {
    async fn start(cluster: &TestCluster) -> ClusterWatch {
        let mut conns = Vec::new();
        for last in [13, 16, 17] {
            conns.push((last, cluster.node(last).await));
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let looked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = looked.clone();
        let task = tokio::spawn(async move {
            let (mut looks, mut trouble) = (0, Vec::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for (last, conn) in &mut conns {
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(conn)
                        .await
                        .unwrap();
                    let nodes: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async(conn)
                        .await
                        .unwrap();
                    if !info.contains("cluster_state:ok") || nodes.contains("disconnected") {
                        trouble.push(format!(".{last}: {info}\n{nodes}"));
                    }
                }
                looks += 1;
                counter.store(looks, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            (looks, trouble)
        });
        ClusterWatch {
            stop,
            looks: looked,
            task,
        }
    }

    /// Stops once it has looked `more` more times (so it also watches the cluster settle
    /// after the last change); returns how often it looked and what went wrong.
    async fn stop_after(self, more: usize) -> (usize, Vec<String>) {
        let target = self.looks.load(std::sync::atomic::Ordering::Relaxed) + more;
        while self.looks.load(std::sync::atomic::Ordering::Relaxed) < target {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Waits until the node at `.last` serves a certificate `wanted` accepts; returns its serial.
async fn served_until(
    cluster: &TestCluster,
    node: &str,
    last: u8,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let addr = format!("{}:6390", cluster.ip(last));
    let node_dir = cluster.dir.path().join("certs").join(node);
    let every = std::time::Duration::from_millis(100);
    let timeout = std::time::Duration::from_secs(30);
    let what = format!("{node} serving the wanted certificate");
    common::poll_until(&what, timeout, every, async || {
        match certs::served_serial(&addr, &node_dir) {
            Ok(serial) if wanted(&serial) => Ok(serial),
            served => Err(format!(
                "it serves {served:?}; its files hold {}",
                certs::serial_of_file(&node_dir.join("redis.crt"))
            )),
        }
    })
    .await
}

async fn started_at(cluster: &TestCluster) -> Vec<Option<String>> {
    let docker = common::docker().await;
    let mut out = Vec::new();
    for (node, _, _) in REFERENCE {
        let name = format!("{}-{node}", cluster.name);
        let inspect = docker
            .inspect_container(
                &name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .unwrap();
        out.push(inspect.state.and_then(|s| s.started_at));
    }
    out
}

#[tokio::test]
async fn certificates_replaced_or_expiring_are_loaded_live_without_a_restart() {
    let cluster = tls_cluster("tls-rotate", 74, "").await;
    let started = std::time::SystemTime::now();
    let operator = common::Operator::start(&cluster);
    operator
        .ready_after(started, std::time::Duration::from_secs(90))
        .await;
    let before = started_at(&cluster).await;
    let watch = ClusterWatch::start(&cluster).await;
    let certs_dir = cluster.dir.path().join("certs");
    let ca = (certs_dir.join("ca.crt"), certs_dir.join("ca.key"));

    // Replaced on disk by the user (from the same CA, good for 400 days): loaded as it is.
    let sans = |last: u8, node: &str| format!("IP:{},DNS:{node}", cluster.ip(last));
    let theirs = certs::replace(&certs_dir, &ca, "redis-2", &sans(16, "redis-2"), 400);
    served_until(&cluster, "redis-2", 16, |s| s == theirs).await;

    // Ten days from expiry, inside renew_before_days: the operator issues a new one and
    // loads it.
    // Its serial is taken before it is in place: read from the file after, it was once the
    // renewed one already (the operator, resyncing every second, was faster than openssl).
    let short_lived = certs::replace(&certs_dir, &ca, "redis-3", &sans(17, "redis-3"), 10);
    let renewed = served_until(&cluster, "redis-3", 17, |s| {
        s != short_lived && s == certs::serial_of_file(&certs_dir.join("redis-3/redis.crt"))
    })
    .await;
    assert_ne!(renewed, short_lived);

    let (looks, trouble) = watch.stop_after(10).await;
    assert!(looks > 10, "the watch looked {looks} times");
    assert!(
        trouble.is_empty(),
        "the cluster faltered during rotation: {trouble:#?}"
    );
    assert_eq!(started_at(&cluster).await, before, "no container restarted");
    let status: serde_json::Value = cluster.status().await;
    let days = status["certificates"][2]["days_to_expiry"]
        .as_i64()
        .unwrap();
    assert!(
        days >= 364,
        "redis-3's new certificate is good for a year: {days}"
    );
    let taken: Vec<String> = operator
        .status()
        .unwrap()
        .events
        .iter()
        .map(|e| e.action.clone())
        .collect();
    assert!(
        taken.contains(&"issue-certificates".to_string()),
        "{taken:?}"
    );
    assert_eq!(
        taken.iter().filter(|a| *a == "load-certificates").count(),
        2,
        "{taken:?}"
    );
}
