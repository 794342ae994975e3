//! Coordinator addresses as users type them: `host:port`, `http://host:port`, `[::1]:7070`,
//! or a bare host (which gets the default port). Normalised to the URI tonic dials.
use crate::Error;
use tonic::codegen::http::Uri;

/// Port a coordinator listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7070;

/// Turns a user-supplied address into `http://host:port`.
///
/// `https://` is refused: this client speaks plain HTTP/2 only, and dialling TLS against a
/// plain server (or the reverse) fails with an opaque transport error, so say so up front.
pub fn parse_address(address: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidAddress { address: address.to_string(), reason: reason.to_string() };
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(invalid("is empty; expected host:port"));
    }
    let rest = if let Some(rest) = trimmed.strip_prefix("http://") {
        rest
    } else if trimmed.starts_with("https://") {
        return Err(invalid("TLS (https://) is not supported by this client; use http://host:port"));
    } else if trimmed.contains("://") {
        return Err(invalid("only http:// addresses are supported"));
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
    Ok(format!("http://{}:{port}", authority.host()))
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
