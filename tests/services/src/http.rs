//! A minimal plain-HTTP client for the servers' REST APIs on loopback (no TLS, no redirects).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A REST API's answer: the status code and the body, parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body as JSON; a body that is not JSON is a JSON string, an empty body `null`.
    pub body: serde_json::Value,
}

impl ApiResponse {
    /// Panics with the method, path and body unless the status is 2xx; returns the body.
    pub fn expect_success(self, what: &str) -> serde_json::Value {
        if !(200..300).contains(&self.status) {
            panic!("{what}: HTTP {}: {}", self.status, self.body);
        }
        self.body
    }
}

/// Sends one HTTP/1.0 request (so the answer is never chunked and the connection closes after it).
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // One write: a server that answers before reading the body (a refused token) and closes would
    // otherwise reset the connection when a separately sent body arrives, losing its answer.
    let mut message = head.into_bytes();
    message.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&message)?;
    let mut response = Vec::new();
    if let Err(error) = stream.read_to_end(&mut response) {
        // A reset after the whole answer arrived still leaves a usable answer.
        if error.kind() != std::io::ErrorKind::ConnectionReset || response.is_empty() {
            return Err(error);
        }
    }
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of the response head"))?;
    let status = std::str::from_utf8(&response[..split])
        .ok()
        .and_then(|head| head.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status code in the response"))?;
    Ok((status, response[split + 4..].to_vec()))
}

/// Sends a JSON request (or none) and reads the answer as an [`ApiResponse`]; panics when the server
/// does not answer.
pub(crate) fn json_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&serde_json::Value>,
) -> ApiResponse {
    let mut headers = vec![("Accept", "application/json")];
    if let Some(authorization) = authorization {
        headers.push(("Authorization", authorization));
    }
    let encoded = body.map(|body| serde_json::to_vec(body).expect("encode a JSON body"));
    if encoded.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let (status, bytes) = request(addr, method, path, &headers, encoded.as_deref())
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"));
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        })
    };
    ApiResponse { status, body }
}
