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
