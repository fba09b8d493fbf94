//! IPv4 subnets as Docker's IPAM understands them: which addresses a node may take.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR form, e.g. `172.20.2.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub(crate) fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub(crate) fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The address Docker gives the bridge when no gateway is set: the first host address.
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    pub(crate) fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The usable range for nodes, for hints: gateway+1 ..= broadcast-1.
    pub(crate) fn node_range(&self) -> (Ipv4Addr, Ipv4Addr) {
        (
            Ipv4Addr::from(u32::from(self.gateway()) + 1),
            Ipv4Addr::from(u32::from(self.broadcast()) - 1),
        )
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("'{0}' is not an IPv4 subnet: write it as ADDRESS/PREFIX, e.g. 172.20.2.0/24")]
    Syntax(String),
    #[error("prefix /{0} leaves no room for nodes: use /29 or a shorter prefix (e.g. /24)")]
    TooSmall(u8),
    #[error("'{0}' has host bits set: the network address is {1}")]
    HostBits(String, Ipv4Addr),
}

impl FromStr for Subnet {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || SubnetError::Syntax(s.to_string());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(syntax)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| syntax())?;
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        if prefix > 32 {
            return Err(syntax());
        }
        if prefix > 29 {
            return Err(SubnetError::TooSmall(prefix));
        }
        let subnet = Subnet {
            network: addr,
            prefix,
        };
        let network = Ipv4Addr::from(u32::from(addr) & subnet.mask());
        if network != addr {
            return Err(SubnetError::HostBits(s.trim().to_string(), network));
        }
        Ok(subnet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_subnet() {
        let s: Subnet = "172.20.2.0/24".parse().unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(172, 20, 2, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 20, 2, 255));
        assert!(s.contains(Ipv4Addr::new(172, 20, 2, 13)));
        assert!(!s.contains(Ipv4Addr::new(172, 20, 3, 13)));
        assert_eq!(s.to_string(), "172.20.2.0/24");
    }

    #[test]
    fn rejects_host_bits_and_tiny_or_malformed_subnets() {
        assert_eq!(
            "172.20.2.5/24".parse::<Subnet>(),
            Err(SubnetError::HostBits(
                "172.20.2.5/24".into(),
                Ipv4Addr::new(172, 20, 2, 0)
            ))
        );
        assert_eq!(
            "10.0.0.0/31".parse::<Subnet>(),
            Err(SubnetError::TooSmall(31))
        );
        assert!(matches!(
            "10.0.0.0".parse::<Subnet>(),
            Err(SubnetError::Syntax(_))
        ));
    }

    #[test]
    fn overlap_is_symmetric() {
        let a: Subnet = "172.20.0.0/16".parse().unwrap();
        let b: Subnet = "172.20.2.0/24".parse().unwrap();
        let c: Subnet = "172.21.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }
}
