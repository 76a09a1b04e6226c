//! SIGINT and SIGTERM: remove this process's staging folders before exiting, or ask a running
//! search to stop and write what it has.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set while a command can stop early and still write its results (`tune`).
static GRACEFUL: AtomicBool = AtomicBool::new(false);
/// Set when a graceful command has been asked to stop.
static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handler thread. Without it the default action would kill the process and leave
/// a staging folder behind.
pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) else {
        tracing::warn!(
            "Cannot handle SIGINT/SIGTERM; an interrupted write may leave a staging folder."
        );
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if GRACEFUL.load(Ordering::SeqCst) && !STOP.swap(true, Ordering::SeqCst) {
                eprintln!("stopping: finishing the candidates in progress, then writing the results (again to quit now)");
                continue;
            }
            stepscale_sim::staged::remove_staging();
            let name = if sig == signal_hook::consts::SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            if stepscale_sim::staged::committed() {
                eprintln!("interrupted by {name} after the results were written");
            } else {
                eprintln!(
                    "interrupted by {name}: nothing was written (the --out folder is as it was)"
                );
            }
            std::process::exit(128 + sig);
        }
    });
}

/// Marks the start (true) or end (false) of a phase that stops gracefully.
pub fn set_graceful(on: bool) {
    GRACEFUL.store(on, Ordering::SeqCst);
}

/// The flag a graceful phase polls.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}
