//! The one reading of IP addresses and networks (issue 24): hosts' `ip`, urls' literal
//! hosts, routes' `cidr`, pools' `cidr_in_vpc` and the `--allow-cidr`/`--deny-cidr`
//! settings all go through here, so an address one of them refuses, none accepts.
//!
//! The rule is the standard library's for addresses: the text is the address and
//! nothing else (no space around it, no zone), and an IPv4 octet has no leading zero
//! (`127.000.0.1` is refused: other parsers read `010` as octal 8). A network is such an
//! address, `/`, and a prefix length written as a plain decimal number without a leading
//! zero (`/8`, not `/08` or `/+8`), at most 32 (IPv4) or 128 (IPv6). ipnet's own parser
//! is not used because it accepts leading zeros in both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a text is not an address or a network; the caller names the field and the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("it has spaces: write the address alone")]
    Spaces,
    #[error("it is not an IP address (IPv4 octets without leading zeros)")]
    NotAnAddress,
    #[error("it is not an IPv4 address (four octets without leading zeros)")]
    NotIpv4,
    #[error("it is not an IPv6 address")]
    NotIpv6,
    #[error("its prefix length must be a number from 0 to {max} without a leading zero")]
    BadPrefix { max: u8 },
}

fn no_spaces(raw: &str) -> Result<&str, AddressError> {
    if raw.trim() != raw {
        return Err(AddressError::Spaces);
    }
    Ok(raw)
}

/// An IPv4 or IPv6 address.
pub fn parse_ip(raw: &str) -> Result<IpAddr, AddressError> {
    no_spaces(raw)?
        .parse()
        .map_err(|_| AddressError::NotAnAddress)
}

/// An IPv4 address in dotted-quad form.
pub fn parse_ipv4(raw: &str) -> Result<Ipv4Addr, AddressError> {
    no_spaces(raw)?.parse().map_err(|_| AddressError::NotIpv4)
}

/// An IPv6 address (without brackets).
pub fn parse_ipv6(raw: &str) -> Result<Ipv6Addr, AddressError> {
    no_spaces(raw)?.parse().map_err(|_| AddressError::NotIpv6)
}

/// A network `address/prefix`, or a bare address as its /32 (/128). Host bits may be
/// set (`10.1.2.3/8`); [`parse_exact_network`] refuses them.
pub fn parse_network(raw: &str) -> Result<IpNet, AddressError> {
    let raw = no_spaces(raw)?;
    let Some((address, prefix)) = raw.split_once('/') else {
        return parse_ip(raw).map(IpNet::from);
    };
    let address = parse_ip(address)?;
    let max = match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let bad_prefix = AddressError::BadPrefix { max };
    let canonical = !prefix.is_empty()
        && prefix.len() <= 3
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'));
    if !canonical {
        return Err(bad_prefix);
    }
    let length: u8 = prefix.parse().map_err(|_| bad_prefix.clone())?;
    IpNet::new(address, length).map_err(|_| bad_prefix)
}

/// Why a network was refused by [`parse_exact_network`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Syntax(#[from] AddressError),
    /// Host bits are set; the network meant is given.
    #[error("it has host bits set: write {0}")]
    HostBits(IpNet),
}

/// A network whose host bits are zero (a route's `cidr`), or a bare address.
pub fn parse_exact_network(raw: &str) -> Result<IpNet, NetworkError> {
    let net = parse_network(raw)?;
    if net.trunc() != net {
        return Err(NetworkError::HostBits(net.trunc()));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("10.169.0.0/24", "10.169.0.0/24")]
    #[case("127.0.0.0", "127.0.0.0/32")]
    #[case("0.0.0.0/0", "0.0.0.0/0")]
    #[case("10.0.0.1/8", "10.0.0.1/8")]
    #[case("2407:c080:802:be7::/64", "2407:c080:802:be7::/64")]
    #[case("0:0:0:0:0:0:0:1", "::1/128")]
    #[case("::/0", "::/0")]
    #[case("::ffff:127.0.0.1/128", "::ffff:127.0.0.1/128")]
    fn networks_are_read(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(
            parse_network(raw).map(|net| net.to_string()),
            Ok(expected.to_owned())
        );
    }

    /// The probe's reproductions (issue 24, item 11) and their kin: what a host's ip or
    /// a url's host refuses, a network refuses too.
    #[rstest]
    #[case(" 127.0.0.0/8", AddressError::Spaces)]
    #[case("127.0.0.0/8 ", AddressError::Spaces)]
    #[case("\t127.0.0.0/8", AddressError::Spaces)]
    #[case("127.000.0.0/8", AddressError::NotAnAddress)]
    #[case("127.0.0.01", AddressError::NotAnAddress)]
    #[case("::ffff:127.000.0.1/128", AddressError::NotAnAddress)]
    #[case("127.0.0.0 /8", AddressError::Spaces)]
    #[case("127.0.0.0/ 8", AddressError::BadPrefix { max: 32 })]
    #[case("127.0.0.0/08", AddressError::BadPrefix { max: 32 })]
    #[case("127.0.0.0/+8", AddressError::BadPrefix { max: 32 })]
    #[case("127.0.0.0/", AddressError::BadPrefix { max: 32 })]
    #[case("127.0.0.0/33", AddressError::BadPrefix { max: 32 })]
    #[case("127.0.0.0/8/8", AddressError::BadPrefix { max: 32 })]
    #[case("::/0128", AddressError::BadPrefix { max: 128 })]
    #[case("::/129", AddressError::BadPrefix { max: 128 })]
    #[case("fe80::1%eth0/64", AddressError::NotAnAddress)]
    #[case("", AddressError::NotAnAddress)]
    #[case("localhost", AddressError::NotAnAddress)]
    fn non_canonical_networks_are_refused(#[case] raw: &str, #[case] why: AddressError) {
        assert_eq!(parse_network(raw), Err(why));
    }

    #[rstest]
    #[case("10.169.0.1/24", "10.169.0.0/24")]
    #[case("::1/64", "::/64")]
    fn exact_networks_refuse_host_bits(#[case] raw: &str, #[case] meant: &str) {
        assert_eq!(
            parse_exact_network(raw),
            Err(NetworkError::HostBits(meant.parse().expect("net")))
        );
    }

    #[rstest]
    #[case(" 10.0.0.1")]
    #[case("10.0.0.1 ")]
    #[case("010.0.0.1")]
    #[case("10.0.0")]
    #[case("::1")]
    fn ipv4_addresses_are_refused_as_networks_are(#[case] raw: &str) {
        parse_ipv4(raw).expect_err("not an IPv4 address");
    }

    proptest! {
        /// Every network's written form reads back as itself.
        #[test]
        fn written_networks_read_back(address in any::<IpAddr>(), length in 0u8..=128) {
            let length = match address {
                IpAddr::V4(_) => length % 33,
                IpAddr::V6(_) => length,
            };
            let net = IpNet::new(address, length).expect("valid length");
            prop_assert_eq!(parse_network(&net.to_string()), Ok(net));
            prop_assert_eq!(parse_exact_network(&net.trunc().to_string()), Ok(net.trunc()));
            prop_assert_eq!(parse_ip(&address.to_string()), Ok(address));
        }

        /// Whatever parses is exactly what its normal form says (nothing is read loosely).
        #[test]
        fn whatever_parses_is_its_own_normal_form_or_an_equal_spelling(raw in "[0-9./: a-f]{0,24}") {
            if let Ok(net) = parse_network(&raw) {
                prop_assert_eq!(raw.trim(), raw.as_str());
                let (address, _) = raw.split_once('/').unwrap_or((raw.as_str(), ""));
                prop_assert_eq!(address.parse::<IpAddr>().ok(), Some(net.addr()));
            }
        }
    }
}
