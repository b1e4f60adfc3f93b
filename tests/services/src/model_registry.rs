//! A real Kubeflow Model Registry REST server (built by `scripts/go-servers`) on a real database from
//! Debian: MariaDB (`mariadb-server-core`), or PostgreSQL (`postgresql`).
//!
//! The pinned registry (v0.3.0, the only release the Go module proxy serves) is fully usable on
//! MariaDB/MySQL only. On PostgreSQL every lookup that joins tables fails with HTTP 500: its hand-written
//! joins name the tables unquoted (`JOIN ParentContext ON ParentContext.context_id = Context.id`), which
//! PostgreSQL folds to lower case, while the migrations created them quoted (`"ParentContext"`). That
//! breaks a model's versions, a version found by name and model, a version's artifacts, a serving
//! environment's inference services and an experiment's runs. Later upstream releases build these joins
//! through GORM's naming strategy.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::http::{ApiResponse, json_request};
use crate::process::{self, ServerProcess, StartFailure, run, start_on_free_port};
use crate::tools::go_server_bin;

/// initdb and PostgreSQL's start (or MariaDB's): ~1–3 s on an idle machine.
const POSTGRES_START_TIMEOUT: Duration = Duration::from_secs(60);
/// The registry migrates its schema at its first connection: a few seconds.
const REGISTRY_START_TIMEOUT: Duration = Duration::from_secs(120);
/// The REST API's prefix.
pub const MODEL_REGISTRY_API: &str = "/api/model_registry/v1alpha3";

/// A PostgreSQL server on 127.0.0.1 (and a Unix socket) with a fresh cluster in a temporary directory:
/// superuser [`Postgres::user`], trust authentication, no fsync. Stops on drop.
///
/// PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user (which
/// Debian's package creates) and the server runs as that user through `setpriv`.
pub struct Postgres {
    process: ServerProcess,
    port: u16,
    bin_dir: PathBuf,
    socket_dir: PathBuf,
    // Last: removed after the process is gone.
    dir: TempDir,
}

/// The superuser of every [`Postgres`] cluster.
const POSTGRES_USER: &str = "tester";

impl Postgres {
    /// Runs initdb into a temporary directory and starts the server on a free port.
    pub fn start() -> Postgres {
        let bin_dir = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("test-postgres-")
            .tempdir()
            .expect("create a temporary directory for PostgreSQL");
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("socket");
        let owner = server_owner();
        for path in [&data, &socket_dir] {
            std::fs::create_dir(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        }
        if let Some(owner) = &owner {
            use std::os::unix::fs::PermissionsExt;
            // The server's user must reach its directories inside root's temporary directory.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("open the PostgreSQL directory to its user");
            for path in [&data, &socket_dir] {
                chown(path, owner);
            }
        }
        let as_owner = |program: &Path| -> Command {
            match &owner {
                Some(owner) => {
                    let mut command = Command::new(crate::require_tool("setpriv", "util-linux"));
                    command.args(owner.setpriv_args()).arg(program);
                    command
                }
                None => Command::new(program),
            }
        };
        run(as_owner(&bin_dir.join("initdb"))
            .arg("--pgdata")
            .arg(&data)
            .args([
                "--username",
                POSTGRES_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ])
            .current_dir(dir.path()));

        let (process, port) = start_on_free_port("PostgreSQL", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let port_text = port.to_string();
            let postgres = bin_dir.join("postgres");
            let mut args: Vec<&OsStr> = Vec::new();
            let setpriv_args = owner.as_ref().map(Owner::setpriv_args).unwrap_or_default();
            let program = match &owner {
                Some(_) => {
                    args.extend(setpriv_args.iter().map(OsStr::new));
                    args.push(postgres.as_os_str());
                    crate::require_tool("setpriv", "util-linux")
                }
                None => postgres.clone(),
            };
            args.extend::<[&OsStr; 8]>([
                "-D".as_ref(),
                data.as_os_str(),
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                port_text.as_ref(),
                "-k".as_ref(),
                socket_dir.as_os_str(),
            ]);
            // A throw-away cluster: durability off, quick shutdown.
            for setting in [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
                "max_connections=50",
                "log_min_messages=warning",
            ] {
                args.push("-c".as_ref());
                args.push(setting.as_ref());
            }
            let log = dir.path().join("postgres.log");
            let mut process =
                ServerProcess::spawn("PostgreSQL", &program, args, dir.path(), &[], &log);
            let pid_file = data.join("postmaster.pid");
            process.wait_until_ready(POSTGRES_START_TIMEOUT, || {
                // Line 8 of postmaster.pid is the server's status, "ready" once it takes connections.
                std::fs::read_to_string(&pid_file)
                    .is_ok_and(|pid| pid.lines().nth(7).map(str::trim) == Some("ready"))
                    && process::accepts_connections(addr)
            })?;
            Ok::<_, StartFailure>((process, port))
        });
        Postgres {
            process,
            port,
            bin_dir,
            socket_dir,
            dir,
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket (`host=` for libpq).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The superuser (trusted without a password).
    pub fn user(&self) -> &str {
        POSTGRES_USER
    }

    /// A libpq key/value connection string for `database` over TCP, without TLS.
    pub fn dsn(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={POSTGRES_USER} dbname={database} sslmode=disable",
            self.port
        )
    }

    /// Creates the database `name` (owned by [`Postgres::user`]).
    pub fn create_database(&self, name: &str) {
        check_database_name(name);
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
    }

    /// Runs `sql` in `database` with psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        run(Command::new(self.bin_dir.join("psql"))
            .args(["--no-psqlrc", "--quiet", "--tuples-only", "--no-align"])
            .args(["--set", "ON_ERROR_STOP=1"])
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--username", POSTGRES_USER, "--dbname", database])
            .args(["--command", sql])
            .env_remove("PGPASSWORD")
            .env("PGCONNECT_TIMEOUT", "10"))
    }

    /// The server's own log (warnings and errors).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The temporary directory (data/, socket/, postgres.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A MariaDB server on 127.0.0.1 with a fresh data directory in a temporary directory: user `root`
/// without a password, InnoDB without flushing at each commit. Stops on drop.
pub struct MariaDb {
    process: ServerProcess,
    port: u16,
    // Last: removed after the process is gone.
    dir: TempDir,
}

impl MariaDb {
    /// Creates the system tables with `mariadb-install-db`, starts the server on a free port and
    /// creates `databases`.
    pub fn start(databases: &[&str]) -> MariaDb {
        let install_db = crate::require_tool("mariadb-install-db", "mariadb-server-core");
        let server = crate::require_tool("mariadbd", "mariadb-server-core");
        // mariadb-install-db needs my_print_defaults, from the client package.
        crate::require_tool("my_print_defaults", "mariadb-client-core");
        let dir = tempfile::Builder::new()
            .prefix("test-mariadb-")
            .tempdir()
            .expect("create a temporary directory for MariaDB");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("create the MariaDB data directory");
        // A temporary directory of its own: at start-up MariaDB removes the `#sql*` files it finds in
        // its tmpdir, which in a shared /tmp are the temporary tables of other MariaDBs starting at
        // the same time (mariadb-install-db then fails: "Unknown table 'mysql.tmp_user_sys'").
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("create the MariaDB temporary directory");
        let tmpdir = format!("--tmpdir={}", tmp.display());
        // MariaDB runs as root only when told to.
        // SAFETY: geteuid has no preconditions.
        let user_args: Vec<String> = if unsafe { libc::geteuid() } == 0 {
            vec!["--user=root".to_string()]
        } else {
            Vec::new()
        };
        run(Command::new(&install_db)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(&tmpdir)
            .args(&user_args)
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .current_dir(dir.path()));
        let mut init = String::new();
        for database in databases {
            check_database_name(database);
            init.push_str(&format!("CREATE DATABASE IF NOT EXISTS {database};\n"));
        }
        let init_file = dir.path().join("init.sql");
        crate::process::write_file(&init_file, init);

        let (process, port) = start_on_free_port("MariaDB", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut args: Vec<String> = vec![
                "--no-defaults".into(),
                format!("--datadir={}", data.display()),
                tmpdir.clone(),
            ];
            args.extend(user_args.iter().cloned());
            args.extend([
                "--bind-address=127.0.0.1".into(),
                format!("--port={port}"),
                format!("--socket={}", dir.path().join("mariadb.sock").display()),
                format!("--pid-file={}", dir.path().join("mariadb.pid").display()),
                format!("--init-file={}", init_file.display()),
                "--skip-name-resolve".into(),
                "--skip-log-bin".into(),
                // A throw-away database: no flush at each commit, small buffers.
                "--innodb-flush-log-at-trx-commit=0".into(),
                "--innodb-buffer-pool-size=64M".into(),
                "--innodb-log-file-size=16M".into(),
                "--performance-schema=OFF".into(),
            ]);
            let log = dir.path().join("mariadb.log");
            let mut process =
                ServerProcess::spawn("MariaDB", &server, &args, dir.path(), &[], &log);
            // The init file has run when the server says it is ready.
            process.wait_until_ready(POSTGRES_START_TIMEOUT, || {
                process::accepts_connections(addr)
                    && std::fs::read_to_string(&log)
                        .is_ok_and(|text| text.contains("ready for connections"))
            })?;
            Ok::<_, StartFailure>((process, port))
        });
        MariaDb { process, port, dir }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A Go MySQL driver DSN for `database` (`root@tcp(127.0.0.1:PORT)/database`).
    pub fn dsn(&self, database: &str) -> String {
        format!("root@tcp(127.0.0.1:{})/{database}", self.port)
    }

    /// Runs `sql` in `database` with the `mariadb` client and returns its tab-separated output
    /// without column names.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let client = crate::require_tool("mariadb", "mariadb-client-core");
        run(Command::new(client)
            .args(["--no-defaults", "--protocol=TCP", "--host=127.0.0.1"])
            .arg(format!("--port={}", self.port))
            .args(["--user=root", "--batch", "--skip-column-names"])
            .arg(format!("--database={database}"))
            .arg(format!("--execute={sql}")))
    }

    /// The server's log (warnings and notes).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The temporary directory (data/, mariadb.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The database under a [`ModelRegistry`].
pub enum RegistryDatabase {
    /// MariaDB, as the registry's `mysql` database type.
    MariaDb(MariaDb),
    /// PostgreSQL (see the module documentation for what v0.3.0 cannot do on it).
    Postgres(Postgres),
}

/// Kubeflow Model Registry's REST server (`model-registry proxy`) on 127.0.0.1, in its embedded
/// database mode (`--datastore-type embedmd`) on its own database: no ML Metadata server. Stops on
/// drop, the database with it.
pub struct ModelRegistry {
    process: ServerProcess,
    addr: SocketAddr,
    database: RegistryDatabase,
    // Last: removed after the processes are gone.
    _dir: TempDir,
}

impl ModelRegistry {
    /// The process group of the server (for checks that it goes away: its port may be reused at
    /// once by another test's server).
    pub fn process_group(&self) -> u32 {
        self.process.process_group()
    }

    /// Starts MariaDB, then the registry, and waits until the registry has migrated its schema and
    /// answers the API.
    pub fn start() -> ModelRegistry {
        let binary = go_server_bin("model-registry");
        let mariadb = MariaDb::start(&["model_registry"]);
        let dsn = mariadb.dsn("model_registry");
        Self::start_with(binary, RegistryDatabase::MariaDb(mariadb), "mysql", dsn)
    }

    /// Starts PostgreSQL, then the registry on it. Lookups that join tables answer 500 with the
    /// pinned version (see the module documentation): prefer [`ModelRegistry::start`].
    pub fn start_on_postgres() -> ModelRegistry {
        let binary = go_server_bin("model-registry");
        let postgres = Postgres::start();
        postgres.create_database("model_registry");
        let dsn = postgres.dsn("model_registry");
        Self::start_with(
            binary,
            RegistryDatabase::Postgres(postgres),
            "postgres",
            dsn,
        )
    }

    fn start_with(
        binary: PathBuf,
        database: RegistryDatabase,
        database_type: &str,
        dsn: String,
    ) -> ModelRegistry {
        let dir = tempfile::Builder::new()
            .prefix("test-model-registry-")
            .tempdir()
            .expect("create a temporary directory for the model registry");

        let (process, addr) = start_on_free_port("Kubeflow Model Registry", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let port = port.to_string();
            let args: [&OsStr; 11] = [
                "proxy".as_ref(),
                "--hostname".as_ref(),
                "127.0.0.1".as_ref(),
                "--port".as_ref(),
                port.as_ref(),
                "--datastore-type".as_ref(),
                "embedmd".as_ref(),
                "--embedmd-database-type".as_ref(),
                database_type.as_ref(),
                "--embedmd-database-dsn".as_ref(),
                dsn.as_ref(),
            ];
            // Its configuration file would be $HOME/.model-registry.yaml: keep the user's out.
            let envs: [(&str, &OsStr); 1] = [("HOME", dir.path().as_os_str())];
            let log = dir.path().join("model-registry.log");
            let mut process = ServerProcess::spawn(
                "Kubeflow Model Registry",
                &binary,
                args,
                dir.path(),
                &envs,
                &log,
            );
            // Every path but the health checks answers 503 until the database is connected and
            // migrated.
            let probe = format!("{MODEL_REGISTRY_API}/registered_models?pageSize=1");
            process.wait_until_ready(REGISTRY_START_TIMEOUT, || {
                process::http_status(addr, &probe) == Some(200)
            })?;
            Ok::<_, StartFailure>((process, addr))
        });
        ModelRegistry {
            process,
            addr,
            database,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`: the server's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/model_registry/v1alpha3`.
    pub fn api_url(&self) -> String {
        format!("{}{MODEL_REGISTRY_API}", self.url())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Calls the REST API (no authentication: the server has none of its own). `path` is below
    /// [`MODEL_REGISTRY_API`], e.g. `/registered_models`.
    pub fn api(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> ApiResponse {
        json_request(
            self.addr,
            method,
            &format!("{MODEL_REGISTRY_API}{path}"),
            None,
            body,
        )
    }

    /// The database underneath.
    pub fn database(&self) -> &RegistryDatabase {
        &self.database
    }

    /// What the registry logged so far (glog, on stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn check_database_name(name: &str) {
    assert!(
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "database name {name:?} must be letters, digits and underscores"
    );
}

/// The directory of PostgreSQL's server programs: Debian keeps them in
/// /usr/lib/postgresql/<major>/bin (the newest major wins), elsewhere they are on PATH.
fn postgres_bin_dir() -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin);
    newest
        .or_else(|| {
            crate::tools::find_tool("initdb")
                .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
                .filter(|dir| dir.join("postgres").is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL's initdb not found: run scripts/test, or: apt-get install -y postgresql"
            )
        })
}

/// The user PostgreSQL runs as when the tests run as root.
struct Owner {
    uid: u32,
    gid: u32,
}

impl Owner {
    fn setpriv_args(&self) -> Vec<String> {
        vec![
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--clear-groups".to_string(),
        ]
    }
}

/// None when not root; else the `postgres` user (Debian's package creates it).
fn server_owner() -> Option<Owner> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        if !output.status.success() {
            panic!(
                "PostgreSQL refuses to run as root and there is no `postgres` user to run it as: \
                 run scripts/test, or: apt-get install -y postgresql"
            );
        }
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a numeric id from `id`")
    };
    Some(Owner {
        uid: id("-u"),
        gid: id("-g"),
    })
}

fn chown(path: &Path, owner: &Owner) {
    std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
        .unwrap_or_else(|e| panic!("chown {} to the postgres user: {e}", path.display()));
}
