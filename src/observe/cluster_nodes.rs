//! Parsers for what Redis says about its cluster: `CLUSTER NODES` lines and `CLUSTER INFO`.
//!
//! The formats are Redis's (cluster_legacy.c `clusterGenNodeDescription`); parsing them into
//! types here means nothing else in the operator reads Redis's text.

use std::collections::BTreeMap;

use crate::spec::SlotRange;

/// One line of `CLUSTER NODES`: a node as seen by the node that was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub(crate) id: String,
    /// `ip:port` as the asked node names it; empty for a node with no address yet
    /// (`noaddr`). The port is not an identity: the asked node names the plaintext or the TLS
    /// port depending on the asking connection and the server's version, and `0` for a node it
    /// learned through gossip and has not heard from yet (7.2+). See [`ClusterNode::ip`].
    pub(crate) addr: String,
    pub(crate) bus_port: Option<u16>,
    /// The `tls-port=` aux field (7.2+), when the node names one.
    pub(crate) tls_port: Option<u16>,
    pub(crate) flags: Vec<String>,
    pub(crate) master_id: Option<String>,
    pub(crate) ping_sent: u64,
    pub(crate) pong_recv: u64,
    pub(crate) config_epoch: u64,
    pub(crate) link_connected: bool,
    pub slots: Vec<SlotRange>,
    /// `[slot->-node]`: this node is moving `slot` to `node`.
    pub(crate) migrating: Vec<(u16, String)>,
    /// `[slot-<-node]`: this node is receiving `slot` from `node`.
    pub(crate) importing: Vec<(u16, String)>,
}

impl ClusterNode {
    pub(crate) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub(crate) fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }

    pub(crate) fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    /// A replica, in the eyes of the node that listed it (Redis's flag is `slave`).
    pub(crate) fn is_replica(&self) -> bool {
        self.has_flag("slave")
    }

    pub(crate) fn in_handshake(&self) -> bool {
        self.has_flag("handshake")
    }

    /// Marked failing: `fail` (agreed) or `fail?` (suspected by the asking node).
    pub(crate) fn is_failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    /// Serves no slot and has none open.
    pub(crate) fn holds_no_slots(&self) -> bool {
        self.slots.is_empty() && self.migrating.is_empty() && self.importing.is_empty()
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.slots.iter().map(SlotRange::len).sum()
    }

    /// The address's IP; None for a node without one.
    pub(crate) fn ip(&self) -> Option<std::net::Ipv4Addr> {
        self.addr.rsplit_once(':')?.0.parse().ok()
    }

    /// The address's port; 0 when the asked node does not know it (yet).
    pub(crate) fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected CLUSTER NODES line '{line}': {reason}")]
pub struct ParseError {
    pub(crate) line: String,
    pub(crate) reason: &'static str,
}

/// Parses the whole `CLUSTER NODES` reply.
/// A node id as people read it: its first eight characters.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(8)]
}

pub fn parse_cluster_nodes(text: &str) -> Result<Vec<ClusterNode>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<ClusterNode, ParseError> {
    let err = |reason| ParseError {
        line: line.to_string(),
        reason,
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return Err(err("fewer than 8 fields"));
    }
    // ip:port@cport[,hostname][,aux=value]*
    let mut address_parts = fields[1].split(',');
    let address = address_parts.next().unwrap_or_default();
    let tls_port = address_parts
        .filter_map(|aux| aux.strip_prefix("tls-port="))
        .find_map(|p| p.parse().ok());
    let (addr, bus_port) = match address.split_once('@') {
        Some((a, bus)) => (a, bus.parse().ok()),
        None => (address, None),
    };
    let addr = if addr.starts_with(':') { "" } else { addr };
    let number = |i: usize, what| fields[i].parse::<u64>().map_err(|_| err(what));
    let mut node = ClusterNode {
        id: fields[0].to_string(),
        addr: addr.to_string(),
        bus_port,
        tls_port,
        flags: fields[2].split(',').map(str::to_string).collect(),
        master_id: (fields[3] != "-").then(|| fields[3].to_string()),
        ping_sent: number(4, "ping-sent is not a number")?,
        pong_recv: number(5, "pong-recv is not a number")?,
        config_epoch: number(6, "config-epoch is not a number")?,
        link_connected: fields[7] == "connected",
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for item in &fields[8..] {
        if let Some(inner) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if let Some((slot, to)) = inner.split_once("->-") {
                let slot = slot.parse().map_err(|_| err("bad migrating slot"))?;
                node.migrating.push((slot, to.to_string()));
            } else if let Some((slot, from)) = inner.split_once("-<-") {
                let slot = slot.parse().map_err(|_| err("bad importing slot"))?;
                node.importing.push((slot, from.to_string()));
            } else {
                return Err(err("unknown bracketed slot marker"));
            }
        } else {
            node.slots
                .push(item.parse().map_err(|_| err("bad slot range"))?);
        }
    }
    Ok(node)
}

/// `CLUSTER INFO`, as `key:value` pairs with typed accessors for what the operator uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    pub(crate) fields: BTreeMap<String, String>,
}

/// `key:value` lines of an INFO-style reply; section headers (`# Server`) are skipped.
pub fn info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl ClusterInfo {
    pub fn parse(text: &str) -> ClusterInfo {
        ClusterInfo {
            fields: info_fields(text),
        }
    }

    pub(crate) fn number(&self, key: &str) -> Option<u64> {
        self.fields.get(key).and_then(|v| v.parse().ok())
    }

    pub(crate) fn state_ok(&self) -> bool {
        self.fields.get("cluster_state").is_some_and(|s| s == "ok")
    }

    #[cfg(test)]
    fn known_nodes(&self) -> u64 {
        self.number("cluster_known_nodes").unwrap_or(0)
    }

    #[cfg(test)]
    fn my_epoch(&self) -> u64 {
        self.number("cluster_my_epoch").unwrap_or(0)
    }

    pub(crate) fn current_epoch(&self) -> u64 {
        self.number("cluster_current_epoch").unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from a Redis 7.0 node during a migration.
    const SAMPLE: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 172.20.2.16:6379@16379 master - 0 1700000000000 2 connected 5461-10922 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 172.20.2.13:6379@16379,redis-1 myself,master - 0 0 1 connected 0-5460 [5461-<-07c37dfeb235213a872192d90877d0cd55635b91]
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f :0@0 master,fail?,noaddr - 1700000000000 1700000000000 3 disconnected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 172.20.2.17:6379@16379 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1700000000001 1 connected
";

    #[test]
    fn parses_every_field_and_marker() {
        let nodes = parse_cluster_nodes(SAMPLE).unwrap();
        assert_eq!(nodes.len(), 4);
        let b = &nodes[0];
        assert_eq!(b.addr, "172.20.2.16:6379");
        assert_eq!(b.bus_port, Some(16379));
        assert_eq!(b.slots, vec![SlotRange::new(5461, 10922)]);
        assert_eq!(b.migrating, vec![(5461, nodes[1].id.clone())]);
        assert_eq!(b.config_epoch, 2);
        let me = &nodes[1];
        assert!(me.is_myself() && me.is_master());
        assert_eq!(me.addr, "172.20.2.13:6379", "hostname after ',' is dropped");
        assert_eq!(me.importing, vec![(5461, nodes[0].id.clone())]);
        let lost = &nodes[2];
        assert_eq!(lost.addr, "");
        assert!(lost.is_failing() && !lost.link_connected && lost.slots.is_empty());
        let replica = &nodes[3];
        assert_eq!(replica.master_id.as_deref(), Some(me.id.as_str()));
        assert!(!replica.is_master());
    }

    #[test]
    fn reads_aux_fields_and_unknown_ports() {
        // Redis 7.2+ with hostnames and aux fields, and a peer learned through gossip (port 0).
        let nodes = parse_cluster_nodes(
            "aaaa 172.20.2.13:6379@16390,redis-1,tls-port=6390,shard-id=ff myself,master - 0 0 1 connected 0-5460\n\
             bbbb 172.20.2.16:0@16390 master - 0 0 2 connected 5461-10922\n",
        )
        .unwrap();
        assert_eq!(nodes[0].tls_port, Some(6390));
        assert_eq!(nodes[0].bus_port, Some(16390));
        assert_eq!(nodes[0].port(), 6379);
        assert_eq!(nodes[1].ip(), Some("172.20.2.16".parse().unwrap()));
        assert_eq!(nodes[1].port(), 0);
        assert_eq!(nodes[1].tls_port, None);
        let lost = parse_cluster_nodes("cccc :0@0 master,noaddr - 0 0 3 disconnected").unwrap();
        assert_eq!(lost[0].ip(), None);
    }

    #[test]
    fn rejects_garbage_with_the_line() {
        let err = parse_cluster_nodes("abc def").unwrap_err();
        assert_eq!(err.line, "abc def");
        assert!(parse_cluster_nodes("id 1.2.3.4:1@2 master - x 0 0 connected").is_err());
    }

    #[test]
    fn cluster_info_numbers() {
        let info = ClusterInfo::parse(
            "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:3\r\ncluster_my_epoch:2\r\n",
        );
        assert!(info.state_ok());
        assert_eq!(info.known_nodes(), 3);
        assert_eq!(info.my_epoch(), 2);
        assert_eq!(info.number("cluster_slots_assigned"), Some(16384));
    }
}
