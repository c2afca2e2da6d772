//! Workload operations checked against a `BTreeMap` model, shared by the
//! crash and I/O-error tests.

use std::collections::BTreeMap;

use folio::{KvStore, WriteBatch};

/// The model: every key and its value.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// One step of a workload.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Puts (`Some`) and deletes (`None`), applied atomically.
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// A read that must return the model's value.
    Get(Vec<u8>),
    Flush,
    Checkpoint,
}

/// Applies `op` to the model.
pub fn apply(state: &mut State, op: &Op) {
    match op {
        Op::Put(k, v) => {
            state.insert(k.clone(), v.clone());
        }
        Op::Delete(k) => {
            state.remove(k);
        }
        Op::Batch(ops) => {
            for (k, v) in ops {
                match v {
                    Some(v) => state.insert(k.clone(), v.clone()),
                    None => state.remove(k),
                };
            }
        }
        Op::Get(_) | Op::Flush | Op::Checkpoint => {}
    }
}

/// Runs `op` on the store; `model` is the state before it (a get must
/// return its value).
pub fn run_op(store: &dyn KvStore, op: &Op, model: &State) -> folio::Result<()> {
    match op {
        Op::Put(k, v) => store.put(k, v),
        Op::Delete(k) => store.delete(k).map(|_| ()),
        Op::Batch(ops) => {
            let mut batch = WriteBatch::new();
            for (k, v) in ops {
                match v {
                    Some(v) => batch.put(k.as_slice(), v.as_slice()),
                    None => batch.delete(k.as_slice()),
                };
            }
            store.write_batch(&batch)
        }
        Op::Get(k) => {
            let got = store.get(k)?;
            assert_eq!(got.as_ref(), model.get(k), "get returned a wrong value");
            Ok(())
        }
        Op::Flush => store.flush(),
        Op::Checkpoint => store.checkpoint(),
    }
}
