//! Any bytes as a client's request stream, read in chunks of any size: the
//! parser never panics, every command it returns has a name, the query
//! buffer never holds more than the limit plus the chunk just read, and the
//! chunking changes nothing but how early the query buffer limit can fire.
//!
//! Input layout: byte 0 says whether the client has yet to authenticate
//! (bit 7: the parser's tighter limits apply), chooses the limit (bits 3-6:
//! 32..=512 bytes) and how many chunk-size bytes follow (bits 0-2, plus
//! one); those bytes are chunk sizes (1..=256), used in turn; the rest is
//! the stream.
//!
//! The reference parse takes the whole stream at once with no limit. The
//! limit is checked only when the parser waits for more bytes, so a chunked
//! parse may stop with `QueryBufferLimit` where the whole one went on; it
//! must then have returned a prefix of the reference commands. Otherwise both
//! parses agree on every command and on the error.
#![no_main]

use bytes::BytesMut;
use folio_server::resp::{Command, ProtocolError, RequestParser};
use libfuzzer_sys::fuzz_target;

/// Limit granularity: the limit is `LIMIT_STEP * (1 + ((byte 0 >> 3) & 15))`.
const LIMIT_STEP: usize = 32;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let size_count = usize::from(head & 7) + 1;
    if rest.len() < size_count {
        return;
    }
    let (sizes, stream) = rest.split_at(size_count);
    let limit = LIMIT_STEP * (1 + usize::from((head >> 3) & 15));
    let unauthenticated = head & 0x80 != 0;

    let (whole, whole_err) = parse_whole(stream, unauthenticated);
    let (chunked, chunked_err) = parse_chunked(stream, sizes, limit, unauthenticated);
    for command in whole.iter().chain(&chunked) {
        assert!(!command.is_empty(), "a command without arguments");
    }
    if let Some(ProtocolError::QueryBufferLimit { limit: reported }) = chunked_err {
        assert_eq!(reported, limit);
        assert!(chunked.len() <= whole.len());
        assert_eq!(chunked[..], whole[..chunked.len()]);
    } else {
        assert_eq!(chunked, whole);
        assert_eq!(chunked_err, whole_err);
    }
});

/// Parses `stream` given all at once, with no query buffer limit.
fn parse_whole(stream: &[u8], unauthenticated: bool) -> (Vec<Command>, Option<ProtocolError>) {
    let mut parser = RequestParser::new(usize::MAX);
    parser.set_unauthenticated(unauthenticated);
    let mut buf = BytesMut::from(stream);
    let mut commands = Vec::new();
    loop {
        match parser.parse(&mut buf) {
            Ok(Some(command)) => commands.push(command),
            Ok(None) => return (commands, None),
            Err(err) => return (commands, Some(err)),
        }
    }
}

/// Parses `stream` read in chunks of `sizes` (cycled), as a connection with
/// a `limit`-byte query buffer limit would.
fn parse_chunked(
    stream: &[u8],
    sizes: &[u8],
    limit: usize,
    unauthenticated: bool,
) -> (Vec<Command>, Option<ProtocolError>) {
    let mut parser = RequestParser::new(limit);
    parser.set_unauthenticated(unauthenticated);
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut chunks = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    let mut at = 0;
    while at < stream.len() {
        let len = chunks.next().unwrap_or(1).min(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + len]);
        at += len;
        assert!(
            buf.len() <= limit + len,
            "buffer {} > {limit} + {len}",
            buf.len()
        );
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(command)) => commands.push(command),
                Ok(None) => break,
                Err(err) => return (commands, Some(err)),
            }
        }
        assert!(
            buf.len() <= limit,
            "waiting with {} bytes > {limit}",
            buf.len()
        );
    }
    (commands, None)
}
