use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::Service;
use super::connection::{ValidationError, quoted};

/// The most characters a create's `url` may have.
pub const MAX_URL_CHARS: usize = 512;

/// Where an endpoint points: a DNS name or a literal address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ipv4(address) => address.fmt(f),
            Host::Ipv6(address) => write!(f, "[{address}]"),
        }
    }
}

/// One `host:port` of a connection's url, with the service's default port filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

impl Endpoint {
    /// The host as a resolver wants it: IPv6 without brackets.
    pub fn host_for_lookup(&self) -> String {
        match &self.host {
            Host::Name(name) => name.clone(),
            Host::Ipv4(address) => address.to_string(),
            Host::Ipv6(address) => address.to_string(),
        }
    }

    fn parse(raw: &str, default_port: u16) -> Result<Self, ValidationError> {
        let invalid = |why: &str| {
            ValidationError::new(format!("url endpoint {} is invalid: {why}", quoted(raw)))
        };
        if raw.contains("://") {
            return Err(invalid(
                "give host:port without a scheme, e.g. db.example.com:3306",
            ));
        }
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid("an IPv6 address needs a closing ']'"))?;
            let address =
                super::parse_ipv6(inside).map_err(|_| invalid("not a valid IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("expected ':port' after ']'"))?,
                ),
            };
            (Host::Ipv6(address), port)
        } else {
            let (host, port) = match raw.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (raw, None),
            };
            if host.contains(':') || port.is_some_and(|p| p.contains(':')) {
                return Err(invalid(
                    "write an IPv6 address in brackets, e.g. [::1]:3306",
                ));
            }
            (parse_host(host).map_err(|why| invalid(&why))?, port)
        };
        let port = match port {
            None => default_port,
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return Err(invalid("the port must be a number from 1 to 65535")),
            },
        };
        Ok(Self { host, port })
    }
}

fn parse_host(host: &str) -> Result<Host, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let looks_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if looks_numeric {
        return super::parse_ipv4(host)
            .map(Host::Ipv4)
            .map_err(|_| "not a valid IPv4 address".into());
    }
    if host.len() > 253 {
        return Err("a host name has at most 253 characters".into());
    }
    for label in host.split('.') {
        let valid = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(
                "a host name is dot-separated labels of 1 to 63 letters, digits and '-', \
                 not starting or ending with '-'"
                    .into(),
            );
        }
    }
    Ok(Host::Name(host.to_owned()))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The longest `address` of a queue connection test (a domain name and a port).
const MAX_ADDRESS_CHARS: usize = 262;

/// A connection's `url`: one or more comma-separated endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointList(Vec<Endpoint>);

impl EndpointList {
    pub fn parse(raw: &str, service: Service) -> Result<Self, ValidationError> {
        let length = raw.chars().count();
        if length > MAX_URL_CHARS {
            return Err(ValidationError::new(format!(
                "url must be at most {MAX_URL_CHARS} characters, got {length}"
            )));
        }
        if raw.trim().is_empty() {
            return Err(ValidationError::new(
                "url must list at least one endpoint as host[:port]",
            ));
        }
        let endpoints = raw
            .split(',')
            .map(str::trim)
            .map(|item| {
                if item.is_empty() {
                    Err(ValidationError::new(
                        "url has an empty endpoint: separate endpoints with single commas",
                    ))
                } else {
                    Endpoint::parse(item, service.default_port())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let parsed = Self(endpoints);
        // The stored and echoed form (`connection_url`) keeps to the limit too: filling
        // in default ports can lengthen a url (`a,a,...` becomes `a:3306,a:3306,...`).
        let normalized_length = parsed.normalized().chars().count();
        if normalized_length > MAX_URL_CHARS {
            return Err(ValidationError::new(format!(
                "url must be at most {MAX_URL_CHARS} characters with every port written \
                 out, got {normalized_length}: give fewer endpoints"
            )));
        }
        Ok(parsed)
    }

    /// The one `host:port` of DLI's queue connection test (`address`): the port is
    /// required, since a test without one would have to guess what to dial.
    pub fn parse_address(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        let length = raw.chars().count();
        if !(1..=MAX_ADDRESS_CHARS).contains(&length) {
            return Err(ValidationError::new(format!(
                "address must be host:port of 1 to {MAX_ADDRESS_CHARS} characters, got {length}"
            )));
        }
        if raw.contains(',') {
            return Err(ValidationError::new(
                "address must be one host:port, e.g. db.example.com:3306",
            ));
        }
        // Port 0 stands for "none given": no real port is 0.
        let endpoint = Endpoint::parse(raw, 0)?;
        if endpoint.port == 0 {
            return Err(ValidationError::new(
                "address must give a port, as host:port, e.g. db.example.com:3306",
            ));
        }
        Ok(Self(vec![endpoint]))
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.0
    }

    /// The form a table definition should use: `host:port` joined by commas.
    pub fn normalized(&self) -> String {
        self.0
            .iter()
            .map(Endpoint::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("127.0.0.1:8080", Some("127.0.0.1:8080"))]
    #[case("example.com:8080", Some("example.com:8080"))]
    #[case("[::1]:5432", Some("[::1]:5432"))]
    #[case("example.com", None)]
    #[case("127.0.0.1:0", None)]
    #[case("a:1,b:2", None)]
    #[case("", None)]
    #[case("http://example.com:80", None)]
    fn a_test_address_is_one_host_with_its_port(#[case] raw: &str, #[case] parsed: Option<&str>) {
        let got = EndpointList::parse_address(raw)
            .ok()
            .map(|list| list.normalized());
        assert_eq!(got.as_deref(), parsed, "{raw}");
    }

    #[rstest]
    #[case(Service::Rds, "db.example.com", "db.example.com:3306")]
    #[case(
        Service::CloudTable,
        "zk1:2181,zk2, zk3:2182",
        "zk1:2181,zk2:2181,zk3:2182"
    )]
    #[case(Service::Dws, "10.0.0.1", "10.0.0.1:8000")]
    #[case(Service::Css, "[::1]", "[::1]:9200")]
    #[case(Service::MrsOpenTsdb, "[fe80::1]:4000", "[fe80::1]:4000")]
    #[case(Service::CloudTableOpenTsdb, "tsdb", "tsdb:4242")]
    fn urls_normalise_with_default_ports(
        #[case] service: Service,
        #[case] raw: &str,
        #[case] expected: &str,
    ) {
        let parsed = EndpointList::parse(raw, service).expect("valid url");
        assert_eq!(parsed.normalized(), expected);
    }

    #[rstest]
    #[case("", "at least one endpoint")]
    #[case("a,,b", "empty endpoint")]
    #[case("a,", "empty endpoint")]
    #[case("jdbc:mysql://db:3306", "without a scheme")]
    #[case("db:0", "port")]
    #[case("db:65536", "port")]
    #[case("db:+80", "port")]
    #[case("db:", "port")]
    #[case("::1", "brackets")]
    #[case("[::1", "closing")]
    #[case("[nope]:1", "IPv6")]
    #[case("[::1]x", "':port'")]
    #[case("300.1.1.1", "IPv4")]
    #[case("under_score.example", "labels")]
    #[case("-lead.example", "labels")]
    #[case("trailing.", "labels")]
    #[case("sp ace", "labels")]
    fn bad_urls_are_refused_with_a_reason(#[case] raw: &str, #[case] reason: &str) {
        let error = EndpointList::parse(raw, Service::Rds).expect_err("must be refused");
        assert!(error.0.contains(reason), "{raw:?}: {error}");
    }

    #[test]
    fn url_length_is_limited() {
        let long = format!("{}.example", "a".repeat(60)).repeat(1);
        let many = std::iter::repeat_n(long.as_str(), 8)
            .collect::<Vec<_>>()
            .join(",");
        assert!(many.len() > MAX_URL_CHARS);
        let error = EndpointList::parse(&many, Service::Rds).expect_err("must be refused");
        assert!(error.0.contains("at most 512"), "{error}");
    }

    #[test]
    fn url_length_is_limited_with_default_ports_written_out() {
        // 511 characters as given; 2,816 once every `a` gets `:3306`.
        let many = std::iter::repeat_n("a", 256).collect::<Vec<_>>().join(",");
        assert!(many.len() <= MAX_URL_CHARS);
        let error = EndpointList::parse(&many, Service::Rds).expect_err("must be refused");
        assert!(error.0.contains("with every port written out"), "{error}");
        let fits = std::iter::repeat_n("a", 70).collect::<Vec<_>>().join(",");
        let parsed = EndpointList::parse(&fits, Service::Rds).expect("70 endpoints fit");
        assert!(parsed.normalized().len() <= MAX_URL_CHARS);
    }

    proptest! {
        #[test]
        fn normalised_urls_parse_back_to_the_same_endpoints(
            hosts in proptest::collection::vec("[a-z][a-z0-9]{0,10}(\\.[a-z][a-z0-9]{0,10}){0,2}", 1..5),
            ports in proptest::collection::vec(1u16.., 5),
        ) {
            let raw = hosts.iter().zip(&ports).map(|(h, p)| format!("{h}:{p}")).collect::<Vec<_>>().join(",");
            let parsed = EndpointList::parse(&raw, Service::Rds).expect("generated url is valid");
            let again = EndpointList::parse(&parsed.normalized(), Service::Rds).expect("normalised url is valid");
            prop_assert_eq!(parsed, again);
        }

        #[test]
        fn the_parser_never_panics(raw in "\\PC{0,80}") {
            let _ = EndpointList::parse(&raw, Service::Css);
        }
    }
}
