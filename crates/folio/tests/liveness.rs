//! The liveness registry and the horizon it gives vacuum, driven by a
//! manual clock: no test sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use folio::clock::ManualClock;
use folio::liveness::{Liveness, NodeState, MAX_NODE_ID_BYTES};
use folio::page::PageError;
use folio::{PageLsn, PageOptions, PageStore};

const INTERVAL_MS: u64 = 3_000;

fn registry(floor: u64) -> (Arc<ManualClock>, Liveness) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let liveness = Liveness::new(clock.clone(), INTERVAL_MS, PageLsn(floor));
    (clock, liveness)
}

/// Advances the clock by one interval and runs the sweep that falls due.
fn next_interval(clock: &ManualClock, liveness: &Liveness) -> Vec<Vec<u8>> {
    clock.advance_ms(INTERVAL_MS);
    let report = liveness.poll().expect("a sweep is due every interval");
    report.failed.into_iter().map(|n| n.id.0).collect()
}

fn state_of(liveness: &Liveness, id: &[u8]) -> Option<NodeState> {
    liveness
        .nodes()
        .into_iter()
        .find(|n| n.id.0 == id)
        .map(|n| n.state)
}

#[test]
fn a_node_survives_one_missed_interval_and_fails_after_two() {
    let (clock, liveness) = registry(0);
    liveness.heartbeat(b"quiet", PageLsn(10)).unwrap();
    liveness.heartbeat(b"chatty", PageLsn(10)).unwrap();
    assert_eq!(state_of(&liveness, b"quiet"), Some(NodeState::Alive));

    // No sweep before the interval is up.
    clock.advance_ms(INTERVAL_MS - 1);
    assert!(liveness.poll().is_none());
    clock.advance_ms(1);
    let first = liveness.poll().expect("due at exactly one interval");
    assert_eq!((first.survived, first.failed.len()), (2, 0));
    assert_eq!(state_of(&liveness, b"quiet"), Some(NodeState::Suspect));
    assert!(liveness.poll().is_none(), "one sweep per interval");

    // chatty heartbeats a millisecond before the second sweep; quiet is
    // silent for its second interval and fails.
    clock.advance_ms(INTERVAL_MS - 1);
    liveness.heartbeat(b"chatty", PageLsn(11)).unwrap();
    clock.advance_ms(1);
    let second = liveness.poll().unwrap();
    let failed: Vec<_> = second.failed.iter().map(|n| n.id.0.clone()).collect();
    assert_eq!(failed, vec![b"quiet".to_vec()]);
    assert_eq!(second.failed[0].lsn, PageLsn(10));
    assert_eq!(state_of(&liveness, b"quiet"), Some(NodeState::Failed));
    assert_eq!(state_of(&liveness, b"chatty"), Some(NodeState::Suspect));
    assert_eq!(liveness.live_nodes(), 1);

    // A node that heartbeats right after a sweep still gets the full
    // two intervals.
    liveness.heartbeat(b"late", PageLsn(5)).unwrap();
    assert!(next_interval(&clock, &liveness).contains(&b"chatty".to_vec()));
    assert!(next_interval(&clock, &liveness).contains(&b"late".to_vec()));
    assert_eq!(liveness.live_nodes(), 0);
}

#[test]
fn failures_reach_the_listener_and_a_failed_node_can_come_back() {
    let (clock, liveness) = registry(0);
    let reported = Arc::new(AtomicUsize::new(0));
    let seen = reported.clone();
    liveness.set_failure_listener(Arc::new(move |node| {
        assert_eq!(node.id.0, b"n1");
        assert_eq!(node.state, NodeState::Failed);
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    liveness.heartbeat(b"n1", PageLsn(7)).unwrap();
    next_interval(&clock, &liveness);
    assert_eq!(next_interval(&clock, &liveness), vec![b"n1".to_vec()]);
    assert_eq!(reported.load(Ordering::SeqCst), 1);

    liveness.heartbeat(b"n1", PageLsn(8)).unwrap();
    let listed: Vec<_> = liveness
        .nodes()
        .into_iter()
        .filter(|n| n.id.0 == b"n1")
        .collect();
    assert_eq!(listed.len(), 1, "a returning node is listed once");
    assert_eq!(
        (listed[0].state, listed[0].lsn),
        (NodeState::Alive, PageLsn(8))
    );
}

#[test]
fn a_stalled_detector_runs_one_sweep_not_a_backlog() {
    let (clock, liveness) = registry(0);
    liveness.heartbeat(b"n", PageLsn(1)).unwrap();
    clock.advance_ms(10 * INTERVAL_MS);
    let report = liveness.poll().unwrap();
    assert!(
        report.failed.is_empty(),
        "the node pays for one interval, not ten"
    );
    assert!(liveness.poll().is_none());
    assert_eq!(liveness.sweeps(), 1);
    assert_eq!(next_interval(&clock, &liveness), vec![b"n".to_vec()]);
}

/// Sweeps are spaced from when they run: after a sweep that ran almost an
/// interval late, the next is a whole interval later, not at its old slot,
/// so a node heard just before the late sweep is never failed by a sweep
/// a moment after it (silence shorter than an interval).
#[test]
fn a_late_sweep_moves_the_next_one_an_interval_after_it() {
    let (clock, liveness) = registry(0);
    liveness.heartbeat(b"n", PageLsn(1)).unwrap();
    // The first sweep, due at one interval, runs one millisecond short of
    // two (the polling thread was busy); n was heard just before it.
    clock.advance_ms(2 * INTERVAL_MS - 1);
    liveness.heartbeat(b"n", PageLsn(1)).unwrap();
    let late = liveness.poll().unwrap();
    assert_eq!((late.survived, late.failed.len()), (1, 0));
    clock.advance_ms(1);
    assert!(
        liveness.poll().is_none(),
        "its old slot is passed, but n has been silent 1 ms"
    );
    clock.advance_ms(INTERVAL_MS - 2);
    assert!(
        liveness.poll().is_none(),
        "silent one ms short of an interval"
    );
    clock.advance_ms(1);
    let next = liveness.poll().expect("an interval after the late sweep");
    assert_eq!(next.failed.len(), 1, "silent a whole interval: failed");
}

#[test]
fn a_stall_right_after_a_sweep_fails_no_one() {
    let (clock, liveness) = registry(0);
    for id in [&b"a"[..], b"b", b"c"] {
        liveness.heartbeat(id, PageLsn(1)).unwrap();
    }
    assert!(
        next_interval(&clock, &liveness).is_empty(),
        "on time: bits cleared"
    );
    // The detector stalls for ten intervals; the nodes could not be heard.
    clock.advance_ms(10 * INTERVAL_MS);
    let late = liveness.poll().unwrap();
    assert!(late.failed.is_empty(), "a late sweep fails no one");
    assert_eq!(liveness.live_nodes(), 3);
    // Back on schedule, silence counts again.
    liveness.heartbeat(b"a", PageLsn(2)).unwrap();
    let mut failed = next_interval(&clock, &liveness);
    failed.sort();
    assert_eq!(failed, vec![b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn a_listener_may_call_back_into_the_registry() {
    let (clock, liveness) = registry(0);
    let liveness = Arc::new(liveness);
    let registry = Arc::downgrade(&liveness);
    let listed = Arc::new(AtomicUsize::new(0));
    let seen = listed.clone();
    liveness.set_failure_listener(Arc::new(move |_| {
        let registry = registry.upgrade().expect("registry alive");
        // Reads the registry and replaces the listener, from inside it.
        seen.store(registry.nodes().len(), Ordering::SeqCst);
        registry.set_failure_listener(Arc::new(|_| {}));
    }));
    liveness.heartbeat(b"n", PageLsn(1)).unwrap();
    next_interval(&clock, &liveness);
    assert_eq!(next_interval(&clock, &liveness), vec![b"n".to_vec()]);
    assert_eq!(
        listed.load(Ordering::SeqCst),
        1,
        "the failed node is listed when the listener runs"
    );
}

#[test]
fn no_horizon_until_two_intervals_have_passed() {
    let (clock, liveness) = registry(0);
    assert_eq!(liveness.horizon(), None, "no node yet");
    clock.advance_ms(INTERVAL_MS / 2);
    liveness.heartbeat(b"fast", PageLsn(500)).unwrap();
    assert_eq!(
        liveness.horizon(),
        None,
        "a node that was alive before a restart may not have called yet"
    );
    clock.advance_ms(INTERVAL_MS / 2);
    liveness.poll().unwrap();
    liveness.heartbeat(b"slow", PageLsn(100)).unwrap();
    assert_eq!(liveness.horizon(), None, "one interval is not enough");
    liveness.heartbeat(b"fast", PageLsn(500)).unwrap();
    next_interval(&clock, &liveness);
    assert_eq!(liveness.horizon(), Some(PageLsn(100)));
}

#[test]
fn the_horizon_follows_the_live_nodes_down_to_the_applied_floor() {
    let (clock, liveness) = registry(0);
    next_interval(&clock, &liveness);
    next_interval(&clock, &liveness);
    assert_eq!(liveness.horizon(), None, "no node has ever been live");

    liveness.heartbeat(b"a", PageLsn(100)).unwrap();
    liveness.heartbeat(b"b", PageLsn(200)).unwrap();
    assert_eq!(liveness.horizon(), Some(PageLsn(100)));

    // a's LSN goes backwards: a live node may ask for it, so the horizon
    // follows (nothing was vacuumed at 100 yet).
    liveness.heartbeat(b"a", PageLsn(50)).unwrap();
    assert_eq!(state_of(&liveness, b"a"), Some(NodeState::Alive));
    assert_eq!(liveness.nodes()[0].lsn, PageLsn(50));
    assert_eq!(liveness.horizon(), Some(PageLsn(50)));
    liveness.heartbeat(b"a", PageLsn(150)).unwrap();
    assert_eq!(liveness.horizon(), Some(PageLsn(150)));

    // A vacuum reserving 180 against the live nodes gets their minimum,
    // 150 (a heartbeat recorded before the reservation is counted in it).
    assert_eq!(liveness.reserve(PageLsn(180), true), PageLsn(150));
    liveness.heartbeat(b"a", PageLsn(200)).unwrap();
    // Given explicitly (PAGE.VACUUM 120 ... here below the floor), the
    // floor stays where it is.
    assert_eq!(liveness.reserve(PageLsn(120), false), PageLsn(150));
    // Once a vacuum reserved 150, nothing below it can be asked for: a
    // node joining behind pulls the horizon back to 150, no further, and
    // is told it is behind.
    assert_eq!(
        liveness.heartbeat(b"c", PageLsn(20)).unwrap(),
        Some(PageLsn(150))
    );
    assert_eq!(liveness.heartbeat(b"a", PageLsn(150)).unwrap(), None);
    assert_eq!(liveness.horizon(), Some(PageLsn(150)));

    // Everyone fails: the floor stays.
    next_interval(&clock, &liveness);
    next_interval(&clock, &liveness);
    assert_eq!(liveness.live_nodes(), 0);
    assert_eq!(liveness.horizon(), Some(PageLsn(150)));
}

#[test]
fn a_runaway_heartbeat_is_forgotten_once_the_node_reports_its_real_lsn() {
    let (clock, liveness) = registry(0);
    liveness.heartbeat(b"n", PageLsn(u64::MAX)).unwrap();
    next_interval(&clock, &liveness);
    liveness.heartbeat(b"n", PageLsn(u64::MAX)).unwrap();
    next_interval(&clock, &liveness);
    assert_eq!(liveness.horizon(), Some(PageLsn(u64::MAX)));
    liveness.heartbeat(b"n", PageLsn(35)).unwrap();
    assert_eq!(liveness.horizon(), Some(PageLsn(35)));
}

#[test]
fn the_horizon_starts_at_the_vacuum_already_applied() {
    let (clock, liveness) = registry(300);
    liveness.heartbeat(b"behind", PageLsn(10)).unwrap();
    next_interval(&clock, &liveness);
    liveness.heartbeat(b"behind", PageLsn(10)).unwrap();
    next_interval(&clock, &liveness);
    assert_eq!(liveness.horizon(), Some(PageLsn(300)));
}

#[test]
fn bad_node_ids_are_refused() {
    let (_clock, liveness) = registry(0);
    assert!(matches!(
        liveness.heartbeat(b"", PageLsn(1)),
        Err(PageError::InvalidNodeId { len: 0 })
    ));
    let long = vec![b'x'; MAX_NODE_ID_BYTES + 1];
    let err = liveness.heartbeat(&long, PageLsn(1)).unwrap_err();
    assert!(
        err.to_string().contains(&MAX_NODE_ID_BYTES.to_string()),
        "{err}"
    );
    liveness
        .heartbeat(&long[..MAX_NODE_ID_BYTES], PageLsn(1))
        .unwrap();
    assert_eq!(liveness.live_nodes(), 1);
}

/// 3,000 nodes (one replica's worth in KnucklesDB) heartbeating between
/// sweeps. Prints the sweep time; asserts only the outcome (timing
/// assertions do not belong in tests on shared machines).
#[test]
fn three_thousand_nodes_sweep() {
    let (clock, liveness) = registry(0);
    let ids: Vec<Vec<u8>> = (0..3_000)
        .map(|i| format!("compute-{i:05}").into_bytes())
        .collect();
    let mut elapsed_ns = Vec::new();
    for round in 0..20u64 {
        for (i, id) in ids.iter().enumerate() {
            // Every 10th node goes silent from round 10 on: the sweep that
            // ends round 9 clears its bit, the one ending round 10 fails it.
            if round < 10 || i % 10 != 0 {
                liveness
                    .heartbeat(id, PageLsn(round * 10 + i as u64))
                    .unwrap();
            }
        }
        clock.advance_ms(INTERVAL_MS);
        let report = liveness.poll().unwrap();
        elapsed_ns.push(report.elapsed_ns);
        let expected_failed = if round == 10 { 300 } else { 0 };
        assert_eq!(report.failed.len(), expected_failed, "round {round}");
    }
    assert_eq!(liveness.live_nodes(), 2_700);
    elapsed_ns.sort_unstable();
    eprintln!(
        "sweep of 3,000 nodes: median {} us, max {} us (debug build: {})",
        elapsed_ns[elapsed_ns.len() / 2] / 1_000,
        elapsed_ns[elapsed_ns.len() - 1] / 1_000,
        cfg!(debug_assertions)
    );
}

fn page_store(clock: &Arc<ManualClock>) -> (tempfile::TempDir, PageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = folio::open("paged", dir.path(), &folio::Config::default()).unwrap();
    let mut options = PageOptions::default();
    options.background = false;
    options.clock = clock.clone();
    options.liveness_interval_ms = INTERVAL_MS;
    options.vacuum_interval_ms = INTERVAL_MS;
    (dir, PageStore::open(Arc::from(store), options).unwrap())
}

#[test]
fn an_interval_the_background_thread_cannot_keep_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn folio::KvStore> =
        Arc::from(folio::open("paged", dir.path(), &folio::Config::default()).unwrap());
    let mut options = PageOptions::default();
    options.liveness_interval_ms = PageOptions::MIN_BACKGROUND_INTERVAL_MS - 1;
    let Err(err) = PageStore::open(store.clone(), options.clone()) else {
        panic!("a 99 ms interval with a 50 ms poll must be refused");
    };
    let text = err.to_string();
    assert!(
        text.contains("liveness_interval_ms") && text.contains("100"),
        "{text}"
    );
    // Without the background thread the caller ticks: any interval goes.
    options.background = false;
    PageStore::open(store, options).unwrap().close().unwrap();
}

#[test]
fn background_vacuum_follows_the_live_horizon() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    for lsn in [10, 20, 30, 40] {
        pages
            .put_page(b"p", PageLsn(lsn), &[lsn.to_le_bytes()[0]; 64])
            .unwrap();
    }
    pages.heartbeat(b"reader", PageLsn(25)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    assert_eq!(
        pages.tick(),
        None,
        "one interval after open: still warming up"
    );
    pages.heartbeat(b"reader", PageLsn(35)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    let run = pages.tick().expect("two intervals: vacuum runs");
    assert_eq!((run.horizon, run.versions_removed), (PageLsn(35), 2));
    assert_eq!(
        pages.versions(b"p").unwrap(),
        vec![PageLsn(30), PageLsn(40)]
    );
    assert!(matches!(
        pages.get_page(b"p", PageLsn(25)),
        Err(PageError::VersionVacuumed {
            horizon: PageLsn(35),
            ..
        })
    ));
    assert_eq!(
        pages.get_page(b"p", PageLsn(35)).unwrap().unwrap().0,
        PageLsn(30)
    );

    // The reader goes silent: it fails, and the horizon stays.
    clock.advance_ms(INTERVAL_MS);
    assert_eq!(pages.tick(), None, "horizon unchanged: nothing to do");
    clock.advance_ms(INTERVAL_MS);
    pages.tick();
    assert_eq!(pages.stats().live_nodes, 0);
    assert_eq!(pages.live_horizon(), Some(PageLsn(35)));
}

/// A put at exactly the applied horizon gives its page a second version at
/// or below a horizon that does not move (it is capped at the newest LSN
/// put): the background vacuum runs again for it.
#[test]
fn background_vacuum_trims_a_page_put_at_the_unchanged_horizon() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    pages.put_page(b"q", PageLsn(100), &[1; 64]).unwrap();
    pages.put_page(b"p", PageLsn(500), &[2; 64]).unwrap();
    for _ in 0..2 {
        pages.heartbeat(b"ahead", PageLsn(1000)).unwrap();
        clock.advance_ms(INTERVAL_MS);
        pages.tick();
    }
    assert_eq!(
        pages.vacuum_horizon(),
        PageLsn(500),
        "capped at the newest put"
    );
    // The rest of WAL record 500 arrives: page q gets its version at 500.
    pages.put_page(b"q", PageLsn(500), &[3; 64]).unwrap();
    pages.heartbeat(b"ahead", PageLsn(1000)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    let run = pages.tick().expect("a page has two versions at or below H");
    assert_eq!((run.horizon, run.versions_removed), (PageLsn(500), 1));
    assert_eq!(pages.versions(b"q").unwrap(), vec![PageLsn(500)]);
    pages.heartbeat(b"ahead", PageLsn(1000)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    assert_eq!(pages.tick(), None, "clean again: nothing to do");
}

/// A vacuum whose horizon cannot be written (the disk fails) leaves the
/// liveness floor where it was: heartbeats above the old horizon are not
/// told they are behind, and the live horizon is the nodes' again.
#[test]
fn a_vacuum_that_fails_to_write_its_horizon_reserves_nothing() {
    use folio::io::{FaultOp, FaultVfs, MemVfs, Vfs};
    let clock = Arc::new(ManualClock::new(0));
    let fault = FaultVfs::new(Arc::new(MemVfs::new()));
    let store = folio::open_with_vfs(
        "paged",
        Arc::new(fault.clone()) as Arc<dyn Vfs>,
        std::path::Path::new("/pages"),
        &folio::Config::default(),
    )
    .unwrap();
    let mut options = PageOptions::default();
    options.background = false;
    options.clock = clock.clone();
    options.liveness_interval_ms = INTERVAL_MS;
    let pages: PageStore = PageStore::open(Arc::from(store), options).unwrap();
    for lsn in [100, 900] {
        pages.put_page(b"p", PageLsn(lsn), &[1; 64]).unwrap();
    }
    for _ in 0..2 {
        pages.heartbeat(b"node", PageLsn(500)).unwrap();
        clock.advance_ms(INTERVAL_MS);
        pages.tick();
    }
    assert_eq!(pages.live_horizon(), Some(PageLsn(500)));
    fault.fail(FaultOp::Write, std::io::ErrorKind::Other);
    pages
        .vacuum(PageLsn(800))
        .expect_err("the horizon cannot be written");
    assert_eq!(pages.vacuum_horizon(), PageLsn(0), "nothing applied");
    assert_eq!(pages.live_horizon(), Some(PageLsn(500)), "nothing reserved");
    pages
        .heartbeat(b"node", PageLsn(600))
        .expect("a node at 600 is not behind");
}

/// `vacuum_live` applies the live horizon of the moment it runs: a node
/// that joined behind after the horizon was last read is counted, and
/// keeps the version it reads.
#[test]
fn a_vacuum_to_the_live_horizon_counts_a_node_that_joined_behind() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    assert_eq!(pages.vacuum_live().unwrap(), None, "no live horizon yet");
    for lsn in [100, 300, 450, 600] {
        pages.put_page(b"p", PageLsn(lsn), &[1; 64]).unwrap();
    }
    for _ in 0..2 {
        pages.heartbeat(b"a", PageLsn(500)).unwrap();
        pages.heartbeat(b"b", PageLsn(600)).unwrap();
        clock.advance_ms(INTERVAL_MS);
        pages.liveness().poll();
    }
    assert_eq!(pages.live_horizon(), Some(PageLsn(500)));
    assert_eq!(pages.heartbeat(b"c", PageLsn(200)).unwrap(), None);
    let run = pages.vacuum_live().unwrap().unwrap();
    assert_eq!(run.horizon, PageLsn(200));
    assert_eq!(run.versions_removed, 0);
    assert_eq!(
        pages.get_page(b"p", PageLsn(200)).unwrap().unwrap().0,
        PageLsn(100)
    );
    // Once c moves on, the next run takes what no one reads.
    pages.heartbeat(b"c", PageLsn(500)).unwrap();
    let run = pages.vacuum_live().unwrap().unwrap();
    assert_eq!((run.horizon, run.versions_removed), (PageLsn(500), 2));
    assert_eq!(
        pages.heartbeat(b"c", PageLsn(200)).unwrap(),
        Some(PageLsn(500)),
        "behind the applied horizon now"
    );
}

#[test]
fn a_node_behind_the_vacuum_gets_version_vacuumed() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    for lsn in [10, 20, 30] {
        pages
            .put_page(b"p", PageLsn(lsn), &[lsn.to_le_bytes()[0]; 8192])
            .unwrap();
    }
    pages.vacuum(PageLsn(30)).unwrap();
    // A node registering at LSN 15 asks for what is gone, and is told.
    assert_eq!(
        pages.heartbeat(b"old", PageLsn(15)).unwrap(),
        Some(PageLsn(30))
    );
    let err = pages.get_page(b"p", PageLsn(15)).unwrap_err();
    assert!(
        matches!(
            err,
            PageError::VersionVacuumed {
                lsn: PageLsn(15),
                horizon: PageLsn(30)
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("version vacuumed"), "{err}");
    // Its registration does not pull the horizon back.
    clock.advance_ms(INTERVAL_MS);
    pages.tick();
    pages.heartbeat(b"old", PageLsn(15)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    pages.tick();
    assert_eq!(pages.stats().live_nodes, 1);
    assert_eq!(pages.live_horizon(), Some(PageLsn(30)));
    // And nothing can be put behind the horizon.
    assert!(matches!(
        pages.put_page(b"p", PageLsn(25), b"late"),
        Err(PageError::BelowHorizon {
            lsn: PageLsn(25),
            horizon: PageLsn(30)
        })
    ));
}

/// The background thread runs the same tick: sweeps and vacuum happen with
/// no caller. (The clock is manual; the test only waits, boundedly, for the
/// thread's next look, which comes every 50 ms.)
#[test]
fn the_background_thread_sweeps_and_vacuums() {
    let clock = Arc::new(ManualClock::new(0));
    let dir = tempfile::tempdir().unwrap();
    let store = folio::open("paged", dir.path(), &folio::Config::default()).unwrap();
    let mut options = PageOptions::default();
    options.clock = clock.clone();
    options.liveness_interval_ms = INTERVAL_MS;
    options.vacuum_interval_ms = INTERVAL_MS;
    let pages: PageStore = PageStore::open(Arc::from(store), options).unwrap();
    for lsn in [10, 20, 30] {
        pages.put_page(b"p", PageLsn(lsn), b"image").unwrap();
    }
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "the background thread never {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    for sweep in 1..=2 {
        pages.heartbeat(b"reader", PageLsn(25)).unwrap();
        clock.advance_ms(INTERVAL_MS);
        wait_for("swept", &|| pages.liveness().sweeps() >= sweep);
    }
    wait_for("vacuumed", &|| pages.stats().versions_vacuumed == 1);
    assert_eq!(
        pages.versions(b"p").unwrap(),
        vec![PageLsn(20), PageLsn(30)]
    );
    pages.close().unwrap();
}

#[test]
fn a_horizon_beyond_the_data_does_not_refuse_later_puts() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    pages.put_page(b"p", PageLsn(10), b"a").unwrap();
    pages.put_page(b"p", PageLsn(20), b"b").unwrap();
    // A node reporting an absurd LSN, or an operator's typo.
    pages.heartbeat(b"runaway", PageLsn(u64::MAX)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    pages.tick();
    pages.heartbeat(b"runaway", PageLsn(u64::MAX)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    let run = pages.tick().expect("vacuum due");
    assert_eq!(
        (run.horizon, run.versions_removed),
        (PageLsn(20), 1),
        "capped at the newest version"
    );
    assert_eq!(
        pages.vacuum(PageLsn(u64::MAX)).unwrap().horizon,
        PageLsn(20)
    );
    pages.put_page(b"p", PageLsn(30), b"c").unwrap();
    assert_eq!(
        pages.get_page(b"p", PageLsn(u64::MAX)).unwrap().unwrap().0,
        PageLsn(30)
    );
}

#[test]
fn after_a_runaway_heartbeat_vacuum_keeps_what_the_node_reads_next() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    for lsn in [10, 20, 30] {
        pages.put_page(b"p", PageLsn(lsn), b"v").unwrap();
    }
    pages.heartbeat(b"n", PageLsn(u64::MAX)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    pages.tick();
    pages.heartbeat(b"n", PageLsn(u64::MAX)).unwrap();
    clock.advance_ms(INTERVAL_MS);
    let run = pages.tick().expect("vacuum due");
    assert_eq!(run.horizon, PageLsn(30), "capped at the newest version");
    // The node reports its real LSN again; newer versions arrive.
    pages.heartbeat(b"n", PageLsn(35)).unwrap();
    pages.put_page(b"p", PageLsn(40), b"v").unwrap();
    pages.put_page(b"p", PageLsn(50), b"v").unwrap();
    clock.advance_ms(INTERVAL_MS);
    pages.tick();
    assert_eq!(
        pages.get_page(b"p", PageLsn(35)).unwrap().unwrap().0,
        PageLsn(30),
        "the version the live node reads at 35 is kept"
    );
    assert_eq!(pages.live_horizon(), Some(PageLsn(35)));
    assert_eq!(pages.vacuum_horizon(), PageLsn(35));
}

#[test]
fn a_retried_put_of_a_kept_version_below_the_horizon_is_a_no_op() {
    let clock = Arc::new(ManualClock::new(0));
    let (_dir, pages) = page_store(&clock);
    pages.put_page(b"p", PageLsn(100), b"kept").unwrap();
    pages.put_page(b"p", PageLsn(200), b"newer").unwrap();
    pages.vacuum(PageLsn(150)).unwrap();
    assert!(!pages.put_page(b"p", PageLsn(100), b"kept").unwrap());
    assert!(matches!(
        pages.put_page(b"p", PageLsn(100), b"other"),
        Err(PageError::Conflict { lsn: PageLsn(100) })
    ));
    assert!(matches!(
        pages.put_page(b"p", PageLsn(120), b"new"),
        Err(PageError::BelowHorizon {
            lsn: PageLsn(120),
            horizon: PageLsn(150)
        })
    ));
}
