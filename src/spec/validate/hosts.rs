//! `[[hosts]]`: the Docker engines nodes run on, and the host each node names.

use super::*;

/// `[[hosts]]`: each with a DNS-safe unique name, a Docker endpoint and an IPv4 address.
pub(super) fn hosts(
    raw: Option<Spanned<Vec<Spanned<RawHost>>>>,
    base: &Path,
    report: &mut Report<'_>,
) -> Vec<HostSpec> {
    let mut out: Vec<HostSpec> = Vec::new();
    for (index, host) in raw
        .map(Spanned::into_inner)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = host.span();
        let host = host.into_inner();
        let name = match dns_name(
            host.name.as_ref(),
            at.clone(),
            "host name",
            format!("hosts[{index}] has no name"),
            "add name = \"vm-a\"",
            report,
        ) {
            None => None,
            Some(n) if out.iter().any(|h| &h.name == n.get_ref()) => {
                report.add(
                    n.span(),
                    format!("host name '{}' is used twice", n.get_ref()),
                    "give each host its own name",
                );
                None
            }
            Some(n) => Some(n.get_ref().clone()),
        };
        let label = name.clone().unwrap_or_else(|| format!("hosts[{index}]"));
        let certs = host.cert_path.as_ref().map(|c| base.join(c.get_ref()));
        let docker = match &host.docker {
            None => {
                report.add(
                    at.clone(),
                    format!("host {label} has no docker endpoint"),
                    "add docker = \"ssh://user@host\", \"tcp://host:2376\" (with cert_path), \"unix:///…\" or a docker context's name",
                );
                None
            }
            Some(d) => match Endpoint::parse(d.get_ref(), certs) {
                Ok(e) => Some(e),
                Err(e) => {
                    report.add(
                        d.span(),
                        format!("host {label}: docker = {e}"),
                        "use unix://, tcp:// or ssh://, or the name of a docker context",
                    );
                    None
                }
            },
        };
        if let (Some(c), Some(d)) = (&host.cert_path, &docker) {
            if !matches!(d, Endpoint::Tcp { .. }) {
                report.add(
                    c.span(),
                    format!("host {label}: cert_path is only for tcp:// endpoints"),
                    "remove cert_path: ssh, unix sockets and contexts bring their own credentials",
                );
            }
        }
        let address = match &host.address {
            None => {
                report.add(
                    at.clone(),
                    format!("host {label} has no address"),
                    "add address = \"A.B.C.D\": the address its nodes publish their ports on and announce",
                );
                None
            }
            Some(a) => match a.get_ref().parse::<Ipv4Addr>() {
                Ok(ip) if !ip.is_unspecified() => Some(ip),
                _ => {
                    report.add(
                        a.span(),
                        format!(
                            "host {label}: '{}' is not an address peers can reach",
                            a.get_ref()
                        ),
                        "write the host's IPv4 address as A.B.C.D, e.g. 10.0.0.11",
                    );
                    None
                }
            },
        };
        if let (Some(name), Some(docker), Some(address)) = (name, docker, address) {
            out.push(HostSpec {
                name,
                docker,
                address,
            });
        }
    }
    out
}

/// The host a node names: required once there are `[[hosts]]`, refused without them.
pub(super) fn node_host<'h>(
    node: &RawNode,
    label: &str,
    at: Range<usize>,
    hosts: &'h [HostSpec],
    report: &mut Report<'_>,
) -> Option<&'h HostSpec> {
    let names = || {
        hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &node.host {
        None if hosts.is_empty() => None,
        None => {
            report.add(
                at,
                format!("{label} names no host"),
                format!("add host = one of {}", names()),
            );
            None
        }
        Some(h) if hosts.is_empty() => {
            report.add(
                h.span(),
                format!("{label}: host '{}' is not declared", h.get_ref()),
                "declare it in a [[hosts]] table, or remove host to run on the local engine",
            );
            None
        }
        Some(h) => {
            let found = hosts.iter().find(|x| &x.name == h.get_ref());
            if found.is_none() {
                report.add(
                    h.span(),
                    format!("{label}: host '{}' is not declared", h.get_ref()),
                    format!("name one of {}", names()),
                );
            }
            found
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    /// Three hosts, a master and another shard's replica on each.
    const HOSTED: &str = r#"
[cluster]
name = "dev"
password_file = "pw"

[network]
name = "dev-data"
subnet = "172.20.2.0/24"

[[hosts]]
name = "vm-a"
docker = "ssh://deploy@10.0.0.11"
address = "10.0.0.11"

[[hosts]]
name = "vm-b"
docker = "tcp://10.0.0.12:2376"
cert_path = "certs/vm-b"
address = "10.0.0.12"

[[hosts]]
name = "vm-c"
docker = "staging-c"
address = "10.0.0.13"

[[nodes]]
name = "redis-1"
ip = "172.20.2.13"
host = "vm-a"
slots = ["0-5460"]

[[nodes]]
name = "redis-2"
ip = "172.20.2.16"
host = "vm-b"
slots = ["5461-10922"]

[[nodes]]
name = "redis-3"
ip = "172.20.2.17"
host = "vm-c"
slots = ["10923-16383"]

[[nodes]]
name = "redis-4"
ip = "172.20.2.14"
host = "vm-b"
port = 6380
replica_of = "redis-1"
"#;

    #[test]
    fn hosted_nodes_are_reached_and_announced_at_their_hosts_address() {
        let spec = parse(HOSTED, Path::new("/etc/rk/cluster.toml")).expect("valid");
        assert_eq!(spec.host_names(), ["vm-a", "vm-b", "vm-c"]);
        let four = spec.node("redis-4").expect("declared");
        assert_eq!(four.host.as_deref(), Some("vm-b"));
        assert_eq!(four.addr(), "10.0.0.12:6380");
        assert_eq!(four.ip, "172.20.2.14".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            spec.hosts[1].docker,
            Endpoint::Tcp {
                url: "tcp://10.0.0.12:2376".into(),
                certs: Some("/etc/rk/certs/vm-b".into())
            }
        );
        assert_eq!(
            spec.nodes_on("vm-b")
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["redis-2", "redis-4"]
        );
        // Two nodes share the address: the port tells them apart, never port 0.
        let two = spec.node("redis-2").expect("declared");
        let at = Some("10.0.0.12".parse().unwrap());
        assert!(four.is_at(at, 6380) && !two.is_at(at, 6380) && !four.is_at(at, 0));
    }

    #[test]
    fn without_hosts_everything_is_local_and_reached_at_its_container() {
        let spec = parse(VALID, Path::new("c.toml")).expect("valid");
        assert_eq!(spec.host_names(), [crate::spec::LOCAL]);
        assert_eq!(spec.nodes[0].addr(), "172.20.2.13:6379");
        assert!(spec.nodes[0].is_at(Some(spec.nodes[0].ip), 0));
    }

    #[test]
    fn a_replica_on_its_masters_host_is_refused_unless_allowed() {
        let same = HOSTED.replace(
            "host = \"vm-b\"\nport = 6380",
            "host = \"vm-a\"\nport = 6380",
        );
        has(
            &problems(&same),
            44,
            "redis-4 is on host vm-a with its master redis-1",
        );
        let allowed = same.replace(
            "replica_of = \"redis-1\"",
            "replica_of = \"redis-1\"\nallow_same_host = true",
        );
        assert!(parse(&allowed, Path::new("c.toml")).is_ok());
    }

    #[test]
    fn two_nodes_publishing_one_port_on_a_host_are_refused() {
        let clash = HOSTED.replace("port = 6380\n", "");
        has(
            &problems(&clash),
            44,
            "redis-4 publishes port 6379 on host vm-b, as redis-2 does",
        );
        // The bus port (+10000) counts too.
        let bus = HOSTED.replace("port = 6380\n", "port = 16379\n");
        let found = problems(&bus);
        assert!(
            found
                .iter()
                .any(|p| p.message.contains("publishes port 16379")),
            "{found:?}"
        );
    }

    #[test]
    fn nodes_sharing_a_host_need_their_own_tls_port() {
        let tls = format!("{HOSTED}\n[tls]\nenabled = true\nport = 6390\n");
        let found = problems(&tls);
        assert!(
            found
                .iter()
                .any(|p| p.message == "redis-4 publishes port 6390 on host vm-b, as redis-2 does"),
            "{found:?}"
        );
        let own = tls.replace("port = 6380\n", "port = 6380\ntls_port = 6391\n");
        let spec = parse(&own, Path::new("c.toml")).expect("valid");
        let four = spec.node("redis-4").expect("declared");
        assert_eq!(
            (four.tls_port, spec.node("redis-2").unwrap().tls_port),
            (Some(6391), Some(6390))
        );
        // With a TLS bus, the bus is the TLS port's + 10000.
        assert_eq!(four.published_ports(true), [6380, 6391, 16391]);
        let stray = HOSTED.replace("port = 6380\n", "port = 6380\ntls_port = 6391\n");
        has(
            &problems(&stray),
            44,
            "redis-4 has a tls_port but [tls] is not enabled",
        );
        let high = problems(&own.replace("tls_port = 6391", "tls_port = 60000"));
        assert!(
            high.iter()
                .any(|p| p.message == "redis-4: tls_port 60000 is out of range"),
            "{high:?}"
        );
        let same = own.replace("tls_port = 6391", "tls_port = 6380");
        has(
            &problems(&same),
            44,
            "redis-4: TLS port 6380 is also its plaintext port",
        );
    }

    #[test]
    fn hosts_and_node_hosts_are_checked() {
        let bad = HOSTED
            .replace("docker = \"staging-c\"", "docker = \"ftp://x\"")
            .replace("address = \"10.0.0.13\"", "address = \"0.0.0.0\"")
            .replace("host = \"vm-c\"", "host = \"vm-z\"");
        let found = problems(&bad);
        has(
            &found,
            23,
            "host vm-c: docker = 'ftp://x' uses a scheme Docker does not speak",
        );
        has(
            &found,
            24,
            "host vm-c: '0.0.0.0' is not an address peers can reach",
        );
        has(&found, 41, "redis-3: host 'vm-z' is not declared");
        let unplaced = HOSTED.replace("host = \"vm-a\"\n", "");
        has(&problems(&unplaced), 26, "redis-1 names no host");
        let undeclared = VALID.replace(
            "ip = \"172.20.2.13\"",
            "ip = \"172.20.2.13\"\nhost = \"vm-a\"",
        );
        has(
            &problems(&undeclared),
            13,
            "redis-1: host 'vm-a' is not declared",
        );
        let stray_certs = HOSTED.replace(
            "docker = \"ssh://deploy@10.0.0.11\"",
            "docker = \"ssh://deploy@10.0.0.11\"\ncert_path = \"c\"",
        );
        has(
            &problems(&stray_certs),
            13,
            "cert_path is only for tcp:// endpoints",
        );
    }
}
