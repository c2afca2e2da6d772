//! Inline commands: one line of space-separated arguments, as telnet and
//! `redis-cli` in some modes send them.
//!
//! Splitting follows Redis's `sdssplitargs`: arguments are separated by
//! whitespace; `"..."` allows the escapes `\n \r \t \b \a \\ \"` and `\xHH`;
//! `'...'` allows only `\'`; a closing quote must be followed by whitespace or
//! the end of the line. Like Redis (which works on C strings), the line ends
//! at its first NUL byte.

use super::error::ProtocolError;

/// Quoting state while reading one argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Splits one inline line (without its line ending) into arguments. An empty
/// or all-blank line gives no argument.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut at = 0;
    loop {
        while line.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        if at == line.len() {
            return Ok(args);
        }
        let (arg, next) = read_arg(line, at)?;
        args.push(arg);
        at = next;
    }
}

/// Reads the argument starting at `at`; returns it and the index after it.
fn read_arg(line: &[u8], mut at: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    loop {
        let Some(&byte) = line.get(at) else {
            return match quote {
                Quote::None => Ok((arg, at)),
                _ => Err(ProtocolError::UnbalancedQuotes),
            };
        };
        match quote {
            Quote::None => match byte {
                b' ' | b'\n' | b'\r' | b'\t' => return Ok((arg, at)),
                b'"' => quote = Quote::Double,
                b'\'' => quote = Quote::Single,
                other => arg.push(other),
            },
            Quote::Double => {
                if let Some((decoded, used)) = double_quoted_escape(&line[at..]) {
                    arg.push(decoded);
                    at += used;
                    continue;
                }
                if byte == b'"' {
                    return close_quote(line, at, arg);
                }
                arg.push(byte);
            }
            Quote::Single => {
                if line[at..].starts_with(b"\\'") {
                    arg.push(b'\'');
                    at += 2;
                    continue;
                }
                if byte == b'\'' {
                    return close_quote(line, at, arg);
                }
                arg.push(byte);
            }
        }
        at += 1;
    }
}

/// A closing quote at `at` must be followed by whitespace or the line's end.
fn close_quote(line: &[u8], at: usize, arg: Vec<u8>) -> Result<(Vec<u8>, usize), ProtocolError> {
    match line.get(at + 1) {
        Some(&next) if !is_space(next) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok((arg, at + 1)),
    }
}

/// Decodes a backslash escape inside double quotes: the byte and how many
/// input bytes it used, or `None` when `rest` does not start with one.
fn double_quoted_escape(rest: &[u8]) -> Option<(u8, usize)> {
    match rest {
        [b'\\', b'x', hi, lo, ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
            Some((hex_value(*hi) * 16 + hex_value(*lo), 4))
        }
        [b'\\', escaped, ..] => {
            let decoded = match escaped {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 0x08,
                b'a' => 0x07,
                other => *other,
            };
            Some((decoded, 2))
        }
        _ => None,
    }
}

/// The value of one ASCII hex digit (the caller has checked it is one).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<Vec<u8>>, ProtocolError> {
        split_args(line.as_bytes())
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(
            split("  SET  a\tb ").unwrap(),
            vec![b"SET".to_vec(), b"a".to_vec(), b"b".to_vec()]
        );
        assert!(split("   ").unwrap().is_empty());
        assert!(split("").unwrap().is_empty());
    }

    #[test]
    fn decodes_quotes_and_escapes() {
        let args = split(r#"set "a b\r\n\x41\"" 'it\'s'"#).unwrap();
        assert_eq!(
            args,
            vec![b"set".to_vec(), b"a b\r\nA\"".to_vec(), b"it's".to_vec()]
        );
        assert_eq!(split(r#""\xZZ""#).unwrap(), vec![b"xZZ".to_vec()]);
        assert_eq!(split(r#""\XAb""#).unwrap(), vec![b"XAb".to_vec()]);
    }

    #[test]
    fn rejects_unbalanced_quotes() {
        for bad in [r#""abc"#, "'abc", r#""a"b"#, "'a'b", r#""abc\"#] {
            assert_eq!(split(bad), Err(ProtocolError::UnbalancedQuotes), "{bad}");
        }
    }

    #[test]
    fn stops_at_nul() {
        assert_eq!(
            split_args(b"get a\0 b").unwrap(),
            vec![b"get".to_vec(), b"a".to_vec()]
        );
    }
}
