//! Test support for `tls_tests.rs`: a certificate authority made with rcgen, and private
//! PostgreSQL and MariaDB servers on free ports, with or without TLS. The shared servers of the
//! test machine cannot serve these tests (their TLS is not ours to configure), so each test
//! process starts its own, once per kind: cargo test runs all the cases in one process and
//! shares them; nextest runs each case in a process of its own, which starts the servers it
//! uses (each is up in about a second).
//!
//! A server runs under a small shell that holds the read end of a pipe: when the [`Server`] is
//! dropped, or the test process ends in any way (a server kept in a `static` is never
//! dropped), the pipe closes, and the shell stops the server and removes its directory. A
//! server that does not come up fails the test with its log.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The certificates of one test process, in a directory removed when the process ends.
pub(super) struct Certs {
    /// The CA that signed the servers' certificate.
    pub(super) ca: PathBuf,
    /// Another CA, which signed nothing the servers show.
    pub(super) other_ca: PathBuf,
    /// The servers' certificate: valid for the name `localhost` only (not for 127.0.0.1).
    cert: PathBuf,
    key: PathBuf,
    /// Removes the directory once closed (see [`supervise`]).
    _cleanup: ChildStdin,
}

pub(super) fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(make_certs)
}

fn make_certs() -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let dir = scratch_dir("fraiseql-tls-certs");
    // A supervisor with nothing to run: it only removes the directory at the end.
    let (cleanup, _) = supervise(&dir, "TERM", &["true"]);
    // Distinct names: a root of the same name would be tried as the issuer (and fail on the
    // signature rather than as an unknown issuer).
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate")
    };
    let other_ca = ca("fraiseql test CA (unrelated)");
    let ca = ca("fraiseql test CA");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let certs = Certs {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other_ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        _cleanup: cleanup,
    };
    write(&certs.ca, &ca.pem());
    write(&certs.other_ca, &other_ca.pem());
    write(&certs.cert, &cert.pem());
    write(&certs.key, &key.serialize_pem());
    certs
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A directory of its own under the system temp dir, kept: a supervisor removes it.
fn scratch_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
        .keep()
}

/// A free loopback port. Another process could take it before the server binds it; a test
/// that then fails says why in the server's log.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running server; stopped (and its directory removed) when dropped.
pub(super) struct Server {
    pub(super) port: u16,
    /// Closing it tells the shell to stop the server.
    stdin: Option<ChildStdin>,
    shell: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.shell.wait();
    }
}

/// The shell a server runs under: starts `"$@"`, waits for its standard input to close, then
/// stops the server with `$SIGNAL` and removes `$DIR`.
const SUPERVISOR: &str = r#"
"$@" >"$DIR/server.log" 2>&1 &
server=$!
read -r _ignored
kill -"$SIGNAL" "$server" 2>/dev/null
wait "$server" 2>/dev/null
rm -rf "$DIR"
"#;

/// Starts `command` under the supervisor: its standard input, and the shell.
fn supervise(dir: &Path, signal: &str, command: &[&str]) -> (ChildStdin, Child) {
    let mut shell = Command::new("sh")
        .arg("-c")
        .arg(SUPERVISOR)
        .arg("supervisor")
        .args(command)
        .env("DIR", dir)
        .env("SIGNAL", signal)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", command[0]));
    let stdin = shell.stdin.take().expect("piped stdin");
    (stdin, shell)
}

/// Starts `command` under the supervisor and waits until `ready` is in its log.
fn start(dir: &Path, port: u16, signal: &str, command: &[&str], ready: &str) -> Server {
    let (stdin, shell) = supervise(dir, signal, command);
    let server = Server {
        port,
        stdin: Some(stdin),
        shell,
    };
    let log = dir.join("server.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(ready) {
            return server;
        }
        if Instant::now() > deadline {
            panic!("{} did not start within 60 s; its log:\n{text}", command[0]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a setup command to completion; its output is shown when it fails.
fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{command:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/<major>/bin`).
fn pg_bin(name: &str) -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("a PostgreSQL version under /usr/lib/postgresql");
    installed(PathBuf::from(format!(
        "/usr/lib/postgresql/{newest}/bin/{name}"
    )))
}

/// `path`, which must exist: a missing server fails at once rather than after the wait for it.
fn installed(path: PathBuf) -> PathBuf {
    assert!(path.exists(), "{} is not installed", path.display());
    path
}

/// A private PostgreSQL on 127.0.0.1 with trust authentication, serving TLS with the test
/// certificate when `tls`. It runs as the `postgres` user (PostgreSQL refuses root).
pub(super) fn postgres(tls: bool) -> Server {
    let dir = scratch_dir("fraiseql-tls-pg");
    let data = dir.join("data");
    let port = free_port();
    let mut settings = vec![
        "listen_addresses=127.0.0.1".to_string(),
        format!("unix_socket_directories={}", dir.display()),
        "fsync=off".to_string(),
    ];
    if tls {
        // PostgreSQL wants its key owned by the server's user and unreadable to others.
        let certs = certs();
        std::fs::copy(&certs.cert, dir.join("server.pem")).expect("copy certificate");
        std::fs::copy(&certs.key, dir.join("server.key")).expect("copy key");
        std::fs::set_permissions(dir.join("server.key"), PermissionsExt::from_mode(0o600))
            .expect("key permissions");
        settings.push("ssl=on".to_string());
        settings.push(format!(
            "ssl_cert_file={}",
            dir.join("server.pem").display()
        ));
        settings.push(format!("ssl_key_file={}", dir.join("server.key").display()));
    }
    run(Command::new("chown").arg("-R").arg("postgres:").arg(&dir));
    // setpriv, not runuser: it execs, so the supervisor's signal reaches PostgreSQL itself.
    let as_postgres = [
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
    ];
    let initdb = pg_bin("initdb");
    run(Command::new(as_postgres[0])
        .args(&as_postgres[1..])
        .arg(&initdb)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data));
    let postgres = pg_bin("postgres");
    let data = data.display().to_string();
    let port_text = port.to_string();
    let mut command: Vec<&str> = as_postgres.to_vec();
    command.extend([postgres.to_str().expect("utf-8 path"), "-D", &data]);
    command.extend(["-p", &port_text]);
    for setting in &settings {
        command.extend(["-c", setting]);
    }
    // SIGQUIT: immediate shutdown; the data is thrown away anyway.
    start(
        &dir,
        port,
        "QUIT",
        &command,
        "database system is ready to accept connections",
    )
}

/// A private MariaDB on 127.0.0.1 that lets anyone in (`--skip-grant-tables`), serving TLS
/// with the test certificate when `tls`.
pub(super) fn mariadb(tls: bool) -> Server {
    let dir = scratch_dir("fraiseql-tls-mariadb");
    std::fs::create_dir(dir.join("data")).expect("data dir");
    std::fs::create_dir(dir.join("tmp")).expect("tmp dir");
    let port = free_port();
    // Where Debian's mariadb-server puts it (/usr/sbin may not be on the PATH).
    let mariadbd = installed(PathBuf::from("/usr/sbin/mariadbd"));
    let mut command = vec![
        mariadbd.display().to_string(),
        "--no-defaults".to_string(),
        "--user=root".to_string(),
        format!("--datadir={}", dir.join("data").display()),
        // Its own: a starting mariadbd deletes every `#sql*` file in its tmpdir, and in the
        // shared /tmp those are the live temporary tables of the test server on 3306 (which
        // then crashes in `free_tmp_table`).
        format!("--tmpdir={}", dir.join("tmp").display()),
        format!("--socket={}", dir.join("mariadb.sock").display()),
        format!("--pid-file={}", dir.join("mariadb.pid").display()),
        format!("--port={port}"),
        "--bind-address=127.0.0.1".to_string(),
        "--skip-grant-tables".to_string(),
        "--innodb-buffer-pool-size=16M".to_string(),
        "--innodb-log-file-size=4M".to_string(),
    ];
    if tls {
        let certs = certs();
        command.push(format!("--ssl-ca={}", certs.ca.display()));
        command.push(format!("--ssl-cert={}", certs.cert.display()));
        command.push(format!("--ssl-key={}", certs.key.display()));
    }
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    // Its data is thrown away: no need to wait for a clean shutdown.
    start(&dir, port, "KILL", &command, "ready for connections")
}
