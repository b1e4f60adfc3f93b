//! A git smart-HTTP server: lighttpd running `git http-backend` as CGI, behind HTTP basic auth.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, ServerProcess, StartFailure, run, start_on_free_port, write_file};
use crate::require_tool;

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// URL prefix under which lighttpd hands requests to `git http-backend`.
const PREFIX: &str = "/git";

/// Bare repositories in a temporary directory, served over HTTP on 127.0.0.1.
///
/// Every request (fetch and push) needs the user and password given to [`GitServer::start`]. Pushes are
/// enabled per repository (`http.receivepack`), and concurrent pushes are served by separate CGI
/// processes. Stops on drop.
pub struct GitServer {
    process: ServerProcess,
    addr: SocketAddr,
    user: String,
    password: String,
    git: PathBuf,
    askpass: PathBuf,
    repos: PathBuf,
    // Last: removed after the process is gone.
    dir: TempDir,
}

impl GitServer {
    /// Starts lighttpd with basic auth for `user`/`password`.
    pub fn start(user: &str, password: &str) -> GitServer {
        let lighttpd = require_tool("lighttpd", "lighttpd");
        let git = require_tool("git", "git");
        let exec_path = run(Command::new(&git).arg("--exec-path"));
        let http_backend = Path::new(exec_path.trim()).join("git-http-backend");
        if !http_backend.is_file() {
            panic!(
                "{} not found (from `git --exec-path`): run scripts/test, or: apt-get install -y git",
                http_backend.display()
            );
        }

        let dir = tempfile::Builder::new()
            .prefix("test-git-http-")
            .tempdir()
            .expect("create a temporary directory for the git server");
        let repos = dir.path().join("repos");
        let www = dir.path().join("www");
        let uploads = dir.path().join("uploads");
        for path in [&repos, &www, &uploads] {
            std::fs::create_dir(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        }
        // lighttpd checks passwords with crypt(3), which reads bcrypt's "$2y$"; cost 4 keeps each
        // request's check around a millisecond.
        let hash = bcrypt::hash_with_result(password, 4)
            .expect("bcrypt-hash the git server password")
            .format_for_version(bcrypt::Version::TwoY);
        let htpasswd = dir.path().join("htpasswd");
        write_file(&htpasswd, format!("{user}:{hash}\n"));
        let askpass = write_askpass(dir.path(), user, password);

        let (process, addr) = start_on_free_port("lighttpd (git http-backend)", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let config = dir.path().join("lighttpd.conf");
            let paths = ConfigPaths {
                www: &www,
                uploads: &uploads,
                htpasswd: &htpasswd,
                http_backend: &http_backend,
                repos: &repos,
            };
            write_file(&config, lighttpd_config(addr, &paths));
            let log = dir.path().join("lighttpd.log");
            let mut process = ServerProcess::spawn(
                "lighttpd",
                &lighttpd,
                [Path::new("-D"), Path::new("-f"), &config],
                dir.path(),
                &[],
                &log,
            );
            process.wait_until_ready(START_TIMEOUT, || {
                process::http_status(addr, &format!("{PREFIX}/")).is_some()
            })?;
            Ok::<_, StartFailure>((process, addr))
        });
        GitServer {
            process,
            addr,
            user: user.to_string(),
            password: password.to_string(),
            git,
            askpass,
            repos,
            dir,
        }
    }

    /// The base URL of the repositories: `{url}/{name}.git` is a clone URL.
    pub fn url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// The clone URL of repository `name` (without credentials).
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.url())
    }

    /// The user every request must authenticate as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password every request must present.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The directory holding the bare repositories (`<name>.git`).
    pub fn repos_root(&self) -> &Path {
        &self.repos
    }

    /// Creates an empty bare repository `<name>.git` (default branch `main`, pushes allowed) and
    /// returns its clone URL. `name` may contain `/` (e.g. `org/models`).
    pub fn create_repo(&self, name: &str) -> String {
        let repo = self.repo_dir(name);
        run(self
            .git()
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&repo));
        run(self
            .git()
            .arg("--git-dir")
            .arg(&repo)
            .args(["config", "http.receivepack", "true"]));
        self.repo_url(name)
    }

    /// The bare repository's directory, for assertions (`git --git-dir=... log`).
    pub fn repo_dir(&self, name: &str) -> PathBuf {
        assert!(
            !name.is_empty()
                && !name.starts_with('/')
                && name
                    .split('/')
                    .all(|part| !part.is_empty() && part != ".." && part != "."),
            "repository name {name:?} must be a relative path without `.` or `..` parts"
        );
        self.repos.join(format!("{name}.git"))
    }

    /// Commits `files` (path, contents) on top of `main` of repository `name` and returns the commit id.
    ///
    /// Other files of `main` stay as they are. The commit is written straight into the bare repository
    /// (no hooks run), so it also works when a test installed a hook that declines pushes.
    pub fn seed(&self, name: &str, files: &[(&str, &[u8])], message: &str) -> String {
        self.seed_branch(name, "main", files, message)
    }

    /// Like [`GitServer::seed`], on any branch (created when missing, from an empty tree).
    pub fn seed_branch(
        &self,
        name: &str,
        branch: &str,
        files: &[(&str, &[u8])],
        message: &str,
    ) -> String {
        let repo = self.repo_dir(name);
        assert!(
            repo.is_dir(),
            "repository {name:?} does not exist: call create_repo first"
        );
        let work = tempfile::Builder::new()
            .prefix("seed-")
            .tempdir_in(self.dir.path())
            .expect("create a temporary directory for seeding");
        let index = work.path().join("index");
        let git = |args: &[&str]| -> Command {
            let mut command = self.git();
            command
                .arg("--git-dir")
                .arg(&repo)
                .args(args)
                .env("GIT_INDEX_FILE", &index);
            command
        };
        let reference = format!("refs/heads/{branch}");
        let parent = self.head(name, branch);
        if let Some(parent) = &parent {
            run(&mut git(&["read-tree", parent]));
        }
        for (path, contents) in files {
            let blob_file = work.path().join("blob");
            write_file(&blob_file, contents);
            let blob = run(git(&["hash-object", "-w", "--"]).arg(&blob_file));
            let cacheinfo = format!("100644,{},{path}", blob.trim());
            run(&mut git(&[
                "update-index",
                "--add",
                "--cacheinfo",
                &cacheinfo,
            ]));
        }
        let tree = run(&mut git(&["write-tree"]));
        let mut commit_tree = git(&["commit-tree", tree.trim(), "-m", message]);
        if let Some(parent) = &parent {
            commit_tree.args(["-p", parent]);
        }
        let commit = run(&mut commit_tree).trim().to_string();
        let mut update_ref = git(&["update-ref", &reference, &commit]);
        // Expect the old value: fails rather than losing a commit pushed meanwhile.
        update_ref.arg(parent.as_deref().unwrap_or(""));
        run(&mut update_ref);
        commit
    }

    /// The commit id `branch` points at in repository `name`, if the branch exists.
    pub fn head(&self, name: &str, branch: &str) -> Option<String> {
        let output = self
            .git()
            .arg("--git-dir")
            .arg(self.repo_dir(name))
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}^{{commit}}"))
            .output()
            .expect("run git rev-parse");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// The contents of `path` at `rev` (a branch, tag or commit id) in repository `name`, if it exists.
    pub fn file_at(&self, name: &str, rev: &str, path: &str) -> Option<Vec<u8>> {
        let output = self
            .git()
            .arg("--git-dir")
            .arg(self.repo_dir(name))
            .arg("show")
            .arg(format!("{rev}:{path}"))
            .output()
            .expect("run git show");
        output.status.success().then_some(output.stdout)
    }

    /// Installs `script` as repository `name`'s pre-receive hook (a `#!/bin/sh` line is added when the
    /// script has none). A hook that exits non-zero declines every push, with its output shown to the
    /// client.
    pub fn install_pre_receive_hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let hooks = self.repo_dir(name).join("hooks");
        std::fs::create_dir_all(&hooks).expect("create the hooks directory");
        let hook = hooks.join("pre-receive");
        let script = if script.starts_with("#!") {
            script.to_string()
        } else {
            format!("#!/bin/sh\n{script}")
        };
        write_file(&hook, script);
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .expect("make the hook executable");
    }

    /// A `git` command that answers the server's credential prompts (through `GIT_ASKPASS`, so the
    /// password is in no URL or argument) and ignores the user's git configuration.
    pub fn git_command(&self) -> Command {
        let mut command = self.git();
        command
            .env("GIT_ASKPASS", &self.askpass)
            .env("GIT_TERMINAL_PROMPT", "0");
        command
    }

    /// A `git` command without credentials (ignores the user's git configuration and never prompts).
    pub fn git_command_without_credentials(&self) -> Command {
        let mut command = self.git();
        command
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env("GIT_TERMINAL_PROMPT", "0");
        command
    }

    /// The request and error log of lighttpd (including `git http-backend`'s stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// A `git` command isolated from the user's and system's git configuration.
    fn git(&self) -> Command {
        let mut command = Command::new(&self.git);
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Test Seeder")
            .env("GIT_AUTHOR_EMAIL", "seeder@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test Seeder")
            .env("GIT_COMMITTER_EMAIL", "seeder@example.invalid");
        command
    }
}

/// A `GIT_ASKPASS` program that prints the user or the password, readable by the owner only.
pub(crate) fn write_askpass(dir: &Path, user: &str, password: &str) -> PathBuf {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let single_quoted = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  Username*) printf '%s\\n' {} ;;\n  *) printf '%s\\n' {} ;;\nesac\n",
        single_quoted(user),
        single_quoted(password)
    );
    let path = dir.join("askpass.sh");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(&path)
        .expect("create the askpass script");
    std::io::Write::write_all(&mut file, script.as_bytes()).expect("write the askpass script");
    drop(file);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
        .expect("make the askpass script executable");
    path
}

struct ConfigPaths<'a> {
    www: &'a Path,
    uploads: &'a Path,
    htpasswd: &'a Path,
    http_backend: &'a Path,
    repos: &'a Path,
}

fn lighttpd_config(addr: SocketAddr, paths: &ConfigPaths<'_>) -> String {
    // lighttpd strings use double quotes with backslash escapes, like JSON.
    let quote = |path: &Path| serde_json::to_string(&path.to_string_lossy()).expect("quote a path");
    format!(
        r#"server.modules = ("mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi", "mod_accesslog")
server.bind = "{ip}"
server.port = {port}
server.document-root = {www}
# Request bodies are buffered here, then handed to the CGI with a Content-Length: git sends large pushes
# chunked, which a CGI cannot read as a stream.
server.upload-dirs = ({uploads})
server.stream-response-body = 2
server.max-connections = 256
accesslog.filename = "/dev/stderr"

auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = {htpasswd}
auth.require = ("{PREFIX}/" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))

alias.url = ("{PREFIX}/" => {http_backend_dir})
$HTTP["url"] =~ "^{PREFIX}/" {{
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => {repos}, "GIT_HTTP_EXPORT_ALL" => "1")
}}
"#,
        ip = addr.ip(),
        port = addr.port(),
        www = quote(paths.www),
        uploads = quote(paths.uploads),
        htpasswd = quote(paths.htpasswd),
        // The trailing slash makes the rest of the URL the CGI's PATH_INFO.
        http_backend_dir = serde_json::to_string(&format!("{}/", paths.http_backend.display()))
            .expect("quote a path"),
        repos = quote(paths.repos),
    )
}
