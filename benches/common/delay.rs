//! A proxy on 127.0.0.1 that holds each complete request a fixed delay before forwarding it
//! (bytes unchanged), as a round trip to an AWS region would, and notes when each request
//! arrived and when its answer started to come back: from that, [`DelayProxy::waves`] counts
//! the longest chain of requests that waited for each other.

use anyhow::Context;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running proxy.
pub struct DelayProxy {
    /// Its endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Timing>>>,
}

/// When one request arrived, and when the first bytes of its answer came back.
#[derive(Clone, Copy, Debug)]
struct Timing {
    arrived: Instant,
    answered: Option<Instant>,
}

impl DelayProxy {
    /// Starts a proxy to `upstream_url` that holds each request `delay`.
    pub fn start(upstream_url: &str, delay: Duration) -> anyhow::Result<Self> {
        let upstream = upstream_url
            .strip_prefix("http://")
            .with_context(|| {
                format!("the delaying proxy speaks plain HTTP; {upstream_url} is not")
            })?
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the delaying proxy")?;
        let port = listener.local_addr().context("the proxy's port")?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    if let Err(e) = relay(client, &upstream, delay, &seen) {
                        eprintln!("proxy: {e:#}");
                    }
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            requests,
        })
    }

    /// Forgets the requests seen so far.
    pub fn reset(&self) {
        if let Ok(mut a) = self.requests.lock() {
            a.clear();
        }
    }

    /// Requests seen since the last reset.
    pub fn requests(&self) -> usize {
        self.requests.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// The longest chain of requests since the last reset in which each was sent after the
    /// answer to the one before it had come back: each could have waited for it. Requests in
    /// flight together are one wave.
    pub fn waves(&self) -> usize {
        let mut requests = self.requests.lock().map(|a| a.clone()).unwrap_or_default();
        requests.sort_by_key(|r| r.arrived);
        let mut depth: Vec<usize> = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let before = (0..i)
                .filter(|&j| requests[j].answered.is_some_and(|a| a <= r.arrived))
                .map(|j| depth[j])
                .max()
                .unwrap_or(0);
            depth.push(before + 1);
        }
        depth.into_iter().max().unwrap_or(0)
    }
}

fn relay(
    client: TcpStream,
    upstream: &str,
    delay: Duration,
    requests: &Arc<Mutex<Vec<Timing>>>,
) -> anyhow::Result<()> {
    let server =
        TcpStream::connect(upstream).with_context(|| format!("connecting to {upstream}"))?;
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    // Requests forwarded on this connection and not answered yet (HTTP/1.1: in order).
    let waiting: Arc<Mutex<VecDeque<usize>>> = Arc::default();
    let (answered, log) = (waiting.clone(), requests.clone());
    let back = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from_server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let (Ok(mut w), Ok(mut l)) = (answered.lock(), log.lock()) {
                if let Some(r) = w.pop_front().and_then(|i| l.get_mut(i)) {
                    r.answered = Some(Instant::now());
                }
            }
            if to_client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let (mut from_client, mut to_server) = (client, server);
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(len) = request_len(&pending) {
            let index = requests.lock().map(|mut l| {
                l.push(Timing {
                    arrived: Instant::now(),
                    answered: None,
                });
                l.len() - 1
            });
            std::thread::sleep(delay);
            if let (Ok(index), Ok(mut w)) = (index, waiting.lock()) {
                w.push_back(index);
            }
            to_server.write_all(&pending[..len])?;
            pending.drain(..len);
        }
    }
    to_server.write_all(&pending)?;
    let _ = to_server.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// The length of the complete HTTP/1.1 request at the start of `data`, once all of it is
/// there (a chunked body, which the SDK does not send here, is passed on as it comes).
fn request_len(data: &[u8]) -> Option<usize> {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return Some(data.len());
    }
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (data.len() >= head_end + len).then_some(head_end + len)
}
