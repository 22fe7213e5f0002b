//! The systemd units the package installs: every file of `systemd-units/` (the packaging tests check that
//! this list is that directory; the VM package test that each is installed).

pub const UNITS: [&str; 8] = [
    "zreplrs-prune@.service",
    "zreplrs-prune@.timer",
    "zreplrs-receiver-status@.service",
    "zreplrs-receiver-status@.timer",
    "zreplrs-replicate@.service",
    "zreplrs-replicate@.timer",
    "zreplrs-snapshot@.service",
    "zreplrs-snapshot@.timer",
];
