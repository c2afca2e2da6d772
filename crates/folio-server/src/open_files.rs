//! `maxclients` fitted to the process's open-file limit, as Redis does at
//! startup (`adjustOpenFilesLimit`).
//!
//! Each client holds a descriptor. Past the limit, `accept` fails
//! (`EMFILE`): the client is neither served nor told `-ERR max number of
//! clients reached`, it waits in the listen backlog, and the stores may
//! fail to open their next segment or WAL file. So the server first raises
//! the soft limit as far as the hard one allows (as Go's runtime does for
//! every program), then lowers `maxclients` to what is left once the
//! descriptors open at startup and [`RESERVED_FDS`] are set aside, and
//! says so.

use crate::error::ServerError;

/// Descriptors kept beyond those open at startup: the stores' next segment
/// and WAL files, and the runtime's own.
pub const RESERVED_FDS: u64 = 64;

/// A soft limit is never raised past this (Linux's default `nr_open`).
const MOST_FDS: u64 = 1 << 20;

/// Raises the soft open-file limit to the hard one (capped at 2^20) and
/// returns the limit in force afterwards; `None` when there is none or it
/// cannot be read. A failure to raise it leaves it as it was.
pub fn raise_open_files_limit() -> Option<u64> {
    imp::raise(MOST_FDS)
}

/// Descriptors the process has open now, when the system says.
fn open_descriptors() -> Option<u64> {
    ["/proc/self/fd", "/dev/fd"].iter().find_map(|dir| {
        let entries = std::fs::read_dir(dir).ok()?;
        u64::try_from(entries.count()).ok()
    })
}

/// Raises the limit, then fits `maxclients` to it (with a warning when it
/// is lowered).
pub(crate) fn fit_maxclients(maxclients: usize) -> Result<usize, ServerError> {
    let limit = raise_open_files_limit();
    let open = open_descriptors().unwrap_or(0);
    let fitted = fitted_maxclients(maxclients, limit, open)?;
    if fitted < maxclients {
        tracing::warn!(
            requested = maxclients,
            maxclients = fitted,
            open_files_limit = limit,
            open_now = open,
            reserved = RESERVED_FDS,
            "maxclients reduced to fit the open-file limit; raise it (ulimit -n) for more clients"
        );
    }
    Ok(fitted)
}

/// `maxclients`, or fewer when `limit` leaves fewer descriptors once the
/// `open` ones and [`RESERVED_FDS`] are set aside; an error when it leaves
/// none.
fn fitted_maxclients(
    maxclients: usize,
    limit: Option<u64>,
    open: u64,
) -> Result<usize, ServerError> {
    let Some(limit) = limit else {
        return Ok(maxclients);
    };
    let spare = limit.saturating_sub(open.saturating_add(RESERVED_FDS));
    if spare == 0 {
        return Err(ServerError::InvalidConfig {
            field: "maxclients",
            reason: format!(
                "the open-file limit of {limit} leaves no descriptor for a client \
                 ({open} open, {RESERVED_FDS} reserved); raise it (ulimit -n)"
            ),
        });
    }
    Ok(usize::try_from(spare).map_or(maxclients, |spare| maxclients.min(spare)))
}

#[cfg(unix)]
mod imp {
    use rustix::process::{getrlimit, setrlimit, Resource};

    pub(super) fn raise(most: u64) -> Option<u64> {
        let mut limit = getrlimit(Resource::Nofile);
        let soft = limit.current?;
        let target = limit.maximum.map_or(most, |hard| hard.min(most));
        if target > soft {
            limit.current = Some(target);
            if setrlimit(Resource::Nofile, limit).is_ok() {
                return Some(target);
            }
        }
        Some(soft)
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) fn raise(_most: u64) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxclients_is_kept_when_it_fits() {
        assert_eq!(fitted_maxclients(10_000, None, 30).unwrap(), 10_000);
        assert_eq!(
            fitted_maxclients(10_000, Some(1 << 20), 30).unwrap(),
            10_000
        );
        assert_eq!(fitted_maxclients(100, Some(194), 30).unwrap(), 100);
    }

    #[test]
    fn maxclients_is_lowered_to_the_spare_descriptors() {
        assert_eq!(fitted_maxclients(10_000, Some(1024), 30).unwrap(), 930);
        assert_eq!(fitted_maxclients(100, Some(193), 30).unwrap(), 99);
    }

    #[test]
    fn no_spare_descriptor_is_an_error_naming_the_limit() {
        let err = fitted_maxclients(10, Some(90), 30).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("open-file limit of 90"), "{text}");
        assert!(text.contains("30 open, 64 reserved"), "{text}");
    }

    #[test]
    fn the_limit_in_force_is_at_least_the_descriptors_open() {
        let limit = raise_open_files_limit();
        if let (Some(limit), Some(open)) = (limit, open_descriptors()) {
            assert!(limit >= open, "limit {limit}, open {open}");
        }
    }
}
