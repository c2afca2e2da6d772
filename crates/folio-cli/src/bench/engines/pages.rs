//! The page workloads: `page-load` puts P pages × V versions of 8 KiB
//! images through the page store (key: 8-byte page id ++ 8-byte LSN), and
//! `getpage-*` asks GetPage@LSN at random LSNs, checking the version and
//! the bytes of every answer.

use std::cell::RefCell;

use anyhow::{bail, ensure};
use folio::{KvStore, PageLsn, PageStore};
use rand::Rng;

use super::measure::{self, Measured};
use super::values::Pool;
use super::zipf::Chooser;

/// Where every version lives in LSN order: version `v` of page `p` has LSN
/// `v * pages + p + 1`, as if a log had written page after page.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Pages.
    pub pages: u64,
    /// Versions per page.
    pub versions: u64,
    /// Image bytes.
    pub page_bytes: usize,
}

impl Layout {
    fn lsn(&self, page: u64, version: u64) -> u64 {
        version * self.pages + page + 1
    }

    /// Versions in all.
    pub fn total(&self) -> u64 {
        self.pages * self.versions
    }

    /// The LSN of the newest version of `page` at or below `lsn`.
    fn newest_at(&self, page: u64, lsn: u64) -> Option<u64> {
        if lsn <= page {
            return None;
        }
        let version = ((lsn - page - 1) / self.pages).min(self.versions - 1);
        Some(self.lsn(page, version))
    }
}

thread_local! {
    static IMAGE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Puts every version, LSN order spread over `threads` threads.
pub fn load(
    store: &PageStore<dyn KvStore>,
    layout: Layout,
    pool: &Pool,
    threads: usize,
    seed: u64,
) -> anyhow::Result<Measured> {
    measure::run("page-load", layout.total(), threads, seed, |_, i| {
        let (page, version) = (i % layout.pages, i / layout.pages);
        let lsn = layout.lsn(page, version);
        IMAGE.with_borrow_mut(|image| {
            pool.fill(image, page, lsn, layout.page_bytes);
            store.put_page(&page.to_be_bytes(), PageLsn(lsn), image)
        })?;
        Ok(())
    })
}

/// GetPage@LSN `ops` times: page by `chooser`, LSN uniform over the log.
pub fn getpage(
    store: &PageStore<dyn KvStore>,
    layout: Layout,
    pool: &Pool,
    chooser: Chooser,
    (label, ops, threads, seed): (&str, u64, usize, u64),
) -> anyhow::Result<Measured> {
    measure::run(label, ops, threads, seed, |rng, _| {
        let page = chooser.next(rng);
        let lsn = rng.gen_range(1..=layout.total());
        let got = store.get_page(&page.to_be_bytes(), PageLsn(lsn))?;
        match (got, layout.newest_at(page, lsn)) {
            (None, None) => Ok(()),
            (Some((found, image)), Some(want)) => {
                ensure!(
                    found.0 == want,
                    "page {page} at LSN {lsn}: got version {}, expected {want}",
                    found.0
                );
                pool.check(&image, page, layout.page_bytes, want..=want)?;
                Ok(())
            }
            (got, want) => bail!(
                "page {page} at LSN {lsn}: got {:?}, expected {want:?}",
                got.map(|(l, _)| l.0)
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_at_follows_the_layout() {
        let l = Layout {
            pages: 10,
            versions: 3,
            page_bytes: 4096,
        };
        assert_eq!(l.newest_at(4, 4), None);
        assert_eq!(l.newest_at(4, 5), Some(5));
        assert_eq!(l.newest_at(4, 14), Some(5));
        assert_eq!(l.newest_at(4, 15), Some(15));
        assert_eq!(l.newest_at(4, 30), Some(25));
        assert_eq!(l.newest_at(9, 30), Some(30));
    }
}
