//! One server process in its own process group, with a watchdog and a log file.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs the server as a child of a small shell that is the process group leader.
///
/// The shell keeps the read end of a pipe whose only writer is the test process; a background
/// watchdog in the group blocks on it. When the test process dies, even by SIGKILL, the pipe closes and
/// the watchdog stops the group. The shell exits with the server's status, so an early crash is seen.
/// If `TEST_SERVICES_CLEANUP_DIR` is set, the watchdog also removes that directory (for servers held in a
/// static, whose `TempDir` never drops).
const WATCHDOG: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
{
  trap '' TERM
  cat <&3 >/dev/null
  kill -TERM -$$ 2>/dev/null
  sleep 2
  if [ -n "${TEST_SERVICES_CLEANUP_DIR:-}" ]; then rm -rf -- "$TEST_SERVICES_CLEANUP_DIR"; fi
  kill -KILL -$$ 2>/dev/null
} &
exec 3<&-
wait "$server""#;

/// Why a server did not come up.
pub(crate) enum StartFailure {
    /// The port was taken between `free_port` and the server's bind: try another port.
    AddressInUse,
    /// Anything else; the message says what happened and includes the server's log.
    Failed(String),
}

/// A running server process group. Dropping it kills the whole group.
pub struct ServerProcess {
    name: String,
    leader: Child,
    log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `program args` in `cwd` with stdout and stderr appended to `log_path`.
    pub fn spawn<I, S>(
        name: &str,
        program: &Path,
        args: I,
        cwd: &Path,
        envs: &[(&str, &OsStr)],
        log_path: &Path,
    ) -> ServerProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap_or_else(|e| panic!("create log file {} for {name}: {e}", log_path.display()));
        let log_err = log.try_clone().expect("duplicate a log file handle");
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("test-services-watchdog")
            .arg(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        for (key, value) in envs {
            command.env(key, value);
        }
        let leader = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({}): {e}", program.display()));
        ServerProcess {
            name: name.to_string(),
            leader,
            log_path: log_path.to_path_buf(),
        }
    }

    /// The process group id (also the pid of the watchdog shell).
    pub fn process_group(&self) -> u32 {
        self.leader.id()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    /// The server's exit status, if it has stopped.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.leader.try_wait().ok().flatten()
    }

    /// Polls `ready` until it returns true; panics with the server's log when it exits first or
    /// `timeout` passes. For servers started with [`ServerProcess::spawn`] by other test crates.
    pub fn wait_until(&mut self, timeout: Duration, ready: impl FnMut() -> bool) {
        match self.wait_until_ready(timeout, ready) {
            Ok(()) => {}
            Err(StartFailure::AddressInUse) => {
                panic!(
                    "{}: address already in use; its log:\n{}",
                    self.name,
                    self.log()
                )
            }
            Err(StartFailure::Failed(message)) => panic!("{message}"),
        }
    }

    /// Polls `ready` until it returns true, the server exits, or `timeout` passes.
    pub(crate) fn wait_until_ready(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), StartFailure> {
        let start = Instant::now();
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.exit_status() {
                let log = self.log();
                if log.to_ascii_lowercase().contains("address already in use") {
                    return Err(StartFailure::AddressInUse);
                }
                return Err(StartFailure::Failed(format!(
                    "{} exited during start-up ({status}); its log:\n{log}",
                    self.name
                )));
            }
            if start.elapsed() > timeout {
                return Err(StartFailure::Failed(format!(
                    "{} did not answer within {timeout:?}; its log:\n{}",
                    self.name,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(
                if start.elapsed() < Duration::from_secs(2) {
                    10
                } else {
                    100
                },
            ));
        }
    }

    fn kill_group(&mut self) {
        let group = self.leader.id() as libc::pid_t;
        // SAFETY: killpg only sends a signal; the group is the one this handle created.
        unsafe {
            libc::killpg(group, libc::SIGKILL);
        }
        let _ = self.leader.wait();
        // The signal is delivered asynchronously: wait until the server itself (the leader's child) is
        // gone too, so its port and files are released when drop returns.
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_has_live_members(group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// True while a process other than a zombie is in process group `group` (zombies hold no sockets).
pub(crate) fn group_has_live_members(group: libc::pid_t) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields
            .nth(1)
            .and_then(|field| field.parse::<libc::pid_t>().ok());
        pgrp == Some(group) && state != Some("Z") && state != Some("X")
    })
}

/// Starts a server on a fresh free port, retrying when another process took the port first.
///
/// `attempt` starts the server on the given port and waits until it answers.
pub(crate) fn start_on_free_port<T>(
    what: &str,
    mut attempt: impl FnMut(u16) -> Result<T, StartFailure>,
) -> T {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        match attempt(crate::free_port()) {
            Ok(server) => return server,
            Err(StartFailure::AddressInUse) => continue,
            Err(StartFailure::Failed(message)) => panic!("start {what}: {message}"),
        }
    }
    panic!(
        "start {what}: {ATTEMPTS} free ports in a row were taken by other processes before it bound them"
    )
}

/// True when a TCP connection to `addr` succeeds.
///
/// A connect to a closed port in the ephemeral range can succeed by connecting the socket to
/// itself (TCP simultaneous open); that is not a server, so it counts as no.
pub fn accepts_connections(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// The status code of a plain-HTTP `GET path` to `addr`, or None if it does not answer.
pub(crate) fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 16];
    let mut filled = 0;
    while filled < head.len() {
        match stream.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    // "HTTP/1.1 200 OK": the code sits at bytes 9..12.
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}

/// Writes `contents` to `path`, panicking with the path on failure.
pub(crate) fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Runs a short helper command to completion, panicking with its output when it fails.
pub(crate) fn run(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// How many live (not zombie) processes are in process group `group`: 0 once a server is gone.
pub fn live_members(group: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.get(2) == Some(&group.to_string().as_str()) && fields[0] != "Z"
        })
        .count()
}
