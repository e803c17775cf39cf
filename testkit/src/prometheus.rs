//! A real Prometheus server on a free 127.0.0.1 port, scraping the targets a test gives.

use crate::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `prometheus`, with its configuration and storage in a scratch directory; killed
/// (and the directory removed) when dropped.
#[derive(Debug)]
pub struct PrometheusServer {
    child: Child,
    dir: std::path::PathBuf,
    /// The port its HTTP API listens on, on 127.0.0.1.
    pub port: u16,
}

impl PrometheusServer {
    /// A server scraping `targets` (`127.0.0.1:<port>`, path `/metrics`) every
    /// `scrape_interval`, ready to answer queries; panics, saying how to install Prometheus,
    /// if it cannot start.
    pub fn start(targets: &[String], scrape_interval: Duration) -> Self {
        Self::try_start(targets, scrape_interval).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`start`](Self::start), returning why instead of panicking.
    pub fn try_start(targets: &[String], scrape_interval: Duration) -> Result<Self, String> {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("fusebox-prometheus-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("no scratch directory {}: {e}", dir.display()))?;
        let interval = format!("{}ms", scrape_interval.as_millis().max(1));
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n\
             scrape_configs:\n  - job_name: fusebox\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(&dir)
            .spawn()
            .map_err(|e| {
                format!(
                    "prometheus does not start ({e}); install it (Debian/Ubuntu: \
                     apt-get install prometheus, which scripts/test does) and run the tests again"
                )
            })?;
        let server = PrometheusServer { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.ready() {
            if Instant::now() >= deadline {
                return Err(format!("prometheus did not become ready on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// Whether `GET /-/ready` answers 200.
    fn ready(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let request = format!(
            "GET /-/ready HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
    }

    /// `http://127.0.0.1:<port>`, the base of its HTTP API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
