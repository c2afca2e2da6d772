//! The size limits of a [`Config`], checked the same way by every engine
//! (Folio's, and the peer adapters of `folio-peers`): a refused write is a
//! typed error naming the limit and changes nothing.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kv::{BatchOp, WriteBatch};

impl Config {
    /// `KeyTooLarge` for a key over `max_key_bytes`.
    pub fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.max_key_bytes {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// `ValueTooLarge` for a value over `max_value_bytes`.
    pub fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: self.max_value_bytes,
            });
        }
        Ok(())
    }

    /// `KeyTooLarge` or `ValueTooLarge` for a put over the limits.
    pub fn check_put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        self.check_value(value)
    }

    /// `BatchTooLarge` for a batch over `max_batch_ops` or
    /// `max_batch_bytes`, or the error of its first key or value over a
    /// limit.
    pub fn check_batch(&self, batch: &WriteBatch) -> Result<()> {
        if batch.len() > self.max_batch_ops {
            return Err(Error::BatchTooLarge {
                what: format!("{} operations", batch.len()),
                max: self.max_batch_ops,
                field: "max_batch_ops",
            });
        }
        let bytes = batch.payload_bytes();
        if bytes > self.max_batch_bytes {
            return Err(Error::BatchTooLarge {
                what: format!("{bytes} bytes of keys and values"),
                max: self.max_batch_bytes,
                field: "max_batch_bytes",
            });
        }
        for op in batch.ops() {
            self.check_key(op.key())?;
            if let BatchOp::Put { value, .. } = op {
                self.check_value(value)?;
            }
        }
        Ok(())
    }
}
