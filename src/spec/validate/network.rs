//! `[network]`: the Docker network and its subnet.

use super::*;

pub(super) fn network(
    raw: Option<Spanned<RawNetwork>>,
    report: &mut Report<'_>,
) -> Option<NetworkSpec> {
    let Some(raw) = raw else {
        report.add(
            0..0,
            "missing [network] table",
            "add [network] with name = \"dev-data\" and subnet = \"172.20.2.0/24\"",
        );
        return None;
    };
    let at = raw.span();
    let raw = raw.into_inner();
    let name = dns_name(
        raw.name.as_ref(),
        at.clone(),
        "network name",
        "[network] has no name".into(),
        "add name = \"dev-data\"",
        report,
    )
    .map(|n| n.get_ref().clone());
    let subnet = match raw.subnet {
        None => {
            report.add(
                at,
                "[network] has no subnet",
                "add subnet = \"172.20.2.0/24\"",
            );
            None
        }
        Some(s) => match s.get_ref().parse::<Subnet>() {
            Ok(subnet) => Some(subnet),
            Err(e) => {
                report.add(
                    s.span(),
                    e.to_string(),
                    "write the network address with its prefix, e.g. 172.20.2.0/24",
                );
                None
            }
        },
    };
    Some(NetworkSpec {
        name: name?,
        subnet: subnet?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn subnet_and_timeout_ranges() {
        let p = problems(
            &VALID
                .replace("172.20.2.0/24", "172.20.2.1/24")
                .replace("password_file", "node_timeout_ms = 10\npassword_file"),
        );
        has(&p, 4, "node_timeout_ms = 10 is out of range");
        has(&p, 9, "has host bits set");
    }
}
