//! A deadline on a connection's opening bytes. hyper-util's auto builder reads the first bytes
//! to tell HTTP/1 from HTTP/2 before any protocol timer runs, so a client that connects and
//! sends nothing (or one byte) would hold its socket forever. This wrapper fails the read once
//! `limit` passes before the client has sent enough to pick a protocol (the 24-byte HTTP/2
//! preface) or the server has started answering; from then on hyper's own timers apply
//! (`HEADER_READ_TIMEOUT` for HTTP/1 headers and idle keep-alive, pings for HTTP/2).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Bytes after which the auto builder has chosen a protocol: the HTTP/2 preface's length.
const ENOUGH: usize = 24;

pub struct FirstBytes<I> {
    io: I,
    /// Until the opening bytes are in; `None` afterwards.
    deadline: Option<Pin<Box<Sleep>>>,
    seen: usize,
    opened: Opened,
}

/// Whether a connection got past its opening bytes; shared with the accept loop, which sheds
/// connections that never did when it runs out of file descriptors.
#[derive(Clone, Default)]
pub struct Opened(Arc<AtomicBool>);

impl Opened {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl<I> FirstBytes<I> {
    pub fn new(io: I, limit: Duration, opened: Opened) -> Self {
        FirstBytes {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
            seen: 0,
            opened,
        }
    }

    fn lift(&mut self) {
        if self.deadline.take().is_some() {
            self.opened.0.store(true, Ordering::Relaxed);
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstBytes<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        let Some(deadline) = &mut this.deadline else {
            return polled;
        };
        if let Poll::Ready(Ok(())) = polled {
            this.seen += buf.filled().len() - before;
            if this.seen >= ENOUGH {
                this.lift();
            }
            return polled;
        }
        if polled.is_pending() && deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request within HEADER_READ_TIMEOUT",
            )));
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstBytes<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Answering means a request (or an HTTP/2 handshake) arrived: hyper's timers take over.
        self.lift();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.lift();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_fails_the_read_at_the_deadline() {
        let (_client, server) = tokio::io::duplex(64);
        let mut io = FirstBytes::new(server, Duration::from_secs(3), Opened::default());
        let start = tokio::time::Instant::now();
        let err = io.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn one_byte_is_not_enough_but_a_preface_is() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = FirstBytes::new(server, Duration::from_secs(3), Opened::default());
        client.write_all(b"P").await.unwrap();
        assert_eq!(io.read(&mut [0u8; 8]).await.unwrap(), 1);
        assert!(
            io.read(&mut [0u8; 8]).await.is_err(),
            "still silent after one byte"
        );

        let (mut client, server) = tokio::io::duplex(64);
        let mut io = FirstBytes::new(server, Duration::from_secs(3), Opened::default());
        client.write_all(&[b'x'; ENOUGH]).await.unwrap();
        let mut buf = [0u8; ENOUGH];
        io.read_exact(&mut buf).await.unwrap();
        assert!(io.opened.get());
        tokio::time::sleep(Duration::from_secs(10)).await;
        client.write_all(b"later").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn answering_lifts_the_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = FirstBytes::new(server, Duration::from_secs(3), Opened::default());
        client.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        assert!(io.read(&mut [0u8; 64]).await.unwrap() > 0);
        io.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        client.write_all(b"x").await.unwrap();
        assert_eq!(io.read(&mut [0u8; 8]).await.unwrap(), 1);
    }
}
