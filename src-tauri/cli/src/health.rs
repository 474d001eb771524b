//! `nas-sync health`: ask a running `nas-sync serve` for `GET /health` (the container's
//! `HEALTHCHECK`, and a monitoring script's probe). One HTTP/1.1 request over a `TcpStream` with
//! short timeouts instead of an HTTP client crate or curl: the image holds nothing but our
//! binary, and a health check must never hang for longer than its caller waits.
//!
//! The request carries the URL's `host:port` as its `Host` header, which the server's
//! DNS-rebinding check accepts for `127.0.0.1:PORT` (the default URL) and for every address it
//! was told about (`--allowed-host`); a non-loopback server bound to every address accepts any.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the whole check may take: connecting, sending and reading the answer. The server's
/// `/health` waits at most half a second for its root check, so a healthy one answers far sooner.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// More than any `/health` answer; a longer one is cut (the status line is what counts).
const MAX_RESPONSE: usize = 64 * 1024;

/// Where to send the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthUrl {
    /// `http://host:port/path` as it will be reported.
    pub url: String,
    /// The host as given (an IPv6 literal without its brackets), and the port.
    host: String,
    port: u16,
    /// `host[:port]` for the `Host` header, as in the URL.
    authority: String,
    /// The request target: the URL's path (`/health` when it has none) and query.
    path: String,
}

/// What the server said, or why it could not be asked.
#[derive(Debug)]
pub enum Probe {
    Answered { status: u16, body: Option<Value> },
    Unreachable(String),
}

/// The URL a server listening on `bind` answers on from this machine: an unspecified address
/// (`0.0.0.0`, `[::]`) is reached over loopback.
pub fn default_url(bind: SocketAddr) -> String {
    let ip = match bind.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}/health", SocketAddr::new(ip, bind.port()))
}

/// Parse `http://HOST[:PORT][/PATH]` (`http://` may be left out; no path means `/health`).
pub fn parse_url(given: &str) -> Result<HealthUrl, String> {
    let given = given.trim();
    let rest = match given.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "{given}: only http:// is supported (the scheme is {scheme}); check the server \
                 itself, not a TLS proxy in front of it"
            ));
        }
        None => given,
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = match path {
        "" | "/" => "/health".to_string(),
        p if p.starts_with('?') => format!("/health{p}"),
        p => p.to_string(),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{given}: expected http://HOST[:PORT][/PATH]"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{given}: an IPv6 address needs its closing ]"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{given}: expected :PORT after ]"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{given}: the port must be a number from 0 to 65535"))?,
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{given}: expected http://HOST[:PORT][/PATH]"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{given}: the path may not contain spaces"));
    }
    Ok(HealthUrl {
        url: format!("http://{authority}{path}"),
        host: host.to_string(),
        port,
        authority: authority.to_string(),
        path,
    })
}

/// Send `GET` to `target` and read the answer, all within `timeout`.
pub fn probe(target: &HealthUrl, timeout: Duration) -> Probe {
    match request(target, timeout) {
        Ok((status, body)) => Probe::Answered {
            status,
            body: serde_json::from_slice(&body).ok(),
        },
        Err(e) => Probe::Unreachable(e),
    }
}

fn request(target: &HealthUrl, timeout: Duration) -> Result<(u16, Vec<u8>), String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {} s", timeout.as_secs()))
    };
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect();
    let mut last = format!("{} resolves to no address", target.host);
    let mut stream = None;
    let several = addrs.len() > 1;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            // The URL is on the line already; a name with several addresses says which failed.
            Err(e) if several => last = format!("{addr}: {e}"),
            Err(e) => last = e.to_string(),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            format!("no answer within {} s", timeout.as_secs())
        } else {
            e.to_string()
        }
    };
    stream.set_write_timeout(Some(left()?)).map_err(io)?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: nas-sync-health\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(req.as_bytes()).map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        stream.set_read_timeout(Some(left()?)).map_err(io)?;
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= MAX_RESPONSE || complete(&buf) {
            break;
        }
    }
    parse_response(&buf)
}

/// The head of a response and where its body starts.
fn head(buf: &[u8]) -> Option<(&str, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((std::str::from_utf8(&buf[..end]).ok()?, end + 4))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Whether `buf` holds the whole answer (its `Content-Length` has arrived), so a server that
/// keeps the connection open anyway does not make us wait for the timeout.
fn complete(buf: &[u8]) -> bool {
    head(buf).is_some_and(|(h, start)| {
        header(h, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|len| buf.len() >= start + len)
    })
}

fn parse_response(buf: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let (h, start) = head(buf).ok_or_else(|| {
        if buf.is_empty() {
            "the connection closed without an answer".to_string()
        } else {
            "not an HTTP answer".to_string()
        }
    })?;
    let status_line = h.lines().next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse::<u16>()
            .map_err(|_| format!("not an HTTP status line: {status_line}"))?,
        _ => return Err(format!("not an HTTP status line: {status_line}")),
    };
    let body = &buf[start..];
    let body = if header(h, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(body)
    } else {
        match header(h, "content-length").and_then(|v| v.parse::<usize>().ok()) {
            Some(len) => body[..len.min(body.len())].to_vec(),
            None => body.to_vec(),
        }
    };
    Ok((status, body))
}

/// A chunked body's data (what arrived of it; the status line matters more than the body).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|n| *n > 0) else {
            break;
        };
        let data = &body[eol + 2..];
        out.extend_from_slice(&data[..size.min(data.len())]);
        body = data.get(size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_default_to_the_health_path_and_keep_the_authority_for_the_host_header() {
        let u = parse_url("http://127.0.0.1:8787").expect("url");
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            ("127.0.0.1", 8787, "127.0.0.1:8787", "/health")
        );
        assert_eq!(u.url, "http://127.0.0.1:8787/health");
        let u = parse_url("nas.local:9000/health?x=1").expect("no scheme");
        assert_eq!((u.host.as_str(), u.port), ("nas.local", 9000));
        assert_eq!(u.path, "/health?x=1");
        let u = parse_url("http://[::1]:8787/").expect("v6");
        assert_eq!(
            (u.host.as_str(), u.authority.as_str()),
            ("::1", "[::1]:8787")
        );
        assert_eq!(parse_url("HTTP://nas").expect("port 80").port, 80);
        for bad in [
            "https://nas:8787",
            "http://",
            "http://nas:port",
            "http://user@nas",
            "http://[::1",
            "http://nas/a b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn the_default_url_reaches_an_unspecified_bind_over_loopback() {
        let at = |s: &str| default_url(s.parse().expect("addr"));
        assert_eq!(at("0.0.0.0:8787"), "http://127.0.0.1:8787/health");
        assert_eq!(at("[::]:8787"), "http://[::1]:8787/health");
        assert_eq!(at("192.168.0.5:80"), "http://192.168.0.5:80/health");
    }

    #[test]
    fn answers_are_read_by_length_or_by_chunks() {
        let (status, body) =
            parse_response(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}xx")
                .expect("parsed");
        assert_eq!((status, body.as_slice()), (503, b"{}".as_slice()));
        let (_, body) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!(body, b"{\"a\":1}");
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}"));
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
