//! DLI's rule for the network of a queue or an elastic resource pool (`cidr_in_vpc`):
//! it must not overlap the networks of the data sources it reaches through an enhanced
//! connection (the connection's routes and host addresses), nor the ranges Huawei Cloud
//! reserves for its own services. A real DLI only shows the mistake when a job runs; dsconn
//! refuses it up front, at bind, at route add and at a CIDR change.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// The range a queue or pool has when it was given none (DLI's default).
pub const DEFAULT_COMPUTE_CIDR: Ipv4Net =
    Ipv4Net::new_assert(std::net::Ipv4Addr::new(172, 16, 0, 0), 12);

/// Ranges a queue's or pool's CIDR may not touch: the ones Huawei Cloud keeps for its
/// own services and the ones no VPC can use, with the reason a message gives.
pub const RESERVED_RANGES: [(&str, &str); 7] = [
    ("0.0.0.0/8", "reserved (this network)"),
    ("100.64.0.0/10", "reserved for Huawei Cloud services"),
    ("127.0.0.0/8", "reserved (loopback)"),
    ("169.254.0.0/16", "reserved (link-local)"),
    ("198.18.0.0/15", "reserved for Huawei Cloud services"),
    ("214.0.0.0/7", "reserved for Huawei Cloud services"),
    ("224.0.0.0/3", "reserved (multicast and future use)"),
];

/// A network the compute side must not overlap, with words that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNetwork {
    pub net: IpNet,
    /// e.g. `route r1 of enhanced connection c1`.
    pub label: String,
}

impl PeerNetwork {
    /// A route's CIDR.
    pub fn route(net: IpNet, route: &str, connection: &str) -> Self {
        Self {
            net,
            label: format!("route {route} of enhanced connection {connection}"),
        }
    }

    /// A host entry's address (as a single-address network).
    pub fn host(ip: IpAddr, host: &str, connection: &str) -> Self {
        Self {
            net: IpNet::from(ip),
            label: format!("host {host} of enhanced connection {connection}"),
        }
    }
}

/// The compute side of the check: a queue's or pool's CIDR, with words that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeNetwork {
    pub net: Ipv4Net,
    /// e.g. `queue q1` or `elastic resource pool p1`.
    pub label: String,
}

/// Two networks that must not overlap and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub compute: String,
    pub compute_net: Ipv4Net,
    pub other: String,
    pub other_net: IpNet,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the CIDR {} of {} overlaps {} ({}); a queue's or elastic resource pool's \
             cidr_in_vpc must not overlap the networks it connects to",
            self.compute_net, self.compute, self.other, self.other_net
        )
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first reserved range `cidr` overlaps.
pub fn reserved_overlap(compute: &ComputeNetwork) -> Option<Overlap> {
    let own = IpNet::V4(compute.net);
    RESERVED_RANGES.iter().find_map(|(range, why)| {
        let net: IpNet = range.parse().ok()?;
        overlaps(&own, &net).then(|| Overlap {
            compute: compute.label.clone(),
            compute_net: compute.net,
            other: format!("a range {why}"),
            other_net: net,
        })
    })
}

/// The first pair of `computes` x `peers` that overlaps (IPv6 peers never overlap an
/// IPv4 compute range).
pub fn first_overlap(computes: &[ComputeNetwork], peers: &[PeerNetwork]) -> Option<Overlap> {
    computes.iter().find_map(|compute| {
        let own = IpNet::V4(compute.net);
        peers
            .iter()
            .find(|peer| overlaps(&own, &peer.net))
            .map(|peer| Overlap {
                compute: compute.label.clone(),
                compute_net: compute.net,
                other: peer.label.clone(),
                other_net: peer.net,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(cidr: &str) -> ComputeNetwork {
        ComputeNetwork {
            net: cidr.parse().expect("cidr"),
            label: "queue q1".into(),
        }
    }

    fn route(cidr: &str) -> PeerNetwork {
        PeerNetwork::route(cidr.parse().expect("cidr"), "r1", "c1")
    }

    #[test]
    fn the_default_is_dlis() {
        assert_eq!(DEFAULT_COMPUTE_CIDR.to_string(), "172.16.0.0/12");
    }

    #[rstest::rstest]
    #[case("172.16.0.0/12", "172.20.1.0/24")]
    #[case("172.20.1.0/24", "172.16.0.0/12")]
    #[case("10.0.0.0/24", "10.0.0.255/32")]
    fn overlapping_networks_are_found_and_named(#[case] own: &str, #[case] other: &str) {
        let found = first_overlap(&[queue(own)], &[route(other)]).expect("overlap");
        let message = found.to_string();
        assert!(message.contains(own), "{message}");
        assert!(message.contains(other), "{message}");
        assert!(message.contains("queue q1"), "{message}");
        assert!(message.contains("route r1 of enhanced connection c1"));
    }

    #[rstest::rstest]
    #[case("172.16.0.0/12", "192.168.0.0/16")]
    #[case("10.0.0.0/24", "10.0.1.0/24")]
    #[case("10.0.0.0/24", "fd00::/8")]
    fn disjoint_networks_pass(#[case] own: &str, #[case] other: &str) {
        assert_eq!(first_overlap(&[queue(own)], &[route(other)]), None);
    }

    #[test]
    fn a_host_address_inside_the_range_overlaps() {
        let host = PeerNetwork::host("172.17.0.9".parse().expect("ip"), "db", "c1");
        let found = first_overlap(&[queue("172.16.0.0/12")], &[host]).expect("overlap");
        assert!(found.to_string().contains("172.17.0.9/32"));
    }

    #[rstest::rstest]
    #[case("100.64.0.0/16")]
    #[case("127.0.0.0/24")]
    #[case("0.0.0.0/0")]
    #[case("214.1.0.0/16")]
    fn reserved_ranges_are_refused(#[case] own: &str) {
        assert!(reserved_overlap(&queue(own)).is_some(), "{own}");
    }

    #[rstest::rstest]
    #[case("172.16.0.0/12")]
    #[case("10.0.0.0/8")]
    #[case("192.168.0.0/16")]
    fn private_ranges_are_not_reserved(#[case] own: &str) {
        assert_eq!(reserved_overlap(&queue(own)), None);
    }
}
