//! Tests of `tls.rs`: how a URL's TLS parameters are read, then each mode against real
//! servers started here with a certificate made here (`tls_servers.rs`): a PostgreSQL and a
//! MariaDB with TLS, and one of each without. The certificate is valid for `localhost` only,
//! so connecting to 127.0.0.1 is connecting to a host it does not name.

#[path = "tls_servers.rs"]
mod servers;

use super::{mysql_tls, postgres_connector, TlsSettings};
use crate::db::{Database, DbError, DbErrorKind};
use fraiseql_engine::config::{DatabaseConfig, DatabaseKind, SslMode};
use fraiseql_engine::sql::SqlQuery;
use servers::Server;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The TLS settings of a URL alone.
fn split(url: &str) -> Result<(String, TlsSettings), DbError> {
    super::settings(url, &DatabaseConfig::default())
}

fn settings(mode: SslMode, root_cert: Option<&str>) -> TlsSettings {
    TlsSettings {
        mode,
        root_cert: root_cert.map(PathBuf::from),
    }
}

#[test]
fn split_takes_the_tls_parameters_out_of_a_url() {
    let (url, tls) = split(
        "postgresql://u:p@db:5432/app?application_name=x&sslmode=verify-full\
         &sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
    )
    .expect("splits");
    assert_eq!(
        url,
        "postgresql://u:p@db:5432/app?application_name=x&connect_timeout=3"
    );
    assert_eq!(tls, settings(SslMode::VerifyFull, Some("/etc/ca.pem")));

    let (url, tls) = split("postgresql://db/app?sslmode=require").expect("splits");
    assert_eq!(url, "postgresql://db/app");
    assert_eq!(tls, settings(SslMode::Require, None));
}

#[test]
fn without_sslmode_the_mode_is_prefer() {
    let (url, tls) = split("mysql://root@db:3306/app").expect("splits");
    assert_eq!(url, "mysql://root@db:3306/app");
    assert_eq!(tls, settings(SslMode::Prefer, None));
}

#[test]
fn the_mysql_spellings_mean_the_same_modes() {
    let cases = [
        ("ssl-mode=DISABLED", SslMode::Disable),
        ("ssl_mode=preferred", SslMode::Prefer),
        ("ssl-mode=Required", SslMode::Require),
        ("ssl-mode=VERIFY_CA", SslMode::VerifyCa),
        ("ssl-mode=VERIFY_IDENTITY", SslMode::VerifyFull),
        ("sslmode=VERIFY-FULL", SslMode::VerifyFull),
    ];
    for (query, mode) in cases {
        let (_, tls) = split(&format!("mysql://db/app?{query}")).expect(query);
        assert_eq!(tls.mode, mode, "{query}");
    }
    let (url, tls) =
        split("mysql://db/app?ssl-ca=ca.pem&ssl-mode=VERIFY_IDENTITY&stmt_cache_size=0")
            .expect("splits");
    assert_eq!(url, "mysql://db/app?stmt_cache_size=0");
    assert_eq!(tls, settings(SslMode::VerifyFull, Some("ca.pem")));
}

#[test]
fn the_key_value_form_is_read_too() {
    let (dsn, tls) = split(
        "host=db  sslmode = verify-ca password='a b\\'c' sslrootcert='/etc/my ca.pem' dbname=app",
    )
    .expect("splits");
    assert_eq!(dsn, "host=db password='a b\\'c' dbname=app");
    assert_eq!(tls, settings(SslMode::VerifyCa, Some("/etc/my ca.pem")));
    let err = split("host=db sslrootcert='/etc/ca.pem").expect_err("unterminated");
    assert!(err.message.contains("no closing quote"), "{err}");
}

#[test]
fn an_unknown_sslmode_is_refused_with_the_accepted_ones() {
    for url in [
        "postgresql://db/app?sslmode=verify_full",
        "postgresql://db/app?sslmode=allow",
        "mysql://db/app?ssl-mode=",
        "host=db sslmode=on",
    ] {
        let err = split(url).expect_err(url);
        assert_eq!(err.kind, DbErrorKind::Unavailable);
        assert!(
            err.message.contains("unknown sslmode")
                && err.message.contains(
                    "disable, prefer, require, verify-ca, verify-full (or the MySQL spellings \
                     DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)"
                ),
            "{url}: {err}"
        );
    }
}

#[test]
fn a_setting_given_twice_or_in_the_drivers_own_words_is_refused() {
    let err = split("mysql://db/app?sslmode=require&ssl-mode=DISABLED").expect_err("twice");
    assert!(err.message.contains("repeats"), "{err}");
    let err = split("mysql://db/app?require_ssl=true").expect_err("driver key");
    assert!(
        err.message.contains("`require_ssl`") && err.message.contains("sslmode"),
        "{err}"
    );
}

#[test]
fn a_missing_or_empty_root_file_is_refused_when_the_pool_is_built() {
    let err = postgres_connector(&settings(SslMode::VerifyFull, Some("/nonexistent/ca.pem")))
        .err()
        .expect("missing file");
    assert!(
        err.message
            .contains("cannot read sslrootcert /nonexistent/ca.pem"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let err =
        mysql_tls(&settings(SslMode::VerifyFull, empty.to_str())).expect_err("no certificate");
    assert!(err.message.contains("no PEM certificate"), "{err}");
}

// ---- PostgreSQL -------------------------------------------------------------------------

fn tls_postgres() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| servers::postgres(true))
}

fn plain_postgres() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| servers::postgres(false))
}

fn pg_url(host: &str, server: &Server, query: &str) -> String {
    format!(
        "postgresql://postgres@{host}:{}/postgres?{query}",
        server.port
    )
}

fn root(path: &Path) -> String {
    path.display().to_string()
}

fn pg_database(url: &str) -> Result<Database, DbError> {
    let cfg = DatabaseConfig {
        kind: Some(DatabaseKind::Postgresql),
        url: Some(url.to_string()),
        // Only the connection the test asks for: no background warm-up.
        pool_min: 0,
        ..DatabaseConfig::default()
    };
    Database::new("primary", &cfg)
}

/// Whether the session `url` opens is encrypted, as the server sees it.
async fn pg_ssl(url: &str) -> Result<bool, DbError> {
    let q = SqlQuery {
        text: "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()".into(),
        params: Vec::new(),
    };
    let row = pg_database(url)?.fetch_texts(&q).await?;
    Ok(row == [Some("true".to_string())])
}

/// The failure of connecting with `url`, which must be `Unavailable`.
async fn pg_failure(url: &str) -> String {
    let err = pg_ssl(url).await.expect_err("the connection is refused");
    assert_eq!(err.kind, DbErrorKind::Unavailable, "{err}");
    err.message
}

#[tokio::test]
async fn pg_verify_full_connects_with_the_right_root() {
    let ca = root(&servers::certs().ca);
    let url = pg_url(
        "localhost",
        tls_postgres(),
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert!(pg_ssl(&url).await.expect("connects"), "encrypted");
}

#[tokio::test]
async fn pg_verify_full_refuses_a_certificate_from_another_root() {
    let other = root(&servers::certs().other_ca);
    let url = pg_url(
        "localhost",
        tls_postgres(),
        &format!("sslmode=verify-full&sslrootcert={other}"),
    );
    let message = pg_failure(&url).await;
    assert!(
        message.contains("invalid peer certificate: UnknownIssuer"),
        "{message}"
    );
}

#[tokio::test]
async fn pg_verify_full_refuses_a_certificate_for_another_host() {
    let ca = root(&servers::certs().ca);
    let url = pg_url(
        "127.0.0.1",
        tls_postgres(),
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let message = pg_failure(&url).await;
    assert!(
        message.contains("certificate not valid for name \"127.0.0.1\""),
        "{message}"
    );
}

#[tokio::test]
async fn pg_verify_ca_accepts_a_certificate_for_another_host_but_not_another_root() {
    let certs = servers::certs();
    let query = format!("sslmode=verify-ca&sslrootcert={}", root(&certs.ca));
    let url = pg_url("127.0.0.1", tls_postgres(), &query);
    assert!(pg_ssl(&url).await.expect("connects"), "encrypted");

    let query = format!("sslmode=verify-ca&sslrootcert={}", root(&certs.other_ca));
    let message = pg_failure(&pg_url("127.0.0.1", tls_postgres(), &query)).await;
    assert!(message.contains("UnknownIssuer"), "{message}");
}

#[tokio::test]
async fn pg_require_encrypts_without_a_root_and_checks_the_chain_with_one() {
    let url = pg_url("127.0.0.1", tls_postgres(), "sslmode=require");
    assert!(pg_ssl(&url).await.expect("connects"), "encrypted");

    // As libpq: require with a root file checks the chain (verify-ca).
    let other = root(&servers::certs().other_ca);
    let query = format!("sslmode=require&sslrootcert={other}");
    let message = pg_failure(&pg_url("127.0.0.1", tls_postgres(), &query)).await;
    assert!(message.contains("UnknownIssuer"), "{message}");
}

#[tokio::test]
async fn pg_prefer_encrypts_when_the_server_offers_tls() {
    // No sslmode: prefer.
    let url = pg_url("127.0.0.1", tls_postgres(), "application_name=prefer");
    assert!(pg_ssl(&url).await.expect("connects"), "encrypted");
}

#[tokio::test]
async fn pg_disable_and_prefer_talk_plain_text_to_a_server_without_tls() {
    for query in ["sslmode=disable", "sslmode=prefer"] {
        let url = pg_url("127.0.0.1", plain_postgres(), query);
        assert!(!pg_ssl(&url).await.expect(query), "{query}: plain text");
    }
    // disable stays plain even where TLS is on offer.
    let url = pg_url("127.0.0.1", tls_postgres(), "sslmode=disable");
    assert!(!pg_ssl(&url).await.expect("connects"), "plain text");
}

#[tokio::test]
async fn pg_require_refuses_a_server_without_tls() {
    for query in ["sslmode=require", "sslmode=verify-full"] {
        let message = pg_failure(&pg_url("localhost", plain_postgres(), query)).await;
        assert!(message.contains("server does not support TLS"), "{message}");
    }
}

#[tokio::test]
async fn pg_an_unknown_sslmode_is_refused_when_the_pool_is_built() {
    // Building the pool connects nowhere: no server needed.
    let err = pg_database("postgresql://postgres@localhost:1/postgres?sslmode=verify")
        .expect_err("refused");
    assert_eq!(err.kind, DbErrorKind::Unavailable);
    assert!(
        err.message
            .contains("unknown sslmode `verify` in the database url; accepted: disable, prefer"),
        "{err}"
    );
}

/// Read replicas take TLS as the primary does: from their own URL, or from the database's
/// `ssl_mode` and `ssl_root_cert`. A replica whose certificate fails the check is skipped
/// like one that is down.
#[tokio::test]
async fn pg_replicas_take_the_tls_settings_of_the_database() {
    let certs = servers::certs();
    let q = SqlQuery {
        text: "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()".into(),
        params: Vec::new(),
    };
    let encrypted = vec![Some("true".to_string())];
    // Each replica's own sslmode: the one checked against the wrong root is skipped, the
    // other answers (encrypted, where the primary would not be).
    let cfg = DatabaseConfig {
        kind: Some(DatabaseKind::Postgresql),
        url: Some(pg_url("localhost", plain_postgres(), "sslmode=disable")),
        replicas: [&certs.other_ca, &certs.ca]
            .map(|ca| {
                let query = format!("sslmode=verify-full&sslrootcert={}", root(ca));
                pg_url("localhost", tls_postgres(), &query)
            })
            .to_vec(),
        pool_min: 0,
        ..DatabaseConfig::default()
    };
    let db = Database::new("primary", &cfg).expect("pools");
    for _ in 0..4 {
        assert_eq!(db.fetch_texts(&q).await.expect("read"), encrypted);
    }
    let [wrong_root, right_root] = db.replicas() else {
        panic!("two replicas")
    };
    assert!(!wrong_root.is_up() && right_root.is_up());
    let e = wrong_root.target.ping().await.expect_err("refused");
    assert!(e.message.contains("UnknownIssuer"), "{e}");

    // The keys hold for the replicas too: verify-full refuses the replica reached as
    // 127.0.0.1 (the certificate names localhost only), and the primary answers.
    let cfg = DatabaseConfig {
        kind: Some(DatabaseKind::Postgresql),
        url: Some(pg_url(
            "localhost",
            tls_postgres(),
            "application_name=primary",
        )),
        replicas: vec![pg_url(
            "127.0.0.1",
            tls_postgres(),
            "application_name=replica",
        )],
        ssl_mode: Some(SslMode::VerifyFull),
        ssl_root_cert: Some(root(&certs.ca)),
        pool_min: 0,
        ..DatabaseConfig::default()
    };
    let db = Database::new("primary", &cfg).expect("pools");
    assert_eq!(db.fetch_texts(&q).await.expect("read"), encrypted);
    assert!(!db.replicas()[0].is_up());
    let e = db.replicas()[0].target.ping().await.expect_err("refused");
    assert!(
        e.message
            .contains("certificate not valid for name \"127.0.0.1\""),
        "{e}"
    );
}

#[tokio::test]
async fn pg_an_abandoned_statement_is_cancelled_over_tls() {
    let ca = root(&servers::certs().ca);
    let url = pg_url(
        "localhost",
        tls_postgres(),
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let db = pg_database(&url).expect("pool");
    let sleep = SqlQuery {
        text: "SELECT pg_sleep(60)::text".into(),
        params: Vec::new(),
    };
    let dropped = tokio::time::timeout(Duration::from_millis(500), db.fetch_texts(&sleep)).await;
    assert!(dropped.is_err(), "the sleep was still running");
    // The cancel request travels on a TLS connection of its own; once it lands, the sleep is
    // no longer active on the server.
    let active = SqlQuery {
        text: "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
               AND query = 'SELECT pg_sleep(60)::text'"
            .into(),
        params: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = db.fetch_texts(&active).await.expect("count");
        if row == [Some("0".to_string())] {
            break;
        }
        assert!(Instant::now() < deadline, "the statement was not cancelled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- MariaDB ----------------------------------------------------------------------------

fn tls_mariadb() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| servers::mariadb(true))
}

fn plain_mariadb() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| servers::mariadb(false))
}

fn mysql_url(host: &str, server: &Server, query: &str) -> String {
    format!("mysql://root@{host}:{}/?{query}", server.port)
}

/// The session's `Ssl_cipher` (empty in plain text) with the TLS of `url`, through the MySQL
/// driver's own pool (`split`, `mysql_tls`, `MysqlTls::connect`). A failure is the message
/// of the `DbError`, which must be `Unavailable`.
async fn mysql_cipher(url: &str) -> Result<String, String> {
    let cfg = crate::db::DatabaseConfig {
        kind: Some(crate::db::DatabaseKind::Mysql),
        url: Some(url.to_string()),
        ..Default::default()
    };
    let db = crate::db::Database::new("primary", &cfg).map_err(|e| e.message)?;
    let row = db
        .fetch_texts(&fraiseql_engine::sql::SqlQuery {
            text: "SHOW SESSION STATUS LIKE 'Ssl_cipher'".into(),
            params: Vec::new(),
        })
        .await
        .map_err(|e| {
            assert_eq!(e.kind, crate::db::DbErrorKind::Unavailable, "{e}");
            e.message
        })?;
    Ok(row.get(1).cloned().flatten().unwrap_or_default())
}

#[tokio::test]
async fn mysql_verify_identity_connects_with_the_right_root() {
    let ca = root(&servers::certs().ca);
    let url = mysql_url(
        "localhost",
        tls_mariadb(),
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    );
    let cipher = mysql_cipher(&url).await.expect("connects");
    assert!(!cipher.is_empty(), "encrypted");
}

#[tokio::test]
async fn mysql_verify_identity_refuses_another_root_or_another_host() {
    let certs = servers::certs();
    let query = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", root(&certs.other_ca));
    let err = mysql_cipher(&mysql_url("localhost", tls_mariadb(), &query))
        .await
        .expect_err("another root");
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );

    let query = format!("sslmode=verify-full&sslrootcert={}", root(&certs.ca));
    let err = mysql_cipher(&mysql_url("127.0.0.1", tls_mariadb(), &query))
        .await
        .expect_err("another host");
    assert!(
        err.contains("certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
}

#[tokio::test]
async fn mysql_verify_ca_is_refused_with_what_to_use_instead() {
    let ca = root(&servers::certs().ca);
    for query in [
        format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"),
        format!("sslmode=require&sslrootcert={ca}"),
    ] {
        let err = mysql_cipher(&mysql_url("127.0.0.1", tls_mariadb(), &query))
            .await
            .expect_err(&query);
        assert!(
            err.contains("cannot check the certificate chain without the host name")
                && err.contains("use verify-full"),
            "{err}"
        );
    }
}

/// Why verify-ca is refused above: mysql_async 0.37.1 still checks the name when told not to.
/// When this test fails, mysql_async can do verify-ca: let `mysql_tls` map `Check::Chain` to
/// root certificates with `with_danger_skip_domain_validation(true)`, and turn the test above
/// into one that connects.
#[tokio::test]
async fn mysql_async_still_checks_the_name_when_told_not_to() {
    let pem = std::fs::read(&servers::certs().ca).expect("CA file");
    let ssl = mysql_async::SslOpts::default()
        .with_root_certs(vec![pem.into()])
        .with_disable_built_in_roots(true)
        .with_danger_skip_domain_validation(true);
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(tls_mariadb().port)
        .user(Some("root"))
        .prefer_socket(false)
        .ssl_opts(ssl);
    let err = mysql_async::Conn::new(opts)
        .await
        .expect_err("mysql_async can now skip the name check: enable verify-ca in tls::mysql_tls");
    assert!(err.to_string().contains("not valid for name"), "{err}");
}

#[tokio::test]
async fn mysql_required_encrypts_without_a_root() {
    let url = mysql_url("127.0.0.1", tls_mariadb(), "ssl-mode=REQUIRED");
    let cipher = mysql_cipher(&url).await.expect("connects");
    assert!(!cipher.is_empty(), "encrypted");
}

#[tokio::test]
async fn mysql_preferred_encrypts_when_the_server_offers_tls() {
    // No ssl-mode: prefer.
    let url = mysql_url("127.0.0.1", tls_mariadb(), "");
    let cipher = mysql_cipher(&url).await.expect("connects");
    assert!(!cipher.is_empty(), "encrypted");
}

#[tokio::test]
async fn mysql_disabled_and_preferred_talk_plain_text_to_a_server_without_tls() {
    for query in ["ssl-mode=DISABLED", "ssl-mode=PREFERRED"] {
        let url = mysql_url("127.0.0.1", plain_mariadb(), query);
        let cipher = mysql_cipher(&url).await.expect(query);
        assert_eq!(cipher, "", "{query}: plain text");
    }
}

#[tokio::test]
async fn mysql_required_refuses_a_server_without_tls() {
    for query in ["ssl-mode=REQUIRED", "sslmode=verify-full"] {
        let err = mysql_cipher(&mysql_url("localhost", plain_mariadb(), query))
            .await
            .expect_err(query);
        assert!(
            err.contains("server does not have this capability"),
            "{err}"
        );
    }
}

#[test]
fn the_ssl_mode_and_ssl_root_cert_keys_say_what_the_url_says() {
    let cfg = DatabaseConfig {
        ssl_mode: Some(SslMode::Require),
        ssl_root_cert: Some("ca.pem".into()),
        ..DatabaseConfig::default()
    };
    let (url, tls) = super::settings("postgresql://db/app?application_name=x", &cfg).expect("keys");
    assert_eq!(url, "postgresql://db/app?application_name=x");
    assert_eq!(
        tls,
        TlsSettings {
            mode: SslMode::Require,
            root_cert: Some("ca.pem".into()),
        }
    );
    for url in [
        "postgresql://db/app?sslmode=disable",
        "mysql://db/app?ssl-ca=other.pem",
    ] {
        let err = super::settings(url, &cfg).expect_err("both");
        assert!(
            err.message
                .contains("both in the database url and by its key"),
            "{err}"
        );
    }
}
