//! A real S3-compatible store for the tests: Garage (from the crate registry; `vm/test` puts the binary
//! on the guest's PATH, `$ZREPLRS_GARAGE` names another), a single node on 127.0.0.1 with its own
//! directory, ports, bucket and key. Stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::wait_for;

pub struct Garage {
    pub dir: tempfile::TempDir,
    child: Child,
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

impl Garage {
    /// Starts a node with `bucket` and a key that may read and write it.
    pub fn start(bucket: &str) -> Garage {
        let dir = tempfile::tempdir().unwrap();
        let (s3, rpc) = (free_port(), free_port());
        let d = dir.path().display();
        let config = dir.path().join("garage.toml");
        let secret: String = (0..32).map(|i| format!("{:02x}", (i * 37 + 11) % 256)).collect();
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&config)
            .arg("server")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start garage ({}): {e}", binary()));
        let mut g = Garage {
            dir,
            child,
            config,
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: bucket.to_string(),
            key_id: String::new(),
            secret: String::new(),
        };
        wait_for("garage to answer", 120, || g.try_cli(&["status"]).is_ok());
        let id = g.cli(&["node", "id", "-q"]);
        let id = id.trim().split('@').next().unwrap().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
