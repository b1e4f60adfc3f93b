//! lighttpd terminating TLS in front of plain-HTTP test servers (the git server, the fake APIs), with
//! a certificate from one private CA: what a cluster's routes give the Tasks, so that they run with
//! TLS verified and the CA from their `ssl-ca-directory` workspace, without any plain-HTTP opt-in.

use std::path::Path;
use std::time::{Duration, Instant};

use test_services::{Certs, ServerProcess, free_port, require_tool};

/// One lighttpd listening on a TLS port per backend. Stops on drop.
pub struct TlsProxy {
    _process: ServerProcess,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    /// Serves each `http://HOST:PORT` backend (given as `HOST:PORT`) on its own TLS port of
    /// 127.0.0.1, with a certificate `certs` issued (valid for 127.0.0.1).
    pub fn start(certs: &Certs, backends: &[&str]) -> TlsProxy {
        let lighttpd = require_tool("lighttpd", "lighttpd lighttpd-mod-openssl");
        let dir = tempfile::Builder::new()
            .prefix("test-tls-proxy-")
            .tempdir()
            .expect("a temporary directory for the TLS proxy");
        let pem = dir.path().join("server.pem");
        let mut both = std::fs::read(&certs.cert_pem).expect("read the server certificate");
        both.extend(std::fs::read(&certs.key_pem).expect("read the server key"));
        std::fs::write(&pem, both).expect("write the proxy's certificate and key");
        let ports: Vec<u16> = backends.iter().map(|_| free_port()).collect();
        // The first backend on the main socket, every other one on its own $SERVER["socket"].
        let proxy = |backend: &str| {
            let (host, port) = backend
                .split_once(':')
                .unwrap_or_else(|| panic!("backend {backend} is not HOST:PORT"));
            format!("proxy.server = (\"\" => ((\"host\" => \"{host}\", \"port\" => {port})))\n")
        };
        let mut config = format!(
            "server.modules = (\"mod_openssl\", \"mod_proxy\")\n\
             server.bind = \"127.0.0.1\"\nserver.port = {}\n\
             server.document-root = \"{}\"\n\
             ssl.engine = \"enable\"\nssl.pemfile = \"{}\"\n{}",
            ports[0],
            dir.path().display(),
            pem.display(),
            proxy(backends[0]),
        );
        for (backend, port) in backends.iter().zip(&ports).skip(1) {
            config.push_str(&format!(
                "$SERVER[\"socket\"] == \"127.0.0.1:{port}\" {{\n  ssl.engine = \"enable\"\n  ssl.pemfile = \"{}\"\n  {}}}\n",
                pem.display(),
                proxy(backend),
            ));
        }
        let config_path = dir.path().join("lighttpd.conf");
        std::fs::write(&config_path, config).expect("write the proxy's configuration");
        let process = ServerProcess::spawn(
            "lighttpd (TLS proxy)",
            &lighttpd,
            [Path::new("-D"), Path::new("-f"), &config_path],
            dir.path(),
            &[],
            &dir.path().join("log"),
        );
        let started = Instant::now();
        for port in &ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the TLS proxy did not start (needs lighttpd's mod_openssl: \
                     apt-get install -y lighttpd-mod-openssl): {}",
                    process.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        TlsProxy {
            _process: process,
            ports,
            _dir: dir,
        }
    }

    /// `https://127.0.0.1:PORT` of the `index`-th backend.
    pub fn url(&self, index: usize) -> String {
        format!("https://127.0.0.1:{}", self.ports[index])
    }

    /// The TLS port of the `index`-th backend.
    pub fn port(&self, index: usize) -> u16 {
        self.ports[index]
    }

    /// `127.0.0.1:PORT` of the `index`-th backend.
    pub fn host(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.ports[index])
    }
}
