//! `--plot FILE.svg`: one bar per workload and engine, its length the
//! engine's throughput relative to the first engine on a log2 scale
//! centred on 1× (right: faster, left: slower), labelled with ops/s.

use std::fmt::Write;

use super::report::ratio;
use super::spec::CaseResult;

const COLOURS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];
const BAR_PX: f64 = 16.0;
const GAP_PX: f64 = 10.0;
const LABEL_PX: f64 = 150.0;
const HALF_PX: f64 = 260.0;
/// Bars are clamped at 2^6 = 64× either way.
const MAX_DOUBLINGS: f64 = 6.0;
const TEXT_PX: f64 = 230.0;

/// The SVG document for `results`.
pub fn svg(results: &[CaseResult]) -> String {
    let workloads = distinct(results.iter().map(|r| r.workload.as_str()));
    let engines = distinct(results.iter().map(|r| r.engine.as_str()));
    let group_px = BAR_PX * engines.len() as f64 + GAP_PX;
    let width = LABEL_PX + 2.0 * HALF_PX + TEXT_PX;
    let height = 60.0 + group_px * workloads.len() as f64 + 20.0 * engines.len() as f64;
    let centre = LABEL_PX + HALF_PX;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{centre}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">\
         throughput relative to {} (log2 scale; right is faster)</text>\n",
        engines.first().copied().unwrap_or("")
    );
    axis(&mut out, centre, height);
    for (w, workload) in workloads.iter().enumerate() {
        let top = 40.0 + group_px * w as f64;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_PX - 8.0,
            top + group_px / 2.0,
            escape(workload)
        );
        for (e, engine) in engines.iter().enumerate() {
            if let Some(r) = results
                .iter()
                .find(|r| r.workload == *workload && r.engine == *engine)
            {
                bar(
                    &mut out,
                    results,
                    r,
                    centre,
                    top + BAR_PX * e as f64,
                    COLOURS[e % COLOURS.len()],
                );
            }
        }
    }
    legend(
        &mut out,
        &engines,
        40.0 + group_px * workloads.len() as f64 + 10.0,
    );
    out.push_str("</svg>\n");
    out
}

fn axis(out: &mut String, centre: f64, height: f64) {
    for doublings in (-6i32..=6).step_by(2) {
        let x = centre + f64::from(doublings) * HALF_PX / MAX_DOUBLINGS;
        let label = match doublings {
            0.. => format!("{}x", 1u64 << doublings),
            _ => format!("1/{}x", 1u64 << -doublings),
        };
        let stroke = if doublings == 0 { "#333" } else { "#ddd" };
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"28\" x2=\"{x}\" y2=\"{}\" stroke=\"{stroke}\"/>\
             <text x=\"{x}\" y=\"36\" text-anchor=\"middle\" fill=\"#666\">{label}</text>",
            height - 30.0
        );
    }
}

fn bar(
    out: &mut String,
    results: &[CaseResult],
    r: &CaseResult,
    centre: f64,
    y: f64,
    colour: &str,
) {
    let doublings = ratio(results, r)
        .max(f64::MIN_POSITIVE)
        .log2()
        .clamp(-MAX_DOUBLINGS, MAX_DOUBLINGS);
    let length = doublings * HALF_PX / MAX_DOUBLINGS;
    let (x, w) = if length >= 0.0 {
        (centre, length)
    } else {
        (centre + length, -length)
    };
    let _ = writeln!(
        out,
        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">{} {:.0} ops/s ({:.2}x)</text>",
        y + 1.0,
        w.max(1.0),
        BAR_PX - 2.0,
        LABEL_PX + 2.0 * HALF_PX + 6.0,
        y + BAR_PX - 4.0,
        escape(&r.engine),
        r.ops_per_sec,
        ratio(results, r)
    );
}

fn legend(out: &mut String, engines: &[&str], top: f64) {
    for (e, engine) in engines.iter().enumerate() {
        let y = top + 20.0 * e as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{LABEL_PX}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            COLOURS[e % COLOURS.len()],
            LABEL_PX + 18.0,
            y + 10.0,
            escape(engine)
        );
    }
}

fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_result_and_a_legend_entry_per_engine() {
        let r = |w: &str, e: &str, ops: f64| CaseResult {
            workload: w.into(),
            engine: e.into(),
            ops: 1,
            seconds: 1.0,
            ops_per_sec: ops,
            p50_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            disk_bytes: 0,
            peak_rss_bytes: 0,
        };
        let doc = svg(&[
            r("ycsb-a", "paged", 10.0),
            r("ycsb-a", "<x>", 40.0),
            r("ycsb-c", "paged", 5.0),
        ]);
        assert!(doc.starts_with("<svg") && doc.ends_with("</svg>\n"));
        assert_eq!(doc.matches("<rect").count(), 1 + 3 + 2);
        assert!(doc.contains("&lt;x&gt; 40 ops/s (4.00x)"));
    }
}
