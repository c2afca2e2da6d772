//! The write-ahead log on its own: append and recover, group commit, the
//! durability modes, rotation, a torn tail sealed and written past, a
//! failed fsync poisoning the log, and who writes a deferred record.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use folio::io::{FaultOp, FaultVfs, MemVfs, Vfs};
use folio::wal::{recover, Lsn, RecordKind, SyncMode, Wal, WalOptions};
use folio::Error;
use parking_lot::{Condvar, Mutex};

const DIR: &str = "/wal";

fn mem() -> MemVfs {
    let vfs = MemVfs::new();
    vfs.create_dir_all(Path::new(DIR)).unwrap();
    vfs
}

/// Small files: tests need not allocate 64 MiB each.
fn small() -> WalOptions {
    WalOptions {
        sync: SyncMode::Sync,
        file_bytes: 1 << 20,
        ..WalOptions::default()
    }
}

fn open(vfs: Arc<dyn Vfs>, options: WalOptions) -> Wal {
    let recovery = recover(&*vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    Wal::open(vfs, Path::new(DIR), &recovery, options).unwrap()
}

fn payload(i: u64) -> Vec<u8> {
    vec![u8::try_from(i % 251).unwrap(); usize::try_from(i % 300).unwrap()]
}

#[test]
fn appended_records_are_recovered_in_order() {
    let vfs = mem();
    let wal = open(Arc::new(vfs.clone()), small());
    for i in 1..=100u64 {
        let kind = [RecordKind::Put, RecordKind::Delete, RecordKind::Batch]
            [usize::try_from(i % 3).unwrap()];
        assert_eq!(wal.append(kind, payload(i)).unwrap(), Lsn(i));
    }
    wal.close().unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert_eq!(r.records.len(), 100);
    assert_eq!(r.next_lsn, Lsn(101));
    assert!(r.torn.is_none());
    for (i, rec) in r.records.iter().enumerate() {
        assert_eq!(rec.payload, payload(i as u64 + 1));
    }
    // Records at or below a checkpoint's LSN are not returned.
    assert_eq!(
        recover(&vfs, Path::new(DIR), Lsn(60), 0)
            .unwrap()
            .records
            .len(),
        40
    );
}

#[test]
fn records_waiting_during_an_fsync_share_the_next_write_and_fsync() {
    let vfs = FaultVfs::new(Arc::new(mem()));
    // No spare files: the only fsync held at the gate is the first group's.
    let options = WalOptions {
        spare_files: false,
        ..small()
    };
    let wal = Arc::new(open(Arc::new(vfs.clone()), options));
    let base = wal.stats();
    vfs.close_sync_gate();
    std::thread::scope(|s| {
        let first = s.spawn(|| wal.append(RecordKind::Put, b"first".to_vec()).unwrap());
        // Alone on a free log, the first appender writes and fsyncs its
        // record itself; ten more queue meanwhile.
        let held = vfs.wait_for_held_sync();
        let appenders: Vec<_> = (0..10u64)
            .map(|i| {
                let wal = wal.clone();
                s.spawn(move || wal.append(RecordKind::Put, payload(i)).unwrap())
            })
            .collect();
        while wal.next_lsn() < Lsn(12) {
            std::thread::yield_now();
        }
        vfs.open_sync_gate();
        assert_eq!(held, vec![first.thread().id()]);
        assert_eq!(first.join().unwrap(), Lsn(1));
        for a in appenders {
            a.join().unwrap();
        }
    });
    let stats = wal.stats();
    assert_eq!(stats.records - base.records, 11);
    assert_eq!(
        stats.writes - base.writes,
        2,
        "one write for the first record, one for the ten"
    );
    assert_eq!(stats.fsyncs - base.fsyncs, 2, "one fsync each");
    assert_eq!(stats.synced, Lsn(11));

    // After a group of ten (appenders run concurrently), a lone append is
    // the writer thread's to gather into a group, not its own; once a
    // group of one has gone, the next lone append leads again.
    for expect_leader in [false, true] {
        vfs.close_sync_gate();
        std::thread::scope(|s| {
            let lone = s.spawn(|| wal.append(RecordKind::Put, b"lone".to_vec()).unwrap());
            let held = vfs.wait_for_held_sync();
            let lone_id = lone.thread().id();
            vfs.open_sync_gate(); // before any assertion: a failure must not hang
            lone.join().unwrap();
            assert_eq!(held.len(), 1);
            assert_eq!(held[0] == lone_id, expect_leader, "{held:?}");
        });
    }
}

#[test]
fn buffered_appends_return_before_the_fsync_and_flush_makes_them_durable() {
    let vfs = mem();
    let options = WalOptions {
        sync: SyncMode::Buffered {
            interval: Duration::from_secs(3600),
        },
        ..small()
    };
    let wal = open(Arc::new(vfs.clone()), options);
    let lsn = wal.append(RecordKind::Put, b"x".to_vec()).unwrap();
    let stats = wal.stats();
    assert_eq!(stats.written, lsn);
    assert!(stats.synced < lsn, "not yet durable: {stats:?}");
    wal.flush().unwrap();
    assert_eq!(wal.stats().synced, lsn);
    wal.close().unwrap();
}

#[test]
fn full_files_rotate_and_recovery_reads_across_them() {
    let vfs = mem();
    let wal = open(
        Arc::new(vfs.clone()),
        WalOptions {
            sync: SyncMode::Sync,
            file_bytes: 4096,
            ..WalOptions::default()
        },
    );
    for i in 1..=200u64 {
        wal.append(RecordKind::Put, payload(i)).unwrap();
    }
    wal.close().unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert!(r.files.len() > 5, "{} files", r.files.len());
    assert_eq!(r.records.len(), 200);
    assert!(r
        .records
        .iter()
        .enumerate()
        .all(|(i, rec)| rec.lsn == Lsn(i as u64 + 1)));
}

#[test]
fn a_torn_tail_is_cut_sealed_and_written_past() {
    let vfs = mem();
    let wal = open(Arc::new(vfs.clone()), small());
    for i in 1..=10u64 {
        wal.append(RecordKind::Put, payload(i + 100)).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    // Tear record 10: zero its second half, as a crash mid-write would.
    let first = Path::new(DIR).join(folio::wal::wal_file_name(0));
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    let end = r.files[0].2;
    let tear_from = usize::try_from(end).unwrap() - 40;
    vfs.with_file_bytes(&first, |b| {
        b[tear_from..usize::try_from(end).unwrap()].fill(0)
    })
    .unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert_eq!(r.records.len(), 9);
    assert!(r.torn.is_some());
    assert_eq!(r.next_lsn, Lsn(10));
    let wal = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), &r, small()).unwrap();
    assert_eq!(
        wal.append(RecordKind::Put, b"new ten".to_vec()).unwrap(),
        Lsn(10)
    );
    wal.close().unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert!(r.torn.is_none(), "the torn file was sealed at the cut");
    assert_eq!(r.records.len(), 10);
    assert_eq!(r.records[9].payload, b"new ten");
}

#[test]
fn a_failed_fsync_poisons_the_log() {
    let vfs = FaultVfs::new(Arc::new(mem()));
    let wal = open(Arc::new(vfs.clone()), small());
    wal.append(RecordKind::Put, b"ok".to_vec()).unwrap();
    vfs.fail(FaultOp::Sync, std::io::ErrorKind::Other);
    let err = wal.append(RecordKind::Put, b"lost".to_vec()).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    vfs.heal();
    let err = wal.append(RecordKind::Put, b"later".to_vec()).unwrap_err();
    assert!(
        matches!(err, Error::Poisoned { .. }),
        "never retried: {err}"
    );
    assert!(err.to_string().contains("fsync"), "{err}");
}

fn buffered_small(file_bytes: u64) -> WalOptions {
    WalOptions {
        sync: SyncMode::Buffered {
            interval: Duration::from_millis(5),
        },
        file_bytes,
        ..WalOptions::default()
    }
}

/// Buffered appenders write the queue themselves, one at a time: with
/// threads appending (some deferred, written by whoever waits first)
/// across file rotations, every record is acknowledged once written, and
/// the log holds them all, in LSN order, each with its own payload.
#[test]
fn buffered_appenders_write_for_each_other_in_lsn_order() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 400;
    let vfs = mem();
    let wal = open(Arc::new(vfs.clone()), buffered_small(8192));
    let payloads = Mutex::new(std::collections::BTreeMap::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (wal, payloads) = (&wal, &payloads);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let body = payload(t * PER_THREAD + i);
                    let lsn = if i % 5 == 0 {
                        let lsn = wal.append_deferred(RecordKind::Put, body.clone()).unwrap();
                        wal.wait_acked(lsn).unwrap();
                        lsn
                    } else {
                        wal.append(RecordKind::Put, body.clone()).unwrap()
                    };
                    assert!(wal.acked_lsn() >= lsn, "returned before written");
                    payloads.lock().insert(lsn, body);
                }
            });
        }
    });
    let stats = wal.stats();
    assert_eq!(stats.records, THREADS * PER_THREAD);
    assert_eq!(stats.written, Lsn(THREADS * PER_THREAD));
    wal.close().unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert!(r.files.len() > 3, "rotated: {} files", r.files.len());
    let payloads = payloads.into_inner();
    assert_eq!(r.records.len(), payloads.len());
    for (rec, (lsn, body)) in r.records.iter().zip(&payloads) {
        assert_eq!(rec.lsn, *lsn);
        assert_eq!(&rec.payload, body);
    }
}

/// A write that fails in an appender's own hands poisons the log as the
/// writer thread's would: that append and every later one fail.
#[test]
fn a_failed_write_by_a_buffered_appender_poisons_the_log() {
    let vfs = FaultVfs::new(Arc::new(mem()));
    let wal = open(Arc::new(vfs.clone()), buffered_small(1 << 20));
    wal.append(RecordKind::Put, b"ok".to_vec()).unwrap();
    vfs.fail(FaultOp::Write, std::io::ErrorKind::Other);
    let err = wal.append(RecordKind::Put, b"lost".to_vec()).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    vfs.heal();
    let err = wal.append(RecordKind::Put, b"later".to_vec()).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(wal.flush().is_err(), "flush reports the failure");
}

/// Polls `done` until it holds; fails after a long while (a lost wake-up
/// or a record nobody writes), never on a slow machine.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn deferred_records_are_written_and_fsynced_by_whoever_asks() {
    let wal = open(Arc::new(mem()), small());
    let mut last = Lsn(0);
    for i in 0..10 {
        last = wal.append_deferred(RecordKind::Put, payload(i)).unwrap();
    }
    // `false` only while the writer thread holds the log: on a slow
    // machine it may have started on the records itself (after 10 ms).
    while !wal.write_queued().unwrap() {
        std::thread::yield_now();
    }
    assert!(wal.acked_lsn() >= last);
    let stats = wal.stats();
    assert_eq!(stats.synced, last, "Sync mode: acknowledged means fsynced");
    while !wal.write_queued().unwrap() {
        std::thread::yield_now();
    }
    assert_eq!(wal.stats().fsyncs, stats.fsyncs, "nothing new to fsync");
    wal.close().unwrap();
}

#[test]
fn a_deferred_record_nobody_waits_for_is_written_by_the_writer_thread() {
    for sync in [
        SyncMode::Sync,
        SyncMode::Buffered {
            interval: Duration::from_secs(3600),
        },
    ] {
        let wal = open(Arc::new(mem()), WalOptions { sync, ..small() });
        let lsn = wal.append_deferred(RecordKind::Put, b"x".to_vec()).unwrap();
        eventually("the writer thread writes it", || wal.acked_lsn() >= lsn);
        wal.close().unwrap();
    }
}

/// A group written by an appender while the writer thread sleeps is still
/// fsynced within the interval, with no flush asked for.
#[test]
fn buffered_appends_are_fsynced_within_the_interval_unasked() {
    let options = WalOptions {
        sync: SyncMode::Buffered {
            interval: Duration::from_millis(20),
        },
        ..small()
    };
    let wal = open(Arc::new(mem()), options);
    for i in 0..3 {
        // Let the writer thread go idle (nothing unsynced) first.
        std::thread::sleep(Duration::from_millis(50));
        let lsn = wal.append(RecordKind::Put, payload(i)).unwrap();
        eventually("the interval's fsync", || wal.stats().synced >= lsn);
    }
    wal.close().unwrap();
}

/// A `buffered` log in files of `file_bytes` (synced only when asked, or
/// a megabyte at a time) after 17 appends of 64 KiB: over a megabyte
/// unsynced, so the writer thread syncs, and it is held at the closed sync
/// gate.
fn writer_thread_held_in_its_sync(file_bytes: u64) -> (FaultVfs, Arc<Wal>) {
    let vfs = FaultVfs::new(Arc::new(mem()));
    let options = WalOptions {
        sync: SyncMode::Buffered {
            interval: Duration::from_secs(3600),
        },
        spare_files: false,
        file_bytes,
    };
    let wal = Arc::new(open(Arc::new(vfs.clone()), options));
    vfs.close_sync_gate();
    for _ in 0..17 {
        wal.append(RecordKind::Put, vec![7u8; 64 * 1024]).unwrap();
    }
    (vfs, wal)
}

/// The writer thread's `buffered` sync runs with the tail released: held
/// in its fsync (at the gate), it does not stop appenders, and the
/// records written meanwhile are made durable by the next sync. A megabyte
/// written unsynced asks for a sync without waiting for the interval.
#[test]
fn buffered_appends_go_on_while_the_writer_thread_syncs() {
    let (vfs, wal) = writer_thread_held_in_its_sync(8 << 20);
    let held = vfs.wait_for_held_sync();
    assert_eq!(held.len(), 1, "the writer thread alone syncs");
    assert_ne!(held[0], std::thread::current().id());
    // An appender is not stopped by it (it would wait for the tail).
    let (done, appended) = std::sync::mpsc::channel();
    let appender = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || done.send(wal.append(RecordKind::Put, payload(3))).unwrap())
    };
    let appended = appended.recv_timeout(Duration::from_secs(60));
    vfs.open_sync_gate(); // before any assertion: a panic must not hang the drop
    let lsn = appended
        .expect("an append waited for the writer thread's sync")
        .unwrap();
    assert_eq!(lsn, Lsn(18));
    appender.join().unwrap();
    wal.flush().unwrap();
    assert!(wal.stats().synced >= Lsn(18));
    Arc::try_unwrap(wal).ok().unwrap().close().unwrap();
}

/// Threads lead group commit as the server does: queue a record, write the
/// queue if the log is free, else wait for the listener's next call. A
/// leader that finds the log busy is told once it is let go, so nobody
/// waits forever, and every record is durable when its thread goes on.
#[test]
fn leaders_that_find_the_log_busy_hear_from_its_holder() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 25;
    let vfs = FaultVfs::new(Arc::new(mem()));
    let wal = open(Arc::new(vfs.clone()), small());
    // Slow fsyncs: leaders overlap, and most find the log busy.
    vfs.set_sync_delay(Duration::from_millis(5));
    // How many times the listener was called.
    let calls = Arc::new((Mutex::new(0u64), Condvar::new()));
    let counted = Arc::clone(&calls);
    wal.set_ack_listener(Box::new(move |_| {
        *counted.0.lock() += 1;
        counted.1.notify_all();
    }));
    let busy = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (wal, calls, busy) = (&wal, &calls, &busy);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let body = payload(t * PER_THREAD + i);
                    let lsn = wal.append_deferred(RecordKind::Put, body).unwrap();
                    loop {
                        let seen = *calls.0.lock();
                        if wal.acked_lsn() >= lsn {
                            break;
                        }
                        if wal.write_queued().unwrap() {
                            assert!(wal.acked_lsn() >= lsn, "led, so written");
                            break;
                        }
                        busy.fetch_add(1, Relaxed);
                        let mut now = calls.0.lock();
                        while *now == seen {
                            let waited = calls.1.wait_for(&mut now, Duration::from_secs(20));
                            assert!(!waited.timed_out(), "the log's holder never told");
                        }
                    }
                    assert!(wal.stats().synced >= lsn, "Sync: acknowledged is durable");
                }
            });
        }
    });
    assert!(
        busy.load(Relaxed) > 0,
        "no leader found the log busy: the test did not test that"
    );
    assert_eq!(wal.stats().synced, Lsn(THREADS * PER_THREAD));
    wal.close().unwrap();
}

/// Appends records of 300 bytes until `done` holds; returns how many.
fn append_until(wal: &Wal, done: impl Fn(&Wal) -> bool) -> u64 {
    let mut appended = 0;
    while !done(wal) {
        appended += 1;
        assert!(appended < 100_000, "never done");
        wal.append(RecordKind::Put, vec![7; 300]).unwrap();
    }
    appended
}

fn spare_files(vfs: &dyn Vfs) -> Vec<String> {
    let mut names = vfs.list(Path::new(DIR)).unwrap();
    names.retain(|n| n.ends_with(".spare"));
    names
}

fn sync_files(file_bytes: u64) -> WalOptions {
    WalOptions {
        sync: SyncMode::Sync,
        file_bytes,
        ..WalOptions::default()
    }
}

#[test]
fn a_spare_file_is_prepared_ahead_and_taken_at_rotation() {
    let vfs = mem();
    let wal = open(Arc::new(vfs.clone()), sync_files(64 << 10));
    // Past half the file: `bytes` also counts the zero header written
    // after each group, some 10% here.
    let mut appended = append_until(&wal, |w| w.stats().bytes > 48 << 10);
    eventually("a spare is prepared once the file is half full", || {
        wal.stats().spares_prepared == 1
    });
    assert_eq!(spare_files(&vfs).len(), 1);
    appended += append_until(&wal, |w| w.stats().rotations == 1);
    let stats = wal.stats();
    assert_eq!(
        stats.rotations_unprepared, 0,
        "the spare was ready: {stats:?}"
    );
    assert_eq!(
        spare_files(&vfs),
        Vec::<String>::new(),
        "it became the new file"
    );
    wal.close().unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.records.len() as u64, appended);
    assert!(r.torn.is_none());
}

#[test]
fn buffered_logs_make_no_spares() {
    let vfs = mem();
    let wal = open(Arc::new(vfs.clone()), buffered_small(64 << 10));
    append_until(&wal, |w| w.stats().rotations == 2);
    assert_eq!(wal.stats().spares_prepared, 0);
    assert_eq!(spare_files(&vfs), Vec::<String>::new());
    wal.close().unwrap();
}

#[test]
fn spares_left_behind_are_removed_at_open_and_never_read() {
    let vfs = mem();
    let wal = open(Arc::new(vfs.clone()), small());
    for i in 1..=10u64 {
        wal.append(RecordKind::Put, payload(i)).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    // A crash while a spare was written leaves it half done.
    let spare = Path::new(DIR).join("wal-00000000.spare");
    vfs.open(&spare, true)
        .unwrap()
        .write_all_at(&[0xAB; 5000], 0)
        .unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert_eq!(r.records.len(), 10, "a spare is not a WAL file");
    let wal = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), &r, small()).unwrap();
    assert_eq!(spare_files(&vfs), Vec::<String>::new());
    assert_eq!(wal.append(RecordKind::Put, payload(11)).unwrap(), Lsn(11));
    wal.close().unwrap();
}

#[test]
fn a_spare_that_cannot_be_made_leaves_the_rotation_to_make_its_file() {
    // A file system on which spare WAL files cannot be created.
    let vfs = FaultVfs::new(Arc::new(mem()));
    vfs.fail_paths_ending(FaultOp::Open, ".spare", std::io::ErrorKind::StorageFull);
    let wal = open(Arc::new(vfs.clone()), sync_files(64 << 10));
    let mut appended = append_until(&wal, |w| w.stats().bytes > 48 << 10);
    eventually("a spare was tried", || vfs.injected() >= 1);
    appended += append_until(&wal, |w| w.stats().rotations == 1);
    let stats = wal.stats();
    assert_eq!((stats.spares_prepared, stats.rotations_unprepared), (0, 1));
    wal.close().unwrap();
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert_eq!(r.records.len() as u64, appended);
}

#[test]
fn closing_stops_a_spare_being_written_and_leaves_none_behind() {
    let vfs = FaultVfs::new(Arc::new(mem()));
    let wal = open(Arc::new(vfs.clone()), sync_files(16 << 20));
    // Past half the file in three appends: a spare is asked for.
    for _ in 0..3 {
        wal.append(RecordKind::Put, vec![1; 3 << 20]).unwrap();
    }
    // A slow disk: the spare's 16 fsyncs (one per MiB) would take 3.2 s;
    // close stops it at the next one.
    vfs.set_sync_delay(Duration::from_millis(200));
    wal.close().unwrap();
    assert_eq!(spare_files(&vfs), Vec::<String>::new());
    let r = recover(&vfs, Path::new(DIR), Lsn(0), 0).unwrap();
    assert_eq!(r.records.len(), 3);
}

/// `buffered`: the writer thread fsyncs the tail's file with the tail
/// released while a rotation, holding the tail, fsyncs the same file. The
/// disk reports a write-back error to one fsync only (here: fails the next
/// fsync once). Whichever fsync gets it, the other must not succeed: no
/// record of the file is reported durable and no next file is started
/// (its headers would vouch for the lost records).
#[test]
fn a_failed_fsync_is_not_covered_by_a_concurrent_one_on_the_same_file() {
    let (vfs, wal) = writer_thread_held_in_its_sync(2 << 20);
    assert_eq!(vfs.wait_for_held_sync().len(), 1);
    let big = vec![7u8; 64 * 1024];
    // An appender fills the file: its rotation fsyncs the full file.
    let appender = {
        let (wal, big) = (Arc::clone(&wal), big.clone());
        std::thread::spawn(move || {
            (0..40).find_map(|_| wal.append(RecordKind::Put, big.clone()).err())
        })
    };
    // Let the rotation reach its fsync (it waits at the gate, or for the
    // writer thread's fsync to end); the outcome below must not depend
    // on whether it did.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while vfs.wait_for_held_sync().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    vfs.fail_once_after(FaultOp::Sync, 0, std::io::ErrorKind::Other);
    vfs.open_sync_gate();
    let refused = appender.join().unwrap();
    assert!(
        matches!(refused, Some(Error::Poisoned { .. })),
        "the appender is refused: {refused:?}"
    );
    assert_eq!(vfs.injected(), 1);
    let err = wal
        .wait_durable(Lsn(17))
        .expect_err("nothing is durable past the failure");
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert_eq!(
        wal.stats().rotations,
        0,
        "no next file vouches for lost records"
    );
}

/// Damage at the end of file 0 is a torn tail only when no later record
/// says it was durable: a later file's first record being damaged too does
/// not hide its others. When nothing valid is left in files 1 and 2, the
/// log goes on in a new file 1, and the old files 1 and 2 are set aside,
/// so that after another crash file 2 is not read as if it followed the
/// new file 1.
#[test]
fn files_past_a_torn_tail_are_set_aside() {
    let vfs = mem();
    let dir = Path::new(DIR);
    let options = WalOptions {
        sync: SyncMode::Sync,
        file_bytes: 64 * 1024,
        spare_files: false,
    };
    let wal = open(Arc::new(vfs.clone()), options);
    let record = vec![5u8; 10_000];
    while wal.stats().rotations < 2 {
        wal.append(RecordKind::Put, record.clone()).unwrap();
    }
    wal.close().unwrap();
    let name = |seq: u32| dir.join(folio::wal::wal_file_name(seq));
    let file0 = vfs.with_file_bytes(&name(0), |b| b.clone()).unwrap();
    let scan = folio::wal::scan_file(&file0, 0, None, &name(0)).unwrap();
    let last = scan.records.last().unwrap();
    let last_start =
        usize::try_from(scan.valid_bytes).unwrap() - folio::wal::HEADER_BYTES - last.payload.len();
    let cut_lsn = last.lsn;
    vfs.with_file_bytes(&name(0), |b| {
        b[last_start + folio::wal::HEADER_BYTES] ^= 0xff
    })
    .unwrap();
    vfs.with_file_bytes(&name(1), |b| b[folio::wal::HEADER_BYTES] ^= 0xff)
        .unwrap();
    let err = recover(&vfs, dir, Lsn(0), 0).expect_err("file 1's second record vouches");
    assert!(err.is_corruption(), "{err}");
    for seq in [1, 2] {
        vfs.with_file_bytes(&name(seq), |b| b.fill(0xee)).unwrap();
    }

    // A file set aside by an earlier tear is kept, not written over.
    let earlier = dir.join("wal-00000002.log.cut");
    vfs.open(&earlier, true)
        .unwrap()
        .write_all_at(b"earlier", 0)
        .unwrap();

    let recovery = recover(&vfs, dir, Lsn(0), 0).unwrap();
    assert!(recovery.torn.is_some());
    assert_eq!(recovery.next_lsn, cut_lsn);
    let wal = Wal::open(Arc::new(vfs.clone()), dir, &recovery, options).unwrap();
    let mut names = vfs.list(dir).unwrap();
    names.sort();
    assert_eq!(
        names,
        [
            "wal-00000000.log",
            "wal-00000001.log",
            "wal-00000001.log.cut",
            "wal-00000002.log.cut",
            "wal-00000002.log.cut.1"
        ]
    );
    assert_eq!(
        vfs.with_file_bytes(&earlier, |b| b.clone()).unwrap(),
        b"earlier"
    );
    assert_eq!(
        wal.append(RecordKind::Put, b"new".to_vec()).unwrap(),
        cut_lsn
    );
    drop(wal); // a crash: not closed

    let again = recover(&vfs, dir, Lsn(0), 0).unwrap();
    assert!(again.torn.is_none());
    assert_eq!(again.next_lsn, cut_lsn.next());
    assert_eq!(again.records.last().unwrap().payload, b"new");
}
