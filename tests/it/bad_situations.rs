//! Bad situations end with one clear line, a documented exit code, and nothing half-made.

use crate::common;

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use common::{stderr, TestCluster, REFERENCE};

/// The error is one line that says what is wrong (more lines only for lists of problems).
fn one_line_error(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[tokio::test]
async fn docker_unreachable_says_how_to_start_it() {
    let cluster = TestCluster::new("nodaemon", 30, &REFERENCE).await;
    let out = tokio::process::Command::new(common::BIN)
        .args(["up", "-f"])
        .arg(&cluster.file)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    one_line_error(
        &out,
        "cannot reach the Docker daemon at unix:///nonexistent/docker.sock",
    );
    assert!(stderr(&out).contains("systemctl start docker"));
}

#[tokio::test]
async fn overlapping_subnet_names_the_other_network_and_creates_nothing() {
    let cluster = TestCluster::new("overlap", 31, &REFERENCE).await;
    let docker = common::docker().await;
    let other = "rk-overlap-squatter";
    let _ = docker.remove_network(other).await;
    docker
        .create_network(NetworkCreateRequest {
            name: other.into(),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("172.30.31.128/25".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(HashMap::from([("test".into(), "redis-keeper".into())])),
            ..Default::default()
        })
        .await
        .unwrap();
    let out = cluster.run(&["up", "--timeout", "60"]).await;
    let _ = docker.remove_network(other).await;
    assert_eq!(out.status.code(), Some(1));
    one_line_error(
        &out,
        "overlaps Docker network 'rk-overlap-squatter' (172.30.31.128/25)",
    );
    assert!(cluster.containers().await.is_empty());
    assert!(!cluster.network_exists().await);
}

#[tokio::test]
async fn an_address_in_use_is_named_and_leaves_no_container_behind() {
    let first = TestCluster::new("ipfirst", 32, &REFERENCE).await;
    first.up().await;
    // A second cluster on the first one's network, wanting redis-1's address.
    let second = TestCluster::new("ipsecond", 32, &[("x", 13, &["0-16383"])]).await;
    second.write(
        &second
            .toml(&[("x", 13, &["0-16383"])])
            .replace("rk-ipsecond-net", "rk-ipfirst-net"),
    );
    let out = second.run(&["up", "--timeout", "60"]).await;
    assert_eq!(out.status.code(), Some(1));
    one_line_error(
        &out,
        "x: address 172.30.32.13 is already in use on network rk-ipfirst-net",
    );
    assert!(second.containers().await.is_empty());
    assert_eq!(
        first.containers().await.len(),
        3,
        "the first cluster is untouched"
    );
}

#[tokio::test]
async fn a_taken_host_port_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cluster = TestCluster::new("porttaken", 33, &REFERENCE).await;
    let text = cluster.toml(&REFERENCE).replacen(
        "slots = [\"0-5460\"]",
        &format!("slots = [\"0-5460\"]\nhost_port = {port}"),
        1,
    );
    cluster.write(&text);
    let out = cluster.run(&["up", "--timeout", "60"]).await;
    assert_eq!(out.status.code(), Some(1));
    one_line_error(
        &out,
        &format!("redis-1: host port {port} is already taken on 127.0.0.1"),
    );
    assert!(!cluster
        .containers()
        .await
        .contains(&"rk-porttaken-redis-1".to_string()));
    drop(listener);
}

/// Debian bullseye's Redis 6.0 (built by `images/build redis-6.0`, as `./dev test` does): it
/// lacks CLUSTER ADDSLOTSRANGE and CLUSTER SHARDS, and refuses options redis-keeper sets.
#[tokio::test]
async fn a_server_older_than_7_0_is_refused_in_one_line_before_anything_is_made() {
    let cluster = TestCluster::new("tooold", 37, &REFERENCE).await;
    let image = "redis-keeper/node:redis-6.0";
    assert!(
        common::docker().await.inspect_image(image).await.is_ok(),
        "{image} is missing: build it with `images/build redis-6.0` (./dev test does)"
    );
    let text = cluster.toml(&REFERENCE).replace(
        "[network]",
        &format!("[image]\nname = \"{image}\"\npull = \"never\"\nfallback = \"none\"\n\n[network]"),
    );
    cluster.write(&text);
    let out = cluster.expect(&["up", "--timeout", "60"], 2).await;
    one_line_error(
        &out,
        "image redis-keeper/node:redis-6.0 holds Redis 6.0.16, older than Redis 7.0",
    );
    assert!(
        stderr(&out).contains("set [image].name"),
        "{}",
        stderr(&out)
    );
    assert!(cluster.containers().await.is_empty());
    assert!(!cluster.network_exists().await);
}

#[tokio::test]
async fn an_unavailable_image_without_fallback_says_what_to_do() {
    let cluster = TestCluster::new("noimage", 34, &REFERENCE).await;
    let text = cluster.toml(&REFERENCE).replace(
        "[network]",
        "[image]\nname = \"rk-test/never-built:1\"\npull = \"never\"\nfallback = \"none\"\n\n[network]",
    );
    cluster.write(&text);
    let out = cluster.run(&["up", "--timeout", "60"]).await;
    assert_eq!(out.status.code(), Some(1));
    one_line_error(&out, "image rk-test/never-built:1 is not available");
    assert!(stderr(&out).contains("docker load"), "{}", stderr(&out));
    assert!(cluster.containers().await.is_empty());
}

#[tokio::test]
async fn a_missing_host_redis_says_what_to_install() {
    let cluster = TestCluster::new("nohostredis", 35, &REFERENCE).await;
    let text = cluster.toml(&REFERENCE).replace(
        "[network]",
        "[image]\nname = \"rk-test/never-built:1\"\npull = \"never\"\n\n[network]",
    );
    cluster.write(&text);
    let out = tokio::process::Command::new(common::BIN)
        .args(["up", "--timeout", "60", "-f"])
        .arg(&cluster.file)
        .env("PATH", "/nonexistent")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    one_line_error(&out, "redis-server is not on PATH");
    assert!(stderr(&out).contains("apt-get install redis-server"));
}

#[tokio::test]
async fn an_unset_password_variable_is_invalid_input() {
    let cluster = TestCluster::new("noenv", 36, &REFERENCE).await;
    let text = cluster.toml(&REFERENCE).replace(
        "password_file = \"pw\"",
        "password_env = \"RK_TEST_UNSET_PASSWORD\"",
    );
    cluster.write(&text);
    let out = cluster.run(&["up"]).await;
    assert_eq!(out.status.code(), Some(2));
    one_line_error(
        &out,
        "environment variable RK_TEST_UNSET_PASSWORD is not set",
    );
    assert!(cluster.containers().await.is_empty());
}

/// `plan` while a node cannot be asked (its container paused) names it, instead of leaving
/// the moves of the slots it holds out without a word.
#[tokio::test]
async fn plan_names_a_node_that_does_not_answer_whose_moves_it_cannot_show() {
    let cluster = TestCluster::new("plan-mute", 85, &REFERENCE).await;
    cluster.expect(&["up"], 0).await;
    // redis-1 and redis-3 each hand 1000 slots to redis-2.
    cluster.write(&cluster.toml(&[
        ("redis-1", 13, &["0-4460"]),
        ("redis-2", 16, &["4461-11922"]),
        ("redis-3", 17, &["11923-16383"]),
    ]));
    let from_redis_1 = "→ move slots 4461-5460 (1000 slots, 0 keys) from redis-1 to redis-2";
    let from_redis_3 = "→ move slots 10923-11922 (1000 slots, 0 keys) from redis-3 to redis-2";
    let answered = common::stdout(&cluster.expect(&["plan"], 3).await);
    assert!(
        answered.contains(from_redis_1)
            && answered.contains(from_redis_3)
            && !answered.contains("does not answer"),
        "{answered}"
    );
    let docker = common::docker().await;
    let redis_1 = cluster.container("redis-1");
    docker
        .pause_container(&redis_1)
        .await
        .expect("pause redis-1");
    let plan = cluster.expect(&["plan"], 3).await;
    docker
        .unpause_container(&redis_1)
        .await
        .expect("unpause redis-1");
    let shown = common::stdout(&plan);
    assert!(
        shown.contains(from_redis_3)
            && !shown.contains(from_redis_1)
            && shown.contains(
                "! redis-1: its container is paused: the slots it holds are in no move above"
            ),
        "{shown}"
    );
}
