//! A real S3-compatible store for the tests: Garage (from the crate registry; `vm/test` puts the binary
//! on the guest's PATH, `$ZREPLRS_GARAGE` names another) on 127.0.0.1 — a single node, or a cluster of
//! nodes in zones of their own with as many replicas — with its own directory, ports, bucket and key.
//! Stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::wait_for;

pub struct Garage {
    pub dir: tempfile::TempDir,
    nodes: Vec<Child>,
    config: PathBuf,
    pub endpoint: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn binary() -> String {
    std::env::var("ZREPLRS_GARAGE").unwrap_or_else(|_| "garage".to_string())
}

/// Writes node `i`'s configuration below `dir` and starts it; returns its config path and process.
fn start_node(dir: &std::path::Path, i: usize, nodes: usize, rpc: u16, s3: u16) -> (PathBuf, Child) {
    let d = dir.join(format!("node{i}"));
    std::fs::create_dir_all(&d).unwrap();
    let secret: String = (0..32).map(|i| format!("{:02x}", (i * 37 + 11) % 256)).collect();
    let config = d.join("garage.toml");
    std::fs::write(
        &config,
        format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
             replication_factor = {nodes}\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n",
            d = d.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("server.log")).unwrap();
    let child = Command::new(binary())
        .arg("-c")
        .arg(&config)
        .arg("server")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start garage ({}): {e}", binary()));
    (config, child)
}

impl Garage {
    /// Starts a single node with `bucket` and a key that may read and write it.
    pub fn start(bucket: &str) -> Garage {
        Garage::cluster(1, bucket)
    }

    /// Starts `n` nodes, each in a zone of its own, with replication factor `n`; the S3 endpoint is the
    /// first node's.
    pub fn cluster(n: usize, bucket: &str) -> Garage {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let mut configs = Vec::new();
        let mut nodes = Vec::new();
        for (i, (rpc, s3)) in ports.iter().enumerate() {
            let (config, child) = start_node(dir.path(), i, n, *rpc, *s3);
            configs.push(config);
            nodes.push(child);
        }
        let mut g = Garage {
            dir,
            nodes,
            config: configs[0].clone(),
            endpoint: format!("http://127.0.0.1:{}", ports[0].1),
            bucket: bucket.to_string(),
            key_id: String::new(),
            secret: String::new(),
        };
        wait_for("garage to answer", 120, || g.try_cli(&["status"]).is_ok());
        let mut ids = Vec::new();
        for (i, config) in configs.iter().enumerate() {
            let node = Garage::cli_with(config, &["node", "id", "-q"]);
            let id = node.trim().to_string();
            if i > 0 {
                g.cli(&["node", "connect", &id]);
            }
            ids.push(id.split('@').next().unwrap().to_string());
        }
        for (i, id) in ids.iter().enumerate() {
            g.cli(&["layout", "assign", "-z", &format!("dc{i}"), "-c", "1G", id]);
        }
        g.cli(&["layout", "apply", "--version", "1"]);
        wait_for("the bucket to be created", 120, || {
            g.try_cli(&["bucket", "create", bucket]).is_ok()
        });
        let key = g.cli(&["key", "create", "zreplrs-test"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no {name} in {key}"))
        };
        g.key_id = field("Key ID:");
        g.secret = field("Secret key:");
        g.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            bucket,
            "--key",
            "zreplrs-test",
        ]);
        g
    }

    /// Stops node `i` (not the first: its S3 endpoint is the tests').
    pub fn stop_node(&mut self, i: usize) {
        assert!(i > 0, "node 0 serves the S3 endpoint");
        let _ = self.nodes[i].kill();
        let _ = self.nodes[i].wait();
    }

    fn cli_with(config: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new(binary())
            .arg("-c")
            .arg(config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(binary())
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        match out.status.success() {
            true => Ok(text),
            false => Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr))),
        }
    }

    /// Runs the garage CLI against this node.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|e| panic!("garage {args:?}: {e}"))
    }

    /// Writes a credentials file (mode 0600) and returns its path.
    pub fn credentials_file(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join("s3.credentials");
        std::fs::write(
            &path,
            format!(
                "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                self.key_id, self.secret
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A `[jobs.store]` table for this node; `extra` adds lines (e.g. `allow_plaintext = true`).
    pub fn store_section(&self, extra: &str) -> String {
        format!(
            "[jobs.store]\nendpoint = \"{}\"\nregion = \"garage\"\npath_style = true\ncredentials_file = \"{}\"\n{extra}\n",
            self.endpoint,
            self.credentials_file().display()
        )
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
