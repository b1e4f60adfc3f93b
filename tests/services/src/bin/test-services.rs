//! Starts one test server and keeps it running until stdin closes (Ctrl-D) or the process is stopped,
//! for trying things by hand:
//!
//!   cargo run -p test-services -- registry | registry-tls | git | mlflow | gitea | model-registry
//!
//! Credentials for `registry-tls` and `git` come from TEST_SERVICES_USER / TEST_SERVICES_PASSWORD
//! (default `test` / `test`). Prints what a client needs, one `key: value` per line.

use std::io::Read;

use test_services::{GitServer, Gitea, Mlflow, ModelRegistry, Registry, SshGitServer};

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let user = std::env::var("TEST_SERVICES_USER").unwrap_or_else(|_| "test".into());
    let password = std::env::var("TEST_SERVICES_PASSWORD").unwrap_or_else(|_| "test".into());
    // Keep every server alive until the end of main.
    let _servers: Box<dyn std::any::Any> = match what.as_str() {
        "registry" => {
            let registry = Registry::start();
            println!("url: {}", registry.url());
            println!("storage: {}", registry.storage_dir().display());
            Box::new(registry)
        }
        "registry-tls" => {
            let registry = Registry::start_tls_with_auth(&user, &password);
            println!("url: {}", registry.url());
            println!("ca: {}", registry.ca_pem().expect("TLS").display());
            println!("storage: {}", registry.storage_dir().display());
            Box::new(registry)
        }
        "git" => {
            let git = GitServer::start(&user, &password);
            let ssh = SshGitServer::start(&git);
            let url = git.create_repo("demo");
            println!("url: {url}");
            println!("ssh-url: {}", ssh.url("demo"));
            println!("ssh-directory: {}", ssh.ssh_directory().display());
            println!("repos: {}", git.repos_root().display());
            Box::new((ssh, git))
        }
        "mlflow" => {
            let mlflow = Mlflow::shared();
            println!("url: {}", mlflow.url());
            println!("process-group: {}", mlflow.process_group());
            Box::new(())
        }
        "gitea" => {
            let gitea = Gitea::start();
            println!("url: {}", gitea.url());
            println!("admin-user: {}", gitea.admin_user());
            println!("admin-password: {}", gitea.admin_password());
            println!("token: {}", gitea.token());
            println!("read-token: {}", gitea.read_token());
            println!("work-dir: {}", gitea.work_dir().display());
            Box::new(gitea)
        }
        "model-registry" => {
            let registry = ModelRegistry::start();
            println!("url: {}", registry.url());
            println!("api: {}", registry.api_url());
            if let test_services::RegistryDatabase::MariaDb(mariadb) = registry.database() {
                println!("database-dsn: {}", mariadb.dsn("model_registry"));
            }
            Box::new(registry)
        }
        _ => {
            eprintln!("usage: test-services registry|registry-tls|git|mlflow|gitea|model-registry");
            std::process::exit(2);
        }
    };
    println!("ready: stop with Ctrl-D or Ctrl-C");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
