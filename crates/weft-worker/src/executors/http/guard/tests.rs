use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn guard(allow: &[&str], coordinators: &[&str]) -> Guard {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    let coordinators: Vec<String> = coordinators.iter().map(|s| s.to_string()).collect();
    Guard::new(&allow, &coordinators).unwrap()
}

#[test]
fn addresses_are_classified() {
    let cases = [
        ("127.0.0.1", Some("loopback")),
        ("127.255.0.9", Some("loopback")),
        ("10.1.2.3", Some("private")),
        ("172.16.0.1", Some("private")),
        ("172.31.255.255", Some("private")),
        ("192.168.1.1", Some("private")),
        ("169.254.169.254", Some("link-local")),
        ("100.64.0.1", Some("shared (carrier-grade NAT)")),
        ("0.0.0.0", Some("unspecified")),
        ("255.255.255.255", Some("broadcast")),
        ("224.0.0.1", Some("multicast")),
        ("240.0.0.1", Some("reserved")),
        ("::1", Some("loopback")),
        ("::", Some("unspecified")),
        ("fe80::1", Some("link-local")),
        ("fd12:3456::1", Some("private (unique local)")),
        ("fc00::1", Some("private (unique local)")),
        ("ff02::1", Some("multicast")),
        ("::ffff:127.0.0.1", Some("loopback")),
        ("::ffff:10.0.0.1", Some("private")),
        ("::127.0.0.1", Some("loopback")),
        ("64:ff9b::7f00:1", Some("loopback")),
        ("2002:a00:1::", Some("private")),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("8.8.8.8", None),
        ("::ffff:8.8.8.8", None),
        ("2606:4700::1111", None),
    ];
    for (addr, class) in cases {
        assert_eq!(classify(ip(addr)), class, "{addr}");
    }
}

#[test]
fn allow_entries_are_ranges_addresses_or_host_names() {
    let net = |t: &str| match AllowEntry::parse(t).unwrap() {
        AllowEntry::Net(n) => n,
        other => panic!("{t}: {other:?}"),
    };
    assert!(net("10.0.0.0/8").contains(ip("10.200.1.1")));
    assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(net("127.0.0.1").contains(ip("127.0.0.1")) && !net("127.0.0.1").contains(ip("127.0.0.2")));
    assert!(net("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")), "mapped addresses compare as IPv4");
    assert!(net("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
    assert!(net("[::1]").contains(ip("::1")));
    assert!(net("fd00::/8").contains(ip("fd12::1")));
    assert!(net("0.0.0.0/0").contains(ip("192.168.0.1")));
    assert!(!net("0.0.0.0/0").contains(ip("::1")), "an IPv4 range holds no IPv6 address");
    assert_eq!(AllowEntry::parse(" Billing.Internal ").unwrap(), AllowEntry::Host("billing.internal".into()));
    assert_eq!(AllowEntry::parse("localhost").unwrap(), AllowEntry::Host("localhost".into()));
    for bad in ["", "10.0.0.0/33", "::1/129", "a b", "10.1", "http://x", "host/8", "a..b"] {
        assert!(AllowEntry::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn non_public_addresses_are_refused_unless_allowed() {
    let default = guard(&[], &[]);
    for target in ["http://127.0.0.1:9464/metrics", "http://[::1]/", "http://169.254.169.254/latest", "http://0.0.0.0/"]
    {
        let refused = default.check_url(&url(target)).unwrap_err();
        assert!(refused.0.contains("--http-allow"), "{refused}");
    }
    // Other spellings of loopback are the same address to the URL parser.
    for target in ["http://2130706433/", "http://0x7f.1/", "http://[::ffff:7f00:1]/"] {
        assert!(default.check_url(&url(target)).unwrap_err().0.contains("loopback"), "{target}");
    }
    default.check_url(&url("http://8.8.8.8/")).unwrap();
    default.check_url(&url("https://example.com/")).unwrap();
    assert!(default.check_url(&url("ftp://8.8.8.8/")).is_err());

    let allowed = guard(&["127.0.0.1/32", "10.0.0.0/8"], &[]);
    allowed.check_url(&url("http://127.0.0.1:8080/")).unwrap();
    allowed.check_url(&url("http://10.2.3.4/")).unwrap();
    assert!(allowed.check_url(&url("http://127.0.0.2/")).is_err());
    assert!(allowed.check_url(&url("http://192.168.0.1/")).is_err());
}

#[test]
fn the_coordinator_is_refused_unless_named_exactly() {
    let wide = guard(&["10.0.0.0/8"], &["http://10.0.0.5:7070"]);
    let refused = wide.check_url(&url("http://10.0.0.5:9464/metrics")).unwrap_err();
    assert!(refused.0.contains("coordinator"), "{refused}");
    wide.check_url(&url("http://10.0.0.6/")).unwrap();
    let exact = guard(&["10.0.0.5"], &["http://10.0.0.5:7070"]);
    exact.check_url(&url("http://10.0.0.5:9464/metrics")).unwrap();

    let public = guard(&[], &["http://203.0.113.7:7070"]);
    assert!(public.check_url(&url("http://203.0.113.7:9464/")).unwrap_err().0.contains("coordinator"));

    let by_name = guard(&[], &["http://Coord.internal:7070"]);
    assert!(by_name.check_url(&url("http://coord.internal:9464/")).unwrap_err().0.contains("coordinator"));
    let named = guard(&["coord.internal"], &["http://coord.internal:7070"]);
    named.check_url(&url("http://coord.internal:9464/")).unwrap();
}

#[test]
fn every_resolved_address_is_checked() {
    let g = guard(&[], &[]);
    let addrs = |list: &[&str]| list.iter().map(|a| SocketAddr::new(ip(a), 0)).collect::<Vec<_>>();
    g.check_resolved("example.com", &addrs(&["93.184.215.14"])).unwrap();
    let refused = g.check_resolved("rebind.example", &addrs(&["93.184.215.14", "10.0.0.1"])).unwrap_err();
    assert!(refused.0.contains("`rebind.example` resolves to a private address"), "{refused}");
    assert!(!refused.0.contains("10.0.0.1"), "a resolved address is not shown to the submitter: {refused}");
    let by_name = guard(&["internal.example"], &[]);
    by_name.check_resolved("internal.example", &addrs(&["10.0.0.1"])).unwrap();
    assert!(by_name.check_resolved("other.example", &addrs(&["10.0.0.1"])).is_err());
}

#[tokio::test]
async fn the_resolver_refuses_and_the_refusal_is_found_in_the_error() {
    let resolver = GuardedResolver(Arc::new(guard(&[], &[])));
    let err = match resolver.resolve("localhost".parse().unwrap()).await {
        Ok(_) => panic!("localhost was not refused"),
        Err(e) => e,
    };
    let refused = refusal(err.as_ref()).expect("a Refused in the error");
    assert!(refused.0.contains("loopback"), "{refused}");

    let allowed = GuardedResolver(Arc::new(guard(&["localhost"], &[])));
    let addrs: Vec<SocketAddr> = allowed.resolve("localhost".parse().unwrap()).await.unwrap().collect();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
}
