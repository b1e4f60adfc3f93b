//! A task image as `scripts/task-images` writes it (an OCI layout per tool under
//! `<target>/task-images`), unpacked into a folder, and its tool run inside that folder the way a
//! Tekton step's container runs it:
//!
//! - the image's root as `/`, read-only (`readOnlyRootFilesystem`), with nothing from the host but
//!   what is mounted: a fresh `/tmp` (the Tasks' `emptyDir`), `/proc`, `/dev`, and an `/etc/hosts`
//!   and `/etc/resolv.conf` as the kubelet writes them;
//! - the image's user (`65532:0`), environment, working directory and entrypoint, no other variable;
//! - workspaces and `/tekton/results` bind-mounted from test folders;
//! - the host's network, so the test servers on loopback are reachable.
//!
//! bubblewrap sets this up in new user, mount, PID, IPC and UTS namespaces. When the test runs as
//! root it first becomes the image's user with `setpriv` (and `no_new_privs`, as
//! `allowPrivilegeEscalation: false`), so the tool is that unprivileged user outside the sandbox as
//! well: files of the image (owned by root) are read-only to it by their modes too. Folders given
//! to [`Container::mount`] must therefore be readable by any user ([`shared_dir`] makes such).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use test_services::require_tool;

use crate::process::{ProcessRun, run_with_timeout, shell_words};

/// Folders and files the runtime mounts over the image's root (they are created in the unpacked
/// root beforehand, as a container runtime does, since the root is read-only in the sandbox).
const RUNTIME_DIRS: [&str; 3] = ["proc", "dev", "tmp"];
const RUNTIME_FILES: [&str; 2] = ["etc/hosts", "etc/resolv.conf"];

/// The folder `scripts/task-images` writes the layouts to: `<target>/task-images` of the target
/// folder this test was built in (or `$TASK_IMAGES_DIR`).
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TASK_IMAGES_DIR") {
        return PathBuf::from(dir);
    }
    // <target>/debug/deps/<test> -> <target>
    let exe = std::env::current_exe().expect("the path of the running test");
    exe.ancestors()
        .nth(3)
        .expect("the test runs from <target>/<profile>/deps")
        .join("task-images")
}

/// A temporary folder every user may read (and, if `writable`, write): for what is mounted into a
/// container whose user is not the test's.
pub fn shared_dir(writable: bool) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("task-image-mount-")
        .tempdir()
        .expect("a temporary folder");
    let mode = if writable { 0o777 } else { 0o755 };
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode))
        .expect("set the folder's mode");
    dir
}

/// What the image's config says about running it.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    pub working_dir: String,
}

/// One tool's image, unpacked.
pub struct TaskImage {
    pub tool: String,
    pub config: ImageConfig,
    root: TempDir,
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("a descriptor without digest: {descriptor}"));
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{digest} is not sha256"));
    layout.join("blobs/sha256").join(hex)
}

impl TaskImage {
    /// Unpacks the image of `tool` from [`images_dir`]. Panics, saying how to build it, when it is
    /// not there or its tool is not a static binary.
    pub fn load(tool: &str) -> TaskImage {
        let layout = images_dir().join(tool);
        if !layout.join("index.json").is_file() {
            panic!(
                "the task image of {tool} is not at {}: build the images with scripts/task-images \
                 (scripts/test does), or set TASK_IMAGES_DIR to the folder holding them",
                layout.display()
            );
        }
        let index = read_json(&layout.join("index.json"));
        let manifest = read_json(&blob(&layout, &index["manifests"][0]));
        let config = read_json(&blob(&layout, &manifest["config"]));
        let root = tempfile::Builder::new()
            .prefix(&format!("task-image-{tool}-"))
            .tempdir()
            .expect("a temporary folder for the image's root");
        // The sandbox's user must be able to enter its own root.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let tar = require_tool("tar", "tar");
        for layer in manifest["layers"].as_array().expect("manifest layers") {
            // GNU tar recognises gzip (and an uncompressed tar) by itself.
            let output = Command::new(&tar)
                .args(["-x", "-p", "--numeric-owner", "-f"])
                .arg(blob(&layout, layer))
                .arg("-C")
                .arg(root.path())
                .output()
                .expect("run tar");
            assert!(
                output.status.success(),
                "unpacking a layer of {}: {}",
                layout.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for dir in RUNTIME_DIRS {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        for file in RUNTIME_FILES {
            let path = root.path().join(file);
            if !path.exists() {
                std::fs::write(&path, "").unwrap();
            }
        }

        let settings = &config["config"];
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|item| item.as_str().expect("a string").to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let user = settings["User"].as_str().unwrap_or("0:0");
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let parse = |id: &str| -> u32 {
            id.parse()
                .unwrap_or_else(|_| panic!("{tool}: the image's user {user:?} is not numeric"))
        };
        let image = TaskImage {
            tool: tool.to_owned(),
            config: ImageConfig {
                entrypoint: strings(&settings["Entrypoint"]),
                env: strings(&settings["Env"])
                    .into_iter()
                    .map(|pair| {
                        let (name, value) = pair.split_once('=').expect("NAME=VALUE");
                        (name.to_owned(), value.to_owned())
                    })
                    .collect(),
                uid: parse(uid),
                gid: parse(gid),
                working_dir: settings["WorkingDir"].as_str().unwrap_or("/").to_owned(),
            },
            root,
        };
        image.check_static();
        image
    }

    /// The unpacked root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Panics unless the entrypoint is a static ELF binary (no program interpreter): the image has
    /// no C library to load.
    fn check_static(&self) {
        let program = self
            .config
            .entrypoint
            .first()
            .unwrap_or_else(|| panic!("{}: the image has no entrypoint", self.tool));
        let path = self.root().join(program.trim_start_matches('/'));
        let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            elf.len() > 64 && elf.starts_with(b"\x7fELF") && elf[4] == 2 && elf[5] == 1,
            "{program} in the image of {} is not a 64-bit little-endian ELF binary",
            self.tool
        );
        let word = |at: usize, len: usize| -> u64 {
            let mut bytes = [0u8; 8];
            bytes[..len].copy_from_slice(&elf[at..at + len]);
            u64::from_le_bytes(bytes)
        };
        let (phoff, phentsize, phnum) = (word(32, 8), word(54, 2), word(56, 2));
        for i in 0..phnum {
            let at = (phoff + i * phentsize) as usize;
            const PT_INTERP: u64 = 3;
            assert!(
                word(at, 4) != PT_INTERP,
                "{program} in the image of {} is linked dynamically (it names a program \
                 interpreter), so it cannot start on the image's empty base: build the images with \
                 scripts/task-images (static binaries) rather than TASK_IMAGES_TARGET=host",
                self.tool
            );
        }
    }

    /// A container of this image: the Tasks' setting, before mounts and env are added.
    pub fn container(&self) -> Container<'_> {
        Container {
            image: self,
            entrypoint: None,
            mounts: Vec::new(),
            env: Vec::new(),
            hosts: "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_owned(),
        }
    }
}

/// One run of the image's entrypoint, with mounts and env.
pub struct Container<'a> {
    image: &'a TaskImage,
    entrypoint: Option<Vec<String>>,
    /// (host path, path in the container, writable)
    mounts: Vec<(PathBuf, String, bool)>,
    env: Vec<(String, String)>,
    hosts: String,
}

impl Container<'_> {
    /// Mounts `host` (a folder or a file) at `path`, read-only unless `writable`.
    pub fn mount(mut self, host: &Path, path: &str, writable: bool) -> Self {
        assert!(path.starts_with('/'), "{path} is not absolute");
        self.mounts
            .push((host.to_path_buf(), path.to_owned(), writable));
        self
    }

    /// Runs `program` instead of the image's entrypoint (to look at the sandbox itself).
    pub fn entrypoint(mut self, program: &str) -> Self {
        self.entrypoint = Some(vec![program.to_owned()]);
        self
    }

    /// Sets an environment variable (after the image's own).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `names` for 127.0.0.1 to the container's `/etc/hosts` (a pod's `hostAliases`).
    pub fn host_alias(mut self, names: &[&str]) -> Self {
        self.hosts.push_str(&format!(
            "# Entries added by HostAliases.\n127.0.0.1\t{}\n",
            names.join("\t")
        ));
        self
    }

    /// The command that runs the entrypoint with `args` in the sandbox; `scratch` (a folder the
    /// test owns) receives the generated `/etc/hosts` and `/etc/resolv.conf`.
    pub fn command(&self, args: &[&str], scratch: &Path) -> Command {
        let image = self.image;
        let root = image.root();
        let etc = scratch.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hosts = etc.join("hosts");
        std::fs::write(&hosts, &self.hosts).unwrap();
        // A name server on loopback where none listens: a name /etc/hosts does not have fails at
        // once instead of going to the machine's resolver.
        let resolv = etc.join("resolv.conf");
        std::fs::write(
            &resolv,
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();

        let bwrap = require_tool("bwrap", "bubblewrap");
        let mut command = if is_root() {
            let mut setpriv = Command::new(require_tool("setpriv", "util-linux"));
            setpriv
                .arg(format!("--reuid={}", image.config.uid))
                .arg(format!("--regid={}", image.config.gid))
                .args(["--clear-groups", "--no-new-privs", "--"])
                .arg(&bwrap);
            setpriv
        } else {
            Command::new(&bwrap)
        };
        command
            .args(["--unshare-all", "--share-net", "--unshare-user"])
            .args(["--die-with-parent", "--new-session"])
            .arg("--uid")
            .arg(image.config.uid.to_string())
            .arg("--gid")
            .arg(image.config.gid.to_string())
            .arg("--ro-bind")
            .arg(root)
            .arg("/")
            .args(["--proc", "/proc", "--dev", "/dev"])
            .args(["--perms", "1777", "--tmpfs", "/tmp"])
            .arg("--ro-bind")
            .arg(&hosts)
            .arg("/etc/hosts")
            .arg("--ro-bind")
            .arg(&resolv)
            .arg("/etc/resolv.conf");
        for (host, path, writable) in &self.mounts {
            // The mount point, in the read-only root: made beforehand, as a runtime does.
            let point = root.join(path.trim_start_matches('/'));
            if host.is_dir() {
                std::fs::create_dir_all(&point).unwrap();
            } else {
                std::fs::create_dir_all(point.parent().unwrap()).unwrap();
                if !point.exists() {
                    std::fs::write(&point, "").unwrap();
                }
            }
            command
                .arg(if *writable { "--bind" } else { "--ro-bind" })
                .arg(host)
                .arg(path);
        }
        // The image's env and the step's, nothing from the test's (bwrap and setpriv pass it on; not
        // on their command lines, which failures show, since some values are tokens).
        command.env_clear().envs(
            image
                .config
                .env
                .iter()
                .chain(&self.env)
                .map(|(k, v)| (k, v)),
        );
        command
            .arg("--chdir")
            .arg(&image.config.working_dir)
            .arg("--")
            .args(self.entrypoint.as_ref().unwrap_or(&image.config.entrypoint))
            .args(args);
        command
    }

    /// Runs the entrypoint with `args` (killed after two minutes).
    pub fn run(&self, args: &[&str]) -> ContainerRun {
        let scratch = tempfile::Builder::new()
            .prefix("task-image-run-")
            .tempdir()
            .unwrap();
        let command = self.command(args, scratch.path());
        let line: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|word| word.to_string_lossy().into_owned())
            .collect();
        let run = run_with_timeout(
            command,
            &scratch.path().join("output"),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("starting {}: {e}", shell_words(&line)));
        ContainerRun {
            tool: self.image.tool.clone(),
            command_line: shell_words(&line),
            run,
        }
    }
}

/// A finished run in a container.
pub struct ContainerRun {
    pub tool: String,
    pub command_line: String,
    pub run: ProcessRun,
}

impl ContainerRun {
    /// Panics with the command line and stderr unless the tool exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.run.status.is_some_and(|s| s.success()),
            "{} in its image: {}\n$ {}\nstderr:\n{}",
            self.tool,
            match self.run.status {
                Some(status) => status.to_string(),
                None => "timed out".to_owned(),
            },
            self.command_line,
            self.run.stderr
        );
        self
    }

    pub fn stdout(&self) -> &str {
        &self.run.stdout
    }

    pub fn stderr(&self) -> &str {
        &self.run.stderr
    }
}

fn is_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
