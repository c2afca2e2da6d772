//! Folio's size limits, checked the way its engines check them
//! (crates/folio/src/limits.rs, which is private to that crate): a refused
//! input is a typed error naming the limit, and the engine never sees it.

use folio::{BatchOp, Config, Error, Result, WriteBatch};

/// `KeyTooLarge` for a key over `max_key_bytes`.
pub(crate) fn check_key(config: &Config, key: &[u8]) -> Result<()> {
    if key.len() > config.max_key_bytes {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max: config.max_key_bytes,
        });
    }
    Ok(())
}

/// `KeyTooLarge` or `ValueTooLarge` for a put over the limits.
pub(crate) fn check_put(config: &Config, key: &[u8], value: &[u8]) -> Result<()> {
    check_key(config, key)?;
    if value.len() > config.max_value_bytes {
        return Err(Error::ValueTooLarge {
            len: value.len(),
            max: config.max_value_bytes,
        });
    }
    Ok(())
}

/// `BatchTooLarge` for a batch over `max_batch_ops` or `max_batch_bytes`,
/// else the error of its first key or value over a limit.
pub(crate) fn check_batch(config: &Config, batch: &WriteBatch) -> Result<()> {
    if batch.len() > config.max_batch_ops {
        return Err(Error::BatchTooLarge {
            what: format!("{} operations", batch.len()),
            max: config.max_batch_ops,
            field: "max_batch_ops",
        });
    }
    let bytes = batch.payload_bytes();
    if bytes > config.max_batch_bytes {
        return Err(Error::BatchTooLarge {
            what: format!("{bytes} bytes of keys and values"),
            max: config.max_batch_bytes,
            field: "max_batch_bytes",
        });
    }
    for op in batch.ops() {
        match op {
            BatchOp::Put { key, value } => check_put(config, key, value)?,
            BatchOp::Delete { key } => check_key(config, key)?,
        }
    }
    Ok(())
}
