//! Finding tools and binaries, and picking ports.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Directories searched after `PATH`: a non-root `PATH` often lacks the sbin directories.
const EXTRA_TOOL_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// The absolute path of the external tool `name`.
///
/// Panics with the command that installs it when it is not on `PATH` (or in an sbin directory).
pub fn require_tool(name: &str, debian_package: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!("{name} not found: run scripts/test, or: apt-get install -y {debian_package}")
    })
}

pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_TOOL_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The root of this cargo workspace (where `Cargo.lock` and `scripts/` live).
pub fn workspace_root() -> PathBuf {
    // tests/services -> workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/services sits two levels below the workspace root")
        .to_path_buf()
}

/// A binary of this workspace, built into the same target directory as the running test.
///
/// Test executables live in `<target>/debug/deps`; the workspace binaries in `<target>/debug`.
/// Panics with the build command when the binary is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    let mut dir = exe
        .parent()
        .expect("the test executable has a parent directory")
        .to_path_buf();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    let bin = dir.join(name);
    if !is_executable(&bin) {
        panic!(
            "workspace binary {name} not found at {}: run `cargo build --workspace --bins` first \
             (scripts/test does)",
            bin.display()
        );
    }
    bin
}

/// Ports handed out by this process, so two servers of one test binary never get the same port.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Another process can still take it before the server binds it; the servers here retry on a new port
/// when their log says the address is in use.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("local address of a bound listener")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// The binary of a Go program built by `scripts/go-servers` (`gitea`, `model-registry`,
/// `tekton-harness`, `kube-apiserver`, `etcd`, `kubectl`, ...).
///
/// The script knows the pinned version and so the path; panics with the build command when the binary
/// is not built yet.
pub fn go_server_bin(name: &str) -> PathBuf {
    go_server_output(name, is_executable)
}

/// A directory `scripts/go-servers` prepares (`kube-crds`); panics with the command that makes it when
/// it is missing.
pub fn go_server_path(name: &str) -> PathBuf {
    go_server_output(name, |path| path.join(".ready").is_file())
}

fn go_server_output(name: &str, ready: impl Fn(&Path) -> bool) -> PathBuf {
    let script = workspace_root().join("scripts").join("go-servers");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .args(["path", name])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {} path {name}: {e}", script.display()));
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !output.status.success() || path.as_os_str().is_empty() || !ready(&path) {
        let target = match name {
            "kube-apiserver" | "etcd" | "kubectl" => "kube",
            other => other,
        };
        panic!(
            "{name} is not built{}: run scripts/go-servers build {target} (minutes on the first run; \
             scripts/test does it)",
            if path.as_os_str().is_empty() {
                String::new()
            } else {
                format!(" ({} is missing)", path.display())
            }
        );
    }
    path
}
