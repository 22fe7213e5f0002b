//! VM test of the Debian package (`cargo deb`, built by `vm/test` and shared as `$ZREPLRS_DEB`): installed with
//! `dpkg -i` in the guest, which has never had zreplrs installed, it provides a working `zreplrs`, its man
//! pages, completions, the systemd units (checked with `systemd-analyze verify`), the example configuration
//! (which `config check` accepts once the key and known_hosts it names exist) and the monitoring assets; `dpkg -r` then removes every file it installed.

mod vmlib;

use std::path::Path;

use vmlib::units::UNITS;
use vmlib::*;

fn deb() -> String {
    std::env::var("ZREPLRS_DEB").expect("ZREPLRS_DEB names the package (set by vm/test)")
}

#[test]
#[ignore = "needs real ZFS: run by vm/test"]
fn the_package_installs_a_working_zreplrs_and_removes_all_of_it() {
    let (installed, _) = shell("dpkg -s zreplrs");
    assert!(!installed, "a clean guest has no zreplrs package");
    assert!(!Path::new("/usr/bin/zreplrs").exists());
    let info = shell_ok(&format!(
        "dpkg-deb --field {} Package Version Architecture Depends",
        deb()
    ));
    assert!(info.contains("Package: zreplrs"), "{info}");
    assert!(
        info.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(info.contains("Architecture: amd64"), "{info}");
    assert!(info.contains("libc6"), "Depends computed from the binary: {info}");

    shell_ok(&format!("dpkg -i {}", deb()));
    let files: Vec<String> = shell_ok("dpkg -L zreplrs")
        .lines()
        .filter(|p| Path::new(p).is_file())
        .map(String::from)
        .collect();
    for want in [
        "/usr/bin/zreplrs",
        "/usr/share/man/man1/zreplrs.1.gz",
        "/usr/share/man/man1/zreplrs-replicate.1.gz",
        "/usr/share/bash-completion/completions/zreplrs",
        "/usr/share/zsh/vendor-completions/_zreplrs",
        "/usr/share/fish/vendor_completions.d/zreplrs.fish",
        "/usr/share/doc/zreplrs/examples/zreplrs.toml",
        "/usr/share/doc/zreplrs/docs/security.md",
        "/usr/share/doc/zreplrs/changelog.Debian.gz",
        "/usr/share/zreplrs/monitoring/grafana-dashboard.json",
        "/usr/share/zreplrs/monitoring/alerts.yml",
    ]
    .into_iter()
    .map(String::from)
    .chain(UNITS.iter().map(|u| format!("/lib/systemd/system/{u}")))
    {
        assert!(files.contains(&want), "{want} is not in the package: {files:#?}");
    }
    // md5sums: `dpkg --verify` checks every file, and notices a changed one.
    let sums = std::fs::read_to_string("/var/lib/dpkg/info/zreplrs.md5sums").unwrap_or_default();
    assert!(sums.contains(" usr/bin/zreplrs\n"), "md5sums: {sums}");
    assert_eq!(
        shell_ok("dpkg --verify zreplrs"),
        "",
        "every installed file as packaged"
    );
    let doc = "/usr/share/doc/zreplrs/docs/layout.md";
    let kept = std::fs::read(doc).unwrap();
    std::fs::write(doc, b"changed").unwrap();
    let (_, verify) = shell("dpkg --verify zreplrs");
    assert!(verify.contains(doc), "dpkg --verify names the changed file: {verify}");
    std::fs::write(doc, kept).unwrap();
    // Stripped: the debug symbols are in the separate -dbgsym package.
    let sections = elf_section_names(&std::fs::read("/usr/bin/zreplrs").unwrap());
    assert!(sections.iter().any(|s| s == ".text"), "{sections:?}");
    assert!(
        !sections
            .iter()
            .any(|s| [".debug_info", ".debug_line", ".symtab"].contains(&s.as_str())),
        "the packaged binary carries no debug info or symbol table: {sections:?}"
    );
    let version = shell_ok("/usr/bin/zreplrs version");
    assert_eq!(version.trim(), format!("zreplrs {}", env!("CARGO_PKG_VERSION")));
    // The example as shipped names a key and known_hosts in /etc/zreplrs: `config check` says they are
    // missing until they are there, as its comments tell the administrator to create them.
    let example = "/usr/share/doc/zreplrs/examples/zreplrs.toml";
    let (ok, out) = shell(&format!(
        "/usr/bin/zreplrs --config {example} config check --format human 2>&1"
    ));
    assert!(!ok && out.contains("cannot read /etc/zreplrs/id_ed25519"), "{out}");
    shell_ok(
        "mkdir -p /etc/zreplrs && ssh-keygen -q -t ed25519 -N '' -f /etc/zreplrs/id_ed25519 && touch /etc/zreplrs/known_hosts",
    );
    let check = shell_ok(&format!(
        "/usr/bin/zreplrs --config {example} config check --format human"
    ));
    assert!(check.contains(": ok") && !check.contains("warning"), "{check}");
    shell_ok("rm /etc/zreplrs/id_ed25519 /etc/zreplrs/id_ed25519.pub /etc/zreplrs/known_hosts");
    let man = shell_ok("MANPAGER=cat MANWIDTH=100 man zreplrs-replicate");
    assert!(
        man.contains("zreplrs-replicate") && man.contains("--bandwidth-limit"),
        "{man}"
    );

    // The installed units, as instances of a job (systemd-analyze verifies instances, not templates): no
    // complaint about them, their ExecStart (the installed /usr/bin/zreplrs) or their man pages.
    let dir = tempfile::tempdir().unwrap();
    let mut instances = Vec::new();
    for f in files.iter().filter(|f| f.starts_with("/lib/systemd/system/")) {
        let name = Path::new(f)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replacen("@.", "@job1.", 1);
        let path = dir.path().join(&name);
        std::fs::copy(f, &path).unwrap();
        instances.push(path.display().to_string());
    }
    assert_eq!(instances.len(), UNITS.len(), "{instances:?}");
    let (ok, out) = shell(&format!(
        "SYSTEMD_PAGER= systemd-analyze verify --man=yes {}",
        instances.join(" ")
    ));
    let ours: Vec<&str> = out.lines().filter(|l| l.contains("zreplrs")).collect();
    assert!(ok && ours.is_empty(), "systemd-analyze verify: {out}");

    shell_ok("dpkg -r zreplrs");
    let (_, status) = shell("dpkg-query -W -f='${db:Status-Status}' zreplrs 2>/dev/null");
    assert!(
        matches!(status.trim(), "" | "not-installed"),
        "removed, no configuration files left: {status}"
    );
    let left: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(left.is_empty(), "dpkg -r left files behind: {left:?}");
    assert!(!Path::new("/usr/share/zreplrs").exists(), "its directories go too");
    assert!(!Path::new("/usr/share/doc/zreplrs").exists());
    // The guest's own zfs is untouched by all of this.
    assert!(zfs(&["version"]).contains("zfs-"));
}

/// The section names of a 64-bit little-endian ELF file.
fn elf_section_names(elf: &[u8]) -> Vec<String> {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(header(shstrndx) + 0x18);
    (0..shnum)
        .map(|i| {
            let start = strtab + u32::from_le_bytes(elf[header(i)..header(i) + 4].try_into().unwrap()) as usize;
            let end = start + elf[start..].iter().position(|b| *b == 0).unwrap();
            String::from_utf8_lossy(&elf[start..end]).into_owned()
        })
        .collect()
}
