//! Test harness: a real `moto_server` (S3 and SQS over their real protocols) on a free loopback
//! port, and AWS SDK clients pointed at it.
//!
//! Every test that needs S3 or SQS starts its own server with [`MotoServer::start`], so tests
//! run in parallel without sharing state. When the server cannot be started the test **fails**
//! with a message saying how to install it (`make tools`): a missing dependency must never turn
//! into a silently skipped test.
//!
//! Which `moto_server` runs: `$MOTO_SERVER` if set, else the project's own
//! `.tools/venv/bin/moto_server` (installed by `make tools`, pinned to moto >= 5.2.2, because
//! 5.2.1 answers `CompleteMultipartUpload` with XML the Rust SDK cannot read).
//!
//! [`runtime_api`] runs the functions' real binaries under a Lambda Runtime API emulator;
//! [`hand_off`] reads the archive's hand-off events back from an EventBridge rule's queue.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

pub mod hand_off;
pub mod runtime_api;

/// The region the tests use. Not us-east-1, so bucket creation exercises `LocationConstraint`
/// the way a Norwegian deployment (eu-north-1) does.
pub const REGION: &str = "eu-north-1";

/// How long a starting server may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `moto_server` child process, killed on drop.
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
    program: PathBuf,
}

impl MotoServer {
    /// Starts `moto_server` on a free port of 127.0.0.1 and waits until it answers.
    ///
    /// # Panics
    /// When the binary is missing or the server does not come up: the test must fail loudly.
    pub async fn start() -> MotoServer {
        let program = moto_server_program();
        tokio::task::spawn_blocking(move || Self::start_blocking(program))
            .await
            .expect("moto_server start task panicked")
    }

    fn start_blocking(program: PathBuf) -> MotoServer {
        let mut last_error = String::new();
        // A port picked from the OS can be taken by someone else before moto binds it; try again.
        for _ in 0..3 {
            let port = free_port();
            match spawn_on(&program, port) {
                Ok(server) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!(
            "could not start moto_server ({}): {last_error}",
            program.display()
        );
    }

    /// Stops the server process (its state is lost). Used to test outages.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port after [`MotoServer::stop`] (with empty state).
    pub async fn restart(&mut self) {
        self.stop();
        let program = self.program.clone();
        let port = self.addr.port();
        let started = tokio::task::spawn_blocking(move || spawn_on(&program, port))
            .await
            .expect("moto_server restart task panicked");
        match started {
            Ok(mut server) => {
                std::mem::swap(&mut self.child, &mut server.child);
                // `server` now holds the dead child; dropping it is harmless.
            }
            Err(error) => panic!("could not restart moto_server: {error}"),
        }
    }

    /// The endpoint URL, `http://127.0.0.1:PORT` (an IP, so the S3 client never tries
    /// virtual-hosted bucket names).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An SDK configuration pointed at this server (see [`sdk_config_for`]).
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }

    /// An S3 client for this server (path-style addressing).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3_client_for(&self.endpoint()).await
    }

    /// An SQS client for this server.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    /// Creates a bucket in [`REGION`].
    pub async fn create_bucket(&self, name: &str) {
        create_bucket_on(&self.s3().await, name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Creates a queue and returns its URL. Names ending in `.fifo` create FIFO queues.
    pub async fn create_queue(&self, name: &str) -> String {
        let mut request = self.sqs().await.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"))
            .queue_url
            .expect("create_queue returned no URL")
    }

    /// Creates a queue whose messages move to `dead_letter_arn` after `max_receive_count` receives.
    pub async fn create_queue_with_redrive(
        &self,
        name: &str,
        dead_letter_arn: &str,
        max_receive_count: u32,
    ) -> String {
        let policy = format!(
            r#"{{"deadLetterTargetArn":"{dead_letter_arn}","maxReceiveCount":"{max_receive_count}"}}"#
        );
        self.sqs()
            .await
            .create_queue()
            .queue_name(name)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                policy,
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"))
            .queue_url
            .expect("create_queue returned no URL")
    }

    /// The ARN of a queue.
    pub async fn queue_arn(&self, queue_url: &str) -> String {
        self.sqs()
            .await
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("queue attributes of {queue_url}: {e:?}"))
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue has no ARN")
    }

    /// Receives up to 10 messages currently visible on the queue (short wait).
    pub async fn receive_all(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs()
            .await
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive from {queue_url}: {e:?}"))
            .messages
            .unwrap_or_default()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `moto_server` to run: `$MOTO_SERVER`, else the project's `.tools/venv/bin/moto_server`.
fn moto_server_program() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = workspace.join(".tools/venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    panic!(
        "moto_server not found at {} and MOTO_SERVER is not set: run `make tools` \
         (installs moto[server]>=5.2.2 into .tools/venv)",
        venv.display()
    );
}

/// An SDK configuration for a local server at `endpoint` (moto, s3s-fs), with static test
/// credentials and the functions' own HTTP client ([`lambda_support::http::ReqwestHttpClient`]),
/// so every test sends its AWS requests the way the deployed functions do.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let http_client = lambda_support::http::ReqwestHttpClient::new()
        .expect("the functions' HTTP client could not be built")
        .shared();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "testkit",
        ))
        .load()
        .await
}

/// A path-style S3 client for a local server at `endpoint`.
pub async fn s3_client_for(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config_for(endpoint).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates `name` in [`REGION`] through `s3`.
pub async fn create_bucket_on(s3: &aws_sdk_s3::Client, name: &str) -> Result<(), String> {
    let constraint = aws_sdk_s3::types::BucketLocationConstraint::from(REGION);
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(constraint)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("create bucket {name}: {e:?}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Spawns moto on `port` and waits until it accepts HTTP requests.
fn spawn_on(program: &PathBuf, port: u16) -> Result<MotoServer, String> {
    let mut child = Command::new(program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn failed: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("moto_server exited at start with {status}"));
        }
        if answers_http(addr) {
            return Ok(MotoServer {
                child,
                addr,
                program: program.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "moto_server did not answer on {addr} within {START_TIMEOUT:?}"
    ))
}

/// True when something on `addr` answers a plain HTTP request (moto's reset API).
fn answers_http(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        "GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s3_and_sqs_round_trip_through_a_real_moto_server() {
        let moto = MotoServer::start().await;
        moto.create_bucket("testkit-bucket").await;
        let s3 = moto.s3().await;
        s3.put_object()
            .bucket("testkit-bucket")
            .key("a/b.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
            .send()
            .await
            .expect("put");
        let got = s3
            .get_object()
            .bucket("testkit-bucket")
            .key("a/b.txt")
            .send()
            .await
            .expect("get");
        let body = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(&body[..], b"hello");

        let queue = moto.create_queue("testkit-queue").await;
        moto.sqs()
            .await
            .send_message()
            .queue_url(&queue)
            .message_body("ping")
            .send()
            .await
            .expect("send");
        let messages = moto.receive_all(&queue).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].body(), Some("ping"));
    }

    #[tokio::test]
    async fn restart_brings_the_server_back_empty() {
        let mut moto = MotoServer::start().await;
        let queue = moto.create_queue("before-restart").await;
        moto.restart().await;
        let result = moto
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(&queue)
            .send()
            .await;
        assert!(result.is_err(), "queue must be gone after a restart");
        moto.create_queue("after-restart").await;
    }
}
