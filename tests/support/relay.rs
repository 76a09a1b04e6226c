//! A test-side HTTP relay in front of moto that can answer a request itself, hold it, or
//! count it before forwarding: the faults of a real AWS endpoint, made to order.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// The head of one request as the relay received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `PUT`, `POST`, ...
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// The request line and every header, as sent.
    pub head: String,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The operation of a JSON-protocol call (`X-Amz-Target: Service.Operation`), such as
    /// ECS's `DescribeServices`.
    #[must_use]
    pub fn target_operation(&self) -> Option<&str> {
        self.header("x-amz-target")?.rsplit('.').next()
    }
}

/// A reply body's rewrite: the new body, or `None` to leave moto's.
pub type Rewrite = dyn Fn(&Request, &[u8]) -> Option<Vec<u8>>;

/// What the relay does with a request.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    /// Send it on to moto and copy the reply back.
    Forward,
    /// Answer it here with this status and body; moto never sees it.
    Respond {
        /// HTTP status.
        status: u16,
        /// Body (S3 reads an XML `<Error>`; empty is fine elsewhere).
        body: &'static str,
    },
    /// Send it on to moto, which acts on it, then throw moto's reply away and answer with
    /// this instead: a request that succeeded but whose answer was lost.
    ForwardThenRespond {
        /// HTTP status.
        status: u16,
        /// Body.
        body: &'static str,
    },
}

/// moto's address: `AWS_ENDPOINT_URL`, default 127.0.0.1:5000.
#[must_use]
pub fn moto_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// Starts a relay to moto; `hook` sees every request first (on the request's own thread, so
/// it may sleep or wait) and decides. Returns the relay's base URL.
pub fn start(hook: impl Fn(&Request) -> Verdict + Send + Sync + 'static) -> String {
    start_rewriting(hook, |_, _| None)
}

/// [`start`], and `rewrite` sees the body of every reply moto gave to a forwarded request: a
/// new body replaces it (the reply's length follows), `None` leaves it as moto sent it.
pub fn start_rewriting(
    hook: impl Fn(&Request) -> Verdict + Send + Sync + 'static,
    rewrite: impl Fn(&Request, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> String {
    let upstream = moto_endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hook = Arc::new(hook);
    let rewrite = Arc::new(rewrite);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            let (hook, rewrite) = (hook.clone(), rewrite.clone());
            std::thread::spawn(move || serve(client, &upstream, &*hook, &*rewrite));
        }
    });
    url
}

/// One request: read it whole, ask `hook`, then answer it or forward it with
/// `Connection: close` and copy the reply back (its body through `rewrite`).
pub fn serve(
    mut client: TcpStream,
    upstream: &str,
    hook: &dyn Fn(&Request) -> Verdict,
    rewrite: &Rewrite,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let mut words = head.split_whitespace();
    let parsed = Request {
        method: words.next().unwrap_or_default().to_string(),
        path: words.next().unwrap_or_default().to_string(),
        head: head.clone(),
    };
    let length: usize = parsed
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let verdict = hook(&parsed);
    let answer = |client: &mut TcpStream, status: u16, body: &str| {
        let reason = match status {
            200 => "OK",
            403 => "Forbidden",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let kind = if body.is_empty() {
            ""
        } else if body.starts_with('{') {
            "Content-Type: application/x-amz-json-1.1\r\n"
        } else {
            "Content-Type: application/xml\r\n"
        };
        let reply = format!(
            "HTTP/1.1 {status} {reason}\r\n{kind}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(reply.as_bytes())
    };
    if let Verdict::Respond { status, body } = verdict {
        return answer(&mut client, status, body);
    }
    let mut headers = String::new();
    for line in head.split("\r\n") {
        if !line.is_empty() && !line.to_ascii_lowercase().starts_with("connection:") {
            headers.push_str(line);
            headers.push_str("\r\n");
        }
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(headers.as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&request[head_end..])?;
    let mut reply = Vec::new();
    server.read_to_end(&mut reply)?;
    if let Verdict::ForwardThenRespond { status, body } = verdict {
        return answer(&mut client, status, body);
    }
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n");
    let rewritten = split.and_then(|i| Some((i, rewrite(&parsed, &reply[i + 4..])?)));
    if let Some((head_end, new_body)) = rewritten {
        let head = String::from_utf8_lossy(&reply[..head_end]).to_string();
        let mut out = String::new();
        for line in head.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if !lower.starts_with("content-length:") && !lower.starts_with("transfer-encoding:") {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", new_body.len());
        client.write_all(out.as_bytes())?;
        return client.write_all(&new_body);
    }
    client.write_all(&reply)
}
