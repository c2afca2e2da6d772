//! `folio serve --config FILE`: a TOML table whose keys are the `serve`
//! options in snake_case, plus `log_level` (see `folio.example.toml`).
//!
//! Here the file is read, its keys and value types checked, and its values
//! merged under the command line's. Errors name the file, and the key and
//! line at fault: a missing file, a key that is no setting, a value of the
//! wrong type. Ranges are checked later on the merged settings
//! (`serve::validate`), as for flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use toml::Spanned;

use crate::serve::ServeArgs;

/// The file's contents: every key optional, no other key allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    dir: Option<Spanned<PathBuf>>,
    bind: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    engine: Option<Spanned<String>>,
    durability: Option<Spanned<String>>,
    cache_mib: Option<Spanned<usize>>,
    page_size: Option<Spanned<usize>>,
    replacer: Option<Spanned<String>>,
    sync_interval_ms: Option<Spanned<u64>>,
    maxclients: Option<Spanned<usize>>,
    threads: Option<Spanned<usize>>,
    requirepass: Option<Spanned<String>>,
    liveness_interval_ms: Option<Spanned<u64>>,
    vacuum_interval_ms: Option<Spanned<u64>>,
    log_level: Option<Spanned<String>>,
}

/// Which settings a config file supplied, and on which lines.
#[derive(Debug)]
pub struct FileSettings {
    path: PathBuf,
    lines: BTreeMap<&'static str, usize>,
}

impl FileSettings {
    /// The file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line of `key`, when the merged value of `key` is the file's.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.lines.get(key).copied()
    }
}

/// Reads the config file at `path`.
pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))
}

/// Parses `text`, the contents of the file at `path`, and sets each of
/// `args` and `log_level` to the file's value unless `given(key)` says the
/// command line set it.
pub fn merge(
    path: &Path,
    text: &str,
    args: &mut ServeArgs,
    log_level: &mut String,
    given: &dyn Fn(&str) -> bool,
) -> anyhow::Result<FileSettings> {
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "in the config file {}: {}",
            path.display(),
            describe(&e, text)
        )
    })?;
    let mut merger = Merger {
        text,
        given,
        lines: BTreeMap::new(),
    };
    merger.take("dir", &mut args.dir, file.dir);
    merger.take("bind", &mut args.bind, file.bind);
    merger.take("port", &mut args.port, file.port);
    merger.take("engine", &mut args.engine, file.engine);
    merger.take("durability", &mut args.durability, file.durability);
    merger.take("cache_mib", &mut args.cache_mib, file.cache_mib);
    merger.take("page_size", &mut args.page_size, file.page_size);
    merger.take("replacer", &mut args.replacer, file.replacer);
    merger.take(
        "sync_interval_ms",
        &mut args.sync_interval_ms,
        file.sync_interval_ms,
    );
    merger.take("maxclients", &mut args.maxclients, file.maxclients);
    merger.take("threads", &mut args.threads, file.threads);
    merger.take("requirepass", &mut args.requirepass, file.requirepass);
    merger.take(
        "liveness_interval_ms",
        &mut args.liveness_interval_ms,
        file.liveness_interval_ms,
    );
    merger.take(
        "vacuum_interval_ms",
        &mut args.vacuum_interval_ms,
        file.vacuum_interval_ms,
    );
    merger.take("log_level", log_level, file.log_level);
    Ok(FileSettings {
        path: path.to_owned(),
        lines: merger.lines,
    })
}

/// Moves file values into the settings the command line left alone.
struct Merger<'a> {
    text: &'a str,
    given: &'a dyn Fn(&str) -> bool,
    lines: BTreeMap<&'static str, usize>,
}

impl Merger<'_> {
    /// Sets `slot` to the file's value for `key`, if the file has one and
    /// the command line did not set `key`.
    fn take<T, U: Into<T>>(&mut self, key: &'static str, slot: &mut T, value: Option<Spanned<U>>) {
        let Some(value) = value else { return };
        if (self.given)(key) {
            return;
        }
        self.lines
            .insert(key, line_at(self.text, value.span().start));
        *slot = value.into_inner().into();
    }
}

/// A TOML error as one line: where, which key, what.
fn describe(error: &toml::de::Error, text: &str) -> String {
    let Some(span) = error.span() else {
        return error.message().to_owned();
    };
    let line = line_at(text, span.start);
    match key_for_line(text, line) {
        Some(key) => format!("line {line}, key `{key}`: {}", error.message()),
        None => format!("line {line}: {}", error.message()),
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key whose `key = value` line is `line`, or the nearest such line
/// above it (a value may span lines).
fn key_for_line(text: &str, line: usize) -> Option<&str> {
    text.lines()
        .take(line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|l| {
            let (key, _) = l.split_once('=')?;
            let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
            let bare = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            bare.then_some(key)
        })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::serve::{validate, Settings};
    use crate::{Cli, Command};

    const PATH: &str = "test.toml";

    /// `folio <argv...>` with `text` as the config file's contents. The
    /// environment variables are ignored, so the caller's shell cannot
    /// change what the command line gave.
    fn settings(argv: &[&str], text: &str) -> anyhow::Result<Settings> {
        let command = Cli::command()
            .mut_arg("log_level", |a| a.env(None::<&str>))
            .mut_subcommand("serve", |s| {
                s.mut_arg("requirepass", |a| a.env(None::<&str>))
            });
        let matches =
            command.try_get_matches_from(std::iter::once("folio").chain(argv.iter().copied()))?;
        let cli = Cli::from_arg_matches(&matches)?;
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let serve = matches.subcommand_matches("serve").expect("serve matches");
        Settings::with_file_text(args, cli.log_level, &matches, serve, Path::new(PATH), text)
    }

    fn error(argv: &[&str], text: &str) -> String {
        format!("{:#}", settings(argv, text).expect_err("an error"))
    }

    proptest::proptest! {
        /// Any config file text: settings, or one error naming the file;
        /// never a panic (the error's line and key come from byte offsets
        /// into the text).
        #[test]
        fn any_file_text_gives_settings_or_an_error_naming_the_file(
            text in proptest::prop_oneof![
                "\\PC{0,60}",
                "(port|dir|maxclients|log_level|threads|durability) = [\"0-9a-z\\[\\]{}=.\n -]{0,20}",
            ]
        ) {
            if let Err(e) = settings(&["serve"], &text) {
                proptest::prop_assert!(format!("{e:#}").contains(PATH), "{e:#}");
            }
        }
    }

    #[test]
    fn command_line_wins_over_file_and_file_over_default() {
        let text = "port = 7000\ndir = \"/srv/folio\"\nmaxclients = 5\nlog_level = \"warn\"\n";
        let s = settings(&["serve", "--port", "7001"], text).unwrap();
        assert_eq!(s.args.port, 7001, "flag over file");
        assert_eq!(s.args.dir, PathBuf::from("/srv/folio"), "file over default");
        assert_eq!(s.args.maxclients, 5);
        assert_eq!(s.args.bind, "127.0.0.1", "default where neither gives one");
        assert_eq!(s.log_level, "warn");
        let file = s.file.as_ref().unwrap();
        assert_eq!(
            file.line_of("port"),
            None,
            "the flag's value is not the file's"
        );
        assert_eq!(file.line_of("dir"), Some(2));
        assert_eq!(file.line_of("log_level"), Some(4));
    }

    #[test]
    fn a_flag_given_with_its_default_value_still_wins() {
        let s = settings(
            &["serve", "--port", "6379", "--durability", "sync"],
            "port = 7000\ndurability = \"none\"\n",
        )
        .unwrap();
        assert_eq!((s.args.port, s.args.durability.as_str()), (6379, "sync"));
    }

    #[test]
    fn log_level_flag_wins_before_or_after_the_subcommand() {
        let text = "log_level = \"warn\"\n";
        assert_eq!(
            settings(&["--log-level", "debug", "serve"], text)
                .unwrap()
                .log_level,
            "debug"
        );
        assert_eq!(
            settings(&["serve", "--log-level", "debug"], text)
                .unwrap()
                .log_level,
            "debug"
        );
        assert_eq!(settings(&["serve"], text).unwrap().log_level, "warn");
    }

    #[test]
    fn requirepass_from_the_file() {
        let s = settings(&["serve"], "requirepass = \"s3cret\"\n").unwrap();
        assert_eq!(s.args.requirepass.as_deref(), Some("s3cret"));
        let s = settings(
            &["serve", "--requirepass", "flag"],
            "requirepass = \"file\"\n",
        )
        .unwrap();
        assert_eq!(s.args.requirepass.as_deref(), Some("flag"));
    }

    #[test]
    fn unknown_key_is_named() {
        let message = error(&["serve"], "port = 7000\ncache_size = 5\n");
        assert!(message.contains(PATH), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("unknown field `cache_size`"), "{message}");
        let message = error(&["serve"], "[server]\nport = 1\n");
        assert!(message.contains("unknown field `server`"), "{message}");
    }

    #[test]
    fn wrong_type_names_the_key_and_line() {
        let message = error(&["serve"], "bind = \"0.0.0.0\"\n\nport = \"high\"\n");
        assert!(message.contains(PATH), "{message}");
        assert!(message.contains("line 3, key `port`"), "{message}");
        assert!(message.contains("expected u16"), "{message}");
        let message = error(&["serve"], "cache_mib = -1\n");
        assert!(message.contains("line 1, key `cache_mib`"), "{message}");
        let message = error(
            &["serve"],
            "# note = x\nvacuum_interval_ms = [\n  1,\n  \"x\",\n]\n",
        );
        assert!(message.contains("key `vacuum_interval_ms`"), "{message}");
    }

    #[test]
    fn a_type_error_is_reported_even_when_a_flag_overrides_the_key() {
        let message = error(&["serve", "--port", "7000"], "port = \"high\"\n");
        assert!(message.contains("key `port`"), "{message}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = std::env::temp_dir().join("folio-no-such-config.toml");
        let matches =
            Cli::command().get_matches_from(["folio", "serve", "--config", path.to_str().unwrap()]);
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let serve = matches.subcommand_matches("serve").unwrap();
        let message = format!(
            "{:#}",
            Settings::resolve(args, cli.log_level, &matches, serve).unwrap_err()
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("cannot read the config file"), "{message}");
    }

    #[test]
    fn file_values_are_validated_like_flags() {
        let cases = [
            ("liveness_interval_ms = 99", "liveness_interval_ms"),
            ("durability = \"fast\"", "durability"),
            ("replacer = \"fifo\"", "replacer"),
            ("page_size = 5000", "page_size"),
            ("sync_interval_ms = 0", "sync_interval_ms"),
            ("cache_mib = 18446744073709551615", "cache_mib"),
            ("engine = \"lsm\"", "engine"),
            ("maxclients = 0", "maxclients"),
            ("threads = 1025", "threads"),
            ("requirepass = \"\"", "requirepass"),
        ];
        for (text, key) in cases {
            let s = settings(&["serve"], &format!("\n{text}\n")).unwrap();
            let invalid = validate(&s.args).expect_err(text);
            assert_eq!(invalid.key, key, "{text}");
            assert_eq!(s.file.unwrap().line_of(key), Some(2), "{text}");
        }
        assert!(settings(&["serve", "--liveness-interval-ms", "99"], "").is_err());
        let s = settings(
            &["serve"],
            "liveness_interval_ms = 100\npage_size = 65536\n",
        )
        .unwrap();
        assert!(
            validate(&s.args).is_ok(),
            "the smallest interval, the largest page"
        );
    }

    #[test]
    fn a_bad_log_level_in_the_file_names_its_line() {
        let s = settings(&["serve"], "port = 7000\nlog_level = \"warning\"\n").unwrap();
        let reason = crate::log_filter::parse(&s.log_level).expect_err("a misspelt level");
        assert!(reason.contains("\"warning\" is not a level"), "{reason}");
        assert_eq!(s.origin("log_level"), format!("log_level ({PATH}, line 2)"));
    }

    #[test]
    fn example_file_parses_and_shows_the_defaults() {
        let example = include_str!("../folio.example.toml");
        let s = settings(&["serve"], example).unwrap();
        let defaults = settings(&["serve"], "").unwrap();
        assert_eq!(format!("{:?}", s.args), format!("{:?}", defaults.args));
        assert_eq!(s.log_level, defaults.log_level);
        let file = s.file.unwrap();
        let keys: Vec<&str> = file.lines.keys().copied().collect();
        assert_eq!(keys.len(), 14, "every key but requirepass: {keys:?}");
        assert!(validate(&s.args).is_ok());
    }
}
