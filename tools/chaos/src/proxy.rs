//! A TCP proxy between the AWS SDK clients and `moto_server`.
//!
//! Why a proxy instead of stopping moto: `moto_server` keeps everything in memory, so a restart
//! comes back empty, and a real SQS or S3 outage does not forget acknowledged messages. Cutting
//! the proxy refuses new connections (accepted and closed at once) and resets the ones in
//! flight, which is what the functions see when the AWS side is unreachable. (An outage that must
//! never lose an answer the server did send is [`crate::gate::HttpGate`]'s job.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
