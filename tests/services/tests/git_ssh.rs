//! sshd serves the git server's repositories to the generated client key, and to nobody else.

use std::process::Command;
use std::time::Instant;

use test_services::{GitServer, SshGitServer};

fn ok(command: &mut Command) -> String {
    let out = command.output().expect("run a command");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clone_and_push_over_ssh_with_the_client_key() {
    let git = GitServer::start("u", "p");
    git.create_repo("models");
    let seeded = git.seed("models", &[("a.txt", b"a\n")], "Seed");
    let started = Instant::now();
    let ssh = SshGitServer::start(&git);
    eprintln!("sshd started in {:?}", started.elapsed());
    let url = ssh.url("models");
    assert!(url.starts_with("ssh://"), "{url}");

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    ok(ssh
        .git_command()
        .args(["clone", "--quiet", &url])
        .arg(&work));
    let head = ok(ssh
        .git_command()
        .current_dir(&work)
        .args(["rev-parse", "HEAD"]));
    assert_eq!(head.trim(), seeded);

    std::fs::write(work.join("b.txt"), "b\n").unwrap();
    ok(ssh.git_command().current_dir(&work).args(["add", "b.txt"]));
    ok(ssh
        .git_command()
        .current_dir(&work)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.invalid"])
        .args(["commit", "--quiet", "-m", "Over SSH"]));
    ok(ssh
        .git_command()
        .current_dir(&work)
        .args(["push", "--quiet", "origin", "main"]));
    assert_eq!(git.file_at("models", "main", "b.txt").unwrap(), b"b\n");
}

#[test]
fn ssh_directory_works_as_home_ssh_and_strangers_are_refused() {
    let git = GitServer::start("u", "p");
    git.create_repo("models");
    git.seed("models", &[("a.txt", b"a\n")], "Seed");
    let ssh = SshGitServer::start(&git);
    let tmp = tempfile::tempdir().unwrap();

    // The files fit together: its config, key and known_hosts are all ssh needs.
    let dir = ssh.ssh_directory();
    for file in ["id_ed25519", "id_ed25519.pub", "known_hosts", "config"] {
        assert!(dir.join(file).is_file(), "{file} in ssh-directory");
    }
    let ssh_command = format!(
        "ssh -F {dir}/config -i {dir}/id_ed25519 -o UserKnownHostsFile={dir}/known_hosts -o BatchMode=yes",
        dir = dir.display()
    );
    let refs = ok(Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_SSH_COMMAND", ssh_command)
        .args(["ls-remote", &ssh.url("models"), "main"]));
    assert!(refs.ends_with("\trefs/heads/main\n"), "{refs}");

    // A key the server does not know is refused.
    let stranger = tmp.path().join("stranger");
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger));
    let refused = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -F none -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o BatchMode=yes",
                stranger.display(),
                ssh.known_hosts().display()
            ),
        )
        .args(["ls-remote", &ssh.url("models")])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Permission denied"));

    // An unknown host key is refused too (empty known_hosts).
    let empty_known_hosts = tmp.path().join("known_hosts");
    std::fs::write(&empty_known_hosts, "").unwrap();
    let unknown_host = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -F none -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
                ssh.client_key().display(),
                empty_known_hosts.display()
            ),
        )
        .args(["ls-remote", &ssh.url("models")])
        .output()
        .unwrap();
    assert!(!unknown_host.status.success());
    assert!(String::from_utf8_lossy(&unknown_host.stderr).contains("Host key verification failed"));
}
