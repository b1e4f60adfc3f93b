//! An axum router served on 127.0.0.1:0 from a background thread with its own tokio runtime, so a fake
//! works the same from synchronous tests, async tests and tests that run a binary.

use std::net::SocketAddr;

use tokio::sync::oneshot;

pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(name: &str, router: axum::Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("{name}: bind 127.0.0.1:0: {e}"));
        listener
            .set_nonblocking(true)
            .expect("set the listener non-blocking");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread_name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the fake server");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("hand the listener to tokio");
                    axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await
                        .unwrap_or_else(|e| panic!("{thread_name}: serving: {e}"));
                });
            })
            .expect("spawn the fake server thread");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Graceful shutdown waits for open connections; a client's idle keep-alive connection must not
        // hold the test, so the thread is not joined.
        drop(self.thread.take());
    }
}
