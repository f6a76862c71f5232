//! Hands an already authenticated stream to tokio-xmpp.
//!
//! tokio-xmpp 6 runs SASL itself inside its reconnect loop, with no way to
//! choose the mechanism or to stop on a refused password (issue 19). The
//! sidecar authenticates in its own connector instead (`login`), then
//! gives tokio-xmpp this stream, which plays the server's part of one
//! SASL round locally: a stream header and features offering PLAIN, then
//! `<success/>` to whatever `<auth/>` tokio-xmpp sends (it never reaches
//! the network, and holds no real password). After that `<success/>`, the
//! stream is the real connection: tokio-xmpp's stream restart goes to the
//! server, which expects exactly that after the real `<success/>`.
//! See docs/decisions/0036-own-sasl-before-tokio-xmpp.md.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const SUCCESS: &[u8] = b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Playing the greeting; writes (tokio-xmpp's header) are dropped.
    Greeting,
    /// Playing `<success/>`; writes (the rest of `<auth/>`) are dropped.
    Success,
    /// The real connection, both ways.
    Real,
}

pub struct Handoff<T> {
    inner: T,
    phase: Phase,
    script: Vec<u8>,
    read: usize,
    waiting: Option<Waker>,
}

impl<T> Handoff<T> {
    /// `inner` has just had the server's `<success/>`.
    pub fn new(inner: T, domain: &str, ns: &str) -> Handoff<T> {
        let greeting = format!(
            "<?xml version='1.0'?><stream:stream xmlns='{ns}' \
             xmlns:stream='http://etherx.jabber.org/streams' from='{domain}' \
             id='handoff' version='1.0'><stream:features>\
             <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
             </mechanisms></stream:features>"
        );
        Handoff {
            inner,
            phase: Phase::Greeting,
            script: greeting.into_bytes(),
            read: 0,
            waiting: None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Handoff<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.phase != Phase::Real {
            let rest = &this.script[this.read..];
            if !rest.is_empty() {
                let n = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..n]);
                this.read += n;
                if this.phase == Phase::Success && this.read == this.script.len() {
                    this.phase = Phase::Real;
                }
                return Poll::Ready(Ok(()));
            }
            if this.phase == Phase::Greeting {
                // Greeting played: waiting for `<auth/>`.
                this.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            this.phase = Phase::Real;
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Handoff<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.phase {
            Phase::Real => Pin::new(&mut this.inner).poll_write(cx, data),
            Phase::Greeting if this.read == this.script.len() => {
                // tokio-xmpp's `<auth/>`, after reading the features.
                this.phase = Phase::Success;
                this.script = SUCCESS.to_vec();
                this.read = 0;
                if let Some(waker) = this.waiting.take() {
                    waker.wake();
                }
                Poll::Ready(Ok(data.len()))
            }
            Phase::Greeting | Phase::Success => Poll::Ready(Ok(data.len())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.phase {
            Phase::Real => Pin::new(&mut self.inner).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
