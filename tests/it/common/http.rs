//! A minimal HTTP/1.1 client over a TCP socket (one request per connection), enough to
//! talk to the operator's API without pulling a client library into the build.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `method path` with `headers` to `addr` and reads the whole reply.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(parse_reply(&raw))
}

/// Status, content type and (de-chunked) body of a raw HTTP/1.1 reply.
fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        content_type,
        body,
    }
}

pub async fn get(addr: &str, path: &str) -> Reply {
    request(addr, "GET", path, &[])
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Opens `/events/stream` and yields the `data:` lines as they arrive.
pub struct EventStream {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl EventStream {
    pub async fn open(addr: &str) -> EventStream {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "GET /events/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        EventStream {
            lines: BufReader::new(stream).lines(),
        }
    }

    /// The next event's JSON data.
    pub async fn next(&mut self) -> serde_json::Value {
        loop {
            let line = self.lines.next_line().await.unwrap().expect("stream open");
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str(data.trim()) {
                    return v;
                }
            }
        }
    }
}

/// GET `path` over HTTPS from `addr`, trusting only the PEM CA `ca` (and checking the
/// certificate names the address's IP).
pub async fn get_tls(addr: &str, ca: &[u8], path: &str) -> Reply {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let socket: std::net::SocketAddr = addr.parse().unwrap();
    let tcp = TcpStream::connect(socket).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(socket.ip().into());
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // The server may close without close_notify; what arrived is the reply.
    let _ = stream.read_to_end(&mut raw).await;
    parse_reply(&raw)
}
