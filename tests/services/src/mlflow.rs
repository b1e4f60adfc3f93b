//! A real MLflow tracking server (with the model registry) from a Python virtual environment.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, ServerProcess, StartFailure, start_on_free_port};

/// MLflow imports a lot of Python before it listens: ~15 s on an idle machine, more while cargo builds.
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// An MLflow server on 127.0.0.1 with a SQLite backend store and local artifacts in a temporary
/// directory.
pub struct Mlflow {
    process: ServerProcess,
    addr: SocketAddr,
    // Set for a dedicated server; the shared one's directory is removed by its watchdog.
    _dir: Option<TempDir>,
}

static SHARED: OnceLock<Result<Mlflow, String>> = OnceLock::new();

impl Mlflow {
    /// The server shared by all tests of this test binary, started on first use.
    ///
    /// It is never dropped: when the test process exits (or dies), the watchdog in the server's process
    /// group stops MLflow and its workers and removes its directory. Tests sharing it should use unique
    /// model names.
    pub fn shared() -> &'static Mlflow {
        let started = SHARED.get_or_init(|| {
            std::panic::catch_unwind(|| Mlflow::start_with(true)).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "MLflow failed to start".to_string())
            })
        });
        match started {
            Ok(mlflow) => mlflow,
            Err(message) => panic!("{message}"),
        }
    }

    /// A server of its own, with an empty database; stops on drop. Takes as long to start as the
    /// shared one: prefer [`Mlflow::shared`].
    pub fn start() -> Mlflow {
        Self::start_with(false)
    }

    fn start_with(shared: bool) -> Mlflow {
        let venv = venv_dir();
        let mlflow = venv.join("bin").join("mlflow");
        if !mlflow.is_file() {
            panic!(
                "MLflow not found at {}: run scripts/test (it creates the venv), or: python3 -m venv {venv} && {venv}/bin/pip install mlflow",
                mlflow.display(),
                venv = venv.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("test-mlflow-")
            .tempdir()
            .expect("create a temporary directory for MLflow");
        let database = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
        let artifacts = dir.path().join("artifacts");
        std::fs::create_dir(&artifacts).expect("create the MLflow artifact directory");

        let (process, addr) = start_on_free_port("MLflow", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let port = port.to_string();
            let args: [&OsStr; 11] = [
                "server".as_ref(),
                "--host".as_ref(),
                "127.0.0.1".as_ref(),
                "--port".as_ref(),
                port.as_ref(),
                "--backend-store-uri".as_ref(),
                database.as_ref(),
                "--default-artifact-root".as_ref(),
                artifacts.as_os_str(),
                "--workers".as_ref(),
                "1".as_ref(),
            ];
            let mut envs: Vec<(&str, &OsStr)> = vec![
                // No background job runner processes: tests need the tracking API only.
                ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false".as_ref()),
                ("PYTHONUNBUFFERED", "1".as_ref()),
            ];
            if shared {
                envs.push(("TEST_SERVICES_CLEANUP_DIR", dir.path().as_os_str()));
            }
            let log = dir.path().join("mlflow.log");
            let mut process =
                ServerProcess::spawn("MLflow", &mlflow, args, dir.path(), &envs, &log);
            process.wait_until_ready(START_TIMEOUT, || {
                process::http_status(addr, "/health") == Some(200)
            })?;
            Ok::<_, StartFailure>((process, addr))
        });
        let dir = if shared {
            // The watchdog removes it when the test process exits.
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        Mlflow {
            process,
            addr,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`: the tracking URI (REST API under `/api/2.0/mlflow/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The process group of the server (for checks that it goes away).
    pub fn process_group(&self) -> u32 {
        self.process.process_group()
    }

    /// What MLflow logged so far (uvicorn's request lines included).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// `$MLFLOW_VENV`, else `<workspace>/target/test-tools/mlflow-venv` (where scripts/test puts it).
pub(crate) fn venv_dir() -> PathBuf {
    std::env::var_os("MLFLOW_VENV")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&crate::workspace_root())
                .join("target")
                .join("test-tools")
                .join("mlflow-venv")
        })
}
