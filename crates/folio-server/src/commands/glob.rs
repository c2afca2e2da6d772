//! Glob matching for `CONFIG GET` patterns: `*`, `?` and literal bytes,
//! case-insensitive (Redis also knows `[...]` and `\`; parameter names never
//! need them).

/// True when `text` matches `pattern`.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern index, text index).
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                resume = Some((p + 1, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((rp, rt)) => {
                    resume = Some((rp, rt + 1));
                    p = rp;
                    t = rt + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

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
}
