//! A MariaDB server of the test's own, which the test may stop and start again on the same
//! port and data directory: the shared server of the test machine is not ours to stop. Made
//! the way `crates/server/src/db/tls_servers.rs` makes the TLS tests' servers: a data
//! directory under the system temp dir (here initialised by `mariadb-install-db`, so that
//! stored procedures work), a free loopback port, anyone let in (`--skip-grant-tables`).
//!
//! Each run of the server is held by a small shell reading a pipe: when the pipe closes
//! (`stop`, the value dropped, or the test process ending in any way) the shell stops the
//! server. Another such shell removes the directory once the value is dropped or the process
//! ends. A server that does not come up fails the test with its log.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's mariadb-server puts them (/usr/sbin may not be on the PATH).
const MARIADBD: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";

/// The shell a server runs under: starts `"$@"` (its output appended to `$LOG`), waits for
/// its standard input to close, then stops the server with `$SIGNAL` and waits for it.
const SUPERVISOR: &str = r#"
"$@" >>"$LOG" 2>&1 &
server=$!
read -r _ignored
kill -"$SIGNAL" "$server" 2>/dev/null
wait "$server" 2>/dev/null
"#;

/// Waits for its standard input to close, then removes `$DIR`.
const CLEANUP: &str = r#"
read -r _ignored
rm -rf "$DIR"
"#;

/// A shell running `script` with `args`, `env` set and its standard input piped.
struct Held {
    stdin: Option<ChildStdin>,
    shell: Child,
}

impl Held {
    fn spawn(script: &str, args: &[&str], env: &[(&str, &OsStr)]) -> Self {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script).arg("supervisor").args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut shell = command
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start a supervising shell: {e}"));
        let stdin = shell.stdin.take();
        Self { stdin, shell }
    }

    /// Closes the pipe and waits until the shell has done its work.
    fn release(&mut self) {
        drop(self.stdin.take());
        let _ = self.shell.wait();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

/// A private MariaDB server on 127.0.0.1.
pub(crate) struct PrivateMariadb {
    pub(crate) port: u16,
    dir: PathBuf,
    /// The running server, if it is running.
    running: Option<Held>,
    /// How many times it was started (each run logs to a file of its own).
    runs: usize,
    /// Declared last: dropped after the server is stopped, it removes the directory.
    _cleanup: Held,
}

impl PrivateMariadb {
    /// Initialises a data directory and starts a server on a free port.
    pub(crate) fn start_new() -> Self {
        for program in [MARIADBD, INSTALL_DB] {
            assert!(
                Path::new(program).exists(),
                "{program} is not installed (scripts/test.sh installs mariadb-server)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("fraiseql-example-mariadb")
            .tempdir()
            .expect("temp dir")
            .keep();
        let cleanup = Held::spawn(CLEANUP, &[], &[("DIR", dir.as_os_str())]);
        let data = dir.join("data");
        // Its own tmpdir, for the bootstrap and the server: a starting mariadbd deletes every
        // `#sql*` file in its tmpdir, and in the shared /tmp those are the live temporary
        // tables of other servers (the test server on 3306 crashed in `free_tmp_table`, and
        // two bootstraps at once failed on each other's).
        let tmp = dir.join("tmp");
        std::fs::create_dir(&tmp).expect("tmp dir");
        let out = Command::new(INSTALL_DB)
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {INSTALL_DB}: {e}"));
        assert!(
            out.status.success(),
            "{INSTALL_DB} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut server = Self {
            port,
            dir,
            running: None,
            runs: 0,
            _cleanup: cleanup,
        };
        server.start();
        server
    }

    /// `mysql://root@127.0.0.1:<port>/<name>`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{name}", self.port)
    }

    /// Starts the server (again) on its port and data directory; returns once it accepts
    /// connections.
    pub(crate) fn start(&mut self) {
        assert!(self.running.is_none(), "the server is already running");
        self.runs += 1;
        let log = self.dir.join(format!("server-{}.log", self.runs));
        let d = |name: &str| self.dir.join(name).display().to_string();
        let args = [
            MARIADBD.to_string(),
            "--no-defaults".to_string(),
            "--user=root".to_string(),
            format!("--datadir={}", d("data")),
            format!("--tmpdir={}", d("tmp")),
            format!("--socket={}", d("mariadb.sock")),
            format!("--pid-file={}", d("mariadb.pid")),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_string(),
            "--skip-grant-tables".to_string(),
            "--innodb-buffer-pool-size=16M".to_string(),
            "--innodb-log-file-size=4M".to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // TERM: a clean shutdown, so the next start finds the data as it was left.
        self.running = Some(Held::spawn(
            SUPERVISOR,
            &args,
            &[("LOG", log.as_os_str()), ("SIGNAL", OsStr::new("TERM"))],
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready for connections") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private MariaDB did not start within 60 s; its log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and waits until it has exited.
    pub(crate) fn stop(&mut self) {
        let mut running = self.running.take().expect("the server is running");
        running.release();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "the private MariaDB still accepts connections after stopping"
        );
    }
}
