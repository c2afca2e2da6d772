//! Incremental RESP2 request parser.
//!
//! A request is either a multibulk array of bulk strings
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or an inline line (`GET k\r\n`); the first
//! byte decides, as in Redis. Empty requests (`*0`, `*-1`, a blank line) are
//! skipped.
//!
//! Invariants:
//! - Bytes are taken off the front of the caller's buffer only once they are
//!   parsed; a command split over any number of reads parses to the same
//!   arguments as the whole command.
//! - No allocation is sized from a length the client advertised: argument
//!   vectors start at [`ARGS_INITIAL_CAPACITY`] and grow as arguments arrive,
//!   and bulk data is buffered only as it is received.
//! - A command in progress never needs more than the query buffer limit: the
//!   parser refuses it as soon as its bytes so far, or the bulk it announces,
//!   would pass the limit.
//! - Until the client authenticates (when a password is required), a request
//!   may announce at most [`UNAUTHENTICATED_MAX_ARGS`] arguments of at most
//!   [`UNAUTHENTICATED_MAX_BULK_LEN`] bytes each, as in Redis: a client
//!   that does not know the password cannot make the server buffer more.
//! - After an error the parser's state is unspecified: close the connection.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtocolError;
use super::inline::split_args;

/// Most arguments in one multibulk request (Redis: 1024*1024).
pub const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// Longest bulk string (Redis's `proto-max-bulk-len` default, 512 MiB).
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Longest inline line or header line (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Default per-client limit on the bytes held for one unfinished request.
pub const DEFAULT_MAX_QUERY_BUFFER: usize = 64 * 1024 * 1024;
/// Most arguments in one request before the client authenticated (Redis: 10).
pub const UNAUTHENTICATED_MAX_ARGS: i64 = 10;
/// Longest bulk string before the client authenticated (Redis: 16384).
pub const UNAUTHENTICATED_MAX_BULK_LEN: i64 = 16 * 1024;
/// Initial capacity of an argument vector, whatever count was announced.
pub const ARGS_INITIAL_CAPACITY: usize = 16;

/// One parsed command: its arguments, binary safe, the name first.
pub type Command = Vec<Bytes>;

/// What one parsing step produced.
enum Step {
    /// The buffer ends inside a request.
    NeedMore,
    /// Something was consumed (an empty request, a header); parse on.
    Progress,
    /// A whole command.
    Done(Command),
}

/// A multibulk request whose arguments are still arriving.
#[derive(Debug)]
struct Partial {
    /// Number of arguments announced by the `*` header.
    expected: usize,
    /// Arguments received so far.
    args: Vec<Bytes>,
    /// Length from the current argument's `$` header, once read.
    bulk_len: Option<usize>,
    /// Wire bytes of this request consumed so far.
    held: usize,
}

/// Parses requests out of a connection's input buffer, keeping the state of a
/// multibulk request between reads.
#[derive(Debug)]
pub struct RequestParser {
    max_query_bytes: usize,
    /// The client has yet to authenticate: the tighter limits apply.
    unauthenticated: bool,
    partial: Option<Partial>,
}

impl RequestParser {
    /// A parser refusing requests that need more than `max_query_bytes`.
    pub fn new(max_query_bytes: usize) -> Self {
        Self {
            max_query_bytes,
            unauthenticated: false,
            partial: None,
        }
    }

    /// Applies (or lifts) the limits for a client that has not
    /// authenticated yet; takes effect from the next request header read.
    pub fn set_unauthenticated(&mut self, unauthenticated: bool) {
        self.unauthenticated = unauthenticated;
    }

    /// Takes the next complete command off the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a request (read more
    /// and call again with the same buffer), `Ok(Some(command))` for a whole
    /// command, or the protocol error that must be sent before closing.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Command>, ProtocolError> {
        loop {
            let step = match self.partial.as_mut() {
                Some(partial) => partial.advance(buf, self.unauthenticated)?,
                None => self.start(buf)?,
            };
            match step {
                Step::Progress => {}
                Step::Done(command) => {
                    self.partial = None;
                    return Ok(Some(command));
                }
                Step::NeedMore => {
                    self.check_limit(buf)?;
                    return Ok(None);
                }
            }
        }
    }

    /// Starts a request: a multibulk header or a whole inline line.
    fn start(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        match buf.first() {
            None => Ok(Step::NeedMore),
            Some(b'*') => self.start_multibulk(buf),
            Some(_) => parse_inline(buf),
        }
    }

    /// Reads `*<count>\r\n` and sets up the argument collection.
    fn start_multibulk(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let Some(cr) = find_line(buf, ProtocolError::TooBigMultibulkCount)? else {
            return Ok(Step::NeedMore);
        };
        let count = parse_i64(&buf[1..cr])
            .filter(|&n| n <= MAX_MULTIBULK_LEN)
            .ok_or(ProtocolError::InvalidMultibulkLength)?;
        if self.unauthenticated && count > UNAUTHENTICATED_MAX_ARGS {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        buf.advance(cr + 2);
        if let Ok(expected @ 1..) = usize::try_from(count) {
            self.partial = Some(Partial {
                expected,
                args: Vec::with_capacity(expected.min(ARGS_INITIAL_CAPACITY)),
                bulk_len: None,
                held: cr + 2,
            });
        }
        Ok(Step::Progress)
    }

    /// Refuses a request that already holds, or announces, more bytes than
    /// the limit.
    fn check_limit(&self, buf: &BytesMut) -> Result<(), ProtocolError> {
        let needed = match &self.partial {
            Some(partial) => {
                let announced = partial.bulk_len.map_or(0, |len| len + 2);
                partial.held + buf.len().max(announced)
            }
            None => buf.len(),
        };
        if needed > self.max_query_bytes {
            return Err(ProtocolError::QueryBufferLimit {
                limit: self.max_query_bytes,
            });
        }
        Ok(())
    }
}

impl Partial {
    /// Reads as many arguments as `buf` holds whole.
    fn advance(
        &mut self,
        buf: &mut BytesMut,
        unauthenticated: bool,
    ) -> Result<Step, ProtocolError> {
        while self.args.len() < self.expected {
            let len = match self.bulk_len {
                Some(len) => len,
                None => match read_bulk_header(buf, unauthenticated)? {
                    Some((len, used)) => {
                        self.held += used;
                        self.bulk_len = Some(len);
                        len
                    }
                    None => return Ok(Step::NeedMore),
                },
            };
            if buf.len() < len + 2 {
                return Ok(Step::NeedMore);
            }
            if &buf[len..len + 2] != b"\r\n" {
                return Err(ProtocolError::UnterminatedBulk);
            }
            self.args.push(buf.split_to(len).freeze());
            buf.advance(2);
            self.held += len + 2;
            self.bulk_len = None;
        }
        Ok(Step::Done(std::mem::take(&mut self.args)))
    }
}

/// Reads `$<len>\r\n`; returns the length and the header's size, or `None`
/// when the header is not complete yet.
fn read_bulk_header(
    buf: &mut BytesMut,
    unauthenticated: bool,
) -> Result<Option<(usize, usize)>, ProtocolError> {
    match buf.first() {
        None => return Ok(None),
        Some(b'$') => {}
        Some(&other) => return Err(ProtocolError::ExpectedBulk(other)),
    }
    let Some(cr) = find_line(buf, ProtocolError::TooBigBulkCount)? else {
        return Ok(None);
    };
    let len = parse_i64(&buf[1..cr])
        .filter(|n| (0..=MAX_BULK_LEN).contains(n))
        .ok_or(ProtocolError::InvalidBulkLength)?;
    if unauthenticated && len > UNAUTHENTICATED_MAX_BULK_LEN {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
    buf.advance(cr + 2);
    Ok(Some((len, cr + 2)))
}

/// Parses one inline line, if whole.
fn parse_inline(buf: &mut BytesMut) -> Result<Step, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_INLINE_LEN + 1)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(Step::NeedMore);
    };
    let line = buf[..lf].strip_suffix(b"\r").unwrap_or(&buf[..lf]);
    let args = split_args(line)?;
    buf.advance(lf + 1);
    if args.is_empty() {
        return Ok(Step::Progress);
    }
    Ok(Step::Done(args.into_iter().map(Bytes::from).collect()))
}

/// Finds the `\r` ending a header line that starts at the front of `buf`.
/// `None` means the line is not complete yet; a line longer than
/// [`MAX_INLINE_LEN`] is `too_big`, a `\r` not followed by `\n` an error.
fn find_line(buf: &[u8], too_big: ProtocolError) -> Result<Option<usize>, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_INLINE_LEN + 1)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(too_big);
        }
        return Ok(None);
    };
    match buf.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some(cr)),
        Some(_) => Err(ProtocolError::MissingLineFeed),
    }
}

/// Parses a decimal integer as Redis's `string2ll` does: optional `-`, no
/// `+`, no spaces, no leading zeros, no `-0`, within `i64`.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(byte - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_count_does_not_reserve() {
        let mut parser = RequestParser::new(DEFAULT_MAX_QUERY_BUFFER);
        let mut buf = BytesMut::from(&b"*1048576\r\n$1\r\na\r\n"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(None));
        let partial = parser.partial.as_ref().expect("a request in progress");
        assert_eq!(partial.expected, 1024 * 1024);
        assert!(partial.args.capacity() <= ARGS_INITIAL_CAPACITY);
        assert!(buf.is_empty());
    }

    #[test]
    fn announced_bulk_over_the_limit_fails_before_the_data() {
        let mut parser = RequestParser::new(1024);
        let mut buf = BytesMut::from(&b"*1\r\n$2000\r\n"[..]);
        assert_eq!(
            parser.parse(&mut buf),
            Err(ProtocolError::QueryBufferLimit { limit: 1024 })
        );
    }

    #[test]
    fn parses_integers_like_string2ll() {
        let good: [(&[u8], i64); 5] = [
            (b"0", 0),
            (b"7", 7),
            (b"-12", -12),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for (text, value) in good {
            assert_eq!(parse_i64(text), Some(value));
        }
        let bad: [&[u8]; 9] = [
            b"",
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
        ];
        for text in bad {
            assert_eq!(parse_i64(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
