//! Where checks may connect. dsconn dials addresses its users give it, so by default it
//! refuses the ranges where a cloud host's own secrets live (link-local: instance
//! metadata) and addresses that are not a single host (multicast, unspecified,
//! broadcast). Operators add allow and deny ranges.

use std::net::IpAddr;

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

#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    default_deny: Vec<IpNet>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self::new(Vec::new(), Vec::new())
    }
}

impl OutboundPolicy {
    /// `deny` wins over `allow`; `allow` wins over the default deny list; a non-empty
    /// `allow` list also refuses everything outside it.
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        let default_deny = DEFAULT_DENY
            .iter()
            .filter_map(|range| range.parse().ok())
            .collect();
        Self {
            allow,
            deny,
            default_deny,
        }
    }

    /// Ok, or why the address may not be dialled.
    pub fn check(&self, address: IpAddr) -> Result<(), String> {
        // ::ffff:169.254.169.254 is 169.254.169.254: judge the IPv4 address.
        let address = address.to_canonical();
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
        if !self.allow.is_empty() {
            return Err(format!("{address} is outside every allowed range"));
        }
        Ok(())
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
