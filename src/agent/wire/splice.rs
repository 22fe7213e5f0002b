//! Moving `zfs send` stream bytes between pipes without copying them through user space.
//!
//! The stream passes through zreplrs twice (the sender frames it, the agent unframes it); copying it through
//! a buffer at each hop costs two copies and as many syscalls as the pipes have room for. With splice(2) the
//! kernel moves the pipe pages instead: the sender splices `zfs send`'s stdout into a staging pipe (the
//! chunk's length is then known for its DATA header) and from there into the connection; the agent splices
//! each DATA payload from its input straight into `zfs receive`'s stdin. Where an end is not something splice
//! supports (a test's socket pair, an old kernel), the same calls fall back to read/write.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, splice, FcntlArg, SpliceFFlags};

/// Pipe buffer size we ask for (Linux's default `pipe-max-size`): fewer wakeups per MiB than the default 64 KiB.
pub const PIPE_SIZE: usize = 1 << 20;

/// A readable end that splice may also take bytes from.
pub trait FdRead: Read + AsFd {}
impl<T: Read + AsFd> FdRead for T {}

/// A writable end that splice may also deliver bytes to.
pub trait FdWrite: Write + AsFd + Send {}
impl<T: Write + AsFd + Send> FdWrite for T {}

/// Asks for a [`PIPE_SIZE`] buffer on `fd`, best effort: not a pipe, or over the user's limit, changes nothing.
pub fn enlarge_pipe(fd: BorrowedFd<'_>) {
    let size = i32::try_from(PIPE_SIZE).unwrap_or(i32::MAX);
    let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(size));
}

/// Whether a splice error means "these descriptors cannot be spliced" (rather than an I/O failure).
fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EBADF)
}

/// Moves a byte stream chunk by chunk: [`fill`](Self::fill) takes the next chunk from the source, so that its
/// length is known (for a frame header) before [`deliver`](Self::deliver) passes it on.
pub struct ChunkMover {
    staging: Option<(std::io::PipeReader, std::io::PipeWriter)>,
    buf: Vec<u8>,
    /// Bytes of the current chunk held in `buf` (copy mode) rather than in the staging pipe.
    in_buf: bool,
}

impl Default for ChunkMover {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkMover {
    /// A mover that splices through a staging pipe when it can be made, else copies.
    pub fn new() -> Self {
        let staging = std::io::pipe().ok();
        if let Some((r, _)) = &staging {
            enlarge_pipe(r.as_fd());
        }
        ChunkMover {
            staging,
            buf: Vec::new(),
            in_buf: false,
        }
    }

    /// A mover that always copies through a buffer (the reference behaviour, for tests and comparison).
    pub fn copying() -> Self {
        ChunkMover {
            staging: None,
            buf: Vec::new(),
            in_buf: false,
        }
    }

    /// Whether chunks currently travel by splice.
    pub fn splicing(&self) -> bool {
        self.staging.is_some()
    }

    /// Takes the next chunk (at most [`PIPE_SIZE`] bytes) from `src`, blocking until some bytes or the end of
    /// the stream arrive. Returns its length; 0 is the end of the stream.
    pub fn fill<R: FdRead + ?Sized>(&mut self, src: &mut R) -> io::Result<usize> {
        self.fill_at_most(src, PIPE_SIZE)
    }

    /// [`fill`](Self::fill) with chunks of at most `max` bytes (at most [`PIPE_SIZE`]; 0 counts as 1).
    pub fn fill_at_most<R: FdRead + ?Sized>(&mut self, src: &mut R, max: usize) -> io::Result<usize> {
        let max = max.clamp(1, PIPE_SIZE);
        if let Some((_, w)) = &self.staging {
            loop {
                match splice(src.as_fd(), None, w.as_fd(), None, max, SpliceFFlags::empty()) {
                    Ok(n) => {
                        self.in_buf = false;
                        return Ok(n);
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) if unsupported(e) => {
                        self.staging = None;
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if self.buf.len() != PIPE_SIZE {
            self.buf.resize(PIPE_SIZE, 0);
        }
        loop {
            match src.read(&mut self.buf[..max]) {
                Ok(n) => {
                    self.in_buf = true;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The `n` bytes taken by the last [`fill`](Self::fill) of a [`copying`](Self::copying) mover, in memory
    /// (empty when they are in the staging pipe).
    pub fn chunk(&self, n: usize) -> &[u8] {
        if self.in_buf {
            &self.buf[..n.min(self.buf.len())]
        } else {
            &[]
        }
    }

    /// Passes the `n` bytes taken by the last [`fill`](Self::fill) on to `dst` (blocking until they are all
    /// written).
    pub fn deliver<W: FdWrite + ?Sized>(&mut self, n: usize, dst: &mut W) -> io::Result<()> {
        if self.in_buf {
            return dst.write_all(&self.buf[..n]);
        }
        let Some((r, _)) = &self.staging else {
            return Err(io::Error::other("no chunk to deliver"));
        };
        let mut left = n;
        while left > 0 {
            match splice(r.as_fd(), None, dst.as_fd(), None, left, SpliceFFlags::empty()) {
                Ok(0) => return Err(io::Error::other("the staging pipe ran dry")),
                Ok(m) => left -= m,
                Err(Errno::EINTR) => {}
                Err(e) if unsupported(e) => {
                    // `dst` cannot take spliced pages: copy the rest of this chunk out, and copy from now on.
                    let Some((mut r, _)) = self.staging.take() else {
                        return Err(io::Error::other("no staging pipe"));
                    };
                    self.buf.resize(left, 0);
                    r.read_exact(&mut self.buf[..left])?;
                    return dst.write_all(&self.buf[..left]);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Why [`move_exact`] stopped.
#[derive(Debug)]
pub enum MoveError {
    /// Reading the source failed.
    Input(io::Error),
    /// The source ended after this many of the requested bytes.
    Truncated { expected: usize, got: usize },
    /// Writing the destination failed (for `zfs receive`'s stdin: the receive gave up) after `consumed` of
    /// the requested bytes were taken from the source.
    Output { error: io::Error, consumed: usize },
}

/// Moves exactly `len` bytes from `src` to `dst`, by splice when both ends allow it. `buf` is the fallback's
/// buffer; `*splice_ok` is cleared (and stays cleared) once splice turns out not to work for these ends.
pub fn move_exact<R: FdRead + ?Sized, W: Write + AsFd + ?Sized>(
    src: &mut R,
    dst: &mut W,
    len: usize,
    buf: &mut Vec<u8>,
    splice_ok: &mut bool,
) -> Result<(), MoveError> {
    let mut done = 0usize;
    while *splice_ok && done < len {
        match splice(src.as_fd(), None, dst.as_fd(), None, len - done, SpliceFFlags::empty()) {
            Ok(0) => {
                return Err(MoveError::Truncated {
                    expected: len,
                    got: done,
                })
            }
            Ok(m) => done += m,
            Err(Errno::EINTR) => {}
            Err(e) if unsupported(e) => *splice_ok = false,
            // splice does not say which end failed; a closed reader is the one error we can attribute.
            Err(Errno::EPIPE) => {
                return Err(MoveError::Output {
                    error: Errno::EPIPE.into(),
                    consumed: done,
                })
            }
            Err(e) => return Err(MoveError::Input(e.into())),
        }
    }
    while done < len {
        let want = (len - done).min(PIPE_SIZE);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let m = match src.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(MoveError::Truncated {
                    expected: len,
                    got: done,
                })
            }
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(MoveError::Input(e)),
        };
        done += m;
        dst.write_all(&buf[..m])
            .map_err(|error| MoveError::Output { error, consumed: done })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Writes `data` into a new pipe from a thread and returns the read end.
    fn feed(data: Vec<u8>) -> (std::io::PipeReader, std::thread::JoinHandle<()>) {
        let (r, mut w) = std::io::pipe().expect("pipe");
        let t = std::thread::spawn(move || {
            w.write_all(&data).expect("write");
        });
        (r, t)
    }

    /// Collects everything from a pipe's read end in a thread.
    fn collect(mut r: std::io::PipeReader) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).expect("read");
            v
        })
    }

    fn run_mover(mut mover: ChunkMover, data: &[u8]) -> (Vec<u8>, usize) {
        let (mut src, feeder) = feed(data.to_vec());
        let (out_r, mut out_w) = std::io::pipe().expect("pipe");
        let collector = collect(out_r);
        let mut chunks = 0;
        loop {
            let n = mover.fill(&mut src).expect("fill");
            if n == 0 {
                break;
            }
            assert!(n <= PIPE_SIZE);
            mover.deliver(n, &mut out_w).expect("deliver");
            chunks += 1;
        }
        drop(out_w);
        feeder.join().expect("feeder");
        (collector.join().expect("collector"), chunks)
    }

    #[test]
    fn chunk_mover_splices_pipe_to_pipe_exactly() {
        let data = pattern(5 * PIPE_SIZE + 12345);
        let mover = ChunkMover::new();
        assert!(mover.splicing());
        let (got, chunks) = run_mover(mover, &data);
        assert_eq!(got.len(), data.len());
        assert!(got == data, "spliced bytes differ");
        assert!(chunks >= 6, "at most PIPE_SIZE per chunk, got {chunks} chunks");
    }

    #[test]
    fn chunk_mover_copy_mode_gives_the_same_bytes() {
        let data = pattern(3 * PIPE_SIZE + 1);
        let mover = ChunkMover::copying();
        assert!(!mover.splicing());
        let (got, _) = run_mover(mover, &data);
        assert!(got == data);
    }

    #[test]
    fn chunk_mover_moves_from_a_socket() {
        // The source is a socket, not a pipe: whichever way the bytes go, they arrive unchanged.
        let data = pattern(2 * PIPE_SIZE + 7);
        let (mut a, b) = UnixStream::pair().expect("socketpair");
        let writer = {
            let d = data.clone();
            std::thread::spawn(move || {
                let mut b = b;
                b.write_all(&d).expect("write");
            })
        };
        let mut mover = ChunkMover::new();
        let (out_r, mut out_w) = std::io::pipe().expect("pipe");
        let collector = collect(out_r);
        // Read until the writer is done and the socket drained.
        let mut total = 0;
        while total < data.len() {
            let n = mover.fill(&mut a).expect("fill");
            assert!(n > 0);
            mover.deliver(n, &mut out_w).expect("deliver");
            total += n;
        }
        writer.join().expect("writer");
        drop(out_w);
        assert!(collector.join().expect("collector") == data);
    }

    #[test]
    fn move_exact_moves_exactly_len_and_leaves_the_rest() {
        let data = pattern(3 * PIPE_SIZE);
        let (mut src, feeder) = feed(data.clone());
        let (out_r, mut out_w) = std::io::pipe().expect("pipe");
        let collector = collect(out_r);
        let mut buf = Vec::new();
        let mut splice_ok = true;
        let first = PIPE_SIZE + 99;
        move_exact(&mut src, &mut out_w, first, &mut buf, &mut splice_ok).expect("move");
        assert!(splice_ok);
        drop(out_w);
        let moved = collector.join().expect("collector");
        assert!(moved == data[..first], "first {first} bytes");
        let mut rest = Vec::new();
        src.read_to_end(&mut rest).expect("rest");
        feeder.join().expect("feeder");
        assert!(rest == data[first..], "the bytes after len stay in the source");
    }

    #[test]
    fn move_exact_reports_truncation_and_output_failure() {
        let (mut src, feeder) = feed(pattern(1000));
        let (out_r, mut out_w) = std::io::pipe().expect("pipe");
        let collector = collect(out_r);
        let mut buf = Vec::new();
        let mut ok = true;
        match move_exact(&mut src, &mut out_w, 5000, &mut buf, &mut ok) {
            Err(MoveError::Truncated {
                expected: 5000,
                got: 1000,
            }) => {}
            other => panic!("expected truncation after 1000 bytes, got {other:?}"),
        }
        feeder.join().expect("feeder");
        drop(out_w);
        assert_eq!(collector.join().expect("collector").len(), 1000);

        let (mut src, feeder) = feed(pattern(10_000));
        let (out_r, mut out_w) = std::io::pipe().expect("pipe");
        drop(out_r);
        let mut ok = true;
        match move_exact(&mut src, &mut out_w, 10_000, &mut buf, &mut ok) {
            Err(MoveError::Output { error, consumed }) => {
                assert_eq!(error.kind(), ErrorKind::BrokenPipe);
                assert!(consumed < 10_000, "consumed {consumed}");
            }
            other => panic!("expected an output error, got {other:?}"),
        }
        drop(src);
        let _ = feeder.join();
    }

    #[test]
    fn move_exact_falls_back_for_sockets() {
        let data = pattern(PIPE_SIZE + 3);
        let (mut a, b) = UnixStream::pair().expect("socketpair");
        let d = data.clone();
        let writer = std::thread::spawn(move || {
            let mut b = b;
            b.write_all(&d).expect("write");
        });
        let (c, mut dst) = UnixStream::pair().expect("socketpair");
        let reader = std::thread::spawn(move || {
            let mut c = c;
            let mut v = Vec::new();
            c.read_to_end(&mut v).expect("read");
            v
        });
        let mut buf = Vec::new();
        let mut ok = true;
        move_exact(&mut a, &mut dst, data.len(), &mut buf, &mut ok).expect("move");
        assert!(!ok, "splice between two sockets is not possible");
        drop(dst);
        writer.join().expect("writer");
        assert!(reader.join().expect("reader") == data);
    }
}
