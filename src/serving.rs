//! The HTTP/1.1 connection loop (plain or over [`crate::tls::TlsListener`]): each request carries its
//! connection's [`Peer`] as axum `ConnectInfo`, a client has `server.headerReadTimeoutSeconds` to send a
//! request's headers (a client trickling bytes is cut off), and shutdown lets open connections finish their
//! requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::tls::Peer;

/// Plain TCP connections, handed out with an empty client-certificate chain.
pub struct PlainListener(pub TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, remote)) => {
                    let peer = Peer {
                        remote,
                        client_certificates: Arc::new([]),
                    };
                    return (stream, peer);
                }
                Err(error) => {
                    // Out of file descriptors and the like pass with time.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            remote: self.0.local_addr()?,
            client_certificates: Arc::new([]),
        })
    }
}

/// Serves `router` on the connections of `listener` until `closing`; then stops accepting and returns once
/// every open connection has finished its in-flight request (idle keep-alive connections close at once).
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    header_read_timeout: Duration,
    closing: CancellationToken,
) where
    L: Listener<Addr = Peer>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connections = TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            _ = closing.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let remote: SocketAddr = peer.remote;
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer.clone()));
                request
            });
        let connection = http
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .with_upgrades();
        let closing = closing.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        debug!(%remote, %error, "connection ended");
                    }
                    return;
                }
                _ = closing.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            if let Err(error) = connection.await {
                debug!(%remote, %error, "connection ended during shutdown");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}
