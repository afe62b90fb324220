//! quinn and wtransport echoes: datagrams, and one long-lived bidirectional stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::json;

use super::{PAYLOAD, Sampler};
use crate::cli::Result;
use crate::process::ServerProcess;

pub(super) async fn serve_quinn() -> Result<()> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = quinn::ServerConfig::with_single_cert(vec![cert.clone()], key.into())?;
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse()?)?;
    let ready = json!({ "quinn": endpoint.local_addr()?.port(), "cert": hex(&cert) });
    println!("ready {ready}");
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else {
                return;
            };
            let datagrams = connection.clone();
            tokio::spawn(async move {
                while let Ok(datagram) = datagrams.read_datagram().await {
                    let _ = datagrams.send_datagram(datagram);
                }
            });
            while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; PAYLOAD];
                    while recv.read_exact(&mut buffer).await.is_ok() {
                        if send.write_all(&buffer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    Ok(())
}

async fn quinn_connect(server: &ServerProcess) -> Result<quinn::Connection> {
    let cert = unhex(server.ready["cert"].as_str().ok_or("no certificate")?)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert))?;
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(quinn::ClientConfig::with_root_certificates(Arc::new(
        roots,
    ))?);
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port("quinn")?));
    Ok(endpoint.connect(addr, "localhost")?.await?)
}

pub(super) async fn quinn_datagrams(server: &ServerProcess, sampler: &mut Sampler) -> Result<()> {
    let connection = quinn_connect(server).await?;
    let send = |payload: Bytes| Ok(connection.send_datagram(payload)?);
    let reply = |seq: u64| {
        let connection = &connection;
        async move {
            loop {
                let reply = connection.read_datagram().await?;
                if reply.get(..8) == Some(&seq.to_le_bytes()[..]) {
                    return Ok::<_, quinn::ConnectionError>(());
                }
            }
        }
    };
    datagram_round_trips(sampler, send, reply).await
}

/// Numbered datagrams, one in flight: `send` sends one, and `reply(seq)` reads until the echo
/// of datagram `seq` is back.
async fn datagram_round_trips<F, E>(
    sampler: &mut Sampler,
    send: impl Fn(Bytes) -> Result<()>,
    reply: impl Fn(u64) -> F,
) -> Result<()>
where
    F: Future<Output = std::result::Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut seq = 0u64;
    while sampler.more() {
        seq += 1;
        let mut payload = [7u8; PAYLOAD];
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        let started = Instant::now();
        send(Bytes::copy_from_slice(&payload))?;
        sampler.datagram(started, reply(seq)).await?;
    }
    Ok(())
}

pub(super) async fn quinn_stream(server: &ServerProcess, sampler: &mut Sampler) -> Result<()> {
    let connection = quinn_connect(server).await?;
    let (mut send, mut recv) = connection.open_bi().await?;
    Ok(sampler.stream(&mut send, &mut recv).await?)
}

pub(super) async fn serve_wt() -> Result<()> {
    let identity = wtransport::Identity::self_signed(["localhost", "127.0.0.1"])?;
    let config = wtransport::ServerConfig::builder()
        .with_bind_address("127.0.0.1:0".parse()?)
        .with_identity(identity)
        .build();
    let endpoint = wtransport::Endpoint::server(config)?;
    println!("ready {}", json!({ "wt": endpoint.local_addr()?.port() }));
    loop {
        let incoming = endpoint.accept().await;
        tokio::spawn(async move {
            let Ok(request) = incoming.await else {
                return;
            };
            let Ok(session) = request.accept().await else {
                return;
            };
            let datagrams = session.clone();
            tokio::spawn(async move {
                while let Ok(datagram) = datagrams.receive_datagram().await {
                    let _ = datagrams.send_datagram(datagram.payload());
                }
            });
            while let Ok((mut send, mut recv)) = session.accept_bi().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; PAYLOAD];
                    while recv.read_exact(&mut buffer).await.is_ok() {
                        if send.write_all(&buffer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
}

pub(super) async fn wt_stream(server: &ServerProcess, sampler: &mut Sampler) -> Result<()> {
    let session = wt_connect(server).await?;
    let (mut send, mut recv) = session.open_bi().await?.await?;
    Ok(sampler.stream(&mut send, &mut recv).await?)
}

/// Datagrams through wtransport's own API: quinn's datagrams, less what wtransport adds.
pub(super) async fn wt_datagrams(server: &ServerProcess, sampler: &mut Sampler) -> Result<()> {
    let session = wt_connect(server).await?;
    let send = |payload: Bytes| Ok(session.send_datagram(payload)?);
    let reply = |seq: u64| {
        let session = &session;
        async move {
            loop {
                let reply = session.receive_datagram().await?;
                if reply.payload().get(..8) == Some(&seq.to_le_bytes()[..]) {
                    return Ok::<_, wtransport::error::ConnectionError>(());
                }
            }
        }
    };
    datagram_round_trips(sampler, send, reply).await
}

async fn wt_connect(server: &ServerProcess) -> Result<wtransport::Connection> {
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_no_cert_validation()
        .build();
    let endpoint = wtransport::Endpoint::client(config)?;
    let url = format!("https://127.0.0.1:{}/", server.port("wt")?);
    Ok(endpoint.connect(url).await?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            Ok(u8::from_str_radix(
                text.get(i..i + 2).ok_or("odd hex")?,
                16,
            )?)
        })
        .collect()
}
