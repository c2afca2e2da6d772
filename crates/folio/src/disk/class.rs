//! Size classes: which slot size a value of a given length takes.
//!
//! Sub-page classes step by roughly a quarter of a doubling (multiples of 16
//! bytes from 16 up to half a page), packing `page / slot` slots per page so
//! no slot straddles a page. Values over half a page take page-class slots: a
//! run of `n` whole pages, exact for 1..=8 pages, then a quarter of a
//! doubling apart, up to a segment less its header page. An 8 KiB value in an
//! 8 KiB-page store takes exactly one page.

/// Index of a class in [`SizeClasses`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(pub u16);

/// How a class lays its slots out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotShape {
    /// Several slots per page.
    SubPage {
        /// Slots in one page.
        per_page: u32,
    },
    /// One slot is `pages` contiguous whole pages.
    Pages {
        /// Pages per slot.
        pages: u32,
    },
}

/// One size class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeClass {
    /// Largest value a slot holds.
    pub slot_bytes: u32,
    /// Layout of the slots.
    pub shape: SlotShape,
    /// Slots in one segment.
    pub slots_per_segment: u32,
}

/// The size classes of a store with a given page size.
#[derive(Debug, Clone)]
pub struct SizeClasses {
    classes: Vec<SizeClass>,
}

impl SizeClasses {
    /// The classes for `page_bytes` pages in segments of `segment_bytes`.
    pub fn new(page_bytes: usize, segment_bytes: usize) -> Self {
        let data_pages = u32::try_from(segment_bytes / page_bytes - 1).unwrap_or(u32::MAX);
        let page = u32::try_from(page_bytes).unwrap_or(u32::MAX);
        let mut classes = Vec::new();
        for slot in quarter_steps(16, page / 2, 16) {
            let per_page = page / slot;
            classes.push(SizeClass {
                slot_bytes: slot,
                shape: SlotShape::SubPage { per_page },
                slots_per_segment: data_pages * per_page,
            });
        }
        let mut page_counts: Vec<u32> = (1..=8).collect();
        page_counts.extend(quarter_steps(8, data_pages, 1).filter(|&n| n > 8));
        if page_counts.last() != Some(&data_pages) {
            page_counts.push(data_pages);
        }
        for pages in page_counts.into_iter().filter(|&n| n <= data_pages) {
            classes.push(SizeClass {
                slot_bytes: pages * page,
                shape: SlotShape::Pages { pages },
                slots_per_segment: data_pages / pages,
            });
        }
        SizeClasses { classes }
    }

    /// The smallest class whose slot holds `len` bytes (`len` must be at
    /// least 1 and at most the largest class).
    pub fn class_for(&self, len: usize) -> Option<ClassId> {
        let i = self
            .classes
            .partition_point(|c| (c.slot_bytes as usize) < len);
        (i < self.classes.len()).then(|| ClassId(u16::try_from(i).unwrap_or(u16::MAX)))
    }

    /// The class with id `id`, if it exists.
    pub fn get(&self, id: ClassId) -> Option<&SizeClass> {
        self.classes.get(usize::from(id.0))
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// True when there is no class (never, for a valid page size).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

/// `start, ...` up to `end` inclusive: each doubling split in four steps,
/// every step a multiple of `align`.
fn quarter_steps(start: u32, end: u32, align: u32) -> impl Iterator<Item = u32> {
    let mut steps = Vec::new();
    let mut base = start;
    while base <= end {
        for q in 0..4 {
            let step = (base + base * q / 4) / align * align;
            if step <= end && steps.last() != Some(&step) {
                steps.push(step);
            }
        }
        base *= 2;
    }
    steps.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::SEGMENT_BYTES;

    #[test]
    fn eight_kib_value_takes_exactly_one_page() {
        let c = SizeClasses::new(8192, SEGMENT_BYTES);
        let class = c.get(c.class_for(8192).unwrap()).unwrap();
        assert_eq!(class.slot_bytes, 8192);
        assert_eq!(class.shape, SlotShape::Pages { pages: 1 });
        assert_eq!(class.slots_per_segment, 2047);
    }

    #[test]
    fn classes_are_increasing_and_cover_up_to_a_segment_less_a_page() {
        for page in [4096usize, 8192, 65536] {
            let c = SizeClasses::new(page, SEGMENT_BYTES);
            let max = SEGMENT_BYTES - page;
            assert!(c.class_for(max).is_some());
            assert!(c.class_for(max + 1).is_none());
            for w in c.classes.windows(2) {
                assert!(w[0].slot_bytes < w[1].slot_bytes);
            }
            for class in &c.classes {
                if let SlotShape::SubPage { per_page } = class.shape {
                    assert!(per_page * class.slot_bytes <= u32::try_from(page).unwrap());
                    assert_eq!(class.slot_bytes % 16, 0);
                }
                assert!(class.slots_per_segment >= 1);
            }
        }
    }

    #[test]
    fn waste_is_bounded() {
        let c = SizeClasses::new(8192, SEGMENT_BYTES);
        for len in (17..=(SEGMENT_BYTES - 8192)).step_by(997) {
            let slot = c.get(c.class_for(len).unwrap()).unwrap().slot_bytes as usize;
            assert!(slot >= len);
            // Quarter steps waste at most ~25%; up to 8 pages a value is
            // rounded up to whole pages and no further.
            let bound = (len * 5 / 4 + 16).max(len.next_multiple_of(8192));
            assert!(slot <= bound, "len {len} slot {slot}");
        }
    }
}
