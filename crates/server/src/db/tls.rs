//! TLS to the database servers, chosen by `sslmode` in the database URL, with rustls (ring
//! as the crypto provider). Pool setup in the driver files ([`super::postgres`], the MySQL
//! driver) calls [`settings`] on the URL: it takes the TLS parameters out, so the driver's own URL
//! parser never sees them, and returns them as [`TlsSettings`]. From those the driver gets a
//! connector for tokio-postgres ([`postgres_connector`]) or the options of mysql_async
//! ([`mysql_tls`]).
//!
//! The modes mean what they mean to libpq, whichever driver: `prefer` uses TLS when the server
//! offers it and plain text otherwise, `require` insists on TLS, `verify-ca` also checks that
//! the certificate chains to a trusted root, `verify-full` also that it names the host. The
//! MySQL spellings (`ssl-mode=VERIFY_IDENTITY`, `ssl-ca`) are read as the same settings.
//! `prefer` falls back to plain text only when the server declines TLS, never after a failed
//! handshake: a server that speaks TLS is not talked to in the clear. On MySQL/MariaDB,
//! `verify-ca` is refused for now (see [`mysql_tls`]).
//!
//! Without `sslrootcert` the trusted roots are webpki-roots' (Mozilla's list, compiled in):
//! mysql_async trusts exactly that list, so both drivers agree on which certificates pass, and
//! the result does not depend on what a container image happens to carry in its certificate
//! store. A private CA is given with `sslrootcert`, which then replaces that list.

use super::DbError;
use fraiseql_engine::config::{DatabaseConfig, SslMode};
use mysql_async::{OptsBuilder, SslOpts};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

const ACCEPTED_MODES: &str = "disable, prefer, require, verify-ca, verify-full (or the MySQL \
                              spellings DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)";

/// A URL's `sslmode`, either spelling, any case. Anything else is an error: a typo must never
/// mean plain text. (The `ssl_mode` key is checked when the configuration loads.)
fn parse_mode(value: &str) -> Result<SslMode, DbError> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "disable" | "disabled" => SslMode::Disable,
        "prefer" | "preferred" => SslMode::Prefer,
        "require" | "required" => SslMode::Require,
        "verify-ca" | "verify_ca" => SslMode::VerifyCa,
        "verify-full" | "verify_identity" => SslMode::VerifyFull,
        _ => {
            return Err(DbError::unavailable(format!(
                "unknown sslmode `{value}` in the database url; accepted: {ACCEPTED_MODES}"
            )))
        }
    })
}

/// The TLS parameters of one database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    /// `sslrootcert` / `ssl-ca`: a PEM file of the roots to trust instead of webpki-roots.
    pub(crate) root_cert: Option<PathBuf>,
}

/// What the server's certificate must pass once TLS is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing: the traffic is encrypted, but the server is not authenticated.
    Nothing,
    /// The chain leads to a trusted root; the names in the certificate are not looked at.
    Chain,
    /// The chain, and the certificate names the host connected to.
    Full,
}

impl TlsSettings {
    /// `None` for plain text. A root certificate turns `prefer` and `require` into a chain check
    /// (as libpq does): whoever gives the roots wants them used.
    fn check(&self) -> Option<Check> {
        match (self.mode, &self.root_cert) {
            (SslMode::Disable, _) => None,
            (SslMode::Prefer | SslMode::Require, None) => Some(Check::Nothing),
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, _) => Some(Check::Chain),
            (SslMode::VerifyFull, _) => Some(Check::Full),
        }
    }
}

/// The keys [`settings`] takes out of a URL.
const MODE_KEYS: [&str; 3] = ["sslmode", "ssl-mode", "ssl_mode"];
const ROOT_KEYS: [&str; 2] = ["sslrootcert", "ssl-ca"];
/// mysql_async's own TLS switches. Refused rather than passed on: the driver would build its
/// TLS from them, the options built from `sslmode` would then replace that, and a URL saying
/// `require_ssl=true` would connect in plain text under the default `prefer`.
const DRIVER_KEYS: [&str; 4] = [
    "require_ssl",
    "verify_ca",
    "verify_identity",
    "built_in_roots",
];

fn is_tls_key(key: &str) -> bool {
    MODE_KEYS.contains(&key) || ROOT_KEYS.contains(&key) || DRIVER_KEYS.contains(&key)
}

/// Takes the TLS parameters out of a database URL: the URL without them (for the driver's
/// own parser), and the settings they make. Without `sslmode` the mode is `prefer`, libpq's
/// and the MySQL client's default. Reads a URL (`scheme://…?sslmode=…&…`) or libpq's
/// `key=value` form.
///
/// The database's `ssl_mode` and `ssl_root_cert` keys say the same: each setting may come
/// from the URL or from its key, not both (which one should win would be a guess).
pub(crate) fn settings(url: &str, cfg: &DatabaseConfig) -> Result<(String, TlsSettings), DbError> {
    resolve(url, cfg.ssl_mode, cfg.ssl_root_cert.as_deref())
}

fn resolve(
    url: &str,
    key_mode: Option<SslMode>,
    key_root: Option<&str>,
) -> Result<(String, TlsSettings), DbError> {
    let (rest, params) = if url.contains("://") {
        split_query(url)
    } else {
        split_key_values(url)?
    };
    let mut mode = None;
    let mut root_cert = None;
    for (key, value) in params {
        if MODE_KEYS.contains(&key.as_str()) {
            set_once(&mut mode, &key, parse_mode(&value)?)?;
        } else if ROOT_KEYS.contains(&key.as_str()) {
            set_once(&mut root_cert, &key, PathBuf::from(value))?;
        } else {
            return Err(DbError::unavailable(format!(
                "`{key}` in the database url is not read; TLS is set with sslmode (or ssl-mode) \
                 and sslrootcert (or ssl-ca)"
            )));
        }
    }
    let both = |what: &str| {
        DbError::unavailable(format!(
            "{what} is set both in the database url and by its key; keep one"
        ))
    };
    if let Some(key) = key_mode {
        if mode.replace(key).is_some() {
            return Err(both("sslmode (ssl_mode)"));
        }
    }
    if let Some(key) = key_root {
        if root_cert.replace(PathBuf::from(key)).is_some() {
            return Err(both("sslrootcert (ssl_root_cert)"));
        }
    }
    let settings = TlsSettings {
        mode: mode.unwrap_or(SslMode::Prefer),
        root_cert,
    };
    Ok((rest, settings))
}

/// A setting given twice (`sslmode` and `ssl-mode`) is refused: which one wins would be a
/// guess the user never sees.
fn set_once<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), DbError> {
    if slot.replace(value).is_some() {
        return Err(DbError::unavailable(format!(
            "`{key}` repeats a TLS setting already given in the database url"
        )));
    }
    Ok(())
}

/// The URL's query string without the TLS pairs, which come back percent-decoded. The query
/// starts at the first `?`, as in both drivers' parsers.
fn split_query(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key);
        if is_tls_key(&key) {
            tls.push((key, decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, tls)
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// libpq's `key=value` form (`host=db sslmode=verify-full`): pairs separated by spaces, spaces
/// allowed around `=`, a value in single quotes when it holds spaces, `\` escaping the next
/// character. The pairs that stay are kept exactly as written.
fn split_key_values(dsn: &str) -> Result<(String, Vec<(String, String)>), DbError> {
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    let mut rest = dsn.trim_start();
    while !rest.is_empty() {
        let (key, value, len) = key_value(rest)?;
        if is_tls_key(key) {
            tls.push((key.to_string(), value));
        } else {
            kept.push(&rest[..len]);
        }
        rest = rest[len..].trim_start();
    }
    Ok((kept.join(" "), tls))
}

/// The first pair of `s`: its key, its unescaped value, and how many bytes it spans.
fn key_value(s: &str) -> Result<(&str, String, usize), DbError> {
    let key_end = s
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(s.len());
    let key = &s[..key_end];
    let Some(after_eq) = s[key_end..].trim_start().strip_prefix('=') else {
        return Err(DbError::unavailable(format!(
            "invalid connection string: `{key}` has no `=`"
        )));
    };
    let value_start = s.len() - after_eq.trim_start().len();
    let mut chars = s[value_start..].char_indices();
    let quoted = s[value_start..].starts_with('\'');
    if quoted {
        chars.next();
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            '\'' if quoted => return Ok((key, value, value_start + i + 1)),
            c if c.is_whitespace() && !quoted => return Ok((key, value, value_start + i)),
            c => value.push(c),
        }
    }
    if quoted {
        return Err(DbError::unavailable(format!(
            "invalid connection string: the value of `{key}` has no closing quote"
        )));
    }
    Ok((key, value, s.len()))
}

/// The rustls configuration that makes `check` on the server's certificate.
fn client_config(check: Check, root_cert: Option<&Path>) -> Result<ClientConfig, DbError> {
    // Named explicitly rather than taken from the process default, which rustls cannot pick
    // when a dependency enables a second provider.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::unavailable(format!("cannot set up TLS: {e}")))?;
    let roots = || match root_cert {
        Some(path) => read_roots(path).map(|roots| roots.store),
        None => Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
    };
    let builder = match check {
        Check::Full => builder.with_root_certificates(roots()?),
        Check::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient {
                roots: Some(roots()?),
                provider,
            })),
        Check::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient {
                roots: None,
                provider,
            })),
    };
    Ok(builder.with_no_client_auth())
}

/// The roots of an `sslrootcert` file: its text (mysql_async reads that itself) and the store
/// it makes. A file without a usable certificate is an error, not an empty trust list.
struct Roots {
    pem: Vec<u8>,
    store: RootCertStore,
}

fn read_roots(path: &Path) -> Result<Roots, DbError> {
    let bad = |e: &dyn std::fmt::Display| {
        DbError::unavailable(format!("cannot read sslrootcert {}: {e}", path.display()))
    };
    let pem = std::fs::read(path).map_err(|e| bad(&e))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(&e))?;
        store.add(cert).map_err(|e| bad(&e))?;
    }
    if store.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(Roots { pem, store })
}

/// The certificate checks rustls' own verifier cannot be told to make: with `roots`, the
/// chain only (`verify-ca`: the host name is not compared); without, none (`require`).
/// Either way the handshake signatures are checked, so the server has to hold the key of the
/// certificate it shows, and the session keys are really agreed with it.
#[derive(Debug)]
struct Lenient {
    roots: Option<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            let algorithms = self.provider.signature_verification_algorithms.all;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                algorithms,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// tokio-postgres' own mode for `settings`: it decides whether TLS is asked for and whether
/// plain text is acceptable when the server declines; the connector decides what the
/// certificate must pass.
pub(crate) fn postgres_mode(settings: &TlsSettings) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::SslMode as Pg;
    match settings.mode {
        SslMode::Disable => Pg::Disable,
        SslMode::Prefer => Pg::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Pg::Require,
    }
}

/// The connector for tokio-postgres, for connections and cancel requests alike. Under
/// `disable` tokio-postgres never calls it; it is built all the same (checking nothing, reading
/// no file) so that every connection goes through one type.
pub(crate) fn postgres_connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, DbError> {
    let check = settings.check().unwrap_or(Check::Nothing);
    let config = client_config(check, settings.root_cert.as_deref())?;
    Ok(MakeRustlsConnect::new(config))
}

/// TLS for mysql_async, resolved once per pool (the root file is read here, so a missing one
/// fails at startup).
#[derive(Debug, Clone)]
pub(crate) struct MysqlTls {
    /// What to give `OptsBuilder::ssl_opts`; `None` for plain text.
    pub(crate) ssl: Option<SslOpts>,
    /// `prefer`: connect again in plain text when the server has no TLS.
    plain_fallback: bool,
}

/// mysql_async's options for `settings`. mysql_async builds its rustls configuration itself
/// from switches: chain and name checked (the default), or nothing checked
/// (`accept_invalid_certs`, which still checks the handshake signatures), with the roots
/// being its built-in webpki-roots or the ones given.
///
/// The chain without the name (`verify-ca`, or a root certificate with `prefer`/`require`) is
/// refused: mysql_async 0.37.1 recognises a name mismatch by looking for `NotValidForName` in
/// the rustls error's text, which current rustls no longer writes, so its
/// `skip_domain_validation` has no effect (mysql_async issue 404, fixed upstream after
/// 0.37.1). `tls_tests.rs` has a test that notices the day it works.
pub(crate) fn mysql_tls(settings: &TlsSettings) -> Result<MysqlTls, DbError> {
    let ssl = match settings.check() {
        None => None,
        Some(Check::Nothing) => Some(SslOpts::default().with_danger_accept_invalid_certs(true)),
        Some(Check::Chain) => {
            return Err(DbError::unavailable(
                "MySQL/MariaDB cannot check the certificate chain without the host name \
                 (sslmode verify-ca, or sslrootcert with prefer or require): use verify-full \
                 (VERIFY_IDENTITY), or require without sslrootcert",
            ))
        }
        Some(Check::Full) => Some(match &settings.root_cert {
            // Read and parsed now, so a bad file is refused at startup, not at each connection.
            Some(path) => SslOpts::default()
                .with_root_certs(vec![read_roots(path)?.pem.into()])
                .with_disable_built_in_roots(true),
            None => SslOpts::default(),
        }),
    };
    Ok(MysqlTls {
        ssl,
        plain_fallback: settings.mode == SslMode::Prefer,
    })
}

impl MysqlTls {
    /// Opens a connection with these TLS settings.
    ///
    /// mysql_async has no `prefer`: given TLS options it fails when the server has no TLS. So
    /// `prefer` asks for TLS and, only when the server's greeting says it has none (before any
    /// credential is sent), connects again in plain text, as the MySQL client's `PREFERRED`
    /// does. Any other failure, a certificate or handshake one included, is returned: a
    /// server that offers TLS is never talked to in plain text.
    ///
    /// With TLS, mysql_async's `prefer_socket` is turned off: it would otherwise ask the
    /// server for its unix socket path and, when such a file exists here, reconnect through it,
    /// leaving TLS (and possibly the server) behind without a word.
    pub(crate) async fn connect(
        &self,
        opts: OptsBuilder,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        let Some(ssl) = &self.ssl else {
            return mysql_async::Conn::new(opts).await;
        };
        let secure = opts.clone().ssl_opts(ssl.clone()).prefer_socket(false);
        match mysql_async::Conn::new(secure).await {
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if self.plain_fallback => mysql_async::Conn::new(opts.prefer_socket(false)).await,
            other => other,
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
