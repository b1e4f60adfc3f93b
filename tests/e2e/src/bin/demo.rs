//! `scripts/demo`: the whole flow on this machine, from a push to the model source repository to
//! the version labelled `prod`, against real local servers and the checked-in Tekton YAML. See
//! [`e2e::demo`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use e2e::demo::{self, INTERRUPTED, Options, Servers};

/// Run the whole modelcar-gitops flow on this machine: an OCI registry, Gitea and the Kubeflow Model
/// Registry started locally; the model source and GitOps repositories created in Gitea from
/// examples/; a push to the model source delivered by Gitea's webhook through Tekton Triggers'
/// interceptors starts model-release (ModelCar pushed, test bumped and labelled, promotion pull
/// request opened); the pull request merged through Gitea's API starts post-deploy (labelled prod);
/// model-trace checks test and prod. Steps are numbered on stderr; the report goes to stdout.
#[derive(Parser)]
#[command(name = "demo", version)]
struct Args {
    /// Leave the servers running after the report (Gitea's address, user and password are
    /// printed) until Ctrl-C.
    #[arg(long, env = "MODELCAR_KEEP")]
    keep: bool,

    /// Where each step's log, the pipeline runs' files and the report are written (default:
    /// target/demo/<UTC time>).
    #[arg(long, value_name = "DIR", env = "MODELCAR_RUN_DIR")]
    run_dir: Option<PathBuf>,
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this process (child processes start with them unblocked)
/// and takes them on a thread of their own: the first one stops the demo after the step under way,
/// which then stops the servers and removes their folders; a second one exits at once.
fn handle_signals() {
    // SAFETY: plain libc calls on a zeroed sigset_t, made before any other thread starts.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        loop {
            let mut signal = 0;
            // SAFETY: `set` is initialised; sigwait writes the signal number.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                continue;
            }
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nStopping now.");
                std::process::exit(130);
            }
            eprintln!(
                "\nStopping: after the step under way the servers stop (Ctrl-C again to stop at once)."
            );
        }
    });
}

fn default_run_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| test_services::workspace_root().join("target"));
    let base = target.join("demo").join(demo::timestamp());
    (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => PathBuf::from(format!("{}-{n}", base.display())),
        })
        .find(|dir| !dir.exists())
        .expect("a free folder name")
}

fn main() -> ExitCode {
    let args = Args::parse();
    handle_signals();
    demo::capture_panics();
    let options = Options {
        run_dir: args.run_dir.clone().unwrap_or_else(default_run_dir),
        keep: args.keep,
    };
    if args.run_dir.is_none() {
        // target/demo/latest: the last run's folder.
        if let (Some(parent), Some(name)) = (options.run_dir.parent(), options.run_dir.file_name())
        {
            let latest = parent.join("latest");
            let _ = std::fs::create_dir_all(parent);
            let _ = std::fs::remove_file(&latest);
            let _ = std::os::unix::fs::symlink(name, &latest);
        }
    }
    let started = Instant::now();
    eprintln!(
        "modelcar-gitops on this machine: a model commit to a ModelCar, a GitOps change, a pull \
         request, a merge, and the Model Registry's labels following.\nRun folder: {}",
        options.run_dir.display()
    );
    let mut servers = Servers::default();
    let outcome = demo::run(&options, &mut servers);
    let code = match &outcome {
        Ok(report) => {
            let text = demo::render(report, &options.run_dir);
            let _ = std::fs::write(options.run_dir.join("report.txt"), &text);
            let _ = std::fs::write(
                options.run_dir.join("report.json"),
                serde_json::to_string_pretty(report).unwrap_or_default(),
            );
            eprintln!("\nDone in {:.0?}.\n", started.elapsed());
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("\n{failure}");
            ExitCode::FAILURE
        }
    };
    if options.keep && !INTERRUPTED.load(Ordering::SeqCst) {
        eprintln!(
            "\nThe servers keep running until Ctrl-C:\n{}",
            servers.describe()
        );
        while !INTERRUPTED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop(servers);
    code
}
