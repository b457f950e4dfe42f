//! HTTPS for the web client and signalling: rustls with a certificate from the configuration,
//! or a self-signed one made for local use. Browsers need a secure context for camera,
//! microphone and WebCrypto on any host but localhost, so a server reached over a network
//! serves HTTPS itself or sits behind a proxy that does.

use std::path::Path;

use axum_server::tls_rustls::RustlsConfig;

use crate::config::Config;

/// TLS for the server's own outgoing connections (`sealroom verify-web`, LDAP directories): it
/// trusts only the certificates in `ca_file` when given (as `sealroom join` does), else the
/// web PKI's roots; the certificate must name the host either way.
pub(crate) fn client_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    if let Some(path) = ca_file {
        return Ok(sealroom_client::session::pinned_roots(path)?);
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The rustls configuration the server serves with, if TLS is on.
pub async fn server_config(config: &Config) -> anyhow::Result<Option<RustlsConfig>> {
    let tls = &config.tls;
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        return Ok(Some(load(cert, key).await?));
    }
    if !tls.self_signed {
        return Ok(None);
    }
    let dir = config.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !cert.is_file() || !key.is_file() {
        let mut names = vec!["localhost".to_owned(), config.listen.ip().to_string()];
        names.extend(config.media.public_ip.map(|ip| ip.to_string()));
        names.sort();
        names.dedup();
        let generated = rcgen::generate_simple_self_signed(names)?;
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&cert, generated.cert.pem())?;
        write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
        tracing::info!(cert = %cert.display(), "made a self-signed certificate");
    }
    Ok(Some(load(&cert, &key).await?))
}

async fn load(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot load the TLS certificate {} and key {}: {error}",
                cert.display(),
                key.display()
            )
        })
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(contents)
}
