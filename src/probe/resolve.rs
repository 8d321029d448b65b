//! Stage 1 of a check: every address an endpoint's host resolves to.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::domain::{Endpoint, Host};

/// Where host names are looked up.
#[derive(Clone)]
pub enum Resolver {
    /// The operating system's resolver (`/etc/hosts`, `/etc/resolv.conf`, NSS).
    System,
    /// A given DNS server, e.g. the one of the VPC the data sources live in.
    Server(Box<TokioResolver>),
}

impl Resolver {
    /// A resolver that asks only `server` (UDP, then TCP for long answers).
    pub fn dns_server(server: SocketAddr, timeout: Duration) -> Result<Self, String> {
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let config = ResolverConfig::from_parts(None, Vec::new(), vec![name_server]);
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 1;
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.use_hosts_file = ResolveHosts::Never;
        // Each check must see the current answer, not one cached minutes ago.
        options.cache_size = 0;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|error| format!("cannot set up the DNS resolver for {server}: {error}"))?;
        Ok(Resolver::Server(Box::new(resolver)))
    }

    /// Every address of the endpoint, or why there is none. Literal addresses are
    /// returned as they are, without a lookup.
    pub async fn resolve(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, String> {
        let name = match &endpoint.host {
            Host::Ipv4(address) => {
                return Ok(vec![SocketAddr::new(IpAddr::V4(*address), endpoint.port)]);
            }
            Host::Ipv6(address) => {
                return Ok(vec![SocketAddr::new(IpAddr::V6(*address), endpoint.port)]);
            }
            Host::Name(name) => name.as_str(),
        };
        let lookup = async {
            match self {
                Resolver::System => tokio::net::lookup_host((name, endpoint.port))
                    .await
                    .map(|addresses| addresses.collect::<Vec<_>>())
                    .map_err(|error| format!("DNS lookup of {name} failed: {error}")),
                Resolver::Server(resolver) => resolver
                    .lookup_ip(name)
                    .await
                    .map(|lookup| {
                        lookup
                            .iter()
                            .map(|ip| SocketAddr::new(ip, endpoint.port))
                            .collect::<Vec<_>>()
                    })
                    .map_err(|error| format!("DNS lookup of {name} failed: {error}")),
            }
        };
        match tokio::time::timeout(timeout, lookup).await {
            Err(_) => Err(format!(
                "DNS lookup of {name} timed out after {}",
                humantime::format_duration(timeout)
            )),
            Ok(Err(detail)) => Err(detail),
            Ok(Ok(mut addresses)) => {
                addresses.sort();
                addresses.dedup();
                if addresses.is_empty() {
                    Err(format!("DNS lookup of {name} returned no address"))
                } else {
                    Ok(addresses)
                }
            }
        }
    }
}

/// Names a queue's checks resolve before asking DNS: the `hosts` of the enhanced
/// connections bound to the queue, as DLI writes them into the queue's hosts file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsFile {
    /// Lower-case names; the first entry of a name wins, as in a hosts file.
    entries: Vec<(String, IpAddr)>,
    /// Lower-case name -> address: a file is built for every check of its queue (and in
    /// agent claims) with up to [`Self::MAX_ENTRIES`] entries, so building and looking up
    /// must not scan the list per entry (20,000² comparisons stalled a runtime thread).
    by_name: std::collections::HashMap<String, IpAddr>,
}

impl HostsFile {
    /// Most entries one queue's hosts file holds; entries past it are left out (their
    /// names are looked up in DNS), so no number of bound connections grows a check's
    /// memory without bound.
    pub const MAX_ENTRIES: usize = crate::domain::MAX_HOSTS_FILE_ENTRIES;

    /// The entries in the order given (earlier wins), names compared ignoring ASCII
    /// case; entries whose ip does not parse are skipped.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut file = Self::default();
        for (name, ip) in entries {
            if file.entries.len() >= Self::MAX_ENTRIES {
                break;
            }
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if let std::collections::hash_map::Entry::Vacant(slot) =
                file.by_name.entry(name.clone())
            {
                slot.insert(ip);
                file.entries.push((name, ip));
            }
        }
        file
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The address the file gives `name`, if any.
    pub fn lookup(&self, name: &str) -> Option<IpAddr> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// Every entry, names in lower case.
    pub fn entries(&self) -> impl Iterator<Item = (&str, IpAddr)> {
        self.entries.iter().map(|(name, ip)| (name.as_str(), *ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_entry_of_a_name_wins_ignoring_case_and_bad_ips_are_skipped() {
        let file = HostsFile::from_entries([
            ("DB-1.example", "127.0.0.7"),
            ("db-1.example", "127.0.0.8"),
            ("other", "not-an-ip"),
        ]);
        assert_eq!(
            file.lookup("db-1.EXAMPLE"),
            Some("127.0.0.7".parse().unwrap())
        );
        assert_eq!(file.lookup("other"), None);
        assert_eq!(file.len(), 1);
    }

    #[test]
    fn a_full_hosts_file_keeps_the_first_of_each_name_and_finds_the_last() {
        // Every name twice (the second in upper case, another ip): the 20,000 kept are
        // the first copies, and the last of them resolves like the first.
        let names: Vec<String> = (0..HostsFile::MAX_ENTRIES)
            .map(|n| format!("h{n}.example"))
            .collect();
        let upper: Vec<String> = names.iter().map(|name| name.to_ascii_uppercase()).collect();
        let file = HostsFile::from_entries(names.iter().zip(&upper).flat_map(|(name, upper)| {
            [(name.as_str(), "127.0.0.1"), (upper.as_str(), "127.0.0.2")]
        }));
        assert_eq!(file.len(), HostsFile::MAX_ENTRIES);
        let last = format!("H{}.EXAMPLE", HostsFile::MAX_ENTRIES - 1);
        assert_eq!(file.lookup(&last), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            file.lookup("h0.example"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(file.lookup("unknown.example"), None);
    }

    #[test]
    fn a_hosts_file_holds_at_most_its_cap() {
        let names: Vec<String> = (0..HostsFile::MAX_ENTRIES + 5)
            .map(|n| format!("h{n}"))
            .collect();
        let file = HostsFile::from_entries(names.iter().map(|name| (name.as_str(), "127.0.0.1")));
        assert_eq!(file.len(), HostsFile::MAX_ENTRIES);
    }
}
