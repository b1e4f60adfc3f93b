//! A small HTTP/1.1 proxy that records what reaches it and misbehaves as a test asks: the way real
//! servers and the networks in front of them sometimes do.
//!
//! It listens on a loopback address of the test's choosing (`127.0.0.2` is "another host") and
//! forwards each request to one upstream over a fresh connection, streaming bodies both ways. A
//! [`Rule`] matches requests by method and path and applies a [`Fault`] a number of times:
//!
//! - [`Fault::DropMidBody`]: the connection is closed after part of the request body;
//! - [`Fault::Refuse`]: 5xx or 429 (with `Retry-After`) before anything is forwarded;
//! - [`Fault::FailAfterApplying`]: the request is forwarded and applied, and the answer replaced
//!   by a 5xx, so the client sees a failure although the write happened;
//! - [`Fault::Stall`]: the proxy stops reading, or reads the request and never answers;
//! - [`Fault::StallAfterApplying`]: the request is applied and its answer never sent;
//! - [`Fault::RedirectTo`]: answered with a 307 to the same path on another base URL.
//!
//! Every request is recorded with its headers, so a test can assert what another host received
//! (no `Authorization`, or nothing at all).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Reads this many bytes of the request body (forwarding nothing), then closes the connection.
    DropMidBody { after: u64 },
    /// Answers `status` at once, forwarding nothing.
    Refuse {
        status: u16,
        retry_after: Option<u32>,
    },
    /// Forwards the request (the upstream applies it), then answers `status` instead.
    FailAfterApplying { status: u16 },
    /// Reads the request head and this many body bytes (`None`: all of it), forwards nothing,
    /// then neither reads nor answers until the proxy stops.
    Stall { after: Option<u64> },
    /// Forwards the request (the upstream applies it), then never answers.
    StallAfterApplying,
    /// Answers `307` with `Location` = `base` + the request's path and query.
    RedirectTo { base: String },
}

/// A fault for requests whose method is `method` (any, if empty) and whose path and query
/// contain `path_contains`, applied to the next `times` of them.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: String,
    pub path_contains: String,
    pub fault: Fault,
    pub times: usize,
}

impl Rule {
    pub fn new(method: &str, path_contains: &str, fault: Fault) -> Self {
        Self {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            fault,
            times: 1,
        }
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }
}

/// One request as it reached the proxy.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    requests: Vec<Recorded>,
    /// Headers added to every forwarded request (e.g. the credentials object storage would
    /// accept from a signed URL).
    inject: Vec<(String, String)>,
    /// (from, to): rewrites of `Location` answers, e.g. to send uploads to another host.
    rewrite_location: Option<(String, String)>,
    /// (from, to): rewrites of the URLs in `Link` answers (pagination), e.g. to another host.
    rewrite_links: Option<(String, String)>,
}

/// The proxy. Stops, closing every connection it holds, on drop.
pub struct FaultProxy {
    addr: String,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
}

impl FaultProxy {
    /// A proxy on `listen_ip` (e.g. `127.0.0.1`, or `127.0.0.2` for "another host") in front of
    /// `upstream` (`HOST:PORT`, plain HTTP).
    pub fn start(listen_ip: &str, upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind((listen_ip, 0))
            .unwrap_or_else(|e| panic!("the fault proxy cannot listen on {listen_ip}: {e}"));
        let addr = listener.local_addr().expect("a bound address").to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (accept_state, accept_stopping) = (state.clone(), stopping.clone());
        let upstream = upstream.to_owned();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        std::thread::spawn(move || {
            while !accept_stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (state, stopping, upstream) = (
                            accept_state.clone(),
                            accept_stopping.clone(),
                            upstream.clone(),
                        );
                        std::thread::spawn(move || {
                            let _ = serve(client, &upstream, &state, &stopping);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            addr,
            state,
            stopping,
        }
    }

    /// `HOST:PORT` it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_rule(&self, rule: Rule) -> &Self {
        self.lock().rules.push(rule);
        self
    }

    /// Adds `name: value` to every request forwarded upstream.
    pub fn inject_header(&self, name: &str, value: &str) -> &Self {
        self.lock().inject.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Rewrites `Location` answer headers that start with `from` to start with `to`.
    pub fn rewrite_location(&self, from: &str, to: &str) -> &Self {
        self.lock().rewrite_location = Some((from.to_owned(), to.to_owned()));
        self
    }

    /// Rewrites every URL starting with `from` in the upstream's `Link` answers (a forge's next
    /// and last pages) to start with `to` instead.
    pub fn rewrite_links(&self, from: &str, to: &str) -> &Self {
        self.lock().rewrite_links = Some((from.to_owned(), to.to_owned()));
        self
    }

    /// Every request that reached the proxy so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The faults applied so far.
    pub fn faults_applied(&self) -> Vec<Fault> {
        self.lock()
            .requests
            .iter()
            .filter_map(|r| r.fault.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    fn framing(&self, is_request: bool) -> Framing {
        if self
            .get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked
        } else if let Some(length) = self.get("content-length") {
            Framing::Length(length.parse().unwrap_or(0))
        } else if is_request {
            Framing::None
        } else {
            Framing::UntilClose
        }
    }

    fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut text = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        out.write_all(text.as_bytes())
    }
}

fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(Some(Head {
        start: start.trim_end().to_owned(),
        headers,
    }))
}

/// Copies a body of the given framing, raw (chunk framing included), at most `limit` bytes of it
/// when given. Returns whether the whole body was copied.
fn copy_body(
    from: &mut impl BufRead,
    to: &mut impl Write,
    framing: Framing,
    limit: Option<u64>,
) -> io::Result<bool> {
    let mut budget = limit.unwrap_or(u64::MAX);
    let mut copy = |from: &mut dyn BufRead, to: &mut dyn Write, n: u64| -> io::Result<bool> {
        let take = n.min(budget);
        let copied = io::copy(&mut from.take(take), to)?;
        budget -= copied;
        if copied < take {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(take == n)
    };
    match framing {
        Framing::None => Ok(true),
        Framing::Length(n) => copy(from, to, n),
        Framing::UntilClose => copy(from, to, u64::MAX).or(Ok(true)),
        Framing::Chunked => loop {
            let mut size_line = String::new();
            from.read_line(&mut size_line)?;
            to.write_all(size_line.as_bytes())?;
            let size = u64::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            if !copy(from, to, size + 2)? {
                return Ok(false);
            }
            if size == 0 {
                return Ok(true);
            }
        },
    }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    state: &Mutex<State>,
    stopping: &AtomicBool,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client.try_clone()?;
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    while let Some(head) = read_head(&mut reader)? {
        let mut parts = head.start.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let fault = {
            let mut state = lock();
            let fault = state
                .rules
                .iter_mut()
                .find(|r| {
                    r.times > 0
                        && (r.method.is_empty() || r.method.eq_ignore_ascii_case(&method))
                        && target.contains(&r.path_contains)
                })
                .map(|rule| {
                    rule.times -= 1;
                    rule.fault.clone()
                });
            state.requests.push(Recorded {
                method: method.clone(),
                target: target.clone(),
                headers: head
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                    .collect(),
                fault: fault.clone(),
            });
            fault
        };
        let framing = head.framing(true);
        let hold = |client: &TcpStream| {
            while !stopping.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = client.shutdown(Shutdown::Both);
        };
        match &fault {
            Some(Fault::DropMidBody { after }) => {
                copy_body(&mut reader, &mut io::sink(), framing, Some(*after))?;
                return client.shutdown(Shutdown::Both);
            }
            Some(Fault::Stall { after }) => {
                copy_body(&mut reader, &mut io::sink(), framing, *after)?;
                hold(&client);
                return Ok(());
            }
            Some(Fault::Refuse {
                status,
                retry_after,
            }) => {
                copy_body(&mut reader, &mut io::sink(), framing, None)?;
                let retry = retry_after
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default();
                write!(
                    writer,
                    "HTTP/1.1 {status} Injected\r\n{retry}Content-Type: text/plain\r\nContent-Length: 8\r\n\r\ninjected"
                )?;
                continue;
            }
            Some(Fault::RedirectTo { base }) => {
                copy_body(&mut reader, &mut io::sink(), framing, None)?;
                write!(
                    writer,
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {base}{target}\r\nContent-Length: 0\r\n\r\n"
                )?;
                continue;
            }
            _ => {}
        }
        // Forward over a fresh connection, the client's framing kept.
        let upstream_stream = TcpStream::connect(upstream)?;
        let mut up_writer = io::BufWriter::new(upstream_stream.try_clone()?);
        let mut forwarded = Head {
            start: head.start.clone(),
            headers: head
                .headers
                .iter()
                // The client's Host stays: servers build the URLs they hand out from it.
                .filter(|(n, _)| !n.eq_ignore_ascii_case("connection"))
                .cloned()
                .collect(),
        };
        forwarded
            .headers
            .push(("Connection".into(), "close".into()));
        forwarded.headers.extend(lock().inject.iter().cloned());
        forwarded.write_to(&mut up_writer)?;
        copy_body(&mut reader, &mut up_writer, framing, None)?;
        up_writer.flush()?;
        let mut up_reader = BufReader::new(upstream_stream);
        let Some(mut answer) = read_head(&mut up_reader)? else {
            return client.shutdown(Shutdown::Both);
        };
        let answer_framing = if method.eq_ignore_ascii_case("HEAD") {
            Framing::None
        } else {
            match answer.start.split(' ').nth(1) {
                Some("204" | "304") => Framing::None,
                _ => answer.framing(false),
            }
        };
        match &fault {
            Some(Fault::FailAfterApplying { status }) => {
                copy_body(&mut up_reader, &mut io::sink(), answer_framing, None)?;
                write!(
                    writer,
                    "HTTP/1.1 {status} Injected\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ninjected"
                )?;
                continue;
            }
            Some(Fault::StallAfterApplying) => {
                hold(&client);
                return Ok(());
            }
            _ => {}
        }
        let (location, links) = {
            let state = lock();
            (state.rewrite_location.clone(), state.rewrite_links.clone())
        };
        for (name, value) in &mut answer.headers {
            if let Some((from, to)) = &location
                && name.eq_ignore_ascii_case("location")
                && value.starts_with(from.as_str())
            {
                *value = format!("{to}{}", &value[from.len()..]);
            }
            if let Some((from, to)) = &links
                && name.eq_ignore_ascii_case("link")
            {
                *value = value.replace(&format!("<{from}"), &format!("<{to}"));
            }
        }
        let mut out = io::BufWriter::new(&mut writer);
        answer.write_to(&mut out)?;
        copy_body(&mut up_reader, &mut out, answer_framing, None)?;
        out.flush()?;
        if matches!(answer_framing, Framing::UntilClose) {
            return client.shutdown(Shutdown::Both);
        }
    }
    Ok(())
}
