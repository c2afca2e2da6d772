//! `--log-level` / `log_level`: a level, or `tracing` filter directives.
//!
//! `tracing`'s filter syntax reads a bare word that is not a level as a
//! target name: `warning` would show only the events of a target called
//! `warning`, that is none, without a word of complaint. So a directive
//! without `=` must be a level; a target takes its level after `=`.

use tracing_subscriber::EnvFilter;

/// The level names a bare directive may be.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The filter `spec` describes, or what is wrong with it.
pub fn parse(spec: &str) -> Result<EnvFilter, String> {
    for directive in spec.split(',').map(str::trim) {
        let bare = !directive.contains('=') && !directive.contains('[');
        if bare && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(directive)) {
            return Err(format!(
                "{directive:?} is not a level ({}) nor a `target=level` directive",
                LEVELS.join(", ")
            ));
        }
    }
    EnvFilter::try_new(spec).map_err(|e| format!("{spec:?} is not a log filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn levels_and_directives_parse() {
        for spec in [
            "info",
            "WARN",
            "off",
            "folio=debug",
            "warn,folio_server=trace",
        ] {
            assert!(parse(spec).is_ok(), "{spec}");
        }
    }

    #[test]
    fn a_misspelt_level_is_refused() {
        let message = parse("warning").unwrap_err();
        assert!(message.contains("\"warning\" is not a level"), "{message}");
        assert!(message.contains("error, warn, info"), "{message}");
        assert!(parse("info,loud").is_err());
        assert!(parse("").is_err(), "an empty filter shows nothing");
    }

    #[test]
    fn a_bad_directive_is_refused() {
        let message = parse("folio=loud").unwrap_err();
        assert!(message.contains("is not a log filter"), "{message}");
    }
}
