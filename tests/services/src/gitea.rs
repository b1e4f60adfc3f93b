//! A real Gitea (REST API, git over HTTP, pull requests, webhooks) built by `scripts/go-servers`.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::http::{ApiResponse, json_request};
use crate::process::{self, ServerProcess, StartFailure, run, start_on_free_port, write_file};
use crate::require_tool;
use crate::tools::go_server_bin;

/// Gitea migrates its SQLite database before it listens: a few seconds, more while cargo builds.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The site administrator every [`Gitea`] has.
pub const GITEA_ADMIN_USER: &str = "gitops-admin";

/// Scopes of [`Gitea::read_token`]: reads repositories, issues, pull requests, users and orgs.
pub const GITEA_READ_SCOPES: &str = "read:repository,read:issue,read:user,read:organization";

/// Gitea on 127.0.0.1 with a SQLite database and repositories in a temporary directory, set up
/// without its install page: an administrator with a password, a token with every scope and a
/// read-only one. Webhooks may target loopback addresses. Stops on drop.
pub struct Gitea {
    process: ServerProcess,
    addr: SocketAddr,
    binary: PathBuf,
    config: PathBuf,
    admin_password: String,
    token: String,
    read_token: String,
    git: PathBuf,
    askpass: PathBuf,
    // Last: removed after the process is gone.
    dir: TempDir,
}

impl Gitea {
    /// The process group of the server (for checks that it goes away: its port may be reused at
    /// once by another test's server).
    pub fn process_group(&self) -> u32 {
        self.process.process_group()
    }

    /// Starts Gitea, creates the administrator and its two tokens, and waits until the API answers.
    pub fn start() -> Gitea {
        let binary = go_server_bin("gitea");
        let git = require_tool("git", "git");
        // `scripts/go-servers` puts templates/, options/ and public/ beside bin/.
        let static_root = binary
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("share"))
            .filter(|share| share.join("options").is_dir())
            .unwrap_or_else(|| {
                panic!(
                    "Gitea's share/ directory is missing beside {}: run scripts/go-servers build gitea",
                    binary.display()
                )
            });
        let dir = tempfile::Builder::new()
            .prefix("test-gitea-")
            .tempdir()
            .expect("create a temporary directory for Gitea");
        let config = dir.path().join("app.ini");
        let settings = Settings {
            work: dir.path(),
            static_root: &static_root,
            run_user: current_user(),
            secret_key: random_hex(32),
            internal_token: random_hex(48),
        };
        let admin_password = format!("Adm1n-{}", random_hex(8));

        // The database, the administrator and its tokens first, with Gitea's own commands; the port
        // in app.ini does not matter to them.
        write_file(&config, app_ini(&settings, free_addr_placeholder()));
        let admin = |args: &[&str]| -> String {
            let mut command = gitea_command(&binary, &config, dir.path());
            command.args(args);
            run(&mut command)
        };
        admin(&["migrate"]);
        admin(&[
            "admin",
            "user",
            "create",
            "--username",
            GITEA_ADMIN_USER,
            "--password",
            &admin_password,
            "--email",
            "gitops-admin@example.invalid",
            "--admin",
            "--must-change-password=false",
        ]);
        let new_token = |name: &str, scopes: &str| -> String {
            admin(&[
                "admin",
                "user",
                "generate-access-token",
                "--username",
                GITEA_ADMIN_USER,
                "--token-name",
                name,
                "--scopes",
                scopes,
                "--raw",
            ])
            .trim()
            .to_string()
        };
        let token = new_token("read-write", "all");
        let read_token = new_token("read-only", GITEA_READ_SCOPES);

        let (process, addr) = start_on_free_port("Gitea", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            write_file(&config, app_ini(&settings, addr));
            let log = dir.path().join("gitea.out");
            let args: [&OsStr; 5] = [
                "web".as_ref(),
                "--config".as_ref(),
                config.as_os_str(),
                "--work-path".as_ref(),
                dir.path().as_os_str(),
            ];
            let mut process =
                ServerProcess::spawn("Gitea", &binary, args, dir.path(), &gitea_env(), &log);
            process.wait_until_ready(START_TIMEOUT, || {
                process::http_status(addr, "/api/v1/version") == Some(200)
            })?;
            Ok::<_, StartFailure>((process, addr))
        });
        let askpass = crate::git_http::write_askpass(dir.path(), GITEA_ADMIN_USER, &token);
        Gitea {
            process,
            addr,
            binary,
            config,
            admin_password,
            token,
            read_token,
            git,
            askpass,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT` (Gitea's ROOT_URL without the trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.url())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The site administrator's user name ([`GITEA_ADMIN_USER`]), owner of [`Gitea::create_repo`]'s
    /// repositories.
    pub fn admin_user(&self) -> &str {
        GITEA_ADMIN_USER
    }

    /// The administrator's password (for basic auth and the web UI).
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// The administrator's API token with every scope (`Authorization: token …`, or the password of
    /// git over HTTP).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The administrator's token limited to [`GITEA_READ_SCOPES`]: writes answer 403.
    pub fn read_token(&self) -> &str {
        &self.read_token
    }

    /// A new token of the administrator with `scopes` (comma-separated, e.g. `write:repository`),
    /// made with `gitea admin user generate-access-token`. `name` must be unique.
    pub fn create_token(&self, name: &str, scopes: &str) -> String {
        self.create_user_token(GITEA_ADMIN_USER, name, scopes)
    }

    /// Creates an ordinary user (not an administrator) with `gitea admin user create`.
    pub fn create_user(&self, user: &str, password: &str) {
        let email = format!("{user}@example.invalid");
        run(self.admin_command().args([
            "admin",
            "user",
            "create",
            "--username",
            user,
            "--password",
            password,
            "--email",
            &email,
            "--must-change-password=false",
        ]));
    }

    /// A new token of `user` with `scopes`, made with `gitea admin user generate-access-token`.
    pub fn create_user_token(&self, user: &str, name: &str, scopes: &str) -> String {
        run(self.admin_command().args([
            "admin",
            "user",
            "generate-access-token",
            "--username",
            user,
            "--token-name",
            name,
            "--scopes",
            scopes,
            "--raw",
        ]))
        .trim()
        .to_string()
    }

    /// Calls the REST API as the administrator (with [`Gitea::token`]). `path` is below `/api/v1`,
    /// e.g. `/repos/o/r/pulls`.
    pub fn api(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> ApiResponse {
        self.api_with_token(Some(&self.token), method, path, body)
    }

    /// Calls the REST API with `token`, or anonymously.
    pub fn api_with_token(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> ApiResponse {
        let authorization = token.map(|token| format!("token {token}"));
        json_request(
            self.addr,
            method,
            &format!("/api/v1{path}"),
            authorization.as_deref(),
            body,
        )
    }

    /// Creates an empty repository `name` owned by the administrator (default branch `main`) through
    /// the REST API and returns its clone URL (without credentials).
    pub fn create_repo(&self, name: &str) -> String {
        let created = self
            .api(
                "POST",
                "/user/repos",
                Some(&serde_json::json!({
                    "name": name,
                    "default_branch": "main",
                    "auto_init": false,
                    "private": false,
                })),
            )
            .expect_success(&format!("create Gitea repository {name}"));
        created["clone_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no clone_url in {created}"))
            .to_string()
    }

    /// Creates the organisation `name`, owned by the administrator, through the REST API.
    pub fn create_org(&self, name: &str) {
        self.api(
            "POST",
            "/orgs",
            Some(&serde_json::json!({"username": name, "visibility": "public"})),
        )
        .expect_success(&format!("create Gitea organisation {name}"));
    }

    /// Creates an empty repository `name` of the organisation `org` (default branch `main`) and
    /// returns its clone URL (without credentials). Address it as `org/name` in the other methods.
    pub fn create_org_repo(&self, org: &str, name: &str) -> String {
        let created = self
            .api(
                "POST",
                &format!("/orgs/{org}/repos"),
                Some(&serde_json::json!({
                    "name": name,
                    "default_branch": "main",
                    "auto_init": false,
                    "private": false,
                })),
            )
            .expect_success(&format!("create Gitea repository {org}/{name}"));
        created["clone_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no clone_url in {created}"))
            .to_string()
    }

    /// The clone URL of the administrator's repository `name` (or of `owner/name`).
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}/{}.git", self.url(), full_name(name))
    }

    /// Commits `files` (path, contents) on `branch` of the administrator's repository `name` (or of
    /// `owner/name`) and pushes it over HTTP with the token; returns the commit id.
    ///
    /// A new branch starts from `main` when `main` exists (so it can be proposed as a pull request),
    /// else from nothing. Other files of the branch stay as they are.
    pub fn push_files(
        &self,
        name: &str,
        branch: &str,
        files: &[(&str, &[u8])],
        message: &str,
    ) -> String {
        let work = tempfile::Builder::new()
            .prefix("push-")
            .tempdir_in(self.dir.path())
            .expect("create a temporary directory for a push");
        let checkout = work.path().join("checkout");
        run(self
            .git_command()
            .args(["clone", "--quiet", &self.repo_url(name)])
            .arg(&checkout));
        let git = |args: &[&str]| -> Command {
            let mut command = self.git_command();
            command.current_dir(&checkout).args(args);
            command
        };
        let has = |reference: &str| {
            git(&["rev-parse", "--verify", "--quiet", reference])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run git rev-parse")
                .success()
        };
        let remote_branch = format!("refs/remotes/origin/{branch}");
        if has(&remote_branch) {
            run(&mut git(&[
                "checkout",
                "--quiet",
                "-B",
                branch,
                &remote_branch,
            ]));
        } else if has("refs/remotes/origin/main") {
            run(&mut git(&[
                "checkout",
                "--quiet",
                "-B",
                branch,
                "refs/remotes/origin/main",
            ]));
        } else {
            run(&mut git(&["checkout", "--quiet", "--orphan", branch]));
        }
        for (path, contents) in files {
            let file = checkout.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
            }
            write_file(&file, contents);
        }
        run(&mut git(&["add", "--all"]));
        run(&mut git(&[
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            message,
        ]));
        run(&mut git(&[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ]));
        let commit = run(&mut git(&["rev-parse", "HEAD"])).trim().to_string();
        self.wait_for_branch(name, branch, &commit);
        commit
    }

    /// Waits until the API shows `branch` of the administrator's repository `name` (or of
    /// `owner/name`) at `commit`.
    ///
    /// Gitea handles a push in the background (a queue): for a moment after `git push` returns, the
    /// API may still show the old branch, and after the first push into an empty repository 1.27.3
    /// even answers 500 (the repository is still marked empty while the branch exists).
    pub fn wait_for_branch(&self, name: &str, branch: &str, commit: &str) {
        let path = format!("/repos/{}/branches/{branch}", full_name(name));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.api("GET", &path, None);
            if answer.status == 200 && answer.body["commit"]["id"] == commit {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "Gitea did not show {branch} of {name} at {commit} within a minute; last answer: \
                     {answer:?}\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `git` command that authenticates as the administrator with the token (through
    /// `GIT_ASKPASS`, so it is in no URL or argument), ignoring the user's git configuration.
    pub fn git_command(&self) -> Command {
        let mut command = Command::new(&self.git);
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ASKPASS", &self.askpass)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Test Seeder")
            .env("GIT_AUTHOR_EMAIL", "seeder@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test Seeder")
            .env("GIT_COMMITTER_EMAIL", "seeder@example.invalid");
        command
    }

    /// A `gitea` command on this instance's configuration (e.g. `admin user list`).
    pub fn admin_command(&self) -> Command {
        gitea_command(&self.binary, &self.config, self.dir.path())
    }

    /// Gitea's work directory (app.ini, data/, repos/, log/).
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// What Gitea wrote to stdout and stderr, then its log file (warnings and errors).
    pub fn log(&self) -> String {
        let file = self.dir.path().join("log").join("gitea.log");
        format!(
            "{}{}",
            self.process.log(),
            std::fs::read_to_string(&file).unwrap_or_default()
        )
    }
}

/// `owner/name` as given, or the administrator's repository `name`.
fn full_name(name: &str) -> String {
    if name.contains('/') {
        name.to_string()
    } else {
        format!("{GITEA_ADMIN_USER}/{name}")
    }
}

/// Gitea refuses to run as root unless told to; the tests' machines run as root.
fn gitea_env() -> Vec<(&'static str, &'static OsStr)> {
    vec![("GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT", "true".as_ref())]
}

fn gitea_command(binary: &Path, config: &Path, work: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(config)
        .arg("--work-path")
        .arg(work)
        .current_dir(work);
    for (key, value) in gitea_env() {
        command.env(key, value);
    }
    command
}

struct Settings<'a> {
    work: &'a Path,
    static_root: &'a Path,
    run_user: String,
    secret_key: String,
    internal_token: String,
}

/// An address for the app.ini of the set-up commands, which do not listen.
fn free_addr_placeholder() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3000))
}

/// A headless configuration: install lock set, every secret given (so Gitea never writes app.ini),
/// no mailer, no SSH, no registration, webhooks allowed to loopback, warnings and errors logged to
/// log/gitea.log.
fn app_ini(settings: &Settings<'_>, addr: SocketAddr) -> String {
    let work = settings.work.display();
    format!(
        r#"APP_NAME = test-gitea
RUN_USER = {run_user}
RUN_MODE = prod
WORK_PATH = {work}
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = {ip}
HTTP_PORT = {port}
DOMAIN = {ip}
ROOT_URL = http://{addr}/
LOCAL_ROOT_URL = http://{addr}/
STATIC_ROOT_PATH = {static_root}
APP_DATA_PATH = {work}/data
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
OFFLINE_MODE = true

[database]
DB_TYPE = sqlite3
PATH = {work}/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = {work}/repos
DEFAULT_BRANCH = main
ENABLE_PUSH_CREATE_USER = true

[security]
INSTALL_LOCK = true
SECRET_KEY = {secret_key}
INTERNAL_TOKEN = {internal_token}
PASSWORD_COMPLEXITY = off
MIN_PASSWORD_LENGTH = 6
PASSWORD_CHECK_PWN = false
; webhooks (and migrations) may reach 127.0.0.1
ALLOWED_HOST_LIST = loopback

[webhook]
DELIVER_TIMEOUT = 10
SKIP_TLS_VERIFY = false

[service]
DISABLE_REGISTRATION = true
ENABLE_CAPTCHA = false
REQUIRE_SIGNIN_VIEW = false
DEFAULT_KEEP_EMAIL_PRIVATE = true
NO_REPLY_ADDRESS = noreply.example.invalid

[mailer]
ENABLED = false

[oauth2]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[repo-archive]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = {work}/log
DISABLE_ROUTER_LOG = true
"#,
        run_user = settings.run_user,
        ip = addr.ip(),
        port = addr.port(),
        static_root = settings.static_root.display(),
        secret_key = settings.secret_key,
        internal_token = settings.internal_token,
    )
}

/// The name of the effective user: Gitea insists that RUN_USER is the user running it.
fn current_user() -> String {
    run(Command::new("id").arg("-un")).trim().to_string()
}

/// `bytes` random bytes from the kernel, hex-encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut buffer))
        .expect("read /dev/urandom");
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}
