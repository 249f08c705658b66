//! HTTPS for the listener (api §0.1): the serving certificate follows its files, and client certificates
//! are asked for so that kube-apiserver's front proxy can present one (api §0.2 step 1).
//!
//! Handshakes run in their own tasks, at most [`MAX_HANDSHAKES`] at once and each for at most
//! [`HANDSHAKE_TIMEOUT`], so a slow or silent client never holds up the others. A client certificate is
//! accepted at the handshake once the client proves it holds the key; whether its chain is trusted is
//! decided per request against the front-proxy CA of the moment ([`crate::auth::FrontProxy`]), which can
//! rotate without new connections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::serve::Listener;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// Handshakes in progress at once; connections beyond it are closed at once.
pub const MAX_HANDSHAKES: usize = 512;
/// Longest a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the certificate files are compared with what is served.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Why a certificate and key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path}: not a PEM private key: {message}")]
    Key { path: PathBuf, message: String },
    /// The key does not match the certificate, or is of an unsupported type.
    #[error("{cert} with {key}: {source}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The connection a request arrived on: handed to handlers as axum's `ConnectInfo` ([`crate::serving`]).
#[derive(Clone, Debug)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The certificate chain the client presented over TLS, leaf first; empty for plain HTTP or none.
    pub client_certificates: Arc<[CertificateDer<'static>]>,
}

/// The certificate and key files of `server.tls`.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The serving certificate, replaced when its files change.
#[derive(Debug)]
pub struct ReloadingCertificate {
    files: CertificateFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

/// The file contents last looked at, loaded or not: a change is acted on (and a failure logged) once.
type Contents = (Vec<u8>, Vec<u8>);

impl ReloadingCertificate {
    /// Loads `files`; fails when they do not hold a matching certificate and key.
    pub fn load(files: CertificateFiles, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let contents = read(&files)?;
        let key = certified_key(&files, &contents, &provider)?;
        Ok(Self {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// Re-reads the files every [`RELOAD_INTERVAL`] until `stop`; a new pair that loads replaces the served
    /// one, one that does not is logged and the previous certificate stays.
    pub async fn follow_files(self: Arc<Self>, stop: CancellationToken) {
        let mut seen: Option<Contents> = read(&self.files).ok();
        let mut ticks = tokio::time::interval(RELOAD_INTERVAL);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let contents = match read(&self.files) {
                Ok(contents) => contents,
                Err(error) => {
                    if seen.take().is_some() {
                        error!(%error, "serving certificate unreadable; keeping the previous one");
                    }
                    continue;
                }
            };
            if seen.as_ref() == Some(&contents) {
                continue;
            }
            match certified_key(&self.files, &contents, &self.provider) {
                Ok(key) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
                    info!(cert = %self.files.cert.display(), "serving certificate reloaded");
                }
                Err(error) => {
                    error!(%error, "new serving certificate does not load; keeping the previous one")
                }
            }
            seen = Some(contents);
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn read(files: &CertificateFiles) -> Result<Contents, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok((read(&files.cert)?, read(&files.key)?))
}

fn certified_key(
    files: &CertificateFiles,
    (cert, key): &Contents,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate {
            path: files.cert.clone(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        message: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    })
}

/// The TLS configuration of the listener: `certificate`, HTTP/1.1, and an optional client certificate.
pub fn server_config(
    certificate: Arc<ReloadingCertificate>,
    provider: Arc<CryptoProvider>,
) -> Result<ServerConfig, rustls::Error> {
    let verifier = Arc::new(ProofOfPossession {
        provider: provider.clone(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Asks for a client certificate without requiring one, and accepts any whose key the client proves to
/// hold: which chains are trusted is decided per request (front-proxy CA), not per connection.
#[derive(Debug)]
struct ProofOfPossession {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ProofOfPossession {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A listener that hands axum connections whose TLS handshake has completed.
pub struct TlsListener {
    established: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and runs each handshake with `config` in its own task; stops accepting when the
    /// listener is dropped.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, established) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), sender));
        Ok(Self { established, local })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, Peer)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (stream, remote) = tokio::select! {
            _ = sender.closed() => return,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Like axum's own loop: out of file descriptors and the like pass with time.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            debug!(%remote, "too many handshakes in progress; connection closed");
            continue;
        };
        let (acceptor, sender) = (acceptor.clone(), sender.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let client_certificates = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                        .unwrap_or_else(|| Arc::new([]) as Arc<[_]>);
                    let peer = Peer {
                        remote,
                        client_certificates,
                    };
                    let _ = sender.send((stream, peer)).await;
                }
                Ok(Err(error)) => debug!(%remote, %error, "TLS handshake failed"),
                Err(_) => debug!(%remote, "TLS handshake timed out"),
            }
        });
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.established.recv().await {
            Some(established) => established,
            // The accept loop only ends once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            remote: self.local,
            client_certificates: Arc::new([]),
        })
    }
}
