//! The page store over every engine of the build: `folio::PageStore` on
//! top of each engine in `folio_peers::engines()`, opened by name, runs
//! the random workload of crates/folio/tests/common/page_model.rs (puts at
//! random LSNs, reads, versions, vacuums, close and reopen) and must answer
//! exactly as the model does. Crash tests of the page store need a
//! simulated file system and stay with the native engine
//! (crates/folio/tests/page_model.rs).
//!
//! Size: `FOLIO_PAGE_MODEL_OPS` operations per engine (default 1,500).

#[path = "../../folio/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::page_model::run_model_case;
use common::test_config;
use folio::KvStore;

#[test]
fn the_page_model_over_every_engine() {
    for engine in folio_peers::engines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages");
        let config = test_config();
        let open = || -> Arc<dyn KvStore> {
            Arc::from(
                folio_peers::open(engine, &path, &config)
                    .unwrap_or_else(|e| panic!("{engine}: open: {e}")),
            )
        };
        run_model_case(&format!("page_store/{engine}"), &open);
    }
}
