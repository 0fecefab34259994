//! The S3 server the archive sections write to: `moto_server` (the test suite's server, S3 in
//! Python) or `s3s-fs` (an S3 server in Rust on the file system, `cargo install s3s-fs`), used for
//! benchmarks because moto, not the archiver, is the bottleneck there.
//! SQS always stays on moto. Both the archiver and the `aws s3 cp` baseline use the same server.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::archive::ScratchDir;

/// The access key pair every local server here accepts (testkit's clients use it too).
pub const ACCESS_KEY: &str = "testing";

/// Which S3 server a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Kind {
    /// The S3 of the shared `moto_server`.
    Moto,
    /// `s3s-fs` at this path.
    S3sFs(PathBuf),
}

impl S3Kind {
    /// The name printed in the table.
    pub fn label(&self) -> &'static str {
        match self {
            S3Kind::Moto => "moto",
            S3Kind::S3sFs(_) => "s3s-fs",
        }
    }
}

/// A running `s3s-fs` on a free loopback port, storing under a scratch folder; killed on drop.
pub struct S3sFs {
    child: Child,
    addr: SocketAddr,
    _root: ScratchDir,
}

impl S3sFs {
    /// Starts `program` and waits until it accepts connections.
    pub fn start(program: &Path) -> Result<S3sFs, String> {
        let root = ScratchDir::new("bench-s3s-fs")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let mut child = Command::new(program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", ACCESS_KEY])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {}: {e} (make bench installs it)",
                    program.display()
                )
            })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("s3s-fs exited at start with {status}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(S3sFs {
                    child,
                    addr,
                    _root: root,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        Err("s3s-fs did not start listening within 20 s".to_owned())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
