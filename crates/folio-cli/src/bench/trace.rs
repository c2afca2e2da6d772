//! `folio bench --workload trace`: page-reference traces replayed through
//! the replacement policies at several pool sizes, next to Belady's
//! optimum (see `sim`).
//!
//! A trace file holds one page number per line, optionally gzip-compressed
//! (by the `.gz` suffix); blank lines and `*` (a breakpoint marker in the
//! LIRS traces) are skipped; anything else that is not an unsigned integer
//! is an error naming the file and line, as is a line over
//! [`MAX_LINE_BYTES`] (read no further than that, so a file with no line
//! breaks cannot fill memory).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};
use folio::ReplacerKind;

use super::sim::{distinct_pages, replay, replay_optimal};

/// Most requests read from one trace (the largest shipped has 505K).
const MAX_REQUESTS: usize = 100_000_000;

/// Longest line of a trace: a page number is at most 20 digits.
const MAX_LINE_BYTES: usize = 1024;

/// One row of the table: a trace at one pool size.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The trace's file name.
    pub trace: String,
    /// Requests in the trace.
    pub requests: u64,
    /// Distinct pages in the trace.
    pub distinct: usize,
    /// Pool size as a percentage of the distinct pages.
    pub pool_percent: f64,
    /// Pool size in frames.
    pub frames: usize,
    /// Hit ratio of each policy asked for, in order.
    pub policies: Vec<(ReplacerKind, f64)>,
    /// Belady's optimal hit ratio.
    pub optimal: f64,
}

/// Reads the page numbers of the trace at `path`.
pub fn read_trace(path: &Path) -> anyhow::Result<Vec<u64>> {
    let file = File::open(path).with_context(|| format!("cannot open trace {}", path.display()))?;
    let gzipped = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gzipped {
        // Every member: `cat a.gz b.gz` and bgzip files hold several.
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let pages = parse_trace(BufReader::new(reader), path)?;
    if pages.is_empty() {
        bail!("trace {} holds no page number", path.display());
    }
    Ok(pages)
}

fn parse_trace(mut reader: impl BufRead, path: &Path) -> anyhow::Result<Vec<u64>> {
    let mut pages = Vec::new();
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read trace {}", path.display()))?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            bail!(
                "trace {} line {number}: longer than {MAX_LINE_BYTES} bytes",
                path.display()
            );
        }
        let Some(page) = parse_line(&line).with_context(|| {
            let text = line.trim_ascii();
            let hint = if std::str::from_utf8(text).is_err() {
                " (not text: a compressed trace needs the .gz suffix)"
            } else {
                ""
            };
            format!(
                "trace {} line {number}: {:?} is not a page number{hint}",
                path.display(),
                String::from_utf8_lossy(text)
            )
        })?
        else {
            continue;
        };
        if pages.len() == MAX_REQUESTS {
            bail!(
                "trace {} has more than {MAX_REQUESTS} requests",
                path.display()
            );
        }
        pages.push(page);
    }
    Ok(pages)
}

/// The page number on `line`, `None` for a blank line or a `*` marker.
fn parse_line(line: &[u8]) -> anyhow::Result<Option<u64>> {
    let text = std::str::from_utf8(line.trim_ascii())?;
    if text.is_empty() || text == "*" {
        return Ok(None);
    }
    Ok(Some(text.parse()?))
}

/// The rows for one trace: each pool size (a percentage of its distinct
/// pages, at least one frame), each policy, and the optimum.
pub fn simulate(
    name: &str,
    trace: &[u64],
    pool_percents: &[f64],
    policies: &[ReplacerKind],
) -> Vec<Row> {
    let distinct = distinct_pages(trace);
    pool_percents
        .iter()
        .map(|&percent| {
            let frames = frames_for(distinct, percent);
            Row {
                trace: name.to_string(),
                requests: trace.len() as u64,
                distinct,
                pool_percent: percent,
                frames,
                policies: policies
                    .iter()
                    .map(|&kind| (kind, replay(trace, frames, kind).hit_ratio()))
                    .collect(),
                optimal: replay_optimal(trace, frames).hit_ratio(),
            }
        })
        .collect()
}

/// `percent` of `distinct` pages, rounded, at least one frame.
fn frames_for(distinct: usize, percent: f64) -> usize {
    // Trace sizes are far below 2^52: the conversions are exact enough.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let frames = (distinct as f64 * percent / 100.0).round() as usize;
    frames.max(1)
}

/// The name a trace is shown under: its file name without `.trace.gz`.
pub fn trace_name(path: &Path) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    name.trim_end_matches(".gz")
        .trim_end_matches(".trace")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_skips_markers_and_blanks() {
        let text = "1\n*\n\n 42 \n7\n";
        let pages = parse_trace(text.as_bytes(), Path::new("t")).unwrap();
        assert_eq!(pages, vec![1, 42, 7]);
    }

    #[test]
    fn a_bad_line_is_an_error_naming_file_and_line() {
        let err = parse_trace("1\nx2\n".as_bytes(), Path::new("t.trace"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.trace line 2"), "{err}");
    }

    #[test]
    fn a_line_too_long_is_an_error_before_it_is_read_whole() {
        let text = vec![b'1'; 10 * MAX_LINE_BYTES];
        let err = parse_trace(&text[..], Path::new("t.trace"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: longer than 1024 bytes"), "{err}");
    }

    proptest::proptest! {
        /// Any bytes give page numbers or an error naming the file and a
        /// line, never a panic.
        #[test]
        fn any_bytes_parse_or_name_the_line(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Err(err) = parse_trace(&bytes[..], Path::new("t.trace")) {
                let err = format!("{err:#}");
                proptest::prop_assert!(err.contains("t.trace line "), "{}", err);
            }
        }

        /// Page numbers written one per line, among blanks, markers and
        /// spaces, with or without a last line break, read back as written.
        #[test]
        fn written_pages_read_back(
            pages in proptest::collection::vec((proptest::num::u64::ANY, 0u8..4), 0..100),
            last_break in proptest::bool::ANY,
        ) {
            let mut text = String::new();
            for (page, extra) in &pages {
                match extra {
                    0 => text.push('\n'),
                    1 => text.push_str("*\n"),
                    2 => text.push_str("  \t\r\n"),
                    _ => {}
                }
                text.push_str(&format!(" {page}\r\n"));
            }
            if !last_break {
                text.truncate(text.trim_end().len());
            }
            let read = parse_trace(text.as_bytes(), Path::new("t")).unwrap();
            let written: Vec<u64> = pages.iter().map(|(page, _)| *page).collect();
            proptest::prop_assert_eq!(read, written);
        }
    }

    #[test]
    fn reads_a_gzipped_trace() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.trace.gz");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"3\n4\n*\n3\n").unwrap();
        // A second gzip member, as `cat a.gz b.gz` makes.
        let mut file = gz.finish().unwrap();
        let mut second = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        second.write_all(b"5\n").unwrap();
        file.write_all(&second.finish().unwrap()).unwrap();
        drop(file);
        assert_eq!(read_trace(&path).unwrap(), vec![3, 4, 3, 5]);
        assert_eq!(trace_name(&path), "small");
    }

    #[test]
    fn an_empty_trace_or_a_compressed_one_without_its_suffix_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.trace");
        std::fs::write(&empty, "*\n\n").unwrap();
        let err = read_trace(&empty).unwrap_err().to_string();
        assert!(err.contains("holds no page number"), "{err}");
        let zipped = dir.path().join("zipped.trace");
        std::fs::write(&zipped, [0x1f, 0x8b, 0x08, 0x00, 0xff, b'\n']).unwrap();
        let err = format!("{:#}", read_trace(&zipped).unwrap_err());
        assert!(
            err.contains("line 1") && err.contains(".gz suffix"),
            "{err}"
        );
    }

    #[test]
    fn rows_cover_every_pool_size_with_at_least_one_frame() {
        let trace: Vec<u64> = (0..1000).map(|i| i % 50).collect();
        let rows = simulate("t", &trace, &[1.0, 50.0, 100.0], &[ReplacerKind::Lru]);
        assert_eq!(
            rows.iter().map(|r| r.frames).collect::<Vec<_>>(),
            [1, 25, 50]
        );
        let full = &rows[2];
        assert!((full.optimal - 0.95).abs() < 1e-9, "{full:?}");
        assert!((full.policies[0].1 - 0.95).abs() < 1e-9, "{full:?}");
    }
}
