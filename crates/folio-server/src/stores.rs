//! [`Stores`]: what a server serves — a key-value store for the string
//! commands and, optionally, a page store for the page and node commands.

use std::sync::Arc;

use folio::{KvStore, PageStore};

use crate::error::ServerError;

/// The stores behind one server. The page store owns a key-value store of
/// its own (see `folio::page`): keys and page versions never share one.
#[derive(Clone)]
pub struct Stores {
    /// The store of `GET`, `SET` and the other key commands.
    pub kv: Arc<dyn KvStore>,
    /// The store of `PAGE.*` and `NODE.*`; without it those commands answer
    /// that the page store is not enabled.
    pub pages: Option<Arc<PageStore>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("kv", &self.kv.engine_name())
            .field("pages", &self.pages.is_some())
            .finish()
    }
}

impl Stores {
    /// A key-value store alone.
    pub fn kv_only(kv: Arc<dyn KvStore>) -> Self {
        Stores { kv, pages: None }
    }

    /// A key-value store and a page store.
    pub fn with_pages(kv: Arc<dyn KvStore>, pages: Arc<PageStore>) -> Self {
        Stores {
            kv,
            pages: Some(pages),
        }
    }

    /// Closes both stores (the page store first); both are closed even
    /// when the first fails, and the first error is returned.
    pub fn close(&self) -> Result<(), ServerError> {
        let pages = match &self.pages {
            Some(pages) => pages.close().map_err(ServerError::ClosePages),
            None => Ok(()),
        };
        let kv = self.kv.close().map_err(ServerError::Close);
        pages.and(kv)
    }
}
