//! Reaching the repository: credentials, a declining hook, ssh with host keys, https with a private CA.

use std::path::{Path, PathBuf};

use test_services::{Certs, ServerProcess, SshGitServer, free_port, require_tool};

use super::*;

#[test]
fn wrong_or_missing_credentials_fail_within_seconds() {
    let repo = jukebox_repo("auth");
    let url = repo.url();
    let mut wrong = repo.command();
    wrong.env("MODELCAR_GIT_TOKEN", "not-the-password").args([
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=2",
    ]);
    let run = Run::of(wrong);
    run.assert_fails(1, &[&format!("authentication failed for {url}")]);
    assert!(
        run.elapsed() < Duration::from_secs(10),
        "took {:?}",
        run.elapsed()
    );
    assert!(!run.stderr().contains("not-the-password"));

    // Token from a file (a mounted Secret) works, and so does a basic-auth workspace.
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("token");
    std::fs::write(&token_file, format!("{PASSWORD}\n")).unwrap();
    let mut from_file = repo.command();
    from_file
        .env_remove("MODELCAR_GIT_TOKEN")
        .arg("--git-token-file")
        .arg(&token_file)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=2"]);
    Run::of(from_file).assert_ok();
    let workspace = secrets.path().join("basic-auth");
    std::fs::create_dir(&workspace).unwrap();
    std::fs::write(
        workspace.join(".git-credentials"),
        format!("http://{USER}:{PASSWORD}@{}\n", repo.host_port()),
    )
    .unwrap();
    std::fs::write(
        workspace.join(".gitconfig"),
        "[credential]\n\thelper = store\n",
    )
    .unwrap();
    let mut workspace_run = bump_command();
    workspace_run
        .args(["--repo-url", &url, "--plain-http", &repo.host_port()])
        .arg("--basic-auth-dir")
        .arg(&workspace)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=3"]);
    Run::of(workspace_run).assert_ok();
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"3\"")
    );

    // No credentials at all: a clear request for them.
    let mut anonymous = bump_command();
    anonymous
        .args(["--repo-url", &url, "--plain-http", &repo.host_port()])
        .args(["--model", "jukebox", "--env", "test", "--set", "version=4"]);
    let run = Run::of(anonymous);
    run.assert_fails(1, &["authentication failed", "--git-token-file"]);
    assert!(
        run.elapsed() < Duration::from_secs(10),
        "took {:?}",
        run.elapsed()
    );

    // Plain HTTP only when asked for.
    let mut no_opt_in = bump_command();
    no_opt_in
        .args(["--repo-url", &url, "--git-username", USER])
        .env("MODELCAR_GIT_TOKEN", PASSWORD)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=5"]);
    Run::of(no_opt_in).assert_fails(2, &["plain HTTP", "--plain-http"]);
    // A password in the URL is refused without echoing it.
    let with_password = url.replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1);
    let mut in_url = bump_command();
    in_url
        .args([
            "--repo-url",
            &with_password,
            "--plain-http",
            &repo.host_port(),
        ])
        .args(["--model", "jukebox", "--env", "test", "--set", "version=5"]);
    let run = Run::of(in_url);
    run.assert_fails(2, &["carries a password", "(--repo-url)"]);
    assert!(!run.stderr().contains(PASSWORD), "{}", run.stderr());
}

#[test]
fn unknown_repository_and_missing_ssh_key_are_clear() {
    let repo = jukebox_repo("known");
    let mut wrong_path = bump_command();
    wrong_path
        .args([
            "--repo-url",
            &repo.url().replace("known.git", "unknown.git"),
        ])
        .args(["--plain-http", &repo.host_port(), "--git-username", USER])
        .env("MODELCAR_GIT_TOKEN", PASSWORD)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=2"]);
    Run::of(wrong_path).assert_fails(1, &["not found", "unknown.git", "--repo-url"]);
    let empty = tempfile::tempdir().unwrap();
    let mut no_key = bump_command();
    no_key
        .args(["--repo-url", "ssh://git@127.0.0.1:1/org/repo.git"])
        .arg("--ssh-dir")
        .arg(empty.path())
        .args(["--model", "jukebox", "--env", "test", "--set", "version=2"]);
    Run::of(no_key).assert_fails(2, &["no private key", "id_ed25519"]);
}

#[test]
fn declined_push_reports_the_servers_message() {
    let repo = jukebox_repo("hooked");
    let seed = repo.head();
    repo.server.install_pre_receive_hook(
        repo.name,
        "echo 'main is protected: open a pull request instead' >&2\nexit 1\n",
    );
    let run = repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=2.0",
    ]);
    run.assert_fails(
        1,
        &[
            "rejected the push",
            "main is protected: open a pull request instead",
        ],
    );
    assert_eq!(repo.head(), seed);
}

#[test]
fn ssh_with_a_tekton_ssh_directory() {
    let repo = jukebox_repo("over-ssh");
    let ssh = SshGitServer::start(&repo.server);
    let url = ssh.url(repo.name);
    let run = |ssh_dir: &Path, version: &str| {
        let mut command = bump_command();
        command
            .args(["--repo-url", &url])
            .arg("--ssh-dir")
            .arg(ssh_dir)
            .args(["--model", "jukebox", "--env", "test", "--set"])
            .arg(format!("version={version}"));
        Run::of(command)
    };
    let done = run(&ssh.ssh_directory(), "7.0");
    done.assert_ok();
    assert_eq!(done.result("COMMIT"), repo.head());
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"7.0\"")
    );

    // known_hosts with hashed names (HashKnownHosts yes, Debian's default) works as well.
    let hashed = copy_ssh_directory(&ssh.ssh_directory());
    let keygen = Command::new("ssh-keygen")
        .args(["-H", "-f"])
        .arg(hashed.path().join("known_hosts"))
        .output()
        .expect("run ssh-keygen: apt-get install -y openssh-client");
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let known_hosts = std::fs::read_to_string(hashed.path().join("known_hosts")).unwrap();
    assert!(known_hosts.starts_with("|1|"), "{known_hosts}");
    run(hashed.path(), "7.1").assert_ok();
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"7.1\"")
    );

    // An unknown host key is refused, naming the host.
    let stranger = copy_ssh_directory(&ssh.ssh_directory());
    std::fs::write(stranger.path().join("known_hosts"), "").unwrap();
    run(stranger.path(), "8.0").assert_fails(
        1,
        &[
            "refusing ssh connection",
            &format!("[127.0.0.1]:{}", ssh.port()),
        ],
    );
    // A different key for the same host is a mismatch.
    let mismatch = copy_ssh_directory(&ssh.ssh_directory());
    let other_key = "AAAAC3NzaC1lZDI1NTE5AAAAIHc0T6Lk2I0pyHrbLpd1CoZ6BY/Lzh9A5cK0ewHvXkyE";
    std::fs::write(
        mismatch.path().join("known_hosts"),
        format!("[127.0.0.1]:{} ssh-ed25519 {other_key}\n", ssh.port()),
    )
    .unwrap();
    run(mismatch.path(), "8.0").assert_fails(1, &["HOST KEY MISMATCH"]);
    // A key the server does not know fails fast.
    let unknown_key = copy_ssh_directory(&ssh.ssh_directory());
    for name in ["id_ed25519", "id_ed25519.pub"] {
        std::fs::remove_file(unknown_key.path().join(name)).ok();
    }
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(unknown_key.path().join("id_ed25519"))
        .output()
        .expect("run ssh-keygen: apt-get install -y openssh-client");
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let refused = run(unknown_key.path(), "8.0");
    refused.assert_fails(1, &["authentication failed for"]);
    assert!(
        refused.elapsed() < Duration::from_secs(10),
        "took {:?}",
        refused.elapsed()
    );
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"7.1\"")
    );
}

fn copy_ssh_directory(from: &Path) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let to: PathBuf = dir.path().join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir
}

/// lighttpd terminating TLS in front of the git server, with a certificate from a private CA.
struct TlsProxy {
    _process: ServerProcess,
    port: u16,
    certs: Certs,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    fn start(backend_host_port: &str) -> TlsProxy {
        let lighttpd = require_tool("lighttpd", "lighttpd");
        let certs = Certs::generate(&[]);
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("server.pem");
        let mut both = std::fs::read(&certs.cert_pem).unwrap();
        both.extend(std::fs::read(&certs.key_pem).unwrap());
        std::fs::write(&pem, both).unwrap();
        let (backend_host, backend_port) = backend_host_port.split_once(':').unwrap();
        let port = free_port();
        let config = dir.path().join("lighttpd.conf");
        std::fs::write(
            &config,
            format!(
                "server.modules = (\"mod_openssl\", \"mod_proxy\")\n\
                 server.bind = \"127.0.0.1\"\nserver.port = {port}\n\
                 server.document-root = \"{www}\"\n\
                 ssl.engine = \"enable\"\nssl.pemfile = \"{pem}\"\n\
                 proxy.server = (\"\" => ((\"host\" => \"{backend_host}\", \"port\" => {backend_port})))\n",
                www = dir.path().display(),
                pem = pem.display(),
            ),
        )
        .unwrap();
        let process = ServerProcess::spawn(
            "lighttpd (TLS proxy)",
            &lighttpd,
            [Path::new("-D"), Path::new("-f"), &config],
            dir.path(),
            &[],
            &dir.path().join("log"),
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the TLS proxy did not start (lighttpd's mod_openssl: apt-get install -y lighttpd-mod-openssl): {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsProxy {
            _process: process,
            port,
            certs,
            _dir: dir,
        }
    }
}

#[test]
fn https_with_a_private_ca() {
    let repo = jukebox_repo("tls");
    let proxy = TlsProxy::start(&repo.host_port());
    let url = format!("https://127.0.0.1:{}/git/{}.git", proxy.port, repo.name);
    let command = |extra: &[&str]| {
        let mut command = bump_command();
        command
            .args(["--repo-url", &url, "--git-username", USER])
            .env("MODELCAR_GIT_TOKEN", PASSWORD)
            .args(extra)
            .args([
                "--model",
                "jukebox",
                "--env",
                "test",
                "--set",
                "version=9.0",
            ]);
        command
    };
    // Not trusted without the CA: a prompt, clear failure.
    let untrusted = Run::of(command(&[]));
    untrusted.assert_fails(1, &[&url, "certificate", "--ca-cert"]);
    assert!(
        untrusted.elapsed() < Duration::from_secs(10),
        "took {:?}",
        untrusted.elapsed()
    );
    assert!(!repo.file("main", JUKEBOX).unwrap().contains("9.0"));
    // With the CA (as a Tekton ssl-ca-directory would give it): the bump lands.
    let trusted = Run::of(command(&[
        "--ca-cert",
        proxy.certs.ca_pem.to_str().unwrap(),
    ]));
    trusted.assert_ok();
    assert_eq!(trusted.result("COMMIT"), repo.head());
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"9.0\"")
    );
}
