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
