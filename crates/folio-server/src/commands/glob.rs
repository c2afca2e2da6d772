//! Redis's glob patterns (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`
//! and `\` escapes. `KEYS` and `SCAN MATCH` match case-sensitively,
//! `CONFIG GET` case-insensitively.
//!
//! The matcher backtracks only to the last `*`, so its time is at most
//! pattern length x text length (Redis guards its recursive matcher
//! against exponential patterns the same way).

/// Redis's matcher recurses once per run of `*` that has more pattern
/// after it, and answers "no match" past this depth (its guard against
/// abusive patterns); a match passes through every such run with text
/// left, so more runs than this never match there.
const MAX_STAR_NESTING: usize = 1000;

/// True when `text` matches `pattern`, ignoring ASCII case (`CONFIG GET`).
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    matches(pattern, text, true)
}

/// True when the key `text` matches `pattern` (`KEYS`, `SCAN MATCH`).
/// The empty key matches only `*` and the empty pattern, as in Redis: its
/// matcher never looks at a pattern when the text is empty, and `KEYS *`
/// and `SCAN` without `MATCH` skip the matcher altogether.
pub(crate) fn key_match(pattern: &[u8], text: &[u8]) -> bool {
    if text.is_empty() {
        return pattern.is_empty() || pattern == b"*";
    }
    matches(pattern, text, false)
}

fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    // The nesting guard is checked on a match only: a match has walked the
    // whole pattern already, while most keys fail at its first bytes.
    matches_unguarded(pattern, text, nocase) && inner_star_runs(pattern) <= MAX_STAR_NESTING
}

fn matches_unguarded(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern index, text index).
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            resume = Some((p + 1, t));
            p += 1;
            continue;
        }
        if let Some(len) = match_one(&pattern[p..], text[t], nocase) {
            p += len;
            t += 1;
            continue;
        }
        match resume {
            Some((rp, rt)) => {
                resume = Some((rp, rt + 1));
                p = rp;
                t = rt + 1;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Runs of `*` in `pattern` with another element after them (escaped
/// stars and stars in a class are not runs).
fn inner_star_runs(pattern: &[u8]) -> usize {
    let (mut runs, mut i) = (0, 0);
    while i < pattern.len() {
        match pattern[i] {
            b'*' => {
                while pattern.get(i) == Some(&b'*') {
                    i += 1;
                }
                runs += usize::from(i < pattern.len());
                continue;
            }
            b'\\' if i + 1 < pattern.len() => i += 2,
            b'[' => i += class_len(&pattern[i..]),
            _ => i += 1,
        }
    }
    runs
}

/// The length of the `[...]` class at the start of `pattern`.
fn class_len(pattern: &[u8]) -> usize {
    scan_class(pattern, 0, false).1
}

/// When the pattern element at the start of `pattern` matches the byte `c`,
/// the element's length in the pattern.
fn match_one(pattern: &[u8], c: u8, nocase: bool) -> Option<usize> {
    match *pattern.first()? {
        b'?' => Some(1),
        // A trailing backslash is a literal one, as in Redis.
        b'\\' if pattern.len() >= 2 => same(pattern[1], c, nocase).then_some(2),
        b'[' => match_class(pattern, c, nocase),
        p => same(p, c, nocase).then_some(1),
    }
}

/// A `[...]` class at the start of `pattern`; an unterminated class runs to
/// the end of the pattern, as in Redis.
fn match_class(pattern: &[u8], c: u8, nocase: bool) -> Option<usize> {
    let (matched, end) = scan_class(pattern, c, nocase);
    matched.then_some(end)
}

/// Reads the `[...]` class at the start of `pattern`: whether it matches
/// `c` (negation applied) and its length.
fn scan_class(pattern: &[u8], c: u8, nocase: bool) -> (bool, usize) {
    let mut i = 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let end = loop {
        match pattern.get(i) {
            None => break pattern.len(),
            Some(b']') => break i + 1,
            Some(b'\\') if i + 1 < pattern.len() => {
                i += 1;
                matched |= pattern[i] == c;
            }
            Some(&start) if i + 2 < pattern.len() && pattern[i + 1] == b'-' => {
                matched |= in_range(start, pattern[i + 2], c, nocase);
                i += 2;
            }
            Some(&p) => matched |= same(p, c, nocase),
        }
        i += 1;
    };
    (matched != negate, end)
}

/// True when `c` is in the range `start-end` of a class. Redis compares
/// C `char`s, which are signed on x86-64 (bytes from 0x80 sort below
/// `\0`), swaps a reversed range, and only then lowers all three without
/// case (so `[A-z]` without case is `a-z`, and `[Z-a]` is empty).
fn in_range(start: u8, end: u8, c: u8, nocase: bool) -> bool {
    let signed = |b: u8| i8::from_be_bytes([b]);
    let (mut start, mut end, mut c) = (signed(start), signed(end), signed(c));
    if start > end {
        std::mem::swap(&mut start, &mut end);
    }
    if nocase {
        // C's tolower: only A-Z change; negative chars stay as they are.
        let lower = |b: i8| if (65..=90).contains(&b) { b + 32 } else { b };
        (start, end, c) = (lower(start), lower(end), lower(c));
    }
    start <= c && c <= end
}

fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::{glob_match, key_match};

    #[test]
    fn matches_like_redis() {
        assert!(glob_match(b"save", b"save"));
        assert!(glob_match(b"SAVE", b"save"));
        assert!(glob_match(b"*", b"appendonly"));
        assert!(glob_match(b"append*", b"appendonly"));
        assert!(glob_match(b"*only", b"appendonly"));
        assert!(glob_match(b"m?xclients", b"maxclients"));
        assert!(glob_match(b"*a*e*", b"databases"));
        assert!(!glob_match(b"save", b"saves"));
        assert!(!glob_match(b"*x", b"save"));
        assert!(!glob_match(b"", b"save"));
        assert!(glob_match(b"", b""));
    }

    #[test]
    fn keys_patterns_like_redis() {
        assert!(key_match(b"h?llo", b"hello"));
        assert!(key_match(b"h*llo", b"heeeello"));
        assert!(key_match(b"h[ae]llo", b"hallo"));
        assert!(!key_match(b"h[ae]llo", b"hillo"));
        assert!(key_match(b"h[^e]llo", b"hallo"));
        assert!(!key_match(b"h[^e]llo", b"hello"));
        assert!(key_match(b"h[a-b]llo", b"hbllo"));
        assert!(
            key_match(b"h[b-a]llo", b"hallo"),
            "a reversed range is swapped"
        );
        assert!(!key_match(b"h[a-b]llo", b"hcllo"));
        assert!(key_match(b"h\\*llo", b"h*llo"));
        assert!(!key_match(b"h\\*llo", b"hxllo"));
        assert!(key_match(b"a\\", b"a\\"), "a trailing backslash is literal");
        assert!(key_match(b"[\\]]", b"]"));
        assert!(
            key_match(b"x[abc", b"xb"),
            "an unterminated class runs to the end"
        );
        assert!(
            !key_match(b"Hello", b"hello"),
            "keys match case-sensitively"
        );
        assert!(glob_match(b"H[A-Z]llo", b"hello"));
        assert!(
            glob_match(b"\\Save", b"save"),
            "an escape matches without case too"
        );
        assert!(key_match(b"*", b""));
        assert!(key_match(b"", b""));
        for pattern in [&b"**"[..], b"***", b"?*", b"[]*"] {
            assert!(
                !key_match(pattern, b""),
                "Redis: only * finds the empty key"
            );
        }
        assert!(key_match(b"user:*:name", b"user:42:name"));
        assert!(!key_match(b"user:*:name", b"user:42:mail"));
    }

    #[test]
    fn class_edges_like_redis() {
        // `a-]` is a range (] to a), and the class runs to the end.
        assert!(key_match(b"[a-]", b"a"));
        assert!(key_match(b"[a-]", b"_"));
        assert!(!key_match(b"[a-]", b"-"));
        assert!(!key_match(b"[a-]", b"b"));
        assert!(!key_match(b"[]", b"a"), "an empty class matches nothing");
        assert!(
            key_match(b"[^]", b"a"),
            "an empty negated class matches all"
        );
        assert!(key_match(b"x[^", b"xa"), "an unterminated ^ class");
        assert!(key_match(b"[\\\\]", b"\\"));
        assert!(key_match(b"[\\]", b"]"), "an escaped ], unterminated");
        // Redis's chars are signed: 0x80..=0xff sort below every ASCII byte.
        assert!(key_match(b"[\x80-z]", b"a"));
        assert!(key_match(b"[\x80-z]", b"\xff"));
        assert!(
            !key_match(b"[a-\xff]", b"b"),
            "the range is 0xff..=a: -1..=97"
        );
        assert!(key_match(b"[\xff-a]", b"\0"));
        assert!(!key_match(b"[\x80-\xfe]", b"\xff"));
        // Without case Redis orders the bounds, then lowers them.
        assert!(!glob_match(b"[Z-a]", b"m"), "Z-a lowered is z-a: empty");
        assert!(!glob_match(b"[a-Z]", b"m"), "swapped to Z-a: empty");
        assert!(glob_match(b"[A-z]", b"M"), "A-z lowered is a-z");
        assert!(!glob_match(b"[A-z]", b"_"), "_ is not in a-z");
        assert!(key_match(b"[A-z]", b"_"), "with case it is in A-z");
    }

    #[test]
    fn past_a_thousand_inner_star_runs_nothing_matches() {
        let text = vec![b'a'; 1001];
        let at_limit = b"*a".repeat(1000);
        assert!(key_match(&at_limit, &text));
        let over = b"*a".repeat(1001);
        assert!(!key_match(&over, &text), "Redis's nesting guard");
        // Trailing, escaped and class stars are not runs.
        let mut trailing = b"*a".repeat(1000);
        trailing.extend_from_slice(b"*");
        assert!(key_match(&trailing, &text));
        let escaped = [&b"\\*"[..], b"[*]"].repeat(1000).concat();
        assert_eq!(super::inner_star_runs(&escaped), 0);
        assert_eq!(super::inner_star_runs(b"**a***b*"), 2);
    }

    #[test]
    fn many_stars_stay_fast() {
        let text = vec![b'a'; 5000];
        let mut pattern = b"*a".repeat(50);
        pattern.extend_from_slice(b"b");
        assert!(!key_match(&pattern, &text));
    }

    /// Redis's `stringmatchlen_impl` (util.c, 7.x), transcribed line by
    /// line as the model: C's pointer walk over an sds, whose terminating
    /// NUL `at` returns past the end; `char` is signed, and `tolower`
    /// changes only `A`-`Z`.
    fn redis_match(
        pattern: &[u8],
        string: &[u8],
        nocase: bool,
        skip_longer: &mut bool,
        nesting: u32,
    ) -> bool {
        if nesting > 1000 {
            return false;
        }
        let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
        let signed = |b: u8| i32::from(i8::from_be_bytes([b]));
        let lower = |c: i32| if (65..=90).contains(&c) { c + 32 } else { c };
        let (mut p, mut s) = (0usize, 0usize);
        let (mut plen, mut slen) = (pattern.len(), string.len());
        while plen > 0 && slen > 0 {
            match pattern[p] {
                b'*' => {
                    while plen > 0 && at(pattern, p + 1) == b'*' {
                        p += 1;
                        plen -= 1;
                    }
                    if plen == 1 {
                        return true;
                    }
                    while slen > 0 {
                        if redis_match(
                            &pattern[p + 1..p + plen],
                            &string[s..s + slen],
                            nocase,
                            skip_longer,
                            nesting + 1,
                        ) {
                            return true;
                        }
                        if *skip_longer {
                            return false;
                        }
                        s += 1;
                        slen -= 1;
                    }
                    *skip_longer = true;
                    return false;
                }
                b'?' => {
                    s += 1;
                    slen -= 1;
                }
                b'[' => {
                    p += 1;
                    plen -= 1;
                    let not = at(pattern, p) == b'^';
                    if not {
                        p += 1;
                        plen -= 1;
                    }
                    let mut matched = false;
                    loop {
                        if at(pattern, p) == b'\\' && plen >= 2 {
                            p += 1;
                            plen -= 1;
                            if pattern[p] == string[s] {
                                matched = true;
                            }
                        } else if at(pattern, p) == b']' {
                            break;
                        } else if plen == 0 {
                            p -= 1;
                            plen += 1;
                            break;
                        } else if plen >= 3 && pattern[p + 1] == b'-' {
                            let (mut start, mut end) = (signed(pattern[p]), signed(pattern[p + 2]));
                            let mut c = signed(string[s]);
                            if start > end {
                                std::mem::swap(&mut start, &mut end);
                            }
                            if nocase {
                                (start, end, c) = (lower(start), lower(end), lower(c));
                            }
                            p += 2;
                            plen -= 2;
                            if c >= start && c <= end {
                                matched = true;
                            }
                        } else if !nocase {
                            if pattern[p] == string[s] {
                                matched = true;
                            }
                        } else if lower(signed(pattern[p])) == lower(signed(string[s])) {
                            matched = true;
                        }
                        p += 1;
                        plen -= 1;
                    }
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s += 1;
                    slen -= 1;
                }
                first => {
                    let mut c = first;
                    if first == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        c = pattern[p];
                    }
                    let same = if nocase {
                        lower(signed(c)) == lower(signed(string[s]))
                    } else {
                        c == string[s]
                    };
                    if !same {
                        return false;
                    }
                    s += 1;
                    slen -= 1;
                }
            }
            p += 1;
            plen -= 1;
            if slen == 0 {
                while at(pattern, p) == b'*' {
                    p += 1;
                    plen -= 1;
                }
                break;
            }
        }
        plen == 0 && slen == 0
    }

    fn redis(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
        redis_match(pattern, string, nocase, &mut false, 0)
    }

    /// A few letters of both cases, punctuation between the cases, bytes
    /// above 0x7f (negative `char`s), and the matcher's own bytes.
    const GLOB_ALPHABET: &[u8] = b"aAmMzZ_`[]^-*?\\\x80\xff";

    fn glob_byte() -> impl proptest::strategy::Strategy<Value = u8> {
        proptest::sample::select(GLOB_ALPHABET)
    }

    /// A pattern of whole elements (bytes, escapes, `[...]` classes with
    /// ranges, negated or not, closed or not), so classes and ranges come
    /// up as often as single bytes.
    fn glob_pattern() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let item = prop_oneof![
            glob_byte().prop_map(|b| vec![b]),
            (glob_byte(), glob_byte()).prop_map(|(a, b)| vec![a, b'-', b]),
        ];
        let element = prop_oneof![
            3 => glob_byte().prop_map(|b| vec![b]),
            1 => glob_byte().prop_map(|b| vec![b'\\', b]),
            2 => (any::<bool>(), proptest::collection::vec(item, 0..3), any::<bool>()).prop_map(
                |(not, items, closed)| {
                    let mut class = vec![b'['];
                    if not {
                        class.push(b'^');
                    }
                    class.extend(items.concat());
                    if closed {
                        class.push(b']');
                    }
                    class
                }
            ),
        ];
        proptest::collection::vec(element, 0..5).prop_map(|e| e.concat())
    }

    fn glob_text() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(glob_byte(), 0..8)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// `KEYS`/`SCAN MATCH` and `CONFIG GET` agree with Redis's matcher
        /// on every pattern and text over the matcher's own alphabet.
        #[test]
        fn agrees_with_redis(pattern in glob_pattern(), text in glob_text()) {
            let expected = if text.is_empty() {
                // KEYS and SCAN special-case `*` before the matcher.
                pattern.is_empty() || pattern == b"*"
            } else {
                redis(&pattern, &text, false)
            };
            proptest::prop_assert_eq!(key_match(&pattern, &text), expected);
            if !text.is_empty() {
                proptest::prop_assert_eq!(glob_match(&pattern, &text), redis(&pattern, &text, true));
            }
        }
    }
}
