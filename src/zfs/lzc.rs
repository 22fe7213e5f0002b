//! libzfs_core, loaded at run time: holds, releases, bookmarks and bookmark destroys for any number of
//! snapshots or bookmarks of one pool in one ioctl, which ZFS carries out as one sync task: atomically, in one
//! transaction group. The `zfs` command cannot do that: `zfs hold TAG a b c` opens each snapshot and makes one
//! ioctl (one transaction group to wait for) per name, and `zfs bookmark` and `zfs destroy fs#bm` take one
//! name each (channel programs can create bookmarks but neither hold, release nor destroy them, and need
//! root).
//!
//! The library (`libzfs_core.so.3` with `libnvpair.so.3`, part of every OpenZFS install since 0.8) is opened
//! with `dlopen`, so zreplrs neither links against nor requires it: where it is missing, `/dev/zfs` cannot
//! be opened, or `ZREPLRS_LZC=off` is set, [`get`] is `None` and the adapter runs `zfs` as before. Each call
//! here is all or nothing: ZFS checks every entry before it changes any. Any error (an existing hold, a
//! missing tag, a permission, anything) returns `Err` with nothing changed, and the adapter then runs the
//! `zfs` command, which makes the same change idempotently and reports errors in ZFS's own words. (The one
//! exception to all or nothing is ZFS's own: a hold or release skips a snapshot that does not exist, lists it
//! as failed and applies the rest; the `zfs` command run after it then finds those already done.)

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::OnceLock;

use libloading::Library;

type Nvl = *mut c_void;
type NvPair = *mut c_void;

/// The functions used, resolved once.
pub struct Lzc {
    nvlist_alloc: unsafe extern "C" fn(*mut Nvl, c_uint, c_int) -> c_int,
    nvlist_free: unsafe extern "C" fn(Nvl),
    nvlist_add_string: unsafe extern "C" fn(Nvl, *const c_char, *const c_char) -> c_int,
    nvlist_add_boolean: unsafe extern "C" fn(Nvl, *const c_char) -> c_int,
    nvlist_add_nvlist: unsafe extern "C" fn(Nvl, *const c_char, Nvl) -> c_int,
    nvlist_next_nvpair: unsafe extern "C" fn(Nvl, NvPair) -> NvPair,
    nvpair_name: unsafe extern "C" fn(NvPair) -> *const c_char,
    nvpair_value_uint64: unsafe extern "C" fn(NvPair, *mut u64) -> c_int,
    lzc_hold: unsafe extern "C" fn(Nvl, c_int, *mut Nvl) -> c_int,
    lzc_release: unsafe extern "C" fn(Nvl, *mut Nvl) -> c_int,
    lzc_bookmark: unsafe extern "C" fn(Nvl, *mut Nvl) -> c_int,
    lzc_destroy_bookmarks: unsafe extern "C" fn(Nvl, *mut Nvl) -> c_int,
    lzc_get_holds: unsafe extern "C" fn(*const c_char, *mut Nvl) -> c_int,
    // Kept open for the life of the process: the pointers above point into them.
    _libs: [Library; 2],
}

/// nvlist flag: each name at most once.
const NV_UNIQUE_NAME: c_uint = 1;
/// `EINVAL`, for names that cannot be passed to C.
const EINVAL: i32 = 22;
/// `ENOENT`, for a call whose error list names an entry (ZFS lists missing snapshots there without failing
/// the call).
const ENOENT: i32 = 2;

/// Why a call did not take effect: the errno ZFS returned (or that of the first failing entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

/// The loaded library, or `None` (see the module documentation). Loaded on first use.
pub fn get() -> Option<&'static Lzc> {
    static LZC: OnceLock<Option<Lzc>> = OnceLock::new();
    LZC.get_or_init(|| {
        if std::env::var_os("ZREPLRS_LZC").is_some_and(|v| v == "off") {
            return None;
        }
        load()
    })
    .as_ref()
}

fn load() -> Option<Lzc> {
    // SAFETY: these are the system's OpenZFS libraries, whose initialisers only set up their own state; each
    // symbol is given the C signature of its declaration in libnvpair.h and libzfs_core.h, which have been
    // stable for all library versions with these sonames.
    unsafe {
        let nvpair = Library::new("libnvpair.so.3").ok()?;
        let core = Library::new("libzfs_core.so.3").ok()?;
        let init: libloading::Symbol<unsafe extern "C" fn() -> c_int> = core.get(b"libzfs_core_init\0").ok()?;
        if init() != 0 {
            // No /dev/zfs (no ZFS module) or no permission to open it.
            return None;
        }
        let lzc = Lzc {
            nvlist_alloc: *nvpair.get(b"nvlist_alloc\0").ok()?,
            nvlist_free: *nvpair.get(b"nvlist_free\0").ok()?,
            nvlist_add_string: *nvpair.get(b"nvlist_add_string\0").ok()?,
            nvlist_add_boolean: *nvpair.get(b"nvlist_add_boolean\0").ok()?,
            nvlist_add_nvlist: *nvpair.get(b"nvlist_add_nvlist\0").ok()?,
            nvlist_next_nvpair: *nvpair.get(b"nvlist_next_nvpair\0").ok()?,
            nvpair_name: *nvpair.get(b"nvpair_name\0").ok()?,
            nvpair_value_uint64: *nvpair.get(b"nvpair_value_uint64\0").ok()?,
            lzc_hold: *core.get(b"lzc_hold\0").ok()?,
            lzc_release: *core.get(b"lzc_release\0").ok()?,
            lzc_bookmark: *core.get(b"lzc_bookmark\0").ok()?,
            lzc_destroy_bookmarks: *core.get(b"lzc_destroy_bookmarks\0").ok()?,
            lzc_get_holds: *core.get(b"lzc_get_holds\0").ok()?,
            _libs: [core, nvpair],
        };
        Some(lzc)
    }
}

/// An nvlist we own, freed on drop.
struct List<'a> {
    lzc: &'a Lzc,
    ptr: Nvl,
}

impl Drop for List<'_> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` came from nvlist_alloc or a library call that hands the list to the caller.
            unsafe { (self.lzc.nvlist_free)(self.ptr) }
        }
    }
}

fn cstr(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno(EINVAL))
}

impl Lzc {
    fn list(&self) -> Result<List<'_>, Errno> {
        let mut ptr: Nvl = std::ptr::null_mut();
        // SAFETY: nvlist_alloc writes a new list to `ptr` or returns an errno.
        let rc = unsafe { (self.nvlist_alloc)(&mut ptr, NV_UNIQUE_NAME, 0) };
        if rc != 0 || ptr.is_null() {
            return Err(Errno(rc));
        }
        Ok(List { lzc: self, ptr })
    }

    fn add_string(&self, l: &List<'_>, name: &str, value: &str) -> Result<(), Errno> {
        let (n, v) = (cstr(name)?, cstr(value)?);
        // SAFETY: valid list and NUL-terminated strings; the list copies them.
        check(unsafe { (self.nvlist_add_string)(l.ptr, n.as_ptr(), v.as_ptr()) })
    }

    fn add_boolean(&self, l: &List<'_>, name: &str) -> Result<(), Errno> {
        let n = cstr(name)?;
        // SAFETY: as above.
        check(unsafe { (self.nvlist_add_boolean)(l.ptr, n.as_ptr()) })
    }

    fn add_list(&self, l: &List<'_>, name: &str, value: &List<'_>) -> Result<(), Errno> {
        let n = cstr(name)?;
        // SAFETY: as above; the outer list copies the inner one.
        check(unsafe { (self.nvlist_add_nvlist)(l.ptr, n.as_ptr(), value.ptr) })
    }

    /// The pairs of a list, as (name, pair).
    fn pairs(&self, l: &List<'_>) -> Vec<(String, NvPair)> {
        let mut out = Vec::new();
        if l.ptr.is_null() {
            return out;
        }
        let mut p: NvPair = std::ptr::null_mut();
        loop {
            // SAFETY: walking a valid list from its start; each pair stays valid while the list lives.
            p = unsafe { (self.nvlist_next_nvpair)(l.ptr, p) };
            if p.is_null() {
                return out;
            }
            // SAFETY: a pair's name is a NUL-terminated string owned by the list.
            let name = unsafe { CStr::from_ptr((self.nvpair_name)(p)) };
            out.push((name.to_string_lossy().into_owned(), p));
        }
    }

    /// Runs a call that takes one list and may hand back an error list: success only when it returned 0 and
    /// listed no failed entry (a missing snapshot is listed without failing the call).
    fn call(&self, f: impl FnOnce(&mut Nvl) -> c_int) -> Result<(), Errno> {
        let mut errs: Nvl = std::ptr::null_mut();
        let rc = f(&mut errs);
        let errs = List { lzc: self, ptr: errs };
        check(rc)?;
        match self.pairs(&errs).first() {
            Some(_) => Err(Errno(ENOENT)),
            None => Ok(()),
        }
    }

    /// Puts `tag` on every snapshot (all of one pool) in one transaction group. Fails if any already
    /// carries it or does not exist.
    pub fn hold(&self, tag: &str, snapshots: &[&str]) -> Result<(), Errno> {
        let l = self.list()?;
        for s in snapshots {
            self.add_string(&l, s, tag)?;
        }
        // SAFETY: valid list; cleanup_fd -1 makes the holds permanent; the error list is ours to free.
        self.call(|errs| unsafe { (self.lzc_hold)(l.ptr, -1, errs) })
    }

    /// Releases `tag` from every snapshot (all of one pool) in one transaction group. Fails if any does not
    /// carry it.
    pub fn release(&self, tag: &str, snapshots: &[&str]) -> Result<(), Errno> {
        let l = self.list()?;
        let tags = self.list()?;
        self.add_boolean(&tags, tag)?;
        for s in snapshots {
            self.add_list(&l, s, &tags)?;
        }
        // SAFETY: as above.
        self.call(|errs| unsafe { (self.lzc_release)(l.ptr, errs) })
    }

    /// Creates each bookmark (full name) of its source snapshot or bookmark, all of one pool, in one
    /// transaction group. Fails if any exists.
    pub fn bookmark(&self, bookmarks: &[(&str, &str)]) -> Result<(), Errno> {
        let l = self.list()?;
        for (bookmark, source) in bookmarks {
            self.add_string(&l, bookmark, source)?;
        }
        // SAFETY: as above.
        self.call(|errs| unsafe { (self.lzc_bookmark)(l.ptr, errs) })
    }

    /// Destroys the bookmarks (all of one pool) in one transaction group; missing ones are ignored by ZFS.
    pub fn destroy_bookmarks(&self, bookmarks: &[&str]) -> Result<(), Errno> {
        let l = self.list()?;
        for b in bookmarks {
            self.add_boolean(&l, b)?;
        }
        // SAFETY: as above.
        self.call(|errs| unsafe { (self.lzc_destroy_bookmarks)(l.ptr, errs) })
    }

    /// The user holds on one snapshot: tag → when it was put (Unix seconds). Read-only, no transaction.
    pub fn holds(&self, snapshot: &str) -> Result<BTreeMap<String, u64>, Errno> {
        let name = cstr(snapshot)?;
        let mut ptr: Nvl = std::ptr::null_mut();
        // SAFETY: valid name; the library hands a new list to `ptr` on success.
        let rc = unsafe { (self.lzc_get_holds)(name.as_ptr(), &mut ptr) };
        let l = List { lzc: self, ptr };
        check(rc)?;
        let mut out = BTreeMap::new();
        for (tag, p) in self.pairs(&l) {
            let mut since = 0u64;
            // SAFETY: a valid pair of the list; ZFS stores each hold's time as uint64.
            check(unsafe { (self.nvpair_value_uint64)(p, &mut since) })?;
            out.insert(tag, since);
        }
        Ok(out)
    }
}

fn check(rc: c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno(rc))
    }
}

/// The pool of a dataset, snapshot or bookmark name: everything before the first `/`, `@` or `#`.
pub fn pool_of(name: &str) -> &str {
    let end = name.find(['/', '@', '#']).unwrap_or(name.len());
    &name[..end]
}

/// Groups names by pool (each library call takes names of one pool), keeping their order within a pool.
pub fn by_pool<'a, T, F: Fn(&'a T) -> &'a str>(items: &'a [T], name: F) -> BTreeMap<&'a str, Vec<&'a T>> {
    let mut out: BTreeMap<&str, Vec<&T>> = BTreeMap::new();
    for i in items {
        out.entry(pool_of(name(i))).or_default().push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_grouped_by_pool() {
        assert_eq!(pool_of("tank/a/b@s1"), "tank");
        assert_eq!(pool_of("tank@s1"), "tank");
        assert_eq!(pool_of("tank#bm"), "tank");
        assert_eq!(pool_of("tank"), "tank");
        let names = ["b/x@1", "a/y@1", "b/z@2", "a@3"];
        let g = by_pool(&names, |n| n);
        assert_eq!(g.keys().copied().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(g["a"], [&"a/y@1", &"a@3"]);
        assert_eq!(g["b"], [&"b/x@1", &"b/z@2"]);
    }

    #[test]
    fn names_with_a_nul_cannot_reach_c() {
        assert_eq!(cstr("a\0b"), Err(Errno(EINVAL)));
        assert!(cstr("tank/a@b").is_ok());
    }
}
