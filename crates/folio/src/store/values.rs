//! Values in slots: writing a value into a slot, reading and
//! verifying it.

use xxhash_rust::xxh3::xxh3_64;

use super::Inner;
use super::Located;
use crate::buffer::PageDevice;
use crate::disk::{Allocation, Extent, PageAddr, SlotAddr};
use crate::error::{Error, Result};
use crate::index::Entry;
use crate::kv::{BatchOp, WriteBatch};

impl Inner {
    /// Writes `value` into a new slot and returns its index value, which
    /// owns the slot: if anything fails before it is in the index, dropping
    /// it frees the slot.
    pub(super) fn store_value(&self, value: &[u8]) -> Result<Located> {
        let checksum = xxh3_64(value);
        let len = u32::try_from(value.len()).expect("values are under 16 MiB");
        if value.is_empty() {
            return Ok(self.index.located(Entry {
                slot: None,
                len,
                checksum,
            }));
        }
        let alloc = self.disk.allocate(value.len()).inspect_err(|e| {
            if matches!(e, Error::Poisoned { .. }) {
                self.poison(e);
            }
        })?;
        let located = self.index.located(Entry {
            slot: Some(alloc.slot),
            len,
            checksum,
        });
        self.write_slot(alloc, value)?;
        Ok(located)
    }

    fn write_slot(&self, alloc: Allocation, value: &[u8]) -> Result<()> {
        for ext in self.disk.extents(alloc.slot, value.len())? {
            let piece = &value[ext.value_offset..ext.value_offset + ext.len];
            // A page-class slot owns its pages whole: no need to read them.
            // A sub-page slot shares its page with others: read-modify-write.
            let mut page = if ext.whole_page {
                self.pool.new_page(ext.page)?
            } else {
                self.pool.fetch_page_mut(ext.page)?
            };
            page[ext.offset..ext.offset + ext.len].copy_from_slice(piece);
            if ext.whole_page {
                page[ext.len..].fill(0);
            }
        }
        Ok(())
    }

    /// Writes every put's value into a slot. On failure the values staged
    /// so far are dropped, which frees their slots.
    pub(super) fn stage_batch<'b>(
        &self,
        batch: &'b WriteBatch,
    ) -> Result<Vec<(&'b [u8], Option<Located>)>> {
        batch
            .ops()
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value } => Ok((key.as_slice(), Some(self.store_value(value)?))),
                BatchOp::Delete { key } => Ok((key.as_slice(), None)),
            })
            .collect()
    }

    /// Copies the value of `entry` out of the buffer pool and verifies it.
    pub(super) fn read_value(&self, entry: &Entry) -> Result<Vec<u8>> {
        let Some(slot) = entry.slot else {
            return Ok(Vec::new());
        };
        let len = entry.len as usize;
        let extents = self.disk.extents(slot, len)?;
        if let [ext] = extents[..] {
            if ext.whole_page {
                match self.read_page_value(entry, slot, ext) {
                    Err(Error::Poisoned { .. }) => {} // read around the pool
                    done => return done,
                }
            }
        }
        let mut out = Vec::with_capacity(len);
        for ext in extents {
            self.with_page(ext.page, |page| {
                out.extend_from_slice(&page[ext.offset..ext.offset + ext.len]);
            })?;
        }
        if xxh3_64(&out) != entry.checksum {
            return Err(self.checksum_mismatch(slot, len));
        }
        Ok(out)
    }

    /// A value that is the only one on its page (a page image): verified
    /// once after the page is loaded, not on every read. The frame keeps the
    /// checksum it was verified against until its bytes change.
    fn read_page_value(&self, entry: &Entry, slot: SlotAddr, ext: Extent) -> Result<Vec<u8>> {
        let page = self.pool.fetch_page(ext.page)?;
        let bytes = &page[ext.offset..ext.offset + ext.len];
        if page.verified_checksum() != entry.checksum || entry.checksum == 0 {
            if xxh3_64(bytes) != entry.checksum {
                return Err(self.checksum_mismatch(slot, bytes.len()));
            }
            page.mark_verified(entry.checksum);
        }
        Ok(bytes.to_vec())
    }

    /// Runs `f` on the bytes of page `addr`. When the store is poisoned and
    /// every free frame holds a page that cannot be written back, the page
    /// is read from disk around the pool: with writes refused, a page not in
    /// the pool is current on disk — reads keep working.
    fn with_page(&self, addr: PageAddr, f: impl FnOnce(&[u8])) -> Result<()> {
        match self.pool.fetch_page(addr) {
            Ok(page) => {
                f(&page);
                Ok(())
            }
            Err(Error::Poisoned { .. }) => {
                let mut buf = vec![0u8; self.config.page_bytes];
                self.disk.read_page(addr, &mut buf)?;
                f(&buf);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn checksum_mismatch(&self, slot: SlotAddr, len: usize) -> Error {
        let offset = self.disk.slot_offset(slot).ok();
        Error::corruption(
            self.disk.segment_path(slot.segment),
            offset,
            format!(
                "value checksum mismatch ({len} bytes in slot {})",
                slot.slot.0
            ),
        )
    }
}
