//! Real servers for fusebox's tests, examples and benchmarks: a `redis-server` (or the server
//! `FUSEBOX_REDIS_SERVER` names) on a free 127.0.0.1 port, a three-node Redis Cluster, and a
//! Prometheus server scraping a test's targets ([`PrometheusServer`]); and
//! [`Captured`], an in-memory log that a tracing subscriber writes to; and [`within_a_minute`],
//! for tests of what must not deadlock.
//!
//! Each server runs in a scratch directory of its own, saves nothing, and is killed when
//! dropped. A missing server binary is an error that says how to install one: tests never skip.

mod prometheus;

pub use prometheus::PrometheusServer;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `test` on a thread of its own and returns what it returns, failing with `what` if it
/// has not returned within a minute (a deadlock); a panic in `test` is the caller's panic.
pub fn within_a_minute<T: Send + 'static>(
    what: &str,
    test: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::sync::mpsc::RecvTimeoutError;
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = done.send(test());
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => value,
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("{what}: the test's thread ended without an answer"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what}: not done within a minute (a deadlock)"),
    }
}

/// A running server, killed (and its scratch directory removed) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: std::path::PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// The server binary: `FUSEBOX_REDIS_SERVER` when set (how `scripts/test` runs these tests
/// against Redis 6 and Valkey too), else `redis-server` or `valkey-server` from `PATH`.
fn binary() -> Result<String, String> {
    if let Some(path) = std::env::var_os("FUSEBOX_REDIS_SERVER") {
        let path = path.to_string_lossy().into_owned();
        let runs = Command::new(&path)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !runs {
            return Err(format!(
                "FUSEBOX_REDIS_SERVER={path} does not run (`{path} --version` failed)"
            ));
        }
        return Ok(path);
    }
    for name in ["redis-server", "valkey-server"] {
        let found = Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if found {
            return Ok(name.to_owned());
        }
    }
    Err(
        "redis-server (or valkey-server) was not found on PATH. Install it \
         (Debian/Ubuntu: apt-get install redis-server), or run scripts/test, which installs it."
            .to_owned(),
    )
}

/// The command-line client that creates clusters: `FUSEBOX_REDIS_CLI` when set, else
/// `redis-cli`.
fn cli() -> String {
    std::env::var("FUSEBOX_REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned())
}

/// The version `binary --version` reports (`7.0.15` from `Redis server v=7.0.15 …`).
fn binary_version(binary: &str) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = out.split("v=").nth(1)?.split_whitespace().next()?;
    Some(version.to_owned())
}

/// The version of the server binary [`RedisServer::start`] runs, as its `--version` reports it.
pub fn server_version() -> Result<String, String> {
    let binary = binary()?;
    binary_version(&binary).ok_or_else(|| format!("{binary} --version reports no version"))
}

impl RedisServer {
    /// A server on a free port; panics, saying how to install one, if none can start.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Like [`start`](Self::start), returning why instead of panicking.
    pub fn try_start() -> Result<Self, String> {
        Self::try_start_with(free_port(), &[])
    }

    /// A server on `port` (a restart on the same port, say).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// A server with extra arguments (`--requirepass`, `--tls-port`…).
    pub fn start_with(port: u16, extra: &[&str]) -> Self {
        Self::try_start_with(port, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`start_with`](Self::start_with), returning why instead of panicking.
    pub fn try_start_with(port: u16, extra: &[&str]) -> Result<Self, String> {
        let binary = binary()?;
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let dir = std::env::temp_dir().join(format!("fusebox-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("no scratch directory {}: {e}", dir.display()))?;
        let child = Command::new(&binary)
            .args(&args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{binary} does not start: {e}"))?;
        let server = RedisServer {
            child: Some(child),
            dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.answers_ping() {
            if Instant::now() >= deadline {
                return Err(format!("{binary} did not answer on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        // A server with a password answers too, by asking for it.
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok()
            && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server now (a test of Redis going away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Freezes the server (SIGSTOP) until [`thaw`](Self::thaw): it accepts connections but
    /// answers nothing, for as long as a test needs, however slow the machine.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a [frozen](Self::freeze) server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {} failed", child.id());
    }

    /// One section of `INFO`.
    pub async fn info(&self, section: &str) -> String {
        let client = redis::Client::open(self.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut con)
            .await
            .unwrap()
    }

    /// Commands the server has executed, from `INFO commandstats`: all of them (those that
    /// scripts run included), and the script invocations (`EVAL`, `EVALSHA`) alone.
    pub async fn commands(&self) -> (u64, u64) {
        let info = self.info("commandstats").await;
        let calls = |line: &str| -> u64 {
            line.split("calls=")
                .nth(1)
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let lines: Vec<&str> = info.lines().filter(|l| l.starts_with("cmdstat_")).collect();
        let all = lines.iter().map(|l| calls(l)).sum();
        let scripts = lines
            .iter()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .map(|l| calls(l))
            .sum();
        (all, scripts)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `check` holds, polling every 10 ms; returns how long it took.
pub async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// A three-node Redis Cluster (no replicas) on free 127.0.0.1 ports.
#[derive(Debug)]
pub struct RedisCluster {
    /// Its nodes, all primaries.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes and joins them with `redis-cli --cluster create`; waits until the
    /// cluster reports `ok`.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(
                    free_port(),
                    &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new(cli())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!("{} (installed with redis-server) does not run: {e}", cli())
            });
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.ready() {
            assert!(
                Instant::now() < deadline,
                "the cluster did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn ready(&self) -> bool {
        self.nodes.iter().all(|n| {
            let Ok(mut stream) = TcpStream::connect(("127.0.0.1", n.port)) else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            if stream.write_all(b"CLUSTER INFO\r\n").is_err() {
                return false;
            }
            let mut reply = vec![0u8; 4096];
            let n = stream.read(&mut reply).unwrap_or(0);
            String::from_utf8_lossy(&reply[..n]).contains("cluster_state:ok")
        })
    }

    /// Each node's URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// An in-memory log, shared by its clones: [`subscriber`](Self::subscriber) writes to it, or
/// give `move || captured.clone()` to a tracing subscriber's `with_writer`; read what was
/// written with [`text`](Self::text).
#[derive(Clone, Debug, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// A `tracing` subscriber writing here, without colours, every event and span at `level`
    /// or above: set it as a test's default (`tracing::subscriber::with_default`).
    pub fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(level)
            .finish()
    }

    /// Runs `future` to its end on a current-thread Tokio runtime with paused time, with
    /// [`subscriber`](Self::subscriber)`(level)` the default of this thread meanwhile: a test
    /// of what a layer logs, in one call.
    pub fn block_on<F: std::future::Future>(&self, level: tracing::Level, future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime builds");
        tracing::subscriber::with_default(self.subscriber(level), || runtime.block_on(future))
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
