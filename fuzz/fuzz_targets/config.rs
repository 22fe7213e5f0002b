//! The configuration file parsed by `Config::parse`; errors must render, a valid config must hold its
//! documented guarantees (at least one job, unique names).
#![no_main]

use std::collections::BTreeSet;

use camino::Utf8Path;
use libfuzzer_sys::fuzz_target;
use zreplrs::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(Utf8Path::new("/fuzz.toml"), text) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("/fuzz.toml"), "{msg}");
        }
        Ok(config) => {
            assert!(!config.jobs.is_empty());
            let names: BTreeSet<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
            assert_eq!(names.len(), config.jobs.len());
            for job in &config.jobs {
                let _ = job.textfile_dir(&config.global);
                let _ = job.target.root_fs();
                assert!(config.job(job.name.as_str()).is_ok());
            }
            let _ = format!("{config:?}");
        }
    }
});
