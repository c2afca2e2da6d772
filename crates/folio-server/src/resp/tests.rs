//! Parser tests: valid frames at every split point, encode-then-parse round
//! trips on random commands, and every protocol error.

use bytes::{Bytes, BytesMut};
use rand::{Rng, SeedableRng};

use super::*;

/// Parses everything in `input` fed at once; the commands and the error, if any.
fn parse_all(input: &[u8], limit: usize) -> (Vec<Command>, Option<ProtocolError>) {
    let mut parser = RequestParser::new(limit);
    let mut buf = BytesMut::from(input);
    let mut commands = Vec::new();
    loop {
        match parser.parse(&mut buf) {
            Ok(Some(command)) => commands.push(command),
            Ok(None) => return (commands, None),
            Err(err) => return (commands, Some(err)),
        }
    }
}

/// Feeds `input` in pieces cut at `cuts` and collects the commands.
fn parse_in_pieces(input: &[u8], cuts: &[usize]) -> Vec<Command> {
    let mut parser = RequestParser::new(DEFAULT_MAX_QUERY_BUFFER);
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        while let Some(command) = parser.parse(&mut buf).expect("valid input") {
            commands.push(command);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    commands
}

/// The multibulk wire form of a command.
fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    Reply::Array(
        args.iter()
            .map(|a| Reply::bulk(Bytes::copy_from_slice(a)))
            .collect(),
    )
    .to_bytes()
}

fn command(args: &[&[u8]]) -> Command {
    args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
}

#[test]
fn every_split_point_gives_the_same_commands() {
    let frames: [(&[u8], Vec<Command>); 6] = [
        (
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            vec![command(&[b"GET", b"k"])],
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\n\r\n\0x\r\n",
            vec![command(&[b"SET", b"", b"\r\n\0x"])],
        ),
        (b"PING\r\n", vec![command(&[b"PING"])]),
        (b"set k \"a b\"\n", vec![command(&[b"set", b"k", b"a b"])]),
        (
            b"*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n",
            vec![command(&[b"PING"])],
        ),
        (
            b"*1\r\n$4\r\nPING\r\nECHO x\r\n*2\r\n$4\r\nECHO\r\n$1\r\ny\r\n",
            vec![
                command(&[b"PING"]),
                command(&[b"ECHO", b"x"]),
                command(&[b"ECHO", b"y"]),
            ],
        ),
    ];
    for (frame, expected) in frames {
        assert_eq!(parse_in_pieces(frame, &[]), expected);
        for cut in 0..=frame.len() {
            assert_eq!(parse_in_pieces(frame, &[cut]), expected, "cut at {cut}");
        }
        let every_byte: Vec<usize> = (1..frame.len()).collect();
        assert_eq!(parse_in_pieces(frame, &every_byte), expected);
    }
}

#[test]
fn random_commands_round_trip() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for _ in 0..500 {
        let argc = rng.gen_range(1..8);
        let args: Vec<Vec<u8>> = (0..argc)
            .map(|_| {
                let len = rng.gen_range(0..40);
                (0..len).map(|_| rng.gen()).collect()
            })
            .collect();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let wire = encode_command(&refs);
        let mut cuts: Vec<usize> = (0..rng.gen_range(0..4))
            .map(|_| rng.gen_range(0..=wire.len()))
            .collect();
        cuts.sort_unstable();
        assert_eq!(parse_in_pieces(&wire, &cuts), vec![command(&refs)]);
    }
}

#[test]
fn malformed_frames_give_redis_errors() {
    let cases: [(&[u8], ProtocolError); 11] = [
        (b"*3000000000\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*1048577\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*abc\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*1\r\n$-5\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$-1\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$abc\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$536870913\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n:5\r\n", ProtocolError::ExpectedBulk(b':')),
        (b"*1\r\n$1\r\nab\r\n", ProtocolError::UnterminatedBulk),
        (b"*1\rx", ProtocolError::MissingLineFeed),
    ];
    for (input, expected) in cases {
        let (commands, err) = parse_all(input, usize::MAX);
        assert!(commands.is_empty());
        assert_eq!(err, Some(expected), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn error_texts_match_redis() {
    assert_eq!(
        ProtocolError::InvalidMultibulkLength.to_string(),
        "Protocol error: invalid multibulk length"
    );
    assert_eq!(
        ProtocolError::InvalidBulkLength.to_string(),
        "Protocol error: invalid bulk length"
    );
    assert_eq!(
        ProtocolError::ExpectedBulk(b'f').to_string(),
        "Protocol error: expected '$', got 'f'"
    );
    assert_eq!(
        ProtocolError::ExpectedBulk(0).to_string(),
        "Protocol error: expected '$', got '\\x00'"
    );
    assert_eq!(
        ProtocolError::TooBigInline.to_string(),
        "Protocol error: too big inline request"
    );
    assert_eq!(
        ProtocolError::QueryBufferLimit { limit: 1024 }.to_string(),
        "Protocol error: request exceeds the query buffer limit of 1024 bytes"
    );
}

#[test]
fn overlong_lines_are_refused() {
    let long = vec![b'a'; MAX_INLINE_LEN + 1];
    assert_eq!(
        parse_all(&long, usize::MAX).1,
        Some(ProtocolError::TooBigInline)
    );
    let mut header = b"*1".to_vec();
    header.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN));
    assert_eq!(
        parse_all(&header, usize::MAX).1,
        Some(ProtocolError::TooBigMultibulkCount)
    );
    let mut bulk = b"*1\r\n$1".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN));
    assert_eq!(
        parse_all(&bulk, usize::MAX).1,
        Some(ProtocolError::TooBigBulkCount)
    );
    let just_under = vec![b'a'; MAX_INLINE_LEN];
    assert_eq!(parse_all(&just_under, usize::MAX), (vec![], None));
}

#[test]
fn query_buffer_limit_counts_the_request_so_far() {
    let mut wire = b"*2\r\n$3\r\nSET\r\n$600\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'v', 300));
    assert_eq!(
        parse_all(&wire, 512).1,
        Some(ProtocolError::QueryBufferLimit { limit: 512 })
    );
    assert_eq!(parse_all(&wire, 4096), (vec![], None));
    // Complete commands in a large pipeline do not count against the limit.
    let pipeline: Vec<u8> = (0..100).flat_map(|_| encode_command(&[b"PING"])).collect();
    let (commands, err) = parse_all(&pipeline, 64);
    assert_eq!((commands.len(), err), (100, None));
}

#[test]
fn inline_unbalanced_quotes_is_an_error() {
    assert_eq!(
        parse_all(b"SET k \"v\r\n", usize::MAX).1,
        Some(ProtocolError::UnbalancedQuotes)
    );
}

#[test]
fn top_level_type_bytes_other_than_star_are_inline_like_redis() {
    let (commands, err) = parse_all(b"$-5\r\n", usize::MAX);
    assert_eq!((commands, err), (vec![command(&[b"$-5"])], None));
}

/// Property tests: pipelined multibulk and inline requests survive any
/// chunking, and every reply tree decodes back to itself.
mod props {
    use std::borrow::Cow;

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// Cases per property: enough to vary shapes, few enough for CI.
    const CASES: u32 = 256;

    /// Feeds `input` in chunks of `sizes` (cycled) and collects the commands.
    fn parse_in_chunks(input: &[u8], sizes: &[usize]) -> Vec<Command> {
        let mut cuts = Vec::new();
        let mut at = 0;
        for size in sizes.iter().cycle() {
            at += size;
            if at >= input.len() {
                break;
            }
            cuts.push(at);
        }
        parse_in_pieces(input, &cuts)
    }

    /// One command's arguments: 1..16 of 0..300 arbitrary bytes.
    fn command_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
        vec(vec(any::<u8>(), 0..300), 1..16)
    }

    /// A word of printable bytes other than space and the quote characters.
    const WORD: &str = "[!#-&(-~]{1,24}";

    /// The inline wire form of one command: words joined by runs of spaces
    /// and tabs, ended by CRLF or LF.
    fn inline_line(words: &[String], separators: &[&str], crlf: bool) -> Vec<u8> {
        let mut line = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                line.extend_from_slice(separators[i % separators.len()].as_bytes());
            }
            line.extend_from_slice(word.as_bytes());
        }
        line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        line
    }

    /// The inline wire form of one command with every argument in double
    /// quotes, bytes other than plain printable ones written as `\xHH`.
    fn quoted_line(args: &[Vec<u8>]) -> Vec<u8> {
        let mut line = Vec::new();
        for arg in args {
            line.extend_from_slice(b" \"");
            for &byte in arg {
                if byte.is_ascii_graphic() && byte != b'"' && byte != b'\\' || byte == b' ' {
                    line.push(byte);
                } else {
                    line.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
                }
            }
            line.push(b'"');
        }
        line.extend_from_slice(b"\r\n");
        line
    }

    /// A reply tree: every kind, arrays nested at most three deep.
    fn reply_tree() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            "[^\r\n]{0,20}".prop_map(|text| Reply::Simple(Cow::Owned(text))),
            vec(
                any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
                0..20
            )
            .prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Integer),
            vec(any::<u8>(), 0..64).prop_map(|bytes| Reply::Bulk(Bytes::from(bytes))),
            Just(Reply::NullBulk),
            Just(Reply::NullArray),
        ];
        leaf.prop_recursive(3, 64, 8, |inner| vec(inner, 0..8).prop_map(Reply::Array))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn pipelined_multibulk_round_trips(
            commands in vec(command_args(), 1..6),
            sizes in vec(1usize..600, 1..8),
        ) {
            let wire: Vec<u8> = commands
                .iter()
                .flat_map(|args| {
                    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                    encode_command(&refs)
                })
                .collect();
            let expected: Vec<Command> = commands
                .iter()
                .map(|args| args.iter().map(|a| Bytes::copy_from_slice(a)).collect())
                .collect();
            prop_assert_eq!(parse_in_chunks(&wire, &sizes), expected);
        }

        #[test]
        fn inline_words_round_trip(
            commands in vec(vec(WORD, 1..8), 1..6),
            separators in vec(prop_oneof![Just(" "), Just("\t"), Just("  \t ")], 1..4),
            crlf in any::<bool>(),
            sizes in vec(1usize..40, 1..8),
        ) {
            // A first byte of `*` makes the line a multibulk header, as in Redis.
            prop_assume!(commands.iter().all(|words| !words[0].starts_with('*')));
            let wire: Vec<u8> = commands
                .iter()
                .flat_map(|words| inline_line(words, &separators, crlf))
                .collect();
            let expected: Vec<Command> = commands
                .iter()
                .map(|words| words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect())
                .collect();
            prop_assert_eq!(parse_in_chunks(&wire, &sizes), expected);
        }

        #[test]
        fn quoted_inline_arguments_round_trip(
            args in vec(vec(any::<u8>(), 0..40), 1..8),
            sizes in vec(1usize..40, 1..8),
        ) {
            let wire = quoted_line(&args);
            let expected: Command = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            prop_assert_eq!(parse_in_chunks(&wire, &sizes), vec![expected]);
        }

        #[test]
        fn encoded_replies_decode_to_themselves(
            replies in vec(reply_tree(), 1..4),
            cut in any::<Index>(),
        ) {
            let mut wire = Vec::new();
            for reply in &replies {
                reply.encode(&mut wire);
            }
            let mut at = 0;
            for reply in &replies {
                let (decoded, used) = decode_reply(&wire[at..]).expect("a whole reply");
                prop_assert_eq!(&decoded, reply);
                at += used;
            }
            prop_assert_eq!(at, wire.len());
            // Framing: no proper prefix of a reply is a whole reply.
            let first = replies[0].to_bytes();
            let prefix = cut.index(first.len());
            prop_assert_eq!(decode_reply(&first[..prefix]), None);
        }
    }

    /// Decodes one RESP2 reply off the front of `input`: the reply and the
    /// bytes it used, or `None` when `input` holds only part of one. Panics
    /// on bytes that are not RESP2 (the encoder must never write them).
    fn decode_reply(input: &[u8]) -> Option<(Reply, usize)> {
        let (&kind, _) = input.split_first()?;
        let end = input.windows(2).position(|w| w == b"\r\n")?;
        let line = &input[1..end];
        let after = end + 2;
        let number = || parse_i64(line).expect("a RESP integer");
        let reply = match kind {
            b'+' => Reply::Simple(Cow::Owned(String::from_utf8(line.to_vec()).expect("UTF-8"))),
            b'-' => Reply::Error(line.to_vec()),
            b':' => Reply::Integer(number()),
            b'$' if number() == -1 => Reply::NullBulk,
            b'$' => {
                let len = usize::try_from(number()).expect("a bulk length");
                let data = input.get(after..after + len + 2)?;
                assert_eq!(&data[len..], b"\r\n", "bulk data ends with CRLF");
                return Some((
                    Reply::Bulk(Bytes::copy_from_slice(&data[..len])),
                    after + len + 2,
                ));
            }
            b'*' if number() == -1 => Reply::NullArray,
            b'*' => {
                let count = usize::try_from(number()).expect("an array length");
                let mut items = Vec::new();
                let mut at = after;
                for _ in 0..count {
                    let (item, used) = decode_reply(&input[at..])?;
                    items.push(item);
                    at += used;
                }
                return Some((Reply::Array(items), at));
            }
            other => panic!("reply type byte {other:#04x}"),
        };
        Some((reply, after))
    }
}
