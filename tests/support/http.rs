//! HTTP for the tests, by hand, without an HTTP library: one HTTP/1.1
//! request to a plain `http://127.0.0.1:port/...` URL (the test Prosody's
//! file share, a test's file server), as a user's client fetches a shared
//! file; and a small file server that can stall or drop mid-body, for
//! what a download does then.

use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends `method` to `url` with `headers` and `body`; answers the status
/// line and the body.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("a plain HTTP URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, answer[split + 4..].to_vec())
}

/// How [`FileServer`] misbehaves, to test what a download does then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// The whole file, and ranges of it (`Range: bytes=N-`, 206).
    Whole,
    /// `after` bytes of the body, then nothing more while the connection
    /// stays open (a transfer "under way" for as long as a test needs).
    Stall { after: usize },
    /// The first GET gets `after` bytes of the body and the connection
    /// closes; later ones (with or without a Range) are served whole.
    DropOnce { after: usize },
}

/// A small HTTP/1.1 file server on a free loopback port: one file at any
/// path, HEAD and GET, byte ranges, and the misbehaviours of [`Serve`];
/// it keeps every request head it got.
pub struct FileServer {
    pub port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FileServer {
    pub fn start(content: Vec<u8>, serve: Serve) -> FileServer {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let content = Arc::new(content);
        let gets = Arc::new(AtomicUsize::new(0));
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let (content, seen, stopped, gets) =
                    (content.clone(), seen.clone(), stopped.clone(), gets.clone());
                std::thread::spawn(move || {
                    serve_one(stream, &content, serve, &seen, &stopped, &gets)
                });
            }
        });
        FileServer {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The request heads so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(
    mut stream: TcpStream,
    content: &[u8],
    serve: Serve,
    seen: &std::sync::Mutex<Vec<String>>,
    stop: &std::sync::atomic::AtomicBool,
    gets: &std::sync::atomic::AtomicUsize,
) {
    use std::io::BufRead;
    use std::sync::atomic::Ordering;
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        seen.lock().unwrap().push(head.clone());
        let method = head.split(' ').next().unwrap_or("").to_owned();
        let start = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("range")
                    .then(|| value.trim().to_owned())
            })
            .and_then(|r| {
                r.strip_prefix("bytes=")?
                    .strip_suffix('-')?
                    .parse::<usize>()
                    .ok()
            })
            .filter(|&s| s <= content.len());
        let body = &content[start.unwrap_or(0)..];
        let mut answer = match start {
            Some(s) => format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\n",
                content.len().saturating_sub(1),
                content.len()
            ),
            None => "HTTP/1.1 200 OK\r\n".to_owned(),
        };
        answer.push_str(&format!(
            "Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ));
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
        if method == "HEAD" {
            continue;
        }
        let first = gets.fetch_add(1, Ordering::Relaxed) == 0;
        match serve {
            Serve::Stall { after } => {
                let _ = stream.write_all(&body[..after.min(body.len())]);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                return;
            }
            Serve::DropOnce { after } if first => {
                let _ = stream.write_all(&body[..after.min(body.len())]);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            _ => {
                if stream.write_all(body).is_err() {
                    return;
                }
            }
        }
    }
}
