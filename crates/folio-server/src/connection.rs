//! One client connection: read, parse every complete command, answer them in
//! one write, repeat.
//!
//! Acknowledgement: the replies of commands that used the key space are
//! sent only once the writes they may have seen are acknowledged — one wait
//! for the whole batch (see `acks`). If that fails, every reply of the
//! batch is replaced by the error and the connection is closed: none of
//! them may be reported done.
//!
//! Limits: the input buffer holds at most one unfinished request (bounded by
//! the parser's query buffer limit) plus one read; replies are written out
//! whenever [`OUTPUT_FLUSH_BYTES`] accumulate, so a pipeline of large `GET`s
//! does not pile up in memory. Buffers that grew for a large command are
//! dropped once idle.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::commands::{dispatch, engine_error, After, Session};
use crate::resp::{Reply, RequestParser};
use crate::shared::Shared;

/// Bytes asked of one read.
const READ_CHUNK: usize = 16 * 1024;
/// Replies buffered before they are written mid-pipeline.
const OUTPUT_FLUSH_BYTES: usize = 1024 * 1024;
/// Idle buffers above this capacity are given back.
const SHRINK_ABOVE: usize = 1024 * 1024;
/// How long to wait for the client to close after a protocol error.
const LINGER: Duration = Duration::from_millis(200);

/// A connected client.
pub(crate) struct Connection {
    stream: TcpStream,
    shared: Arc<Shared>,
    parser: RequestParser,
    input: BytesMut,
    output: Vec<u8>,
    /// Replies in `output`.
    replies: usize,
    session: Session,
}

impl Connection {
    /// Wraps an accepted stream.
    pub(crate) fn new(stream: TcpStream, shared: Arc<Shared>) -> Self {
        let parser = RequestParser::new(shared.config.max_query_buffer_bytes);
        let unknown = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let peer = stream.peer_addr().unwrap_or(unknown);
        // The socket's own end (the listener's may be 0.0.0.0), as Redis shows.
        let local = stream.local_addr().unwrap_or(shared.local_addr);
        let session = Session::new(shared.clients.register(peer, local));
        Self {
            stream,
            shared,
            parser,
            input: BytesMut::with_capacity(READ_CHUNK),
            output: Vec::new(),
            replies: 0,
            session,
        }
    }

    /// Serves the client until it leaves, sends QUIT or a malformed request,
    /// or `shutdown` turns true. A command being run when shutdown starts is
    /// finished and answered.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> io::Result<()> {
        loop {
            match self.answer_buffered().await? {
                After::Shutdown => return self.hold_until_stores_close(),
                After::Close | After::Drop => return Ok(()),
                After::Continue if *shutdown.borrow() => return Ok(()),
                After::Continue => {}
            }
            self.prepare_read();
            tokio::select! {
                read = self.stream.read_buf(&mut self.input) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Runs every complete command in the input buffer and writes the replies.
    async fn answer_buffered(&mut self) -> io::Result<After> {
        loop {
            // An AUTH earlier in this batch lifts the limits for the rest.
            let awaits_auth = self.session.awaits_auth(&self.shared);
            self.parser.set_unauthenticated(awaits_auth);
            let command = match self.parser.parse(&mut self.input) {
                Ok(Some(command)) => command,
                Ok(None) => break,
                Err(err) => {
                    tracing::debug!(error = %err, "protocol error; closing the connection");
                    Reply::err(err.to_string()).encode(&mut self.output);
                    self.replies += 1;
                    self.flush().await?;
                    self.linger().await;
                    return Ok(After::Close);
                }
            };
            // Reads take microseconds and run right on this task; writes,
            // which may wait for an fsync, `dispatch` runs in block_in_place.
            let (reply, after) = dispatch(&self.shared, &mut self.session, &command);
            if after == After::Shutdown {
                // Shutdown starts first: a flush of the earlier replies that
                // fails (the store failed, the client left) or blocks (the
                // client does not read) must not keep the server running;
                // the drain's grace period bounds it. Redis sends no reply
                // to a successful SHUTDOWN.
                self.shared.shutdown_requested.notify_one();
                if let Err(err) = self.flush().await {
                    // The connection is still handed over: closed now, it
                    // would tell the client the shutdown is done.
                    tracing::debug!(error = %err, "replies before SHUTDOWN not sent");
                }
                return Ok(After::Shutdown);
            }
            if after == After::Drop {
                self.output.clear();
                return Ok(After::Close);
            }
            reply.encode_for(&mut self.output, self.session.protocol());
            self.replies += 1;
            if after == After::Close {
                self.flush().await?;
                return Ok(After::Close);
            }
            if self.output.len() >= OUTPUT_FLUSH_BYTES {
                self.flush().await?;
            }
        }
        self.flush().await?;
        Ok(After::Continue)
    }

    /// Hands the connection of a client that sent `SHUTDOWN` to the server,
    /// which closes it once the stores are closed: as with Redis, the client
    /// sees the close when the shutdown is complete.
    fn hold_until_stores_close(self) -> io::Result<()> {
        match self.stream.into_std() {
            Ok(stream) => self.shared.shutdown_clients.lock().push(stream),
            Err(err) => tracing::warn!(
                error = %err,
                "cannot keep the SHUTDOWN client's connection open; it closes before the stores do"
            ),
        }
        Ok(())
    }

    /// Writes the buffered replies, once what they depend on is
    /// acknowledged.
    async fn flush(&mut self) -> io::Result<()> {
        self.session.publish_activity(&self.shared);
        if let Err(failure) = self.wait_for_acks().await {
            return self.refuse_batch(&failure).await;
        }
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
        }
        self.replies = 0;
        if self.output.capacity() > SHRINK_ABOVE {
            self.output = Vec::new();
        }
        Ok(())
    }

    /// Waits until every write visible now is acknowledged in each store a
    /// command used since the last flush.
    async fn wait_for_acks(&mut self) -> Result<(), folio::Error> {
        let access = self.session.take_store_access();
        let shared = &self.shared;
        for (used, acks) in [
            (access.keys, &shared.acks),
            (access.pages, &shared.page_acks),
        ] {
            let Some(acks) = acks.as_ref().filter(|_| used) else {
                continue;
            };
            if let Some(mark) = acks.pending_mark() {
                acks.wait(mark).await?;
            }
        }
        Ok(())
    }

    /// Answers every command of the batch with the acknowledgement failure
    /// instead of its reply, and ends the connection.
    async fn refuse_batch(&mut self, failure: &folio::Error) -> io::Result<()> {
        tracing::error!(replies = self.replies, error = %failure, "replies withheld: their writes are not durable");
        self.output.clear();
        let reply = engine_error(failure);
        for _ in 0..self.replies {
            reply.encode_for(&mut self.output, self.session.protocol());
        }
        self.replies = 0;
        self.stream.write_all(&self.output).await?;
        self.output.clear();
        Err(io::Error::other(format!(
            "writes not acknowledged: {failure}"
        )))
    }

    /// Makes room for the next read, never more than one chunk at a time.
    fn prepare_read(&mut self) {
        if self.input.is_empty() && self.input.capacity() > SHRINK_ABOVE {
            self.input = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.input.capacity() - self.input.len() < READ_CHUNK / 4 {
            self.input.reserve(READ_CHUNK);
        }
    }

    /// After an error reply, half-closes and briefly discards input, so the
    /// close does not turn into a reset that could destroy the reply before
    /// the client reads it.
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut sink = [0u8; 4096];
        let drain = async {
            let mut drained = 0usize;
            while drained < 4 * READ_CHUNK {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }
}
