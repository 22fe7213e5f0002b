//! The `ssh://` transport: one libssh2 (`ssh2`) session per run, host key checked against a known_hosts
//! file, public-key authentication from identity files and the SSH agent, and one exec channel running
//! `zreplrs recv-agent` (or the forced command of the key) on the receiver.
//!
//! A pump thread owns the non-blocking session and moves bytes between the channel and two local pipes that
//! the protocol client reads and writes, so sending, encryption and reading replies overlap. The pump is
//! also the stall watchdog: when it has bytes to send and none has left for `stall_timeout`, or the peer sent
//! nothing while a reply is awaited for that long, it drops the connection and the run retries.

use crate::error::Failure;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use ssh2::{BlockDirections, CheckResult, HashType, KnownHostFileKind, Session};

use super::Connection;
use crate::agent::client::{AgentClient, AgentError};
use crate::config::Job;

fn conn(msg: impl Into<String>) -> AgentError {
    AgentError::Connect(msg.into())
}

/// Quotes one argument for the remote user's shell.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command line run on the other host: the configured agent command with the agent's flags
/// (`agent_args` without its subcommand).
pub fn remote_command(job: &Job, agent_args: &[String]) -> String {
    job.ssh
        .agent_command
        .iter()
        .cloned()
        .chain(agent_args.iter().skip(1).cloned())
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn default_known_hosts() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".ssh/known_hosts")
}

fn fingerprint(sess: &Session) -> String {
    use std::fmt::Write as _;
    let Some(hash) = sess.host_key_hash(HashType::Sha256) else {
        return "unknown".into();
    };
    // OpenSSH style: SHA256:<base64 without padding>.
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("SHA256:");
    for chunk in hash.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let _ = out.write_char(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A known_hosts file split into the lines libssh2 reads (host entries) and the `@revoked` keys, which
/// libssh2 does not understand and OpenSSH honours. `@cert-authority` lines are skipped (zreplrs does not
/// check host certificates).
struct KnownHostsText<'a> {
    plain: Vec<&'a str>,
    revoked: Vec<&'a str>,
}

impl<'a> KnownHostsText<'a> {
    fn parse(text: &'a str) -> Self {
        let mut k = KnownHostsText {
            plain: Vec::new(),
            revoked: Vec::new(),
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("@revoked") {
                // @revoked HOSTS KEYTYPE BASE64 [COMMENT]
                if let Some(b64) = rest.split_whitespace().nth(2) {
                    k.revoked.push(b64);
                }
            } else if !line.starts_with('@') {
                k.plain.push(line);
            }
        }
        k
    }

    /// Whether `key` (the raw host key blob) is revoked, for any host.
    fn revokes(&self, key: &[u8]) -> bool {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        self.revoked.iter().any(|r| *r == b64)
    }
}

/// Writes `old` plus the line `added` to `path` through an exclusively created temporary file in the same
/// directory, renamed into place: a symlink at `path` is replaced, never written through, and a crash leaves
/// either the old or the new file. Comments and marker lines of `old` are kept as they were.
fn append_atomically(path: &std::path::Path, old: &str, added: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".known_hosts.").tempfile_in(dir)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.write_all(old.as_bytes())?;
    if !old.is_empty() && !old.ends_with('\n') {
        tmp.write_all(b"\n")?;
    }
    tmp.write_all(added.trim_end().as_bytes())?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Verifies the server's host key against the known_hosts file, recording it when `accept_new`.
fn check_host_key(
    sess: &Session,
    host: &str,
    port: u16,
    known_hosts: &std::path::Path,
    accept_new: bool,
) -> Result<(), AgentError> {
    let (key, key_type) = sess.host_key().ok_or_else(|| conn("the server sent no host key"))?;
    let mut kh = sess.known_hosts().map_err(|e| conn(format!("known_hosts: {e}")))?;
    let text = match std::fs::read_to_string(known_hosts) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(conn(format!(
                "cannot read known_hosts file {}: {e}",
                known_hosts.display()
            )))
        }
    };
    let fp = fingerprint(sess);
    let lines = KnownHostsText::parse(&text);
    if lines.revokes(key) {
        return Err(AgentError::HostKey(format!(
            "the server's host key {fp} is marked @revoked in {}; refusing to connect",
            known_hosts.display()
        )));
    }
    for line in &lines.plain {
        kh.read_str(line, KnownHostFileKind::OpenSSH)
            .map_err(|e| conn(format!("cannot read known_hosts file {}: {e}", known_hosts.display())))?;
    }
    let entry = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    match kh.check_port(host, port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(AgentError::HostKey(format!(
            "HOST KEY CHANGED for {entry}: the server offered {key_type:?} key {fp}, which does not match {}; \
             this may be an attack. If the host was reinstalled, remove the old entry with \
             `ssh-keygen -R '{entry}' -f {}` and trust the new key",
            known_hosts.display(),
            known_hosts.display()
        ))),
        CheckResult::NotFound | CheckResult::Failure if accept_new => {
            kh.add(&entry, key, "added by zreplrs", key_type.into())
                .map_err(|e| conn(format!("known_hosts: {e}")))?;
            let added = kh
                .hosts()
                .ok()
                .and_then(|h| {
                    h.last()
                        .and_then(|h| kh.write_string(h, KnownHostFileKind::OpenSSH).ok())
                })
                .ok_or_else(|| conn("known_hosts: cannot format the new entry"))?;
            append_atomically(known_hosts, &text, &added)
                .map_err(|e| conn(format!("cannot record the host key in {}: {e}", known_hosts.display())))?;
            eprintln!(
                "zreplrs: trusted new host key {fp} for {entry} (recorded in {})",
                known_hosts.display()
            );
            Ok(())
        }
        CheckResult::NotFound | CheckResult::Failure => Err(AgentError::HostKey(format!(
            "unknown host key for {entry}: {key_type:?} {fp} is not in {}. Verify the fingerprint on the \
             receiver (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then trust it with \
             `ssh-keyscan -p {port} {host} >> {}` or set ssh.accept_new_host_keys = true for the first run",
            known_hosts.display(),
            known_hosts.display()
        ))),
    }
}

fn authenticate(sess: &Session, user: &str, identity_files: &[PathBuf]) -> Result<(), AgentError> {
    let mut tried = Vec::new();
    for key in identity_files {
        crate::config::warn_if_exposed(key, "identity file", 0o077);
        match sess.userauth_pubkey_file(user, None, key, None) {
            Ok(()) if sess.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("{}: not accepted", key.display())),
            Err(e) => tried.push(format!("{}: {}", key.display(), e.message())),
        }
    }
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match sess.userauth_agent(user) {
            Ok(()) if sess.authenticated() => return Ok(()),
            Ok(()) => tried.push("ssh-agent: not accepted".into()),
            Err(e) => tried.push(format!("ssh-agent: {}", e.message())),
        }
    } else if identity_files.is_empty() {
        tried.push("no ssh.identity_files configured and no ssh-agent ($SSH_AUTH_SOCK unset)".into());
    }
    Err(AgentError::Protocol(format!(
        "authentication as {user} failed: {}",
        tried.join("; ")
    )))
}

/// How to reach an SSH server.
#[derive(Debug, Clone)]
pub struct SshParams {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub identity_files: Vec<PathBuf>,
    pub known_hosts: PathBuf,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub stall_timeout: Duration,
    /// Cipher preference (libssh2 method list); `None`: AES-GCM first, then ChaCha20-Poly1305, then AES-CTR.
    pub ciphers: Option<String>,
}

impl SshParams {
    /// The parameters of a job's `ssh://` target.
    pub fn for_job(job: &Job, user: Option<&str>, host: &str, port: u16) -> Self {
        SshParams {
            user: user
                .map(str::to_string)
                .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "root".into())),
            host: host.to_string(),
            port,
            identity_files: job
                .ssh
                .identity_files
                .iter()
                .map(|p| p.as_std_path().to_path_buf())
                .collect(),
            known_hosts: job
                .ssh
                .known_hosts
                .as_ref()
                .map(|p| p.as_std_path().to_path_buf())
                .unwrap_or_else(default_known_hosts),
            accept_new_host_keys: job.ssh.accept_new_host_keys,
            connect_timeout: job.connect_timeout,
            stall_timeout: job.stall_timeout,
            ciphers: None,
        }
    }
}

/// Connects, authenticates, starts the agent and greets it (asking it, with `restore`, to send that job's
/// data back).
pub fn connect(
    job: &Job,
    user: Option<&str>,
    host: &str,
    port: u16,
    agent_args: &[String],
    restore: Option<&str>,
) -> Result<Connection, AgentError> {
    let params = SshParams::for_job(job, user, host, port);
    let (reader, writer) = open_exec(&params, &remote_command(job, agent_args))?;
    let client = AgentClient::connect_for(
        Box::new(reader),
        Box::new(writer),
        job.connect_timeout.max(Duration::from_secs(60)),
        restore,
    )?;
    Ok(Connection::new(client, None))
}

/// Opens one SSH connection and runs `command` on a session channel; returns the pipe ends to read its
/// stdout and write its stdin. The connection lives until both directions are finished (or it fails).
pub fn open_exec(p: &SshParams, command: &str) -> Result<(std::io::PipeReader, std::io::PipeWriter), AgentError> {
    let (host, port, timeout) = (p.host.as_str(), p.port, p.connect_timeout);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| conn(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) if addrs.len() == 1 => last = Some(e.to_string()),
            Err(e) => last = Some(format!("{a}: {e}")),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        conn(format!(
            "{host}:{port}: {}",
            last.unwrap_or_else(|| "the name has no address".into())
        ))
    })?;
    let _ = tcp.set_nodelay(true);
    let sock = tcp.try_clone().map_err(|e| conn(format!("socket: {e}")))?;
    let mut sess = Session::new().map_err(|e| conn(format!("ssh session: {e}")))?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
    // Prefer AES-GCM (hardware-accelerated) where both sides have it.
    let ciphers = p
        .ciphers
        .as_deref()
        .unwrap_or("aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr");
    for dir in [ssh2::MethodType::CryptCs, ssh2::MethodType::CryptSc] {
        sess.method_pref(dir, ciphers)
            .map_err(|e| conn(format!("cipher preference {ciphers:?}: {e}")))?;
    }
    sess.handshake()
        .map_err(|e| conn(format!("ssh handshake with {host}:{port}: {e}")))?;
    check_host_key(&sess, host, port, &p.known_hosts, p.accept_new_host_keys)?;
    authenticate(&sess, &p.user, &p.identity_files)?;
    sess.set_keepalive(true, 10);
    let mut channel = sess.channel_session().map_err(|e| conn(format!("ssh channel: {e}")))?;
    channel
        .exec(command)
        .map_err(|e| conn(format!("cannot run `{command}` on {host}: {e}")))?;
    let (c2s_r, c2s_w) = std::io::pipe().map_err(|e| conn(format!("pipe: {e}")))?;
    crate::agent::wire::splice::enlarge_pipe(c2s_r.as_fd());
    let (s2c_r, s2c_w) = std::io::pipe().map_err(|e| conn(format!("pipe: {e}")))?;
    let stall = p.stall_timeout;
    let label = format!("{host}:{port}");
    std::thread::Builder::new()
        .name("ssh-pump".into())
        .spawn(move || {
            if let Err(e) = pump(sess, channel, &sock, c2s_r, s2c_w, stall) {
                eprintln!("zreplrs: ssh connection to {label}: {e}");
            }
        })
        .map_err(|e| conn(format!("cannot start the ssh pump: {e}")))?;
    Ok((s2c_r, c2s_w))
}

fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}

/// Bytes on their way to the channel, at most.
const BUF: usize = 4 << 20;
/// Smallest free space worth a read from the client's pipe.
const MIN_READ: usize = 64 << 10;

/// Moves bytes between the channel and the client's pipes until both directions are done or the
/// connection fails or stalls. Dropping the pipe ends tells the client.
fn pump(
    sess: Session,
    mut channel: ssh2::Channel,
    sock: &TcpStream,
    mut from_client: std::io::PipeReader,
    mut to_client: std::io::PipeWriter,
    stall: Duration,
) -> Result<(), Failure> {
    set_nonblocking(from_client.as_fd()).map_err(|e| Failure::connection(e.to_string()))?;
    set_nonblocking(to_client.as_fd()).map_err(|e| Failure::connection(e.to_string()))?;
    sess.set_blocking(false);
    // Client → channel bytes wait in `out[out_start..out_end]`; the client's pipe is read straight into it.
    let mut out = vec![0u8; BUF];
    let (mut out_start, mut out_end) = (0usize, 0usize);
    let mut inbuf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut in_pos = 0usize;
    let mut errbuf = [0u8; 4096];
    let mut client_eof = false;
    let mut sent_eof = false;
    let mut remote_eof = false;
    let mut last_out = Instant::now();
    let mut last_keepalive = Instant::now();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let mut progress = false;
        // Client → channel.
        if !client_eof {
            if out_start == out_end {
                (out_start, out_end) = (0, 0);
            } else if BUF - out_end < MIN_READ && out_start > 0 {
                out.copy_within(out_start..out_end, 0);
                (out_start, out_end) = (0, out_end - out_start);
            }
            if BUF - out_end >= MIN_READ {
                match from_client.read(&mut out[out_end..]) {
                    Ok(0) => client_eof = true,
                    Ok(n) => {
                        if out_start == out_end {
                            last_out = Instant::now();
                        }
                        out_end += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(Failure::connection(format!("reading from the client: {e}"))),
                }
            }
        }
        let mut wrote = false;
        while out_start < out_end {
            match channel.write(&out[out_start..out_end]) {
                Ok(0) => break,
                Ok(n) => {
                    out_start += n;
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(Failure::connection(format!("sending: {e}"))),
            }
        }
        if wrote {
            last_out = Instant::now();
            progress = true;
        }
        if out_start == out_end && client_eof && !sent_eof {
            match channel.send_eof() {
                Ok(()) => sent_eof = true,
                Err(e) if e.code() == ssh2::ErrorCode::Session(-37) => {}
                Err(e) => return Err(Failure::connection(format!("closing: {e}"))),
            }
        }
        // Channel → client.
        if !remote_eof && inbuf.len() - in_pos < (1 << 20) {
            if in_pos == inbuf.len() {
                inbuf.clear();
                in_pos = 0;
            }
            match channel.read(&mut chunk) {
                Ok(0) => {
                    if channel.eof() {
                        remote_eof = true;
                    }
                }
                Ok(n) => {
                    inbuf.extend_from_slice(&chunk[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::connection(format!("receiving: {e}"))),
            }
        }
        // The agent's stderr goes to ours, without the control characters a hostile peer could use to
        // rewrite the terminal or forge log lines.
        if let Ok(n) = channel.stderr().read(&mut errbuf) {
            if n > 0 {
                let text = crate::agent::client::printable(&errbuf[..n]);
                let _ = std::io::stderr().write_all(text.as_bytes());
                progress = true;
            }
        }
        while in_pos < inbuf.len() {
            match to_client.write(&inbuf[in_pos..]) {
                Ok(n) => {
                    in_pos += n;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    // The client is gone.
                    return Ok(());
                }
            }
        }
        if remote_eof && in_pos == inbuf.len() {
            // The agent ended: the client sees EOF when we drop `to_client`.
            let _ = channel.close();
            return Ok(());
        }
        if out_start < out_end && last_out.elapsed() > stall {
            return Err(Failure::connection(format!(
                "stalled: no data could be sent for {}s",
                stall.as_secs()
            )));
        }
        if last_keepalive.elapsed() > Duration::from_secs(10) {
            let _ = sess.keepalive_send();
            last_keepalive = Instant::now();
        }
        if !progress {
            let dirs = sess.block_directions();
            let mut sock_flags = PollFlags::POLLIN;
            // Wait for writability only when libssh2 is blocked on sending: with a full channel window it waits
            // for the peer's window adjustment (inbound), and polling for POLLOUT then would spin.
            if matches!(dirs, BlockDirections::Outbound | BlockDirections::Both) {
                sock_flags |= PollFlags::POLLOUT;
            }
            let mut fds = vec![PollFd::new(sock.as_fd(), sock_flags)];
            if !client_eof {
                fds.push(PollFd::new(from_client.as_fd(), PollFlags::POLLIN));
            }
            if in_pos < inbuf.len() {
                fds.push(PollFd::new(to_client.as_fd(), PollFlags::POLLOUT));
            }
            let _ = nix::poll::poll(&mut fds, PollTimeout::from(100u16));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_keys_and_plain_lines_are_told_apart() {
        use base64::Engine as _;
        let key = b"\x00\x00\x00\x0bssh-ed25519 fake key";
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let text = format!(
            "# comment\n\nhost1 ssh-ed25519 AAAA1\n@revoked * ssh-ed25519 {b64} old\n@cert-authority * ssh-rsa AAAA2\n"
        );
        let k = KnownHostsText::parse(&text);
        assert_eq!(k.plain, ["host1 ssh-ed25519 AAAA1"]);
        assert!(k.revokes(key));
        assert!(!k.revokes(b"another key"));
    }

    /// A symlink planted at the known_hosts path is replaced, not written through; comments survive.
    #[test]
    fn known_hosts_are_appended_atomically_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "private").unwrap();
        let kh = dir.path().join("known_hosts");
        std::os::unix::fs::symlink(&victim, &kh).unwrap();
        append_atomically(&kh, "# keep me\nold ssh-ed25519 AAAA", "new ssh-ed25519 BBBB\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "private");
        assert!(!std::fs::symlink_metadata(&kh).unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            "# keep me\nold ssh-ed25519 AAAA\nnew ssh-ed25519 BBBB\n"
        );
    }
}
