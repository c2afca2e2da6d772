//! Model-based test: random put / get / delete / batch / close-and-reopen
//! sequences checked against a `HashMap`, under several configurations
//! (including a four-frame pool with each replacer, so pages are evicted and
//! written back constantly). Size: `FOLIO_MODEL_OPS` operations per case.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use common::{configs, env_size, key_bytes, rng, value_bytes, value_len, Place};
use folio::{Config, KvStore, WriteBatch};
use rand::Rng;

fn check_all(store: &dyn KvStore, model: &HashMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(store.len().unwrap(), model.len() as u64);
    for (k, v) in model {
        assert_eq!(store.get(k).unwrap().as_ref(), Some(v), "key {k:?}");
    }
    let mut seen = HashSet::new();
    store
        .for_each_key(&mut |k| {
            assert!(seen.insert(k.to_vec()), "key visited twice");
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, model.keys().cloned().collect());
}

fn run_case(name: &str, config: &Config, place: &Place) {
    let ops = env_size("FOLIO_MODEL_OPS", 3000);
    let mut rng = rng(name);
    let page = config.page_bytes;
    let keys = 300;
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut store = place.open(config);
    assert_eq!(
        store.durability(),
        config.durability,
        "{name}: reports its mode"
    );
    for step in 0..ops as u64 {
        match rng.gen_range(0..100) {
            0..=44 => {
                let k = key_bytes(&mut rng, keys);
                let v = value_bytes(value_len(&mut rng, page), step);
                store.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            45..=74 => {
                let k = key_bytes(&mut rng, keys);
                assert_eq!(
                    store.get(&k).unwrap(),
                    model.get(&k).cloned(),
                    "{name} step {step}"
                );
            }
            75..=86 => {
                let k = key_bytes(&mut rng, keys);
                assert_eq!(store.delete(&k).unwrap(), model.remove(&k).is_some());
            }
            87..=97 => {
                let mut batch = WriteBatch::new();
                for i in 0..rng.gen_range(1..8u64) {
                    let k = key_bytes(&mut rng, keys);
                    if rng.gen_bool(0.7) {
                        let v = value_bytes(value_len(&mut rng, page), step * 100 + i);
                        batch.put(k.clone(), v.clone());
                        model.insert(k, v);
                    } else {
                        batch.delete(k.clone());
                        model.remove(&k);
                    }
                }
                store.write_batch(&batch).unwrap();
            }
            _ => {
                store.close().unwrap();
                drop(store);
                store = place.open(config);
                check_all(&store, &model);
            }
        }
        assert_eq!(store.pool().pinned(), 0, "a guard leaked a pin");
    }
    check_all(&store, &model);
    store.close().unwrap();
    check_all(&place.open(config), &model);
}

#[test]
fn model_in_memory_under_every_config() {
    for (name, config) in configs() {
        run_case(name, &config, &Place::memory());
    }
}

#[test]
fn model_on_real_files() {
    let (name, config) = configs().remove(1);
    run_case(name, &config, &Place::disk());
}
