//! `[redis]`: server parameters, minus those redis-keeper sets itself.

use super::*;

/// Parameters the operator sets itself, from other keys of cluster.toml or by design.
const MANAGED: &[(&str, &str)] = &[
    ("port", "set [[nodes]].port"),
    (
        "bind",
        "the operator binds every node to its container address",
    ),
    ("protected-mode", "the password protects the nodes"),
    ("cluster-enabled", "every node is a cluster node"),
    (
        "cluster-config-file",
        "the operator keeps nodes.conf on the node's volume",
    ),
    ("cluster-node-timeout", "set [cluster].node_timeout_ms"),
    ("cluster-announce-ip", "set [[nodes]].ip"),
    (
        "cluster-allow-replica-migration",
        "every declared node stays a master",
    ),
    (
        "repl-diskless-sync-delay",
        "the operator sets 0 so a replica gets its copy at once",
    ),
    ("dir", "data lives on the node's volume at /data"),
    ("appendonly", "set [persistence].appendonly"),
    ("requirepass", "set the password in [cluster]"),
    ("masterauth", "set the password in [cluster]"),
    ("masteruser", "replicas authenticate as the default user"),
    ("user", "ACL users are not managed through [redis]"),
    ("aclfile", "ACL users are not managed through [redis]"),
    ("include", "includes are not supported"),
    ("replicaof", "set [[nodes]].replica_of"),
    ("slaveof", "set [[nodes]].replica_of"),
    ("cluster-port", "the bus port is the client port + 10000"),
    ("cluster-announce-port", "set [[nodes]].port"),
    ("cluster-announce-tls-port", "set [tls].port"),
    (
        "cluster-announce-bus-port",
        "the bus port is the client port + 10000",
    ),
    (
        "cluster-announce-hostname",
        "nodes are announced by [[nodes]].ip",
    ),
    ("tls-port", "set [tls].port"),
    ("tls-cert-file", "set [tls].certs_dir"),
    ("tls-key-file", "set [tls].certs_dir"),
    (
        "tls-key-file-pass",
        "node keys are written unencrypted, 0600",
    ),
    ("tls-client-cert-file", "set [tls].certs_dir"),
    ("tls-client-key-file", "set [tls].certs_dir"),
    (
        "tls-client-key-file-pass",
        "node keys are written unencrypted, 0600",
    ),
    ("tls-ca-cert-file", "set [tls].certs_dir"),
    ("tls-ca-cert-dir", "set [tls].certs_dir"),
    ("tls-auth-clients", "set [tls].auth_clients"),
    ("tls-cluster", "set [tls].cluster_bus"),
    ("tls-replication", "set [tls].cluster_bus"),
    (
        "rename-command",
        "the operator needs the commands by their names",
    ),
    ("daemonize", "the node is the container's main process"),
    (
        "cluster-databases",
        "slots move with the keys of database 0 (MIGRATE names one database); Valkey 9's other databases are not supported",
    ),
];

pub(super) fn redis_settings(
    raw: std::collections::BTreeMap<String, Spanned<toml::Value>>,
    report: &mut Report<'_>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in raw {
        let span = value.span();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            report.add(
                span,
                format!("[redis] '{key}' is not a Redis parameter name"),
                "use Redis's own names, e.g. maxmemory-policy",
            );
            continue;
        }
        if let Some((_, why)) = MANAGED.iter().find(|(k, _)| *k == key) {
            report.add(
                span,
                format!("[redis] {key} is managed by redis-keeper"),
                *why,
            );
            continue;
        }
        let text = match value.into_inner() {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => if b { "yes" } else { "no" }.to_string(),
            other => {
                report.add(
                    span,
                    format!(
                        "[redis] {key} = {} is not a string, integer or boolean",
                        crate::spec::shown_setting(&key, &other.to_string())
                    ),
                    "write the value as Redis's CONFIG SET takes it, e.g. \"100mb\"",
                );
                continue;
            }
        };
        out.insert(key, text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn redis_settings_are_checked_and_kept_as_text() {
        let ok = parse(
            &format!(
                "{VALID}\n[redis]\nmaxmemory = \"100mb\"\nhz = 20\nlazyfree-lazy-eviction = true\n"
            ),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(ok.redis.get("maxmemory").map(String::as_str), Some("100mb"));
        assert_eq!(ok.redis.get("hz").map(String::as_str), Some("20"));
        assert_eq!(
            ok.redis.get("lazyfree-lazy-eviction").map(String::as_str),
            Some("yes")
        );
        let p = problems(&format!(
            "{VALID}\n[redis]\nport = 7000\nMaxMemory = 1\nsave = [1]\n"
        ));
        has(&p, 26, "[redis] port is managed by redis-keeper");
        has(&p, 27, "[redis] 'MaxMemory' is not a Redis parameter name");
        has(&p, 28, "[redis] save = [1] is not a string");
        let databases = problems(&format!("{VALID}\n[redis]\ncluster-databases = 16\n"));
        has(
            &databases,
            26,
            "[redis] cluster-databases is managed by redis-keeper",
        );
    }
}
