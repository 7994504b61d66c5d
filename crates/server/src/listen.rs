//! The listening socket and the limits every connection lives under: plain TCP or TLS
//! (rustls), a cap on connections, and deadlines for the TLS handshake, the request
//! head, each request and the whole connection.
//!
//! The server runs its own accept loop (over hyper) rather than `axum::serve` so that
//! these limits exist at all: someone who cannot sign in must not be able to hold a
//! socket open for long, and the kill-switch API must keep answering while they try.
//! Requests are bounded in [`crate::limits`]; this module bounds connections.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::ServerError;

/// Connections served at once; the next one is closed at once.
pub const MAX_CONNECTIONS: usize = 2048;
/// A client must finish the TLS handshake within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and send a request's head (line and headers) within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection lives longer than this, whatever it does.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// The server's TLS configuration from PEM files: the certificate chain (leaf first) and
/// its private key (PKCS#8, PKCS#1 or SEC1).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let config_error = |what: String| ServerError::Config(what);
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| {
            config_error(format!(
                "cannot read the TLS certificate `{}`: {error}",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
        config_error(format!(
            "cannot read the TLS private key `{}`: {error}",
            key.display()
        ))
    })?;
    #[expect(
        deprecated,
        reason = "ring builds with a C compiler alone (aws-lc-rs wants cmake); this link \
                  does not need post-quantum key exchange yet"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| config_error(format!("TLS: {error}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| {
            config_error(format!(
                "the TLS certificate `{}` and key do not go together: {error}",
                cert.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accept connections until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // Out of file descriptors, usually: let some close.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let served = async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(Ok(stream)) =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                        {
                            serve_connection(stream, app).await;
                        }
                    }
                    None => serve_connection(tcp, app).await,
                }
            };
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, served).await;
        });
    }
}

async fn serve_connection<S>(io: S, app: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .await;
}
