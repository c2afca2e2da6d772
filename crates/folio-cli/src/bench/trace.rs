//! `folio bench --workload trace`: page-reference traces replayed through
//! the replacement policies at several pool sizes, next to Belady's
//! optimum (see `sim`).
//!
//! A trace file holds one page number per line, optionally gzip-compressed
//! (by the `.gz` suffix); blank lines and `*` (a breakpoint marker in the
//! LIRS traces) are skipped; anything else that is not an unsigned integer
//! is an error naming the file and line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};
use folio::ReplacerKind;

use super::sim::{distinct_pages, replay, replay_optimal};

/// Most requests read from one trace (the largest shipped has 505K).
const MAX_REQUESTS: usize = 100_000_000;

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
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    parse_trace(BufReader::new(reader), path)
}

fn parse_trace(reader: impl BufRead, path: &Path) -> anyhow::Result<Vec<u64>> {
    let mut pages = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read trace {}", path.display()))?;
        let text = line.trim();
        if text.is_empty() || text == "*" {
            continue;
        }
        let page: u64 = text.parse().with_context(|| {
            format!(
                "trace {} line {}: {text:?} is not a page number",
                path.display(),
                number + 1
            )
        })?;
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
    fn reads_a_gzipped_trace() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.trace.gz");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"3\n4\n*\n3\n").unwrap();
        gz.finish().unwrap();
        assert_eq!(read_trace(&path).unwrap(), vec![3, 4, 3]);
        assert_eq!(trace_name(&path), "small");
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
