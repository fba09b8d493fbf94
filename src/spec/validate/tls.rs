//! `[tls]`: ports, certificate sources and who must present one.

use super::*;

/// `[tls]`: None when absent or `enabled = false`.
pub(super) fn tls(
    raw: Option<Spanned<RawTls>>,
    state_dir: &Path,
    base: &Path,
    nodes: &[NodeSpec],
    report: &mut Report<'_>,
) -> Option<TlsSpec> {
    let raw = raw?;
    let at = raw.span();
    let raw = raw.into_inner();
    if !raw.enabled.as_ref().is_some_and(|e| *e.get_ref()) {
        return None;
    }
    let flag =
        |v: &Option<Spanned<bool>>, default: bool| v.as_ref().map_or(default, |v| *v.get_ref());
    let port = match &raw.port {
        None => 6390,
        Some(p) => match port_below_bus(
            p,
            "[tls].port",
            "use 1 to 55535: the cluster bus listens on port + 10000",
            report,
        ) {
            Some(port) => {
                if let Some(node) = nodes.iter().find(|n| n.port == port) {
                    report.add(
                        p.span(),
                        format!("[tls].port {port} is also {}'s plaintext port", node.name),
                        "give TLS its own port (the reference layout uses 6390)",
                    );
                }
                port
            }
            None => 6390,
        },
    };
    let auth_clients = match raw
        .auth_clients
        .as_ref()
        .map(|a| (a.get_ref().as_str(), a.span()))
    {
        None | Some(("yes", _)) => AuthClients::Yes,
        Some(("optional", _)) => AuthClients::Optional,
        Some(("no", _)) => AuthClients::No,
        Some((other, span)) => {
            report.add(
                span,
                format!("[tls].auth_clients = \"{other}\" is not a choice"),
                "use \"yes\" (clients need a certificate), \"optional\" or \"no\"",
            );
            AuthClients::Yes
        }
    };
    let plaintext = flag(&raw.plaintext, true);
    let cluster_bus = flag(&raw.cluster_bus, true);
    if !cluster_bus && !plaintext {
        let span = raw.cluster_bus.as_ref().map_or(at.clone(), Spanned::span);
        report.add(
            span,
            "[tls].cluster_bus = false needs the plaintext port, which plaintext = false closes",
            "keep cluster_bus = true (TLS for the bus too), or plaintext = true",
        );
    }
    let renew_before_days = match &raw.renew_before_days {
        None => 30,
        Some(d) if (1..=3650).contains(d.get_ref()) => *d.get_ref() as u32,
        Some(d) => {
            report.add(
                d.span(),
                format!("[tls].renew_before_days = {} is out of range", d.get_ref()),
                "use 1 to 3650 days",
            );
            30
        }
    };
    let certs_dir = match &raw.certs_dir {
        None => state_dir.join("certs"),
        Some(d) if d.get_ref().trim().is_empty() => {
            report.add(
                d.span(),
                "[tls].certs_dir is empty",
                "name a folder, e.g. \"certs\" (with certs/<node>/redis.crt, redis.key, ca.crt)",
            );
            state_dir.join("certs")
        }
        Some(d) => base.join(d.get_ref()),
    };
    Some(TlsSpec {
        port,
        certs_dir,
        generate: flag(&raw.generate, true),
        auth_clients,
        cluster_bus,
        plaintext,
        renew_before_days,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn tls_defaults_and_ports() {
        let spec = parse(
            &format!("{VALID}\n[tls]\nenabled = true\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        let tls = spec.tls.as_ref().unwrap();
        assert_eq!(tls.port, 6390);
        assert_eq!(tls.auth_clients, AuthClients::Yes);
        assert!(tls.generate && tls.cluster_bus && tls.plaintext);
        assert_eq!(tls.renew_before_days, 30);
        assert_eq!(tls.certs_dir, Path::new(".redis-keeper/certs"));
        let node = &spec.nodes[0];
        assert_eq!(
            (node.client_port, node.cluster_port, node.bus_port()),
            (6379, 6390, 16390)
        );
        let only_tls = format!("{VALID}\n[tls]\nenabled = true\nplaintext = false\n");
        let spec = parse(&only_tls, Path::new("c.toml")).unwrap();
        assert_eq!(spec.nodes[0].addr(), "172.20.2.13:6390");
        let off = parse(
            &format!("{VALID}\n[tls]\nenabled = false\nport = 1\n"),
            Path::new("c.toml"),
        );
        assert!(off.unwrap().tls.is_none());
    }

    #[test]
    fn tls_mistakes_are_named() {
        let text = format!(
            "{VALID}\n[tls]\nenabled = true\nport = 6379\nauth_clients = \"maybe\"\nplaintext = false\ncluster_bus = false\nrenew_before_days = 0\n"
        );
        let p = problems(&text);
        has(&p, 27, "[tls].port 6379 is also redis-1's plaintext port");
        has(&p, 28, "[tls].auth_clients = \"maybe\" is not a choice");
        has(&p, 30, "[tls].cluster_bus = false needs the plaintext port");
        has(&p, 31, "[tls].renew_before_days = 0 is out of range");
    }
}
