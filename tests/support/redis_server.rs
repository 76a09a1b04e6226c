//! A private `redis-server` the test starts, kills and restarts itself, so a broker can die
//! mid-run without touching the Redis other tests share. The binary is `REDIS_SERVER`
//! (default `redis-server` on PATH); a missing binary fails the test, it never skips it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-server` child process on a loopback port, without persistence.
pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
}

impl PrivateRedis {
    /// A server on a free port, answering PING.
    #[must_use]
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        Self::start_on(port)
    }

    /// A server on `port` (a restart reuses the dead one's port), answering PING.
    #[must_use]
    pub fn start_on(port: u16) -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (set REDIS_SERVER): {e}"));
        let server = Self {
            child: Some(child),
            port,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut reply = [0_u8; 7];
                if conn.write_all(b"PING\r\n").is_ok()
                    && conn.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "private redis-server on port {} did not answer PING",
            self.port
        );
    }

    /// A server that requires `password` (`requirepass`), with the list `key` holding `items`
    /// items: a broker whose password a test hands over by reference.
    pub async fn with_password_and_list(password: &str, key: &str, items: usize) -> Self {
        let server = Self::start();
        let mut con = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg(password)
            .query_async(&mut con)
            .await
            .unwrap();
        let authed = format!("redis://:{password}@127.0.0.1:{}", server.port);
        super::redis_list_at(&authed, key, items).await;
        server
    }

    /// Its port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:port`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crashed broker: no goodbye to its clients, nothing saved.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
