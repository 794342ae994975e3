//! Where `http` tasks may connect. A task's URL comes from whoever may submit runs, and the
//! worker sits inside the operator's network: without a guard, a task could read the
//! coordinator's `/metrics`, a loopback-only admin port or a cloud metadata service and
//! hand the body back to the submitter (server-side request forgery).
//!
//! Refused unless the operator allows them (`--http-allow`): loopback, private (RFC 1918,
//! ULA), link-local, shared (CGNAT), unspecified, multicast, broadcast and reserved
//! addresses, and the coordinator's own addresses.
//!
//! How it holds:
//! - A host name is resolved by [`GuardedResolver`], the client's only resolver; every
//!   resolved address is checked and the client connects only to the addresses the
//!   resolver returned, so a name cannot resolve to a public address for the check and to a
//!   private one for the connection (DNS rebinding).
//! - An address written in the URL never reaches a resolver: [`Guard::check_url`] checks it
//!   before the request, and the redirect policy checks each redirect's URL the same way (a
//!   redirect to a host name is checked by the resolver when it connects).
//! - The client uses no proxy (a proxy would resolve and connect for it).
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Why a target was refused. Found in a request error's sources, it makes the attempt
/// fail for good: the same URL will be refused next time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// An address range: `addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1`, `::1`, `[::1]`).
    pub(crate) fn parse(text: &str) -> Result<Net, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an address, a CIDR or a host name"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{text}`: bad prefix length"))?
            }
        };
        // `::ffff:10.0.0.0/104` is `10.0.0.0/8`: addresses are compared in their IPv4 form.
        match (addr, canonical(addr)) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_)) if prefix >= 96 => Ok(Net { addr: v4, prefix: prefix - 96 }),
            _ => Ok(Net { addr, prefix }),
        }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Names one address exactly (a /32 or a /128).
    fn is_single(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

/// One `--http-allow` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AllowEntry {
    Net(Net),
    /// A host name, lower case, matched exactly.
    Host(String),
}

impl AllowEntry {
    pub(crate) fn parse(text: &str) -> Result<AllowEntry, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.contains([':', '/', '[']) || text.parse::<IpAddr>().is_ok() {
            return Net::parse(text).map(AllowEntry::Net);
        }
        let labels = text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        // A last label of digits is an IPv4 form (`10.1`), not a name: URLs read it so.
        let numeric = text.rsplit('.').next().is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()));
        if !labels || numeric {
            return Err(format!("`{text}` is not an address, a CIDR or a host name"));
        }
        Ok(AllowEntry::Host(text.to_ascii_lowercase()))
    }
}

/// IPv4 inside IPv6 (`::ffff:127.0.0.1`) is checked as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What kind of address `ip` is when `http` tasks may not reach it by default; `None` for
/// an ordinary public address.
pub(crate) fn classify(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) | (198, 18..=19, _) => "reserved",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // IPv4-compatible (deprecated, ::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
        // addresses reach an IPv4 address: they are what it is.
        0 if s[1..6] == [0; 5] => return classify_v4(embedded_v4(s[6], s[7])),
        0x64 if s[1..6] == [0xff9b, 0, 0, 0, 0] => return classify_v4(embedded_v4(s[6], s[7])),
        0x2002 => return classify_v4(embedded_v4(s[1], s[2])),
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "private (site-local)",
        0xfc00..=0xfdff => "private (unique local)",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// The checks, shared by the resolver and the redirect policy.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    nets: Vec<Net>,
    hosts: Vec<String>,
    /// Host parts of the coordinator addresses: names (lower case) and addresses.
    coordinator_names: Vec<String>,
    coordinator_addrs: Mutex<Vec<IpAddr>>,
}

impl Guard {
    /// `allow` as `--http-allow` gives it; `coordinators` as the worker's config holds
    /// them (`http://host:port`).
    pub(crate) fn new(allow: &[String], coordinators: &[String]) -> Result<Guard, String> {
        let mut guard = Guard::default();
        for entry in allow {
            match AllowEntry::parse(entry)? {
                AllowEntry::Net(net) => guard.nets.push(net),
                AllowEntry::Host(host) => guard.hosts.push(host),
            }
        }
        let mut addrs = Vec::new();
        for coordinator in coordinators {
            let Some(host) = Url::parse(coordinator).ok().and_then(|u| u.host_str().map(str::to_string)) else {
                continue;
            };
            let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
            match host.parse::<IpAddr>() {
                Ok(ip) => addrs.push(canonical(ip)),
                Err(_) => guard.coordinator_names.push(host),
            }
        }
        guard.coordinator_addrs = Mutex::new(addrs);
        Ok(guard)
    }

    /// Resolves the coordinator's host names again, so its current addresses are refused
    /// too; called before each request. A failed lookup keeps what was known.
    pub(crate) async fn refresh_coordinator(&self) {
        for name in &self.coordinator_names {
            if let Ok(found) = tokio::net::lookup_host((name.as_str(), 0)).await {
                let found: Vec<IpAddr> = found.map(|a| canonical(a.ip())).collect();
                // A std Mutex: held for a few pushes, never across an await.
                let mut addrs = self.coordinator_addrs.lock().unwrap_or_else(|e| e.into_inner());
                for ip in found {
                    if !addrs.contains(&ip) {
                        addrs.push(ip);
                    }
                }
            }
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Checks one address a request would connect to.
    fn check_ip(&self, ip: IpAddr, host: &str) -> Result<(), Refused> {
        let ip = canonical(ip);
        let literal = host.parse::<IpAddr>().is_ok();
        let what = if literal { format!("`{ip}` is") } else { format!("`{host}` resolves to") };
        if let Some(class) = classify(ip)
            && !self.nets.iter().any(|n| n.contains(ip))
        {
            let shown = if literal { format!(" {ip}") } else { String::new() };
            return Err(Refused(format!(
                "refused: {what} a {class} address; a worker's operator can allow it with --http-allow{shown}"
            )));
        }
        // Checked after the class: a coordinator on loopback is refused as loopback, and an
        // allowed range does not reach the coordinator inside it.
        let is_coordinator = self.coordinator_addrs.lock().unwrap_or_else(|e| e.into_inner()).contains(&ip);
        if is_coordinator && !self.nets.iter().any(|n| n.is_single() && n.contains(ip)) {
            return Err(Refused(format!(
                "refused: {what} the coordinator's address; a worker's operator can allow it with an \
                 --http-allow entry naming that address"
            )));
        }
        Ok(())
    }

    /// Checks a URL before a request or a redirect: an address in it is checked here (no
    /// resolver sees it); a host name only against the coordinator's names (the resolver
    /// checks its addresses).
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("refused: `{}` is not http or https", url.scheme())));
        }
        let Some(host) = url.host_str() else { return Err(Refused("refused: the URL has no host".into())) };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => self.check_ip(ip, host),
            Err(_) => self.check_name(host),
        }
    }

    fn check_name(&self, host: &str) -> Result<(), Refused> {
        if !self.host_allowed(host) && self.coordinator_names.iter().any(|c| c.eq_ignore_ascii_case(host)) {
            return Err(Refused(format!(
                "refused: `{host}` is the coordinator; a worker's operator can allow it with --http-allow {host}"
            )));
        }
        Ok(())
    }

    /// Checks every address `host` resolved to; any refused one refuses the host.
    fn check_resolved(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), Refused> {
        self.check_name(host)?;
        if self.host_allowed(host) {
            return Ok(());
        }
        addrs.iter().try_for_each(|a| self.check_ip(a.ip(), host))
    }
}

/// The HTTP client's resolver: resolves with the system's resolver, then checks.
pub(crate) struct GuardedResolver(pub(crate) Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            guard.check_resolved(&host, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The refusal in an error's sources, if a guard refused.
pub(crate) fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut source = Some(e);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests;
