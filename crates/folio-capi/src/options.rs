//! Parsing `kvstore_init`'s options: `"key=value;key=value"`.
//!
//! Syntax: pairs separated by `;`, each `key=value`; spaces around keys and
//! values are ignored, as are empty pairs (a trailing `;`). Keys are
//! lower-case; a key given twice takes its last value, so a program can
//! append overrides to a default string. `engine` picks the backend (one of
//! `folio::ENGINES`); every other key is a field of `folio::Config`, set
//! through `Config::set` (sizes in bytes, `cache_mib` in MiB, `page_size`
//! the page size in bytes), so the engine's own rules say what a value may
//! be. Unknown keys and bad values are refused with a message naming the key
//! and the value and saying what is allowed.

use folio::{Config, Error};

use crate::status::Failure;

/// The options other than `engine`, for the "known options" message. A unit
/// test checks that `Config::set` accepts each of them.
const CONFIG_KEYS: &[&str] = &[
    "durability",
    "cache_mib",
    "cache_bytes",
    "page_size",
    "replacer",
    "max_key_bytes",
    "max_value_bytes",
    "max_batch_ops",
    "max_batch_bytes",
    "sync_interval_ms",
    "wal_file_bytes",
    "checkpoint_wal_bytes",
    "checkpoint_interval_ms",
];

/// The engine to open and its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// A name in `folio::ENGINES`.
    pub engine: String,
    /// The validated configuration.
    pub config: Config,
}

/// Parses and validates `text`; `None` means all defaults.
pub fn parse(text: Option<&str>) -> Result<Options, Failure> {
    let mut engine = folio::ENGINES[0].to_string();
    let mut config = Config::default();
    let mut value_limit_given = false;
    for pair in text.unwrap_or("").split(';') {
        if pair.trim().is_empty() {
            continue;
        }
        let (key, value) = split_pair(pair)?;
        match key {
            "engine" => engine = parse_engine(value)?,
            _ => {
                set_config(&mut config, key, value)?;
                value_limit_given |= key == "max_value_bytes";
            }
        }
    }
    if !value_limit_given {
        // The default value limit fits 8 KiB pages; larger pages leave less
        // room in a segment, so follow them down unless told otherwise.
        config.max_value_bytes = config
            .max_value_bytes
            .min(Config::value_ceiling(config.page_bytes));
    }
    config
        .validate()
        .map_err(|e| Failure::from(e).context("invalid options"))?;
    Ok(Options { engine, config })
}

fn split_pair(pair: &str) -> Result<(&str, &str), Failure> {
    let Some((key, value)) = pair.split_once('=') else {
        return Err(Failure::invalid(format!(
            "option {:?} has no '=': options are \"key=value;key=value\"",
            pair.trim()
        )));
    };
    Ok((key.trim(), value.trim()))
}

fn parse_engine(value: &str) -> Result<String, Failure> {
    if folio::ENGINES.contains(&value) {
        return Ok(value.to_string());
    }
    Err(Failure::invalid(format!(
        "option engine={value:?}: not one of: {}",
        folio::ENGINES.join(", ")
    )))
}

fn set_config(config: &mut Config, key: &str, value: &str) -> Result<(), Failure> {
    match config.set(key, value) {
        Ok(()) => Ok(()),
        // Config::set names unknown keys with the pseudo-field "options".
        Err(Error::InvalidConfig {
            field: "options", ..
        }) => Err(Failure::invalid(format!(
            "unknown option {key:?}; known options: engine, {}",
            CONFIG_KEYS.join(", ")
        ))),
        Err(Error::InvalidConfig { reason, .. }) => Err(Failure::invalid(format!(
            "option {key}={value:?}: {reason}"
        ))),
        Err(other) => Err(Failure::from(other).context(format!("option {key}={value:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::EINVAL;
    use proptest::prelude::*;

    /// An options string as a caller might get it wrong: known keys and
    /// others, values of any kind, stray separators and spaces.
    fn options_text() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            prop::sample::select(CONFIG_KEYS.to_vec()).prop_map(str::to_string),
            Just("engine".to_string()),
            "[a-z_]{0,12}",
        ];
        let value = prop_oneof![
            "[0-9]{0,25}",
            "-?[0-9]{1,6}",
            "(paged|memory|sync|buffered|none|lru|clock)",
            "\\PC{0,12}",
        ];
        let pair = (key, value, "[ =;]{0,2}").prop_map(|(k, v, extra)| format!("{k}={v}{extra}"));
        prop::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join(";"))
    }

    proptest! {
        /// Whatever the text, parsing returns: options that validate, or a
        /// refusal with a message; never a panic.
        #[test]
        fn any_options_text_parses_or_is_refused_with_a_message(text in options_text()) {
            match parse(Some(&text)) {
                Ok(options) => {
                    prop_assert!(options.config.validate().is_ok());
                    prop_assert!(folio::ENGINES.contains(&options.engine.as_str()));
                }
                Err(failure) => {
                    prop_assert_eq!(failure.status, EINVAL);
                    prop_assert!(!failure.message.is_empty());
                }
            }
        }

        #[test]
        fn any_text_as_options_never_panics(text in "\\PC{0,80}") {
            if let Err(failure) = parse(Some(&text)) {
                prop_assert!(!failure.message.is_empty());
            }
        }
    }

    fn refused(text: &str) -> String {
        let failure = parse(Some(text)).unwrap_err();
        assert_eq!(failure.status, EINVAL);
        failure.message
    }

    #[test]
    fn defaults_and_the_issue_example() {
        assert_eq!(parse(None).unwrap().config, Config::default());
        let options = parse(Some(
            "engine=paged;durability=sync;cache_mib=256;page_size=8192",
        ))
        .unwrap();
        assert_eq!(options.engine, "paged");
        assert_eq!(options.config.cache_bytes, 256 << 20);
        assert_eq!(options.config.page_bytes, 8192);
    }

    #[test]
    fn spaces_empty_pairs_and_repeats() {
        let options = parse(Some(" durability = none ;; cache_mib=1; cache_mib=2 ;")).unwrap();
        assert_eq!(options.config.durability, folio::Durability::None);
        assert_eq!(options.config.cache_bytes, 2 << 20);
    }

    #[test]
    fn larger_pages_lower_the_default_value_limit() {
        let options = parse(Some("page_size=65536")).unwrap();
        assert_eq!(options.config.max_value_bytes, Config::value_ceiling(65536));
        let message = refused("page_size=65536;max_value_bytes=16769024");
        assert!(message.contains("max_value_bytes"), "{message}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let message = refused("colour=blue");
        assert!(message.contains("\"colour\""), "{message}");
        assert!(message.contains("durability, cache_mib"), "{message}");
        let message = refused("durability=maybe");
        assert!(message.contains("durability=\"maybe\""), "{message}");
        assert!(message.contains("sync, buffered, none"), "{message}");
        let message = refused("cache_mib=lots");
        assert!(message.contains("cache_mib=\"lots\""), "{message}");
        assert!(message.contains("non-negative integer"), "{message}");
        let message = refused("engine=rocks");
        assert!(
            message.contains("\"rocks\": not one of: paged"),
            "{message}"
        );
        let message = refused("page_size=5000");
        assert!(message.contains("power of two"), "{message}");
        // Larger than a segment: refused, not a panic computing the value
        // limit of such pages.
        let message = refused("page_size=33554432");
        assert!(message.contains("power of two"), "{message}");
        let message = refused("durability");
        assert!(message.contains("no '='"), "{message}");
    }

    #[test]
    fn every_listed_key_is_a_config_field() {
        let samples = [("durability", "none"), ("replacer", "lru")];
        for key in CONFIG_KEYS {
            let value = samples
                .iter()
                .find(|(k, _)| k == key)
                .map_or("4096", |(_, v)| v);
            Config::default().set(key, value).unwrap();
        }
    }
}
