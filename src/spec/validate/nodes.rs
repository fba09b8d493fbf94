//! `[[nodes]]`: names, addresses, ports, slots and replicas, and the rules that need
//! every node: all 16384 slots covered once, no replica chains, no port published twice.

use super::*;

/// Where a node sits, kept for the checks that need every node and the ports TLS settles.
pub(super) struct Placement {
    pub(super) at: Range<usize>,
    allow_same_host: bool,
}

pub(super) fn nodes(
    raw: Option<Spanned<Vec<Spanned<RawNode>>>>,
    cluster: Option<&str>,
    network: Option<&NetworkSpec>,
    hosts: &[HostSpec],
    report: &mut Report<'_>,
) -> (Vec<NodeSpec>, Vec<Placement>) {
    let Some(raw) = raw.filter(|n| !n.get_ref().is_empty()) else {
        report.add(
            0..0,
            "no [[nodes]] declared",
            "add one [[nodes]] table per master, with name, ip and slots",
        );
        return (Vec::new(), Vec::new());
    };
    let mut placements = Vec::new();
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut ips: HashMap<Ipv4Addr, String> = HashMap::new();
    let mut host_ports: HashMap<u16, String> = HashMap::new();
    let mut out = Vec::new();
    let mut owners: Vec<(String, Range<usize>, Vec<SlotRange>)> = Vec::new();
    let mut replicas: Vec<(String, Spanned<String>)> = Vec::new();
    for (index, node) in raw.into_inner().into_iter().enumerate() {
        let at = node.span();
        let node = node.into_inner();
        let label = node
            .name
            .as_ref()
            .map_or_else(|| format!("nodes[{index}]"), |n| n.get_ref().clone());
        let name = match dns_name(
            node.name.as_ref(),
            at.clone(),
            "node name",
            format!("nodes[{index}] has no name"),
            "add name = \"redis-N\"",
            report,
        ) {
            None => None,
            Some(n) => {
                if let Some(first) = names.get(n.get_ref()) {
                    let line = report.text[..first.start].matches('\n').count() + 1;
                    report.add(
                        n.span(),
                        format!("node name '{}' is used twice", n.get_ref()),
                        format!("rename one of them; the first is on line {line}"),
                    );
                } else {
                    names.insert(n.get_ref().clone(), n.span());
                }
                if let Some(cluster) = cluster {
                    if cluster.len() + 1 + n.get_ref().len() > 63 {
                        report.add(
                            n.span(),
                            format!(
                                "container name '{cluster}-{}' is longer than 63 characters",
                                n.get_ref()
                            ),
                            "shorten the cluster or node name",
                        );
                    }
                }
                Some(n.get_ref().clone())
            }
        };
        let ip = node_ip(&node, &label, at.clone(), network, &mut ips, report);
        let port = match &node.port {
            None => Some(6379),
            Some(p) => port_below_bus(
                p,
                &format!("{label}: port"),
                "use 1 to 55535: the cluster bus listens on port + 10000",
                report,
            ),
        };
        let tls_port = node.tls_port.as_ref().and_then(|p| {
            port_below_bus(
                p,
                &format!("{label}: tls_port"),
                "use 1 to 55535: with a TLS bus, the bus listens on tls_port + 10000",
                report,
            )
        });
        let host_port = match &node.host_port {
            None => None,
            Some(p) if (1..=65535).contains(p.get_ref()) => {
                let hp = *p.get_ref() as u16;
                if let Some(other) = host_ports.insert(hp, label.clone()) {
                    report.add(
                        p.span(),
                        format!("{label}: host_port {hp} is also {other}'s"),
                        "give each node its own host_port",
                    );
                }
                Some(hp)
            }
            Some(p) => {
                report.add(
                    p.span(),
                    format!("{label}: host_port {} is out of range", p.get_ref()),
                    "use 1 to 65535, or leave host_port out",
                );
                None
            }
        };
        let slots = match (&node.replica_of, &node.slots) {
            (Some(master), Some(slots)) => {
                report.add(
                    slots.span(),
                    format!(
                        "{label} is a replica of {} and declares slots",
                        master.get_ref()
                    ),
                    "remove slots: a replica serves its master's slots only once promoted",
                );
                Vec::new()
            }
            (Some(master), None) => {
                replicas.push((label.clone(), master.clone()));
                Vec::new()
            }
            (None, _) => {
                let slots = node_slots(&node, &label, at.clone(), report);
                owners.push((label.clone(), at.clone(), slots.clone()));
                slots
            }
        };
        let host = node_host(&node, &label, at.clone(), hosts, report);
        if let (Some(name), Some(ip), Some(port)) = (name, ip, port) {
            let (host, address) = match host {
                Some(h) => (Some(h.name.clone()), h.address),
                None => (None, ip),
            };
            if host.is_some() && host_port.is_some() {
                report.add(
                    at.clone(),
                    format!("{label} has a host and a host_port"),
                    "remove host_port: a node on a host publishes its ports on the host's address",
                );
            }
            placements.push(Placement {
                at: at.clone(),
                allow_same_host: node.allow_same_host.as_ref().is_some_and(|a| *a.get_ref()),
            });
            out.push(NodeSpec {
                name,
                ip,
                host,
                address,
                port,
                client_port: port,
                cluster_port: port,
                // Its own, for now; settled against [tls] once that is read.
                tls_port,
                slots,
                host_port,
                replica_of: node.replica_of.map(Spanned::into_inner),
            });
        }
    }
    check_coverage(&owners, report);
    check_replicas(&replicas, &owners, report);
    (out, placements)
}

/// Rules that need every node placed and every port settled: a replica does not share its
/// master's host (losing that one machine would lose the shard), and two nodes on one host
/// do not publish the same port.
pub(super) fn check_placements(
    nodes: &[NodeSpec],
    placements: &[Placement],
    tls: Option<&TlsSpec>,
    report: &mut Report<'_>,
) {
    let plaintext = tls.is_none_or(|t| t.plaintext);
    let mut taken: HashMap<(String, u16), String> = HashMap::new();
    for (node, place) in nodes.iter().zip(placements) {
        let Some(host) = &node.host else { continue };
        let master = node
            .replica_of
            .as_deref()
            .and_then(|m| nodes.iter().find(|n| n.name == m));
        if let Some(master) = master.filter(|m| m.host == node.host) {
            if !place.allow_same_host {
                report.add(
                    place.at.clone(),
                    format!("{} is on host {host} with its master {}", node.name, master.name),
                    "put it on another host, or add allow_same_host = true if losing that host may lose the shard",
                );
            }
        }
        for port in node.published_ports(plaintext) {
            if let Some(other) = taken.insert((host.clone(), port), node.name.clone()) {
                report.add(
                    place.at.clone(),
                    format!("{} publishes port {port} on host {host}, as {other} does", node.name),
                    "give nodes on one host their own port and tls_port (the bus takes the cluster port + 10000)",
                );
            }
        }
    }
}

/// Each replica names a master of this file: not itself, not another replica (no chains).
fn check_replicas(
    replicas: &[(String, Spanned<String>)],
    masters: &[(String, Range<usize>, Vec<SlotRange>)],
    report: &mut Report<'_>,
) {
    let names: Vec<&str> = masters.iter().map(|(n, _, _)| n.as_str()).collect();
    let hint = format!("name one of the masters: {}", names.join(", "));
    for (label, master) in replicas {
        let named = master.get_ref();
        let message = if named == label {
            format!("{label} names itself in replica_of")
        } else if let Some((_, of)) = replicas.iter().find(|(r, _)| r == named) {
            format!(
                "{label} replicates {named}, itself a replica of {}: replicas do not chain",
                of.get_ref()
            )
        } else if !names.contains(&named.as_str()) {
            format!("{label}: replica_of names '{named}', which is not a node of this file")
        } else {
            continue;
        };
        report.add(master.span(), message, hint.clone());
    }
}

fn node_ip(
    node: &RawNode,
    label: &str,
    at: Range<usize>,
    network: Option<&NetworkSpec>,
    seen: &mut HashMap<Ipv4Addr, String>,
    report: &mut Report<'_>,
) -> Option<Ipv4Addr> {
    let Some(raw) = &node.ip else {
        report.add(
            at,
            format!("{label} has no ip"),
            "add ip = \"A.B.C.D\", a static address inside [network].subnet",
        );
        return None;
    };
    let Ok(ip) = raw.get_ref().parse::<Ipv4Addr>() else {
        report.add(
            raw.span(),
            format!("{label}: '{}' is not an IPv4 address", raw.get_ref()),
            "write it as A.B.C.D, e.g. 172.20.2.13",
        );
        return None;
    };
    if let Some(net) = network {
        let (first, last) = net.subnet.node_range();
        let hint = format!("pick an address from {first} to {last}");
        let s = net.subnet;
        if !s.contains(ip) {
            report.add(
                raw.span(),
                format!("{label}: {ip} is outside the subnet {s}"),
                hint,
            );
        } else if ip == s.network() {
            report.add(
                raw.span(),
                format!("{label}: {ip} is the network address of {s}"),
                hint,
            );
        } else if ip == s.broadcast() {
            report.add(
                raw.span(),
                format!("{label}: {ip} is the broadcast address of {s}"),
                hint,
            );
        } else if ip == s.gateway() {
            report.add(
                raw.span(),
                format!("{label}: {ip} is the gateway of {s} (Docker's bridge takes it)"),
                hint,
            );
        }
    }
    if let Some(other) = seen.insert(ip, label.to_string()) {
        report.add(
            raw.span(),
            format!("{label}: ip {ip} is also {other}'s"),
            "give each node its own address",
        );
    }
    Some(ip)
}

fn node_slots(
    node: &RawNode,
    label: &str,
    at: Range<usize>,
    report: &mut Report<'_>,
) -> Vec<SlotRange> {
    let Some(list) = &node.slots else {
        report.add(
            at,
            format!("{label} has no slots"),
            "add slots = [\"START-END\", ...] (every master owns slots), or replica_of = \"<master>\" for a replica",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list.get_ref() {
        match item.get_ref().parse::<SlotRange>() {
            Ok(r) => out.push(r),
            Err(e) => report.add(
                item.span(),
                format!("{label}: {e}"),
                "write ranges as \"0-5460\"; single slots as \"42\"",
            ),
        }
    }
    if list.get_ref().is_empty() {
        report.add(
            list.span(),
            format!("{label} declares an empty slot list"),
            "give it at least one range, or remove the node",
        );
    }
    out
}

fn check_coverage(owners: &[(String, Range<usize>, Vec<SlotRange>)], report: &mut Report<'_>) {
    let ranges: Vec<Vec<SlotRange>> = owners.iter().map(|(_, _, r)| r.clone()).collect();
    let cover = coverage(&ranges);
    let first_span = owners.first().map(|(_, s, _)| s.clone()).unwrap_or(0..0);
    if !cover.gaps.is_empty() {
        let gaps: Vec<String> = cover.gaps.iter().map(ToString::to_string).collect();
        let count: usize = cover.gaps.iter().map(SlotRange::len).sum();
        report.add(
            first_span,
            format!("{count} slot(s) belong to no node: {}", gaps.join(", ")),
            "add these ranges to a node's slots; all 16384 slots (0-16383) must be declared",
        );
    }
    let mut by_owners: BTreeMap<Vec<usize>, Vec<SlotRange>> = BTreeMap::new();
    for (range, who) in cover.overlaps {
        by_owners.entry(who).or_default().push(range);
    }
    for (who, ranges) in by_owners {
        let names: Vec<&str> = who.iter().map(|i| owners[*i].0.as_str()).collect();
        let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        report.add(
            owners[who[1]].1.clone(),
            format!(
                "slots {} are declared by more than one node: {}",
                shown.join(", "),
                names.join(" and ")
            ),
            "remove them from all but one node",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn with_replica(extra: &str) -> String {
        format!("{VALID}\n[[nodes]]\nname = \"redis-4\"\nip = \"172.20.2.18\"\n{extra}\n")
    }

    #[test]
    fn a_replica_names_its_master_and_declares_no_slots() {
        let spec = parse(
            &with_replica("replica_of = \"redis-2\""),
            Path::new("c.toml"),
        )
        .unwrap();
        let replica = spec.node("redis-4").unwrap();
        assert!(replica.is_replica() && replica.slots.is_empty());
        assert_eq!(replica.shard(), "redis-2");
        let shard: Vec<&str> = spec.shard("redis-2").map(|n| n.name.as_str()).collect();
        assert_eq!(shard, ["redis-2", "redis-4"]);
        assert_eq!(spec.masters().count(), 3);
        assert!(spec.failback, "failback is the default");
    }

    #[test]
    fn replicas_with_slots_unknown_masters_chains_and_self_references_are_refused() {
        let text = with_replica("replica_of = \"redis-2\"\nslots = [\"0-1\"]");
        has(
            &problems(&text),
            29,
            "redis-4 is a replica of redis-2 and declares slots",
        );
        let text = with_replica("replica_of = \"redis-9\"");
        has(
            &problems(&text),
            28,
            "replica_of names 'redis-9', which is not a node",
        );
        let text = with_replica("replica_of = \"redis-4\"");
        has(&problems(&text), 28, "redis-4 names itself");
        let chain = format!(
            "{}\n[[nodes]]\nname = \"redis-5\"\nip = \"172.20.2.19\"\nreplica_of = \"redis-4\"\n",
            with_replica("replica_of = \"redis-1\"")
        );
        let found = problems(&chain);
        has(
            &found,
            33,
            "redis-5 replicates redis-4, itself a replica of redis-1",
        );
        has(
            &found,
            33,
            "name one of the masters: redis-1, redis-2, redis-3",
        );
    }

    #[test]
    fn gaps_and_overlaps_are_named() {
        let text = VALID.replace("\"5461-10922\"", "\"5000-10000\"");
        let p = problems(&text);
        has(&p, 10, "922 slot(s) belong to no node: 10001-10922");
        has(
            &p,
            15,
            "slots 5000-5460 are declared by more than one node: redis-1 and redis-2",
        );
    }

    #[test]
    fn addresses_must_fit_the_subnet() {
        let text = VALID
            .replace("172.20.2.13", "172.20.3.13")
            .replace("172.20.2.16", "172.20.2.1")
            .replace("172.20.2.17", "172.20.2.255");
        let p = problems(&text);
        has(&p, 12, "172.20.3.13 is outside the subnet 172.20.2.0/24");
        has(&p, 17, "is the gateway");
        has(&p, 22, "is the broadcast address");
        let net = problems(&VALID.replace("172.20.2.13", "172.20.2.0"));
        has(&net, 12, "is the network address");
        let bad = problems(&VALID.replace("172.20.2.13", "172.20.2.300"));
        has(&bad, 12, "not an IPv4 address");
    }

    #[test]
    fn names_and_ips_are_unique_and_names_dns_safe() {
        let text = VALID
            .replace("\"redis-2\"", "\"redis-1\"")
            .replace("172.20.2.17", "172.20.2.13")
            .replace("name = \"dev\"", "name = \"Dev_1\"");
        let p = problems(&text);
        has(&p, 3, "cluster name 'Dev_1' is not DNS-safe");
        has(&p, 16, "node name 'redis-1' is used twice");
        has(&p, 22, "ip 172.20.2.13 is also redis-1's");
    }

    #[test]
    fn ports_are_checked() {
        let text = VALID
            .replace(
                "slots = [\"0-5460\"]",
                "slots = [\"0-5460\"]\nport = 60000\nhost_port = 7000",
            )
            .replace(
                "slots = [\"5461-10922\"]",
                "slots = [\"5461-10922\"]\nhost_port = 7000",
            )
            .replace(
                "slots = [\"10923-16383\"]",
                "slots = [\"10923-16383\"]\nhost_port = 0",
            );
        let p = problems(&text);
        has(&p, 14, "port 60000 is out of range");
        has(&p, 21, "host_port 7000 is also redis-1's");
        has(&p, 27, "host_port 0 is out of range");
    }

    #[test]
    fn bad_slot_ranges_and_policies() {
        let text = VALID
            .replace("[\"0-5460\"]", "[\"0-5460\", \"9-2\", \"x\"]")
            .replace(
                "[network]",
                "[image]\npull = \"sometimes\"\nfallback = \"cloud\"\n\n[network]",
            );
        let p = problems(&text);
        has(&p, 7, "pull = 'sometimes' is not a pull policy");
        has(&p, 8, "fallback = 'cloud' is not a fallback");
        has(&p, 17, "range '9-2' ends before it starts");
        has(&p, 17, "'x' is not a slot range");
    }
}
