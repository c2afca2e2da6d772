//! Replies and their encoding in RESP2 and, after `HELLO 3`, RESP3.
//!
//! The two differ only where RESP3 has a type RESP2 lacks: a null is `_`
//! (RESP2: `$-1` or `*-1`), a map is `%` (RESP2: a flat array of keys and
//! values), and text meant for people is a verbatim string `=` (RESP2: a
//! bulk string).

use std::borrow::Cow;

use bytes::Bytes;

/// A reply to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+<text>\r\n`. CR and LF in the text are sent as spaces.
    Simple(Cow<'static, str>),
    /// `-<text>\r\n`: the text starts with an error code (`ERR`, ...). CR and
    /// LF are sent as spaces. Bytes, since Redis echoes arguments verbatim.
    Error(Vec<u8>),
    /// `:<n>\r\n`.
    Integer(i64),
    /// `$<len>\r\n<bytes>\r\n`.
    Bulk(Bytes),
    /// `$-1\r\n`: no value.
    NullBulk,
    /// `*<n>\r\n` followed by the elements.
    Array(Vec<Reply>),
    /// `*-1\r\n`.
    NullArray,
    /// RESP3 `%<n>\r\n` and n key-value pairs; in RESP2 an array of 2n.
    Map(Vec<(Reply, Reply)>),
    /// Plain text (`INFO`, `CLIENT LIST`): RESP3 `=<len>\r\ntxt:<text>\r\n`,
    /// as Redis sends it; in RESP2 a bulk string.
    Text(Bytes),
}

/// Protocol version 3 (`HELLO 3`); anything else encodes as RESP2.
pub const RESP3: u8 = 3;

impl Reply {
    /// `+OK`.
    pub fn ok() -> Self {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// `-ERR <message>`.
    pub fn err(message: impl AsRef<[u8]>) -> Self {
        Self::error_with_code("ERR", message)
    }

    /// `-<code> <message>`.
    pub fn error_with_code(code: &str, message: impl AsRef<[u8]>) -> Self {
        let message = message.as_ref();
        let mut text = Vec::with_capacity(code.len() + 1 + message.len());
        text.extend_from_slice(code.as_bytes());
        text.push(b' ');
        text.extend_from_slice(message);
        Reply::Error(text)
    }

    /// A bulk string copied from `bytes`.
    pub fn bulk(bytes: impl Into<Bytes>) -> Self {
        Reply::Bulk(bytes.into())
    }

    /// An integer reply from a count; counts past `i64::MAX` saturate.
    pub fn count(n: impl TryInto<i64>) -> Self {
        Reply::Integer(n.try_into().unwrap_or(i64::MAX))
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the RESP2 wire form of this reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_for(out, 2);
    }

    /// Appends the wire form of this reply in protocol version `protocol`
    /// (2 or [`RESP3`]) to `out`.
    pub fn encode_for(&self, out: &mut Vec<u8>, protocol: u8) {
        let resp3 = protocol == RESP3;
        match self {
            Reply::Simple(text) => line(out, b'+', text.as_bytes()),
            Reply::Error(text) => line(out, b'-', text),
            Reply::Integer(n) => header(out, b':', *n),
            Reply::Bulk(bytes) => {
                header(out, b'$', len_i64(bytes.len()));
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Reply::NullBulk | Reply::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', len_i64(items.len()));
                for item in items {
                    item.encode_for(out, protocol);
                }
            }
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Text(text) if resp3 => {
                header(out, b'=', len_i64(text.len().saturating_add(4)));
                out.extend_from_slice(b"txt:");
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Text(text) => Reply::Bulk(text.clone()).encode_for(out, protocol),
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', len_i64(pairs.len()));
                } else {
                    header(out, b'*', len_i64(pairs.len().saturating_mul(2)));
                }
                for (key, value) in pairs {
                    key.encode_for(out, protocol);
                    value.encode_for(out, protocol);
                }
            }
        }
    }

    /// The wire form of this reply.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A one-line reply with CR and LF replaced, so it cannot break framing.
fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// `<kind><n>\r\n`.
fn header(out: &mut Vec<u8>, kind: u8, n: i64) {
    out.push(kind);
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A length as RESP writes it (lengths of things in memory fit in `i64`).
fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Appends `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    let mut magnitude = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + u8::try_from(magnitude % 10).unwrap_or(0);
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_kind() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::err("bad\r\nthing"),
            Reply::Integer(-42),
            Reply::Integer(i64::MIN),
            Reply::bulk(&b"a\r\n\0"[..]),
            Reply::NullBulk,
            Reply::Array(vec![]),
            Reply::NullArray,
        ]);
        let expected = b"*8\r\n+OK\r\n-ERR bad  thing\r\n:-42\r\n:-9223372036854775808\r\n\
$4\r\na\r\n\0\r\n$-1\r\n*0\r\n*-1\r\n";
        assert_eq!(reply.to_bytes(), expected.to_vec());
    }

    #[test]
    fn resp3_has_nulls_and_maps() {
        let reply = Reply::Array(vec![
            Reply::NullBulk,
            Reply::NullArray,
            Reply::Map(vec![(Reply::bulk(&b"proto"[..]), Reply::Integer(3))]),
            Reply::Text(Bytes::from_static(b"a:1")),
        ]);
        assert_eq!(
            reply.to_bytes(),
            b"*4\r\n$-1\r\n*-1\r\n*2\r\n$5\r\nproto\r\n:3\r\n$3\r\na:1\r\n".to_vec()
        );
        let mut resp3 = Vec::new();
        reply.encode_for(&mut resp3, RESP3);
        assert_eq!(
            resp3,
            b"*4\r\n_\r\n_\r\n%1\r\n$5\r\nproto\r\n:3\r\n=7\r\ntxt:a:1\r\n".to_vec()
        );
    }

    #[test]
    fn decimal_matches_to_string() {
        for n in [0, 1, 9, 10, 99, 100, 12345, i64::MAX, i64::MIN, -1, -10] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
