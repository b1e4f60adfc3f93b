//! OpenSSH's sshd serving a [`GitServer`]'s repositories over SSH, with key authentication only.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{ServerProcess, StartFailure, run, start_on_free_port, write_file};
use crate::{GitServer, require_tool};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Where sshd chroots its unprivileged pre-authentication child; compiled into Debian's sshd.
const PRIVSEP_DIR: &str = "/run/sshd";

/// sshd on 127.0.0.1 that lets one generated client key log in as the current user, whose shell runs
/// `git-upload-pack`/`git-receive-pack` on the repositories of a [`GitServer`]. Stops on drop.
pub struct SshGitServer {
    process: ServerProcess,
    addr: SocketAddr,
    user: String,
    repos: PathBuf,
    client_key: PathBuf,
    known_hosts: PathBuf,
    ssh_directory: PathBuf,
    // Last: removed after the process is gone.
    _dir: TempDir,
}

impl SshGitServer {
    /// Starts sshd for the repositories of `git` with a fresh host key and a fresh client key pair.
    pub fn start(git: &GitServer) -> SshGitServer {
        let sshd = require_tool("sshd", "openssh-server");
        let ssh_keygen = require_tool("ssh-keygen", "openssh-client");
        if !Path::new(PRIVSEP_DIR).is_dir() {
            std::fs::create_dir_all(PRIVSEP_DIR).unwrap_or_else(|e| {
                panic!("create sshd's privilege separation directory {PRIVSEP_DIR}: {e} (run as root, or: mkdir -p {PRIVSEP_DIR})")
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("test-sshd-")
            .tempdir()
            .expect("create a temporary directory for sshd");
        let host_key = dir.path().join("ssh_host_ed25519_key");
        let client_key = dir.path().join("id_ed25519");
        for (key, comment) in [(&host_key, "test-sshd-host"), (&client_key, "test-client")] {
            run(Command::new(&ssh_keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(key));
        }
        let client_public = read_public_key(&client_key);
        let host_public = read_public_key(&host_key);
        let authorized_keys = dir.path().join("authorized_keys");
        write_file(&authorized_keys, format!("restrict {client_public}\n"));
        let user = current_user();

        let (process, addr) = start_on_free_port("sshd", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let config = dir.path().join("sshd_config");
            write_file(
                &config,
                sshd_config(addr, &host_key, &authorized_keys, dir.path(), &user),
            );
            let log = dir.path().join("sshd.log");
            // sshd re-executes itself for every connection, so it must be started by absolute path.
            let mut process = ServerProcess::spawn(
                "sshd",
                &sshd,
                [Path::new("-D"), Path::new("-e"), Path::new("-f"), &config],
                dir.path(),
                &[],
                &log,
            );
            process.wait_until_ready(START_TIMEOUT, || sends_ssh_banner(addr))?;
            Ok::<_, StartFailure>((process, addr))
        });

        let known_hosts = dir.path().join("known_hosts");
        write_file(
            &known_hosts,
            format!(
                "[127.0.0.1]:{port} {host_public}\n[localhost]:{port} {host_public}\n",
                port = addr.port()
            ),
        );
        let ssh_directory = dir.path().join("ssh-directory");
        write_ssh_directory(&ssh_directory, &client_key, &known_hosts, &user);
        SshGitServer {
            process,
            addr,
            user,
            repos: git.repos_root().to_path_buf(),
            client_key,
            known_hosts,
            ssh_directory,
            _dir: dir,
        }
    }

    /// The clone URL of repository `repo` of the [`GitServer`]:
    /// `ssh://USER@127.0.0.1:PORT/ABSOLUTE/PATH/<repo>.git`.
    pub fn url(&self, repo: &str) -> String {
        format!(
            "ssh://{}@{}{}/{repo}.git",
            self.user,
            self.addr,
            self.repos.display()
        )
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The user the client key logs in as (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private key (OpenSSH format, ed25519, no passphrase, mode 0600).
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// A known_hosts file with the server's host key for `[127.0.0.1]:PORT` and `[localhost]:PORT`.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// A directory shaped like Tekton's `ssh-directory` workspace: `id_ed25519`, `id_ed25519.pub`,
    /// `known_hosts` and `config` (which enforces host key checking).
    pub fn ssh_directory(&self) -> PathBuf {
        self.ssh_directory.clone()
    }

    /// A `GIT_SSH_COMMAND` value that logs in with the client key and checks the host key strictly.
    pub fn git_ssh_command(&self) -> String {
        format!(
            "ssh -F none -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.client_key.display(),
            self.known_hosts.display()
        )
    }

    /// A `git` command that uses [`SshGitServer::git_ssh_command`] and ignores the user's git
    /// configuration.
    pub fn git_command(&self) -> Command {
        let mut command = Command::new(require_tool("git", "git"));
        command
            .env("GIT_SSH_COMMAND", self.git_ssh_command())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0");
        command
    }

    /// sshd's log (`-e`: to stderr, level VERBOSE).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn sshd_config(
    addr: SocketAddr,
    host_key: &Path,
    authorized_keys: &Path,
    dir: &Path,
    user: &str,
) -> String {
    format!(
        "Port {port}
ListenAddress {ip}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
# git sends GIT_PROTOCOL=version=2 to select protocol v2.
AcceptEnv GIT_PROTOCOL
# Tests push from many processes at once.
MaxStartups 100:30:200
MaxSessions 100
LogLevel VERBOSE
",
        port = addr.port(),
        ip = addr.ip(),
        host_key = host_key.display(),
        pid_file = dir.join("sshd.pid").display(),
        authorized_keys = authorized_keys.display(),
    )
}

fn write_ssh_directory(target: &Path, client_key: &Path, known_hosts: &Path, user: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(target).expect("create the ssh-directory");
    let copy = |from: &Path, name: &str, mode: u32| {
        let to = target.join(name);
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", to.display()));
    };
    copy(client_key, "id_ed25519", 0o600);
    copy(&client_key.with_extension("pub"), "id_ed25519.pub", 0o644);
    copy(known_hosts, "known_hosts", 0o644);
    write_file(
        &target.join("config"),
        // Default identity files and known_hosts are read from ~/.ssh, where Tekton's git tasks copy
        // this directory.
        format!("Host 127.0.0.1 localhost\n  User {user}\n  StrictHostKeyChecking yes\n"),
    );
}

/// `TYPE BASE64` of the public key next to `private_key`, without the comment.
fn read_public_key(private_key: &Path) -> String {
    let path = private_key.with_extension("pub");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// True once sshd accepts a connection and sends its `SSH-2.0-` identification line.
fn sends_ssh_banner(addr: SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = [0u8; 8];
    stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0-"
}

/// The login name of the effective user.
fn current_user() -> String {
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: getpwuid_r writes only into `entry` and `buffer` (whose length it is given); the name is
    // copied out before either goes away. The reentrant form is safe while tests run on other threads.
    let status = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if status != 0 || result.is_null() || entry.pw_name.is_null() {
        panic!("the current user has no passwd entry, so sshd cannot log it in");
    }
    // SAFETY: pw_name points into `buffer`, NUL-terminated by getpwuid_r.
    unsafe { std::ffi::CStr::from_ptr(entry.pw_name) }
        .to_string_lossy()
        .into_owned()
}
