//! Workload operations checked against a `BTreeMap` model, shared by the
//! crash, I/O-error and conformance tests (and the conformance suite over
//! every engine, crates/folio-peers/tests/conformance.rs).

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;

use folio::{KvStore, WriteBatch};
use rand::rngs::StdRng;
use rand::Rng;

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

/// A random operation of the conformance workload: keys from a small set
/// (1 to 6 bytes, some with zero bytes), values empty, small or up to
/// 20 KB, a few batches, flushes and checkpoints.
pub fn random_op(rng: &mut StdRng, step: u64) -> Op {
    let key = |rng: &mut StdRng| {
        let id: u32 = rng.gen_range(0..150);
        let mut k = id.to_le_bytes().to_vec();
        k.truncate(1 + (id % 4) as usize);
        k.extend(std::iter::repeat_n(0u8, (id % 3) as usize));
        k
    };
    let value = |rng: &mut StdRng| {
        let len = match rng.gen_range(0..10) {
            0 => 0,
            1..=6 => rng.gen_range(1..200),
            _ => rng.gen_range(200..20_000),
        };
        super::value_bytes(len, step ^ rng.gen::<u64>())
    };
    match rng.gen_range(0..100) {
        0..=44 => Op::Put(key(rng), value(rng)),
        45..=69 => Op::Get(key(rng)),
        70..=84 => Op::Delete(key(rng)),
        85..=95 => Op::Batch(
            (0..rng.gen_range(1..6))
                .map(|_| (key(rng), rng.gen_bool(0.7).then(|| value(rng))))
                .collect(),
        ),
        96..=97 => Op::Flush,
        _ => Op::Checkpoint,
    }
}

/// Every key and value of `store`, read through `for_each_key` and `get`;
/// checks that no key is visited twice, that `for_each_key_in_place`
/// visits the same keys, and that `len` and `is_empty` agree.
pub fn contents(store: &dyn KvStore) -> State {
    let mut keys = Vec::new();
    store
        .for_each_key(&mut |k| {
            keys.push(k.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    let unique: HashSet<&Vec<u8>> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "for_each_key visited a key twice");
    let mut in_place = Vec::new();
    store
        .for_each_key_in_place(&mut |k| {
            in_place.push(k.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut sorted = keys.clone();
    sorted.sort();
    in_place.sort();
    assert_eq!(
        in_place, sorted,
        "for_each_key_in_place visits the same keys"
    );
    let state: State = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                store.get(k).unwrap().expect("a visited key reads"),
            )
        })
        .collect();
    assert_eq!(store.len().unwrap(), state.len() as u64, "len");
    assert_eq!(store.is_empty().unwrap(), state.is_empty(), "is_empty");
    state
}
