//! Listings larger than one frame: the agent splits a [`ListReply`] into pages of a bounded encoded size
//! ([`split`]), and the sender joins the pages again ([`Joiner`]), with a bound on the whole listing.
//!
//! A page is an ordinary `ListReply` with `more = true` on all but the last. A filesystem whose snapshots
//! do not fit in what is left of a page continues on the next: the next page starts with an entry of the
//! same name carrying only more `versions`.

use crate::error::Failure;
use prost::Message;

use crate::agent::wire::proto::{FsEntry, ListReply};

/// Smallest page the agent makes, whatever the sender asks for (an entry without versions always fits).
pub const MIN_PAGE: u32 = 64 << 10;
/// Most filesystems plus snapshots and bookmarks the sender accepts in one listing: a few million, far
/// beyond real pools, and a bound on what a hostile receiver can make the sender hold.
pub const MAX_LISTED: usize = 4_000_000;

/// Room an element takes in its parent beyond its own encoding: tag byte and length varint.
const FIELD_OVERHEAD: usize = 6;

/// Splits `reply` into pages of at most `page_bytes` encoded bytes each (clamped to
/// [`MIN_PAGE`]..=`max`), in order; `page_bytes == 0` keeps it whole.
pub fn split(mut reply: ListReply, page_bytes: u32, max: u32) -> Vec<ListReply> {
    if page_bytes == 0 {
        return vec![reply];
    }
    let limit = page_bytes.clamp(MIN_PAGE.min(max), max) as usize;
    let empty = ListReply {
        filesystems: Vec::new(),
        more: true,
        ..reply.clone()
    };
    // The page's own fields, with room for the envelope around it.
    let base = empty.encoded_len() + 2 * FIELD_OVERHEAD;
    let mut pages = Vec::new();
    let mut page = empty.clone();
    let mut used = base;
    for mut entry in std::mem::take(&mut reply.filesystems) {
        let versions = std::mem::take(&mut entry.versions);
        let head = entry.encoded_len() + 2 * FIELD_OVERHEAD;
        if used + head > limit && !page.filesystems.is_empty() {
            pages.push(std::mem::replace(&mut page, empty.clone()));
            used = base;
        }
        let name = entry.name.clone();
        page.filesystems.push(entry);
        used += head;
        for v in versions {
            let len = v.encoded_len() + FIELD_OVERHEAD;
            if used + len > limit {
                pages.push(std::mem::replace(&mut page, empty.clone()));
                page.filesystems.push(FsEntry {
                    name: name.clone(),
                    ..Default::default()
                });
                used = base + name.len() + 2 * FIELD_OVERHEAD;
            }
            if let Some(last) = page.filesystems.last_mut() {
                last.versions.push(v);
            }
            used += len;
        }
    }
    page.more = false;
    pages.push(page);
    pages
}

/// Joins the pages of one listing as they arrive.
#[derive(Debug, Default)]
pub struct Joiner {
    listing: Option<ListReply>,
    elements: usize,
}

impl Joiner {
    /// Adds the next page; `Ok(true)` while more pages follow. Refuses a listing over [`MAX_LISTED`]
    /// elements and a page that announces more but carries nothing.
    pub fn add(&mut self, page: ListReply) -> Result<bool, Failure> {
        let more = page.more;
        if more && page.filesystems.is_empty() {
            return Err(Failure::protocol(
                "the receiver sent an empty listing page that announces more",
            ));
        }
        self.elements = self
            .elements
            .saturating_add(page.filesystems.len())
            .saturating_add(page.filesystems.iter().map(|f| f.versions.len()).sum());
        if self.elements > MAX_LISTED {
            return Err(Failure::protocol(format!(
                "the receiver's listing has more than {MAX_LISTED} filesystems, snapshots and bookmarks"
            )));
        }
        let mut page = page;
        let entries = std::mem::take(&mut page.filesystems);
        let listing = self.listing.get_or_insert(page);
        for entry in entries {
            match listing.filesystems.last_mut() {
                Some(last) if last.name == entry.name => last.versions.extend(entry.versions),
                _ => listing.filesystems.push(entry),
            }
        }
        Ok(more)
    }

    /// The whole listing (`more` false).
    pub fn finish(self) -> ListReply {
        let mut l = self.listing.unwrap_or_default();
        l.more = false;
        l
    }
}

#[cfg(test)]
mod tests {
    use super::super::proto::Version;
    use super::*;

    fn listing(filesystems: usize, versions: usize) -> ListReply {
        ListReply {
            filesystems: (0..filesystems)
                .map(|f| FsEntry {
                    name: format!("tank/fs{f}"),
                    guid: 1000 + f as u64,
                    resume_token: if f == 1 { "1-abc".into() } else { String::new() },
                    versions: (0..versions)
                        .map(|i| Version {
                            short: format!("zrepl_20261202_141937_{i:06}"),
                            guid: u64::MAX - i as u64,
                            createtxg: i as u64,
                            userrefs: Some(1),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            root_exists: true,
            filesystems_only: false,
            listed_at: 1_800_000_000,
            more: false,
        }
    }

    fn join(pages: Vec<ListReply>) -> ListReply {
        let mut j = Joiner::default();
        let n = pages.len();
        for (i, p) in pages.into_iter().enumerate() {
            assert_eq!(j.add(p), Ok(i + 1 < n), "page {i}: more on all but the last");
        }
        j.finish()
    }

    #[test]
    fn pages_stay_within_the_size_and_join_back_to_the_listing() {
        let whole = listing(5, 6000);
        for page_bytes in [MIN_PAGE, 100_000, 1 << 20] {
            let pages = split(whole.clone(), page_bytes, 16 << 20);
            assert!(pages.len() > 1, "{page_bytes}");
            for p in &pages {
                assert!(
                    p.encoded_len() + 12 <= page_bytes as usize,
                    "{} > {page_bytes}",
                    p.encoded_len()
                );
                assert!(!p.filesystems.is_empty());
            }
            assert_eq!(join(pages), whole, "{page_bytes}");
        }
        assert_eq!(split(whole.clone(), 0, 16 << 20), vec![whole.clone()]);
        assert_eq!(
            split(whole.clone(), 64 << 20, 16 << 20).len(),
            1,
            "clamped to the frame limit"
        );
        let empty = listing(0, 0);
        assert_eq!(join(split(empty.clone(), MIN_PAGE, 16 << 20)), empty);
    }

    #[test]
    fn one_filesystem_larger_than_a_frame_is_split() {
        // About 19 MiB of versions on one filesystem: more than one 16 MiB frame.
        let whole = listing(1, 400_000);
        assert!(whole.encoded_len() > 16 << 20);
        let pages = split(whole.clone(), 4 << 20, 16 << 20);
        assert!(pages.len() >= 5);
        assert!(pages.iter().all(|p| p.filesystems.len() == 1));
        assert_eq!(join(pages), whole);
    }

    /// A hostile receiver: endless pages, or empty pages that announce more.
    #[test]
    fn the_joined_listing_is_bounded() {
        let mut j = Joiner::default();
        let page = ListReply {
            more: true,
            ..listing(1, 100_000)
        };
        let mut refused = None;
        for i in 0..100 {
            if let Err(e) = j.add(page.clone()) {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("refused at the bound");
        assert_eq!(i, MAX_LISTED / 100_001);
        assert!(e.message.contains("more than 4000000"), "{e}");
        let mut j = Joiner::default();
        let err = j
            .add(ListReply {
                more: true,
                ..Default::default()
            })
            .unwrap_err();
        assert!(err.message.contains("empty listing page"), "{err}");
    }
}
