//! Crash trials of `cellsim serve --standalone` the way it failed in issue 19: a cluster
//! under load from `cellsim load`'s client, the server killed with SIGKILL at random
//! moments (with compaction every 150 lines, so many kills land in or right after one)
//! or stopped cleanly with SIGTERM, restarted on the same journal, and checked against
//! the client's acknowledgements: every acknowledged bind on its nodes and devices, every
//! acknowledged delete gone, no group the client never placed. 20 trials in a row on
//! 1,024 GPUs; the 10,240-GPU version is `reports/2026-12-06-live-load/crash-trials.sh`.
//! See: issue 19.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cellsim::live::load::{self, Fate, Ledger, LoadOptions};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, journal: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(["serve", "--standalone", "--listen", "127.0.0.1:0"])
        .args(["--journal-compact-lines", "150"])
        .arg("--journal")
        .arg(journal)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cellsim starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(addr) = line.strip_prefix("cellsim serve: listening on ") {
                    break format!("http://{addr}");
                }
                seen.push(line);
            }
            _ => {
                let _ = child.kill();
                panic!("the server did not start; stderr:\n{}", seen.join("\n"));
            }
        }
    };
    // Keep reading stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

fn stop_cleanly(mut server: Server) {
    // SIGTERM: the server stops accepting, finishes running requests and exits.
    let pid = server.child.id() as i32;
    // SAFETY: sending a signal to our own child process; no memory is involved.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let _ = server.child.wait();
}

#[test]
fn acknowledged_pods_survive_kill_9_and_restarts() {
    let dir = std::env::temp_dir().join(format!("cellsim-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config_path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "scenarios",
        "clusters",
        "hived-1024.yaml",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&config_path).expect("config");
    let config = cellsim::config::load_str(&text, "hived-1024.yaml").expect("valid config");
    let journal = dir.join("journal");
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let mut ledger = Ledger::default();
    let mut held_checked = 0;
    for trial in 0..20u64 {
        let server = start(&config_path, &journal);
        let options = LoadOptions {
            url: server.url.clone(),
            clients: 4,
            duration: Duration::from_secs(30),
            seed: trial,
            low: 0.7,
            high: 0.9,
            record_placements: true,
        };
        let runner = {
            let config = config.clone();
            let ledger = ledger.clone();
            std::thread::spawn(move || load::run(&config, &options, ledger))
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(150..900)));
        let clean = trial % 5 == 4;
        if clean {
            stop_cleanly(server);
        } else {
            drop(server); // SIGKILL
        }
        let (report, after) = runner.join().expect("the client ran");
        assert!(
            report.stopped_by.is_some(),
            "trial {trial}: the client should see the stop"
        );
        ledger = after;
        let server = start(&config_path, &journal);
        let problems = load::verify(&server.url, &ledger).expect("the server answers");
        assert!(
            problems.is_empty(),
            "trial {trial} ({}): {} mismatch(es):\n{}",
            if clean { "SIGTERM" } else { "SIGKILL" },
            problems.len(),
            problems.join("\n")
        );
        held_checked += ledger
            .groups
            .values()
            .filter(|g| g.fate == Fate::Held)
            .count();
        load::settle(&server.url, &mut ledger).expect("in-doubt groups deleted");
        stop_cleanly(server);
    }
    // The trials did check something: held groups were there to be moved.
    assert!(
        held_checked > 100,
        "only {held_checked} held groups were checked"
    );
    let torn: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
        .collect();
    // Torn tails are kept aside, never deleted (there may be none).
    for t in torn {
        assert!(t.metadata().map(|m| m.len() > 0).unwrap_or(false));
    }
}
