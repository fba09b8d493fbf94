//! What each Docker object of a cluster should look like: labels, the container's config, and
//! the hash of that config that shows drift.
//!
//! Pure functions of the spec. The planner hashes the blueprint to spot a container created
//! from another spec; the actions create containers from the very same blueprint.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, Mount,
    MountType, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::spec::{AuthSpec, ClusterSpec, NodeSpec};

/// Label keys of the operator's own.
pub(crate) mod label {
    pub(crate) const CLUSTER: &str = "io.redis-keeper.cluster";
    pub(crate) const NODE: &str = "io.redis-keeper.node";
    pub(crate) const SPEC_HASH: &str = "io.redis-keeper.spec-hash";
    /// `address:port` a node on a host announces: once cluster.toml no longer declares the
    /// node, this is how the operator still knows which `CLUSTER NODES` entry it is.
    pub(crate) const ADDRESS: &str = "io.redis-keeper.address";
    pub(crate) const COMPOSE_PROJECT: &str = "com.docker.compose.project";
    pub(crate) const COMPOSE_SERVICE: &str = "com.docker.compose.service";
    pub(crate) const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";
    pub(crate) const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
    pub(crate) const COMPOSE_CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub(crate) const COMPOSE_NETWORK: &str = "com.docker.compose.network";
    pub(crate) const COMPOSE_VOLUME: &str = "com.docker.compose.volume";
}

/// Where the operator writes the node's private config (the password) inside the container;
/// written through the archive API so the password never appears in `docker inspect`.
pub(crate) const PRIVATE_CONF_DIR: &str = "/etc/redis-keeper";
pub(crate) const PRIVATE_CONF_FILE: &str = "keeper.conf";
/// The user the health check logs in as: it may only PING, so it needs no secret.
pub(crate) const HEALTHCHECK_USER: &str = "healthcheck";
/// Where the node's certificate, key and CA are written (same archive route, key 0600).
pub(crate) const TLS_DIR: &str = "/etc/redis-keeper/tls";
/// Where every node keeps its data and `nodes.conf` (its cluster identity).
pub(crate) const DATA_DIR: &str = "/data";

/// Labels every object of the cluster carries, so `docker compose -p <cluster>` sees them too.
pub(crate) fn cluster_labels(spec: &ClusterSpec) -> HashMap<String, String> {
    HashMap::from([
        (label::CLUSTER.to_string(), spec.name.clone()),
        (label::COMPOSE_PROJECT.to_string(), spec.name.clone()),
    ])
}

/// The Docker list filter that finds the cluster's own objects (containers, volumes).
pub(crate) fn cluster_filter(spec: &ClusterSpec) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{}={}", label::CLUSTER, spec.name)],
    )])
}

pub(crate) fn network_labels(spec: &ClusterSpec) -> HashMap<String, String> {
    let mut labels = cluster_labels(spec);
    labels.insert(label::COMPOSE_NETWORK.into(), spec.network.name.clone());
    labels
}

pub(crate) fn volume_labels(spec: &ClusterSpec, node: &NodeSpec) -> HashMap<String, String> {
    let mut labels = cluster_labels(spec);
    labels.insert(label::NODE.into(), node.name.clone());
    labels.insert(label::COMPOSE_VOLUME.into(), spec.volume_name(node));
    labels
}

/// The arguments `redis-server` runs with. The private config file comes first so that the
/// command-line settings, which are visible and hashed, win over anything in it.
pub(crate) fn redis_args(spec: &ClusterSpec, node: &NodeSpec) -> Vec<String> {
    let mut args = vec![
        "redis-server".to_string(),
        format!("{PRIVATE_CONF_DIR}/{PRIVATE_CONF_FILE}"),
    ];
    let plaintext = spec.plaintext_open();
    let fixed = [
        ("port", if plaintext { node.port } else { 0 }.to_string()),
        ("bind", "0.0.0.0".into()),
        ("protected-mode", "no".into()),
        ("cluster-enabled", "yes".into()),
        ("cluster-config-file", "nodes.conf".into()),
        // Protected in Redis 7 (CONFIG SET refuses it), so set once, here.
        ("dir", DATA_DIR.into()),
    ];
    for (key, value) in fixed.into_iter().chain(live_settings(spec, node)) {
        args.push(format!("--{key}"));
        args.push(value);
    }
    args
}

/// The settings the operator puts on a node's command line that CONFIG SET can change while
/// it runs. Failover timing and the rule that a declared master never becomes a replica on
/// Redis's own initiative rest on them, so `run` compares them every pass and sets them back.
fn live_settings(spec: &ClusterSpec, node: &NodeSpec) -> Vec<(&'static str, String)> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut settings = vec![
        ("cluster-node-timeout", spec.node_timeout_ms.to_string()),
        ("cluster-announce-ip", node.address.to_string()),
        // Replicas stay in the shard cluster.toml puts them in (the operator moves them back,
        // not Redis), and a master that loses its last slot to SETSLOT NODE while slots are
        // moved does not turn itself into a replica of the new owner.
        ("cluster-allow-replica-migration", yes_no(false)),
        // A replica (re)joining gets its copy at once: the default waits 5 s for more
        // replicas to share one transfer, and while no replica holds a copy, writes that wait
        // for one (`WAIT 1`) stall.
        ("repl-diskless-sync-delay", "0".into()),
    ];
    if node.host.is_some() {
        // Peers and clients on other machines reach the node through its host's published
        // ports, which are the node's own (validation keeps them apart on a host); saying so
        // makes every server name them, whatever it would guess from a connection.
        let plaintext = spec.plaintext_open();
        settings.push((
            "cluster-announce-port",
            if plaintext { node.port } else { 0 }.to_string(),
        ));
        settings.push(("cluster-announce-bus-port", node.bus_port().to_string()));
        if let Some(tls_port) = node.tls_port {
            settings.push(("cluster-announce-tls-port", tls_port.to_string()));
        }
    }
    if let Some(tls) = &spec.tls {
        settings.extend([
            ("tls-port", node.tls_port.unwrap_or(tls.port).to_string()),
            (
                "tls-cert-file",
                format!("{TLS_DIR}/{}", crate::tls::CERT_FILE),
            ),
            (
                "tls-key-file",
                format!("{TLS_DIR}/{}", crate::tls::KEY_FILE),
            ),
            (
                "tls-ca-cert-file",
                format!("{TLS_DIR}/{}", crate::tls::CA_FILE),
            ),
            ("tls-auth-clients", tls.auth_clients.as_redis().into()),
            ("tls-cluster", yes_no(tls.cluster_bus)),
            ("tls-replication", yes_no(tls.cluster_bus)),
        ]);
    }
    settings.push(("appendonly", yes_no(spec.persistence.appendonly)));
    settings
}

/// Every setting a running node is kept at, by its Redis name: the operator's own live
/// settings and the `[redis]` parameters (validation keeps the two apart).
pub(crate) fn kept_settings(
    spec: &ClusterSpec,
    node: &NodeSpec,
) -> std::collections::BTreeMap<String, String> {
    live_settings(spec, node)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(spec.redis.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// The `requirepass` of a private config's text (as [`private_conf`] writes it).
pub(crate) fn password_in(conf: &str) -> Option<String> {
    let quoted = conf.lines().find_map(|l| l.strip_prefix("requirepass "))?;
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// Quotes a value for a Redis config file (double quotes, backslash escapes).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The private config file's text: the secret, the health check's PING-only user, and the
/// `[redis]` parameters (so a restarted node starts with them; `run` keeps them live). They
/// are not part of the spec hash: changing them is a CONFIG SET, not a restart.
pub fn private_conf(
    password: Option<&str>,
    redis: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut conf = format!("user {HEALTHCHECK_USER} on nopass +ping\n");
    for (k, v) in redis {
        conf.push_str(&format!("{k} {}\n", quoted(v)));
    }
    if let Some(p) = password {
        let q = quoted(p);
        conf.push_str(&format!("requirepass {q}\nmasterauth {q}\n"));
    }
    conf
}

/// The node's place on the cluster network: its declared address, its name as alias.
pub(crate) fn endpoint(node: &NodeSpec) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(node.ip.to_string()),
            ..Default::default()
        }),
        aliases: Some(vec![node.name.clone()]),
        ..Default::default()
    }
}

/// The full create body for a node's container, without the spec-hash labels.
fn body_without_hash(spec: &ClusterSpec, node: &NodeSpec, image: &str) -> ContainerCreateBody {
    let mut labels = cluster_labels(spec);
    labels.insert(label::NODE.into(), node.name.clone());
    labels.insert(label::COMPOSE_SERVICE.into(), node.name.clone());
    let number = spec
        .nodes
        .iter()
        .position(|n| n.name == node.name)
        .unwrap_or(0)
        + 1;
    labels.insert(label::COMPOSE_NUMBER.into(), number.to_string());
    labels.insert(label::COMPOSE_ONEOFF.into(), "False".into());
    if node.host.is_some() {
        labels.insert(label::ADDRESS.into(), node.addr());
    }
    labels.insert(
        "io.redis-keeper.auth".into(),
        match spec.auth {
            AuthSpec::NoPassword => "none",
            _ => "password",
        }
        .into(),
    );

    let port = format!("{}/tcp", node.client_port);
    let mut exposed: Vec<String> = vec![port.clone()];
    if let Some(tls) = spec.tls.as_ref().filter(|t| t.plaintext) {
        exposed.push(format!("{}/tcp", node.tls_port.unwrap_or(tls.port)));
    }
    exposed.push(format!("{}/tcp", node.bus_port()));
    let plaintext = spec.plaintext_open();
    let port_bindings = match (&node.host, node.host_port) {
        // On a host, every port the node listens on is published on the host's address.
        (Some(_), _) => Some(
            node.published_ports(plaintext)
                .into_iter()
                .map(|p| (format!("{p}/tcp"), Some(vec![binding(node.address, p)])))
                .collect(),
        ),
        (None, Some(hp)) => Some(HashMap::from([(
            port.clone(),
            Some(vec![binding(std::net::Ipv4Addr::LOCALHOST, hp)]),
        )])),
        (None, None) => None,
    };
    let ms = 1_000_000i64;
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(redis_args(spec, node)),
        hostname: Some(node.name.clone()),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        // Docker's own interval, 30 s: each probe is an exec (dockerd, containerd, runc and
        // redis-cli), about 50 ms of CPU, so at 5 s six idle nodes kept 6% of a core busy
        // for a status the operator only shows. A started node is probed every second
        // until it is healthy, so it shows healthy as soon as it is.
        healthcheck: Some(HealthConfig {
            test: Some(healthcheck(spec, node)),
            interval: Some(30_000 * ms),
            timeout: Some(2_000 * ms),
            retries: Some(3),
            start_period: Some(30_000 * ms),
            start_interval: Some(1_000 * ms),
        }),
        host_config: Some(HostConfig {
            network_mode: Some(spec.network.name.clone()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            mounts: Some(vec![Mount {
                target: Some(DATA_DIR.into()),
                source: Some(spec.volume_name(node)),
                typ: Some(MountType::VOLUME),
                ..Default::default()
            }]),
            port_bindings,
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(spec.network.name.clone(), endpoint(node))])),
        }),
        ..Default::default()
    }
}

fn binding(ip: std::net::Ipv4Addr, port: u16) -> PortBinding {
    PortBinding {
        host_ip: Some(ip.to_string()),
        host_port: Some(port.to_string()),
    }
}

/// `redis-cli ping` as the PING-only user, on the port the operator uses (over TLS, with the
/// node's own certificate, when that is the TLS port).
fn healthcheck(spec: &ClusterSpec, node: &NodeSpec) -> Vec<String> {
    let mut test: Vec<String> = vec!["CMD".into(), "redis-cli".into()];
    if spec.tls.as_ref().is_some_and(|t| !t.plaintext) {
        for (flag, file) in [
            ("--cacert", crate::tls::CA_FILE),
            ("--cert", crate::tls::CERT_FILE),
            ("--key", crate::tls::KEY_FILE),
        ] {
            test.push(flag.into());
            test.push(format!("{TLS_DIR}/{file}"));
        }
        test.push("--tls".into());
    }
    let rest = [
        "-p",
        &node.client_port.to_string(),
        "--user",
        HEALTHCHECK_USER,
        "--pass",
        "-",
        "--no-auth-warning",
        "ping",
    ]
    .map(String::from);
    test.extend(rest);
    test
}

/// A short, stable digest of everything the container is created from.
pub(crate) fn spec_hash(spec: &ClusterSpec, node: &NodeSpec, image: &str) -> String {
    let body = body_without_hash(spec, node, image);
    // serde_json writes HashMaps in arbitrary order; a Value sorts object keys.
    let canonical = serde_json::to_value(&body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The create body for a node's container, labelled with its spec hash.
pub fn container_body(spec: &ClusterSpec, node: &NodeSpec, image: &str) -> ContainerCreateBody {
    let hash = spec_hash(spec, node, image);
    let mut body = body_without_hash(spec, node, image);
    if let Some(labels) = body.labels.as_mut() {
        labels.insert(label::SPEC_HASH.into(), hash.clone());
        labels.insert(label::COMPOSE_CONFIG_HASH.into(), hash);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_support::reference_spec;

    #[test]
    fn hash_is_stable_and_sees_drift() {
        let spec = reference_spec();
        let node = &spec.nodes[0];
        let a = spec_hash(&spec, node, "redis:7.2");
        assert_eq!(a, spec_hash(&spec, node, "redis:7.2"));
        assert_ne!(a, spec_hash(&spec, node, "redis:7.4"));
        let mut changed = spec.clone();
        changed.node_timeout_ms = 15000;
        assert_ne!(a, spec_hash(&changed, &changed.nodes[0], "redis:7.2"));
    }

    #[test]
    fn every_setting_on_the_command_line_is_refused_in_redis_section() {
        let spec = reference_spec();
        let args = redis_args(&spec, &spec.nodes[0]);
        let keys: Vec<&str> = args.iter().filter_map(|a| a.strip_prefix("--")).collect();
        assert!(keys.contains(&"tls-cert-file") && keys.contains(&"cluster-node-timeout"));
        for key in keys {
            let text = format!(
                "{}\n[redis]\n{key} = \"1\"\n",
                crate::spec::test_support::REFERENCE_TOML
            );
            let problems = ClusterSpec::parse(&text, std::path::Path::new("c.toml"))
                .expect_err("a managed setting in [redis] is refused");
            assert!(
                problems
                    .iter()
                    .any(|p| p.to_string().contains(&format!("[redis] {key} is managed"))),
                "{key}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_live_settings_are_what_the_command_line_sets() {
        let spec = reference_spec();
        let node = &spec.nodes[1];
        let args = redis_args(&spec, node);
        for (key, value) in kept_settings(&spec, node) {
            let at = args
                .iter()
                .position(|a| *a == format!("--{key}"))
                .unwrap_or_else(|| panic!("{key} is not on the command line"));
            assert_eq!(args[at + 1], value, "{key}");
        }
        let kept = kept_settings(&spec, node);
        assert_eq!(kept["cluster-announce-ip"], "172.20.2.16");
        assert_eq!(kept["cluster-allow-replica-migration"], "no");
        assert!(
            !kept.contains_key("dir"),
            "CONFIG SET refuses dir in Redis 7"
        );
    }

    #[test]
    fn password_stays_out_of_the_container_config() {
        let spec = reference_spec();
        let body = container_body(&spec, &spec.nodes[0], "redis:7.2");
        let json = serde_json::to_string(&body).unwrap();
        assert!(!json.contains("requirepass"));
        assert!(json.contains("\"172.20.2.13\""));
        let none = std::collections::BTreeMap::new();
        assert!(private_conf(Some("s3cr\"et"), &none).contains("requirepass \"s3cr\\\"et\""));
        assert!(!private_conf(None, &none).contains("requirepass"));
        let conf = private_conf(Some("s3cr\"e\\t"), &none);
        assert_eq!(password_in(&conf).as_deref(), Some("s3cr\"e\\t"));
        assert_eq!(password_in(&private_conf(None, &none)), None);
    }

    #[test]
    fn compose_labels_present() {
        let spec = reference_spec();
        let body = container_body(&spec, &spec.nodes[1], "img");
        let labels = body.labels.unwrap();
        assert_eq!(labels[label::COMPOSE_PROJECT], "dev");
        assert_eq!(labels[label::COMPOSE_SERVICE], "redis-2");
        assert_eq!(labels[label::COMPOSE_NUMBER], "2");
        assert_eq!(labels[label::COMPOSE_ONEOFF], "False");
        assert_eq!(labels[label::SPEC_HASH], labels[label::COMPOSE_CONFIG_HASH]);
    }
}
