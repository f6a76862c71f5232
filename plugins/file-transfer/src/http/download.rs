//! Fetching an offered file: GET (following a few redirects), streamed to
//! a `.part` file in the download folder while SHA-256 and the size are
//! computed, the size checked against the offer and the cap as bytes
//! arrive. The whole file is never in memory; a failure removes the part.
//! A connection cut off mid-body is taken up again with a Range request
//! from the byte it stopped at.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_rustls::rustls::ClientConfig;

use super::{request, send, TIMEOUT};
use crate::error::TransferError;
use crate::fetched::{hex, Fetched};
use crate::url::Url;

/// Redirections followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Times a download cut off mid-body is taken up again where it stopped.
const MAX_RESUMES: usize = 3;
/// Bytes gathered before each write to disk.
const WRITE_BUFFER: usize = 256 * 1024;

/// What to fetch and the limits on it.
pub struct Fetch<'a> {
    pub url: Url,
    /// The size the peer announced, if it did: more is refused, less is
    /// reported.
    pub offered: Option<u64>,
    /// The most taken, whatever was announced.
    pub max_size: u64,
    /// Where the bytes go (created, then renamed or removed by the caller).
    pub part: &'a Path,
    /// Bytes received so far, for `file_transfer.list`.
    pub progress: Arc<AtomicU64>,
}

/// Fetches into `fetch.part`; on any error the part file is removed.
pub async fn fetch(fetch: Fetch<'_>, tls: &Arc<ClientConfig>) -> Result<Fetched, TransferError> {
    let result = fetch_inner(&fetch, tls).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(fetch.part).await;
    }
    result
}

async fn fetch_inner(fetch: &Fetch<'_>, tls: &Arc<ClientConfig>) -> Result<Fetched, TransferError> {
    let (url, response) = get(&fetch.url, tls, None).await?;
    let head_length =
        header(&response, hyper::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    let content_type = header(&response, hyper::header::CONTENT_TYPE);
    if let Some(length) = head_length {
        check_size(length, fetch)?;
    }

    let dir = fetch.part.parent().map(Path::to_owned).unwrap_or_default();
    let disk = |source| TransferError::Disk {
        dir: dir.clone(),
        source,
    };
    // Buffered: each write to a tokio file is a hop to the blocking pool,
    // and a body arrives in chunks of a few kB.
    let file = tokio::fs::File::create(fetch.part).await.map_err(disk)?;
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = response.into_body();
    let mut resumes = 0;
    loop {
        let frame = match tokio::time::timeout(TIMEOUT, body.frame()).await {
            Err(_) => Err(TransferError::Timeout {
                host: url.host.clone(),
                seconds: TIMEOUT.as_secs(),
            }),
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|e| TransferError::Broken {
                host: url.host.clone(),
                detail: e.to_string(),
            }),
        };
        let frame = match frame {
            Ok(frame) => frame,
            // Cut off: ask for the rest (RFC 9110 §14.2), a few times; the
            // bytes kept so far stay hashed and counted.
            Err(cut) if resumes < MAX_RESUMES && size > 0 => {
                resumes += 1;
                body = resume(&url, tls, size).await.map_err(|_| cut)?;
                fetch.progress.store(size, Ordering::Relaxed);
                continue;
            }
            Err(cut) => return Err(cut),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        check_size(size, fetch)?;
        hasher.update(&data);
        file.write_all(&data).await.map_err(disk)?;
        fetch.progress.store(size, Ordering::Relaxed);
    }
    file.flush().await.map_err(disk)?;
    file.get_ref().sync_all().await.map_err(disk)?;
    if let Some(offered) = fetch.offered {
        if size < offered {
            return Err(TransferError::ShorterThanOffered { got: size, offered });
        }
    }
    Ok(Fetched {
        size,
        sha256: hex(&hasher.finalize()),
        content_type,
    })
}

/// The rest of `url` from byte `from`: only a 206 that starts there will
/// do (a 200 would be the whole file again, on bytes already hashed).
async fn resume(url: &Url, tls: &Arc<ClientConfig>, from: u64) -> Result<Incoming, TransferError> {
    let (url, response) = get(url, tls, Some(from)).await?;
    let starts = header(&response, hyper::header::CONTENT_RANGE).and_then(|r| {
        r.strip_prefix("bytes ")?
            .split('-')
            .next()?
            .parse::<u64>()
            .ok()
    });
    if response.status() != StatusCode::PARTIAL_CONTENT || starts != Some(from) {
        return Err(TransferError::Status {
            host: url.authority(),
            code: response.status().as_u16(),
            reason: "instead of the rest of the file".into(),
        });
    }
    Ok(response.into_body())
}

/// GET `url` (from byte `from`, if given), following a few redirects;
/// answers where it ended and the response, whose status is 200 or 206.
async fn get(
    url: &Url,
    tls: &Arc<ClientConfig>,
    from: Option<u64>,
) -> Result<(Url, Response<Incoming>), TransferError> {
    let mut url = url.clone();
    let mut redirects = 0;
    loop {
        let mut req = request(Method::GET, &url);
        if let Some(from) = from {
            req = req.header(hyper::header::RANGE, format!("bytes={from}-"));
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| TransferError::Broken {
                host: url.host.clone(),
                detail: e.to_string(),
            })?;
        let response = send(&url, tls, req, TIMEOUT).await?;
        let status = response.status();
        if status.is_redirection() {
            let location = header(&response, hyper::header::LOCATION);
            match location {
                Some(location) if redirects < MAX_REDIRECTS => {
                    url = url.join(&location)?;
                    redirects += 1;
                    continue;
                }
                _ => return Err(TransferError::Redirects(url.authority())),
            }
        }
        if !(from.is_some() && status == StatusCode::PARTIAL_CONTENT) {
            check_status(status, &url)?;
        }
        return Ok((url, response));
    }
}

fn header(response: &Response<Incoming>, name: hyper::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The offer first: "larger than offered" says more than "too large".
fn check_size(size: u64, fetch: &Fetch<'_>) -> Result<(), TransferError> {
    match fetch.offered {
        Some(offered) if size > offered => Err(TransferError::LargerThanOffered { offered }),
        _ if size > fetch.max_size => Err(TransferError::TooLarge {
            limit: fetch.max_size,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn check_status(status: StatusCode, url: &Url) -> Result<(), TransferError> {
    let host = url.authority();
    let code = status.as_u16();
    match code {
        200 => Ok(()),
        404 | 410 => Err(TransferError::Gone { host, code }),
        401 | 403 => Err(TransferError::Unauthorized { host, code }),
        _ => Err(TransferError::Status {
            host,
            code,
            reason: status.canonical_reason().unwrap_or("").to_owned(),
        }),
    }
}

/// `<dir>/.<id>.part`: hidden, and named by the offer so two transfers of
/// one name never share it.
pub fn part_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(".{id}.part"))
}
