//! Processes sharing one `--state-dir`: the file store's compare-and-swap must let exactly one
//! of two writers that loaded the same version save, so no update is ever lost.
//!
//! The test starts copies of its own binary as writers (each runs this test again with
//! `STEPSCALE_RACE_WRITER` set); each adds one to a counter in the shared state file, load then
//! save, retrying on a conflict, many times. With a lost update the final count is short.

use std::path::Path;
use std::process::Command;

use stepscale_engine::ScalerState;
use stepscale_live::state::{FileStateStore, StateError};

const WRITERS: usize = 4;
const INCREMENTS: i64 = 300;

/// One writer: `INCREMENTS` successful load-add-save cycles on the file at `path`.
fn write_increments(path: &Path) {
    let store = FileStateStore::new(path);
    let mut done = 0;
    while done < INCREMENTS {
        let loaded = store.load(0).expect("the state file loads");
        let mut state = loaded.state;
        state.last_scale_out_ms = Some(state.last_scale_out_ms.unwrap_or(0) + 1);
        match store.save(&state, loaded.version.as_deref()) {
            Ok(_) => done += 1,
            Err(StateError::Conflict { .. }) => {}
            Err(e) => panic!("save failed: {e}"),
        }
    }
}

#[test]
fn processes_sharing_a_state_file_never_lose_an_update() {
    if let Some(path) = std::env::var_os("STEPSCALE_RACE_WRITER") {
        write_increments(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("service.json");
    let exe = std::env::current_exe().expect("the test binary's path");
    let children: Vec<_> = (0..WRITERS)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "processes_sharing_a_state_file_never_lose_an_update",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env("STEPSCALE_RACE_WRITER", &path)
                .spawn()
                .expect("a writer process starts")
        })
        .collect();
    for mut c in children {
        assert!(
            c.wait().expect("a writer exits").success(),
            "a writer failed"
        );
    }
    let state: ScalerState = serde_json::from_slice(&std::fs::read(&path).expect("state written"))
        .expect("the state file is JSON");
    assert_eq!(
        state.last_scale_out_ms,
        Some(WRITERS as i64 * INCREMENTS),
        "{WRITERS} processes each saved {INCREMENTS} increments; a shortfall is a lost update"
    );
}
