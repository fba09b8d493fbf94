//! The server the tests run against (`RK_SERVER`), and what it can do.

/// The server the integration tests run against: `RK_SERVER` names one of the images
/// `images/build` makes (`valkey-8.0`, `redis-8.0`, `valkey-8.1`, `valkey-9.1`, `redis-8.6`); unset, or `redis-7.0`, is
/// the host's Redis through redis-keeper's own `host` image fallback. `./dev test` runs the
/// core of the suite once per server (`MATRIX`).
pub struct Server {
    /// As `RK_SERVER` names it (`redis-7.0` for the host's).
    pub name: String,
    /// The image name, None for the host fallback.
    pub image: Option<String>,
    /// Short tag in cluster names, so runs for different servers never share a container.
    pub(super) tag: &'static str,
    /// The second octet of every test subnet (172.<n>.<octet>.0/24), one per server, so runs
    /// for different servers can share a machine.
    pub(super) net: u8,
}

pub fn server() -> Server {
    let name = std::env::var("RK_SERVER").unwrap_or_default();
    let (tag, net) = match name.as_str() {
        "" | "redis-7.0" => {
            return Server {
                name: "redis-7.0".into(),
                image: None,
                tag: "",
                net: 30,
            }
        }
        "valkey-8.0" => ("v80-", 29),
        "redis-8.0" => ("r80-", 28),
        "valkey-8.1" => ("v81-", 27),
        "valkey-9.1" => ("v91-", 26),
        "redis-8.6" => ("r86-", 25),
        other => panic!(
            "RK_SERVER={other} is not a server of the matrix: use redis-7.0, valkey-8.0, redis-8.0, valkey-8.1, valkey-9.1 or redis-8.6"
        ),
    };
    Server {
        name: name.clone(),
        image: Some(format!("redis-keeper/node:{name}")),
        tag,
        net,
    }
}

impl Server {
    /// Whether the server moves slots in one server-side job (Valkey 9.0+, Redis 8.4+).
    pub fn moves_slots_atomically(&self) -> bool {
        matches!(self.name.as_str(), "valkey-9.1" | "redis-8.6")
    }

    /// Whether the server refuses a `nodes.conf` where a replica's shard id differs from its
    /// primary's (Valkey before 8.1.2, valkey-io/valkey#2174).
    pub fn refuses_stale_shard_ids(&self) -> bool {
        matches!(self.name.as_str(), "valkey-8.0" | "valkey-8.1")
    }

    /// The slot migration jobs a node drives (a Valkey source, a Redis target), as one line
    /// per field: `CLUSTER GETSLOTMIGRATIONS` or `CLUSTER MIGRATION STATUS ALL`.
    pub async fn slot_jobs(&self, conn: &mut redis::aio::MultiplexedConnection) -> String {
        let mut cmd = redis::cmd("CLUSTER");
        if self.name.starts_with("valkey") {
            cmd.arg("GETSLOTMIGRATIONS");
        } else {
            cmd.arg("MIGRATION").arg("STATUS").arg("ALL");
        }
        let reply: redis::Value = cmd.query_async(conn).await.expect("slot migration jobs");
        fn flatten(v: &redis::Value, out: &mut Vec<String>) {
            match v {
                redis::Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
                redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                    flatten(k, out);
                    flatten(v, out);
                }),
                redis::Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
                redis::Value::SimpleString(s) => out.push(s.clone()),
                redis::Value::Int(n) => out.push(n.to_string()),
                _ => {}
            }
        }
        let mut lines = Vec::new();
        flatten(&reply, &mut lines);
        lines.join("\n")
    }

    /// A local port for a test's listener that no other server's run of the same test takes.
    pub fn port(&self, base: u16, octet: u8) -> u16 {
        base + u16::from(octet) + 256 * u16::from(30 - self.net)
    }

    /// cluster.toml's `[image]` section for this server (empty: the default, host fallback).
    pub fn image_toml(&self) -> String {
        match &self.image {
            None => String::new(),
            Some(image) => {
                format!("\n[image]\nname = \"{image}\"\npull = \"never\"\nfallback = \"none\"\n")
            }
        }
    }
}
