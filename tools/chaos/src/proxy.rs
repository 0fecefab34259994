//! A TCP proxy between the AWS SDK clients and `moto_server`.
//!
//! Why a proxy instead of stopping moto: `moto_server` keeps everything in memory, so a restart
//! comes back empty, and a real SQS or S3 outage does not forget acknowledged messages. Cutting
//! the proxy refuses new connections (accepted and closed at once) and resets the ones in
//! flight, which is what the functions see when the AWS side is unreachable.
//!
//! [`CutMode::Refuse`] cuts without losing an answer: nothing more reaches the server, an
//! answer already on its way still reaches the client, then the connection closes. So every
//! failed request is one the server never handled, which is what a test needs that counts
//! deliveries exactly (a lost answer would make the client send again).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a cut does to the connections in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// Both sides are closed at once, answers in flight included.
    Reset,
    /// Nothing more is forwarded to the server; what it is sending back still gets through
    /// (for up to [`ANSWER_GRACE`]), then both sides are closed.
    Refuse,
}

/// How long a [`CutMode::Refuse`] cut lets an answer in flight reach the client.
pub const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    cut_signal: watch::Sender<u64>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct State {
    down: AtomicBool,
    refused: AtomicU64,
    reset: AtomicU64,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`; a cut
    /// resets the connections in flight.
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpProxy> {
        Self::start_with(target, CutMode::Reset).await
    }

    /// Like [`TcpProxy::start`], with what a cut does to connections in flight.
    pub async fn start_with(target: SocketAddr, mode: CutMode) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (cut_signal, cuts) = watch::channel(0u64);
        let task_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if task_state.down.load(Ordering::SeqCst) {
                    task_state.refused.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                let state = Arc::clone(&task_state);
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    if mode == CutMode::Refuse {
                        forward_refusing_on_cut(client, server, cuts, &state).await;
                        return;
                    }
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {
                            // Both sides are closed mid-exchange: the client sees its
                            // connection end without (the rest of) an answer.
                            state.reset.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        Ok(TcpProxy {
            addr,
            state,
            cut_signal,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give the SDK clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the path: connections in flight are reset, new ones are closed at once.
    pub fn cut(&self) {
        self.state.down.store(true, Ordering::SeqCst);
        self.cut_signal.send_modify(|n| *n += 1);
    }

    /// Restores the path.
    pub fn restore(&self) {
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Connections refused plus connections reset so far.
    pub fn failures(&self) -> u64 {
        self.state.refused.load(Ordering::SeqCst) + self.state.reset.load(Ordering::SeqCst)
    }
}

/// One connection of a [`CutMode::Refuse`] proxy: on a cut the client's bytes stop being
/// forwarded, the server's answer keeps flowing for [`ANSWER_GRACE`], then both close.
async fn forward_refusing_on_cut(
    mut client: TcpStream,
    mut server: TcpStream,
    mut cuts: watch::Receiver<u64>,
    state: &State,
) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let answers = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::pin!(answers);
    tokio::select! {
        _ = tokio::io::copy(&mut client_read, &mut server_write) => return,
        _ = &mut answers => return,
        _ = cuts.changed() => {}
    }
    state.reset.fetch_add(1, Ordering::SeqCst);
    let _ = tokio::time::timeout(ANSWER_GRACE, &mut answers).await;
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
