//! Any bytes as a WAL record payload: decoding never panics, and a decoded
//! batch encodes back to the same bytes.
#![no_main]

use folio::wal::payload::{decode, encode_batch};
use folio::wal::RecordKind;
use folio::{BatchOp, WriteBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ops) = decode(RecordKind::Batch, data) {
        let mut batch = WriteBatch::new();
        for op in ops {
            match op {
                BatchOp::Put { key, value } => batch.put(key, value),
                BatchOp::Delete { key } => batch.delete(key),
            };
        }
        assert_eq!(encode_batch(&batch), data);
    }
    let _ = decode(RecordKind::Put, data);
    let _ = decode(RecordKind::Delete, data);
});
