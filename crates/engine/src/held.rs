//! The connection [`serve`](crate::serve) gives hyper: a TCP stream that holds back a
//! `101 Switching Protocols` answer, so that it leaves in one write with the WebSocket's first
//! frame (the engine's open packet) instead of in a segment of its own.
//!
//! Whoever uses the stream next gets the held bytes first: the WebSocket takes them into its
//! write buffer, and any other read or write through the stream writes them out before
//! anything else, so no protocol can wait on an answer that was never sent.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How a `101` answer starts (hyper writes the whole head in its first buffer).
const SWITCHING: &[u8] = b"HTTP/1.1 101 ";

/// A TCP stream that holds back a `101` answer until the upgraded connection writes.
pub(crate) struct HeldIo {
    tcp: TcpStream,
    /// The `101` answer, not written yet (empty: nothing held).
    held: Vec<u8>,
}

impl HeldIo {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        HeldIo { tcp, held: Vec::new() }
    }

    /// The stream and the bytes to write on it before anything else.
    pub(crate) fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.tcp, self.held)
    }

    /// Writes the held bytes out.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.held))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.held.drain(..n);
        }
        self.held = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for HeldIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A reader may wait for the peer, which waits for the held answer: send it first.
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for HeldIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held.is_empty() && buf.starts_with(SWITCHING) {
            this.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if this.held.is_empty() && first.starts_with(SWITCHING) {
            let mut n = 0;
            for b in bufs {
                this.held.extend_from_slice(b);
                n += b.len();
            }
            return Poll::Ready(Ok(n));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.held.is_empty() {
            // Held on purpose: the upgraded connection writes it with its first bytes.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (HeldIo, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (HeldIo::new(server), client)
    }

    const ANSWER: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n";

    #[tokio::test]
    async fn a_switching_answer_is_held_for_the_upgraded_connection() {
        let (mut io, _client) = pair().await;
        io.write_all(ANSWER).await.unwrap();
        io.flush().await.unwrap();
        let (_tcp, held) = io.into_parts();
        assert_eq!(held, ANSWER);
    }

    #[tokio::test]
    async fn other_answers_are_written_at_once() {
        let (mut io, mut client) = pair().await;
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        io.write_all(answer).await.unwrap();
        io.flush().await.unwrap();
        let mut got = vec![0; answer.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, answer);
        assert!(io.into_parts().1.is_empty());
    }

    #[tokio::test]
    async fn reading_or_writing_sends_the_held_answer_first() {
        let (mut io, mut client) = pair().await;
        io.write_all(ANSWER).await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut got = [0; 4];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        io.write_all(b"pong").await.unwrap();
        let mut got = vec![0; ANSWER.len() + 4];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [ANSWER, b"pong"].concat());
    }
}
