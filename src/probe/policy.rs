//! Where checks may connect. dsconn dials addresses its users give it, so by default it
//! refuses the ranges where a cloud host's own secrets live (link-local: instance
//! metadata), addresses that are not a single host (multicast, unspecified, broadcast)
//! and, unless it listens on loopback only, its own host (loopback and the host's
//! addresses), so that a caller cannot map the services running beside it. IPv6 forms
//! that carry an IPv4 address (NAT64, 6to4, IPv4-compatible, Teredo) are judged by the
//! IPv4 rules too. Operators add allow and deny ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Ranges refused unless an operator allows them explicitly.
pub const DEFAULT_DENY: [&str; 7] = [
    "169.254.0.0/16",
    "fe80::/10",
    "224.0.0.0/4",
    "ff00::/8",
    "0.0.0.0/32",
    "::/128",
    "255.255.255.255/32",
];

/// Loopback, refused by a server that listens beyond it.
pub const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    default_deny: Vec<IpNet>,
    own_host: Option<OwnHost>,
}

/// The server's own host, refused by default when the server listens beyond loopback.
#[derive(Debug, Clone)]
struct OwnHost {
    listen: IpAddr,
    ranges: Vec<IpNet>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self::new(Vec::new(), Vec::new())
    }
}

impl OutboundPolicy {
    /// `deny` wins over `allow`; `allow` wins over the default deny list; a non-empty
    /// `allow` list also refuses everything outside it. The server's own host is not
    /// protected: see [`OutboundPolicy::for_server`].
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        let default_deny = DEFAULT_DENY
            .iter()
            .filter_map(|range| range.parse().ok())
            .collect();
        Self {
            allow,
            deny,
            default_deny,
            own_host: None,
        }
    }

    /// The policy of a server listening on `listen`: as [`OutboundPolicy::new`], and a
    /// server reachable beyond loopback also refuses its own host (loopback, the listen
    /// address and every address of the host's interfaces at start-up) unless `allow`
    /// lets it in.
    pub fn for_server(allow: Vec<IpNet>, deny: Vec<IpNet>, listen: IpAddr) -> Self {
        let policy = Self::new(allow, deny);
        if listen.to_canonical().is_loopback() {
            return policy;
        }
        let policy = policy.protecting_host(listen, &interface_addresses());
        if let Some(own_host) = &policy.own_host {
            tracing::info!(
                listen = %listen,
                refused = own_host.ranges.len(),
                "checks may not dial this host (loopback and its own addresses); \
                 --allow-cidr lets them in"
            );
        }
        policy
    }

    /// Refuses the host of a server listening on `listen`, whose interfaces have
    /// `host_addresses`; nothing changes for a server listening on loopback only.
    pub fn protecting_host(mut self, listen: IpAddr, host_addresses: &[IpAddr]) -> Self {
        let listen = listen.to_canonical();
        if listen.is_loopback() {
            self.own_host = None;
            return self;
        }
        let mut ranges: Vec<IpNet> = LOOPBACK
            .iter()
            .filter_map(|range| range.parse().ok())
            .collect();
        let addresses = std::iter::once(listen).chain(host_addresses.iter().copied());
        for address in addresses.map(|address| address.to_canonical()) {
            let range = IpNet::from(address);
            if !address.is_unspecified() && !ranges.iter().any(|known| known.contains(&address)) {
                ranges.push(range);
            }
        }
        self.own_host = Some(OwnHost { listen, ranges });
        self
    }

    /// Ok, or why the address may not be dialled. An IPv6 address that carries an IPv4
    /// address must pass both the IPv6 and the IPv4 rules.
    pub fn check(&self, address: IpAddr) -> Result<(), String> {
        // ::ffff:169.254.169.254 is 169.254.169.254: judge the IPv4 address.
        let address = address.to_canonical();
        self.check_one(address)?;
        if let IpAddr::V6(v6) = address
            && let Some((form, embedded)) = embedded_ipv4(v6)
        {
            self.check_one(IpAddr::V4(embedded)).map_err(|why| {
                format!("{address} is a {form} address that reaches {embedded}: {why}")
            })?;
        }
        Ok(())
    }

    /// Ok, or why no address of `range` may be dialled: a denied range holds all of
    /// it, or an allow list exists and none of its ranges meets it.
    pub fn check_range(&self, range: IpNet) -> Result<(), String> {
        let meets = |a: &IpNet, b: &IpNet| a.contains(&b.network()) || b.contains(&a.network());
        if let Some(denied) = self.deny.iter().find(|denied| denied.contains(&range)) {
            return Err(format!("{range} is inside the denied range {denied}"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|allowed| meets(allowed, &range)) {
            return Err(format!("{range} is outside every allowed range"));
        }
        Ok(())
    }

    fn check_one(&self, address: IpAddr) -> Result<(), String> {
        if let Some(range) = self.deny.iter().find(|range| range.contains(&address)) {
            return Err(format!("{address} is in the denied range {range}"));
        }
        if self.allow.iter().any(|range| range.contains(&address)) {
            return Ok(());
        }
        if let Some(range) = self
            .default_deny
            .iter()
            .find(|range| range.contains(&address))
        {
            return Err(format!(
                "{address} is in {range}, which is refused by default (link-local, multicast \
                 and unspecified addresses; cloud instance metadata lives in link-local); \
                 an operator can allow it with --allow-cidr"
            ));
        }
        if let Some(own_host) = &self.own_host
            && let Some(range) = own_host
                .ranges
                .iter()
                .find(|range| range.contains(&address))
        {
            return Err(format!(
                "{address} is this server's own host ({range}), refused since the server \
                 listens on {} beyond loopback; allow it with --allow-cidr {range}",
                own_host.listen
            ));
        }
        if !self.allow.is_empty() {
            return Err(format!("{address} is outside every allowed range"));
        }
        Ok(())
    }
}

/// The IPv4 address an IPv6 address leads to, with the name of its form: NAT64
/// (64:ff9b::/96, RFC 6052), 6to4 (2002::/16, RFC 3056), IPv4-compatible (::a.b.c.d,
/// RFC 4291), IPv4-translated (::ffff:0:a.b.c.d, RFC 2765) and Teredo (2001::/32, RFC
/// 4380, the client's address). `::ffff:a.b.c.d` is handled by `to_canonical`.
pub fn embedded_ipv4(address: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let segments = address.segments();
    let octets = address.octets();
    let last_32 = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    match segments {
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(("NAT64", last_32)),
        [0x2002, ..] => Some((
            "6to4",
            Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]),
        )),
        // Teredo keeps the client's IPv4 address inverted in the last 32 bits.
        [0x2001, 0, ..] => Some(("Teredo", Ipv4Addr::from(!u32::from(last_32)))),
        // :: and ::1 are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(("IPv4-compatible", last_32)),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(("IPv4-translated", last_32)),
        _ => None,
    }
}

/// Every address of this host's network interfaces; empty (with a warning) when the
/// system will not say, leaving loopback and the listen address refused.
fn interface_addresses() -> Vec<IpAddr> {
    match nix::ifaddrs::getifaddrs() {
        Ok(interfaces) => interfaces
            .filter_map(|interface| {
                let address = interface.address?;
                if let Some(v4) = address.as_sockaddr_in() {
                    Some(IpAddr::V4(v4.ip()))
                } else {
                    address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                }
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot list the host's addresses; checks may still dial them");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn nets(ranges: &[&str]) -> Vec<IpNet> {
        ranges.iter().map(|r| r.parse().expect("range")).collect()
    }

    #[rstest]
    #[case("169.254.169.254")]
    #[case("::ffff:169.254.169.254")]
    #[case("fe80::1")]
    #[case("224.0.0.1")]
    #[case("ff02::1")]
    #[case("0.0.0.0")]
    #[case("::")]
    #[case("255.255.255.255")]
    fn metadata_multicast_and_unspecified_addresses_are_denied_by_default(#[case] address: &str) {
        let policy = OutboundPolicy::default();
        assert!(
            policy.check(address.parse().expect("ip")).is_err(),
            "{address}"
        );
    }

    #[rstest]
    #[case("127.0.0.1")]
    #[case("::1")]
    #[case("10.1.2.3")]
    #[case("192.168.0.10")]
    fn ordinary_addresses_are_allowed_by_default(#[case] address: &str) {
        assert_eq!(
            OutboundPolicy::default().check(address.parse().expect("ip")),
            Ok(())
        );
    }

    /// 169.254.169.254 (cloud metadata) and 127.0.0.1 in each IPv6 form that embeds IPv4.
    #[rstest]
    #[case("64:ff9b::a9fe:a9fe", "NAT64")]
    #[case("64:ff9b::169.254.169.254", "NAT64")]
    #[case("2002:a9fe:a9fe::", "6to4")]
    #[case("2002:a9fe:a9fe:1234::5", "6to4")]
    #[case("::169.254.169.254", "IPv4-compatible")]
    #[case("::ffff:0:169.254.169.254", "IPv4-translated")]
    #[case("2001:0:4136:e378:8000:63bf:5601:5601", "Teredo")]
    fn ipv6_forms_of_the_metadata_address_are_denied_by_default(
        #[case] address: &str,
        #[case] form: &str,
    ) {
        let why = OutboundPolicy::default()
            .check(address.parse().expect("ip"))
            .expect_err(address);
        assert!(why.contains(form), "{why}");
        assert!(why.contains("169.254.169.254"), "{why}");
    }

    #[rstest]
    #[case("64:ff9b::7f00:1")]
    #[case("2002:7f00:1::")]
    #[case("::127.0.0.1")]
    #[case("::ffff:0:127.0.0.1")]
    #[case("2001:0:4136:e378:8000:63bf:80ff:fffe")]
    fn ipv6_forms_of_a_denied_ipv4_range_are_denied(#[case] address: &str) {
        let policy = OutboundPolicy::new(Vec::new(), nets(&["127.0.0.0/8"]));
        let why = policy
            .check(address.parse().expect("ip"))
            .expect_err(address);
        assert!(why.contains("127.0.0.1"), "{why}");
        assert!(why.contains("127.0.0.0/8"), "{why}");
    }

    #[rstest]
    #[case("64:ff9b::a00:1")]
    #[case("2002:a00:1::1")]
    #[case("::10.0.0.1")]
    #[case("2001:db8::1")]
    #[case("2606:4700::1111")]
    fn ipv6_forms_of_an_ordinary_ipv4_address_are_allowed(#[case] address: &str) {
        let policy = OutboundPolicy::new(Vec::new(), nets(&["127.0.0.0/8"]));
        assert_eq!(policy.check(address.parse().expect("ip")), Ok(()));
    }

    #[test]
    fn allowing_the_ipv6_range_does_not_open_the_embedded_ipv4_address() {
        let policy = OutboundPolicy::new(nets(&["64:ff9b::/96", "10.0.0.0/8"]), Vec::new());
        assert_eq!(policy.check("64:ff9b::a00:1".parse().expect("ip")), Ok(()));
        assert!(
            policy
                .check("64:ff9b::a9fe:a9fe".parse().expect("ip"))
                .is_err()
        );
        // The embedded address must be allowed too.
        assert!(policy.check("64:ff9b::b00:1".parse().expect("ip")).is_err());
    }

    #[test]
    fn ipv6_loopback_and_unspecified_are_not_read_as_ipv4() {
        assert_eq!(embedded_ipv4(Ipv6Addr::LOCALHOST), None);
        assert_eq!(embedded_ipv4(Ipv6Addr::UNSPECIFIED), None);
        assert_eq!(
            embedded_ipv4("::7f00:1".parse().expect("ip")),
            Some(("IPv4-compatible", Ipv4Addr::LOCALHOST))
        );
    }

    fn ips(addresses: &[&str]) -> Vec<IpAddr> {
        addresses.iter().map(|a| a.parse().expect("ip")).collect()
    }

    #[rstest]
    #[case("127.0.0.1")]
    #[case("127.0.0.53")]
    #[case("::1")]
    fn a_server_on_loopback_may_check_loopback(#[case] listen: &str) {
        let policy = OutboundPolicy::default()
            .protecting_host(listen.parse().expect("ip"), &ips(&["10.1.2.3"]));
        for address in ["127.0.0.1", "127.0.0.2", "::1", "10.1.2.3"] {
            assert_eq!(
                policy.check(address.parse().expect("ip")),
                Ok(()),
                "{address}"
            );
        }
    }

    #[rstest]
    #[case("0.0.0.0")]
    #[case("::")]
    #[case("10.1.2.3")]
    fn a_server_beyond_loopback_refuses_its_own_host(#[case] listen: &str) {
        let host = ips(&["127.0.0.1", "10.1.2.3", "fe80::1", "2001:db8::5"]);
        let policy = OutboundPolicy::default().protecting_host(listen.parse().expect("ip"), &host);
        for address in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "10.1.2.3",
            "2001:db8::5",
        ] {
            let why = policy
                .check(address.parse().expect("ip"))
                .expect_err(address);
            assert!(why.contains("own host"), "{why}");
            assert!(why.contains("--allow-cidr"), "{why}");
        }
        for address in ["10.1.2.4", "2001:db8::6", "192.168.0.10"] {
            assert_eq!(
                policy.check(address.parse().expect("ip")),
                Ok(()),
                "{address}"
            );
        }
    }

    #[test]
    fn a_specific_listen_address_is_refused_even_when_no_interface_is_known() {
        let policy =
            OutboundPolicy::default().protecting_host("10.9.8.7".parse().expect("ip"), &[]);
        assert!(policy.check("10.9.8.7".parse().expect("ip")).is_err());
        assert!(policy.check("127.0.0.1".parse().expect("ip")).is_err());
        assert_eq!(policy.check("10.9.8.6".parse().expect("ip")), Ok(()));
    }

    #[test]
    fn an_allowed_range_lets_the_own_host_in() {
        let policy = OutboundPolicy::new(nets(&["127.0.0.0/8"]), Vec::new())
            .protecting_host("0.0.0.0".parse().expect("ip"), &ips(&["10.1.2.3"]));
        assert_eq!(policy.check("127.0.0.1".parse().expect("ip")), Ok(()));
        assert!(policy.check("10.1.2.3".parse().expect("ip")).is_err());
    }

    #[test]
    fn a_server_on_every_address_refuses_this_machines_loopback_and_interfaces() {
        let policy =
            OutboundPolicy::for_server(Vec::new(), Vec::new(), "0.0.0.0".parse().expect("ip"));
        assert!(policy.check("127.0.0.1".parse().expect("ip")).is_err());
        for address in interface_addresses() {
            assert!(policy.check(address).is_err(), "{address}");
        }
        let on_loopback =
            OutboundPolicy::for_server(Vec::new(), Vec::new(), "127.0.0.1".parse().expect("ip"));
        assert_eq!(on_loopback.check("127.0.0.1".parse().expect("ip")), Ok(()));
    }

    #[test]
    fn deny_beats_allow_and_allow_beats_the_defaults() {
        let policy = OutboundPolicy::new(
            nets(&["127.0.0.0/8", "169.254.10.0/24"]),
            nets(&["127.0.0.2/32"]),
        );
        assert_eq!(policy.check("127.0.0.1".parse().expect("ip")), Ok(()));
        assert!(policy.check("127.0.0.2".parse().expect("ip")).is_err());
        assert_eq!(policy.check("169.254.10.5".parse().expect("ip")), Ok(()));
        assert!(
            policy
                .check("169.254.169.254".parse().expect("ip"))
                .is_err()
        );
        let outside = policy
            .check("10.0.0.1".parse().expect("ip"))
            .expect_err("not allowed");
        assert!(outside.contains("outside every allowed range"), "{outside}");
    }
}
