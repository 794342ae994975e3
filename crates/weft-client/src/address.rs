//! Coordinator addresses as users type them: `host:port`, `http://host:port`,
//! `https://host:port`, `[::1]:7070`, or a bare host (which gets the default port).
//! Normalised to the URI tonic dials.
use crate::Error;
use tonic::codegen::http::Uri;

/// Port a coordinator listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7070;

/// Turns a user-supplied address into `http://host:port`, for a plaintext connection.
///
/// `https://` is refused here: TLS needs a CA to verify the coordinator with, which
/// [`parse_address_with`] is told about.
pub fn parse_address(address: &str) -> Result<String, Error> {
    parse_address_with(address, false)
}

/// Turns a user-supplied address into the URI to dial: `https://host:port` when `tls` (TLS
/// settings were given), `http://host:port` otherwise.
///
/// The scheme, if written, must agree: `http://` with TLS settings, or `https://` without
/// them, is refused. tonic would dial an `http://` URI in plaintext whatever its TLS
/// settings, and dialling TLS against a plain server (or the reverse) fails with an opaque
/// transport error, so say so up front.
pub fn parse_address_with(address: &str, tls: bool) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidAddress { address: address.to_string(), reason: reason.to_string() };
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(invalid("is empty; expected host:port"));
    }
    let rest = if let Some(rest) = trimmed.strip_prefix("http://") {
        if tls {
            return Err(invalid(
                "http:// is plaintext, but TLS settings were given; write https://host:port or host:port",
            ));
        }
        rest
    } else if let Some(rest) = trimmed.strip_prefix("https://") {
        if !tls {
            return Err(invalid("https:// needs the CA that signed the coordinator's certificate (weftctl: --tls-ca)"));
        }
        rest
    } else if trimmed.contains("://") {
        return Err(invalid("only http:// and https:// addresses are supported"));
    } else {
        trimmed
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(invalid("must be host:port with no path"));
    }
    if rest.contains('@') {
        return Err(invalid("must not contain user info"));
    }
    // Split host and port by hand: `http::Uri` quietly drops a port that is not a number.
    let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
        let (inside, tail) = after_bracket.split_once(']').ok_or_else(|| invalid("has an unclosed `[`"))?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or_else(|| invalid("expected `:port` after `]`"))?),
        };
        (format!("[{inside}]"), port)
    } else {
        match rest.split_once(':') {
            Some((_, tail)) if tail.contains(':') => {
                return Err(invalid("an IPv6 address must be in brackets: [::1]:7070"));
            }
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (rest.to_string(), None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some("") => return Err(invalid("has an empty port")),
        Some(text) => match text.parse::<u16>() {
            Ok(0) => return Err(invalid("port 0 cannot be dialled")),
            Ok(n) => n,
            Err(_) => return Err(invalid(&format!("port `{text}` is not a number from 1 to 65535"))),
        },
    };
    let uri: Uri = format!("http://{host}:{port}").parse().map_err(|e| invalid(&format!("{e}")))?;
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
    if authority.host().is_empty() {
        return Err(invalid("has no host"));
    }
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{}:{port}", authority.host()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(parse_address("127.0.0.1:7070").unwrap(), "http://127.0.0.1:7070");
        assert_eq!(parse_address("http://127.0.0.1:9000").unwrap(), "http://127.0.0.1:9000");
        assert_eq!(parse_address("http://localhost:9000/").unwrap(), "http://localhost:9000");
        assert_eq!(parse_address(" coordinator.internal:80 ").unwrap(), "http://coordinator.internal:80");
        assert_eq!(parse_address("[::1]:7071").unwrap(), "http://[::1]:7071");
    }

    #[test]
    fn tls_dials_https_and_the_scheme_must_agree() {
        assert_eq!(parse_address_with("127.0.0.1:7070", true).unwrap(), "https://127.0.0.1:7070");
        assert_eq!(parse_address_with("https://coordinator:7070", true).unwrap(), "https://coordinator:7070");
        assert_eq!(parse_address_with("https://[::1]", true).unwrap(), "https://[::1]:7070");
        let plain = parse_address_with("http://coordinator:7070", true).unwrap_err().to_string();
        assert!(plain.contains("plaintext"), "{plain}");
        let no_ca = parse_address("https://coordinator:7070").unwrap_err().to_string();
        assert!(no_ca.contains("--tls-ca"), "{no_ca}");
    }

    #[test]
    fn a_bare_host_gets_the_default_port() {
        assert_eq!(parse_address("localhost").unwrap(), "http://localhost:7070");
        assert_eq!(parse_address("http://10.0.0.5").unwrap(), "http://10.0.0.5:7070");
    }

    #[test]
    fn refuses_what_cannot_be_dialled() {
        for bad in [
            "",
            "https://h:1",
            "grpc://h:1",
            "h:1/path",
            "h:notaport",
            "h:",
            "h:0",
            "h:70000",
            "u@h:1",
            ":7070",
            "::1:7070",
            "[::1",
        ] {
            let err = parse_address(bad).expect_err(bad);
            assert!(matches!(err, Error::InvalidAddress { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
