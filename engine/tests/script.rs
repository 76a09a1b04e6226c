//! The script policy: the inputs it sees, its persistent state, and every way a script can
//! misbehave (a loop without end, a huge allocation, a throw, NaN, a negative or fractional
//! count, a missing name), each a failed decision that holds and logs, never a crash or a
//! scale-in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use stepscale_engine::policy::{Combine, ScriptParams, TargetParams};
use stepscale_engine::{
    Config, Controller, Decision, Guards, PolicySpec, QueueSample, Reason, ScalerState,
    ServiceState,
};

fn guards(min: u32, max: u32) -> Guards {
    Guards {
        min_tasks: min,
        max_tasks: max,
        scale_out_cooldown_secs: 0,
        scale_in_cooldown_secs: 0,
        ..Guards::default()
    }
}

fn script(source: &str, params: &[(&str, f64)]) -> PolicySpec {
    PolicySpec::Script(ScriptParams::new(
        source,
        params.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
    ))
}

fn tick(c: &Controller, at_s: i64, visible: u64, tasks: u32, state: &mut ScalerState) -> Decision {
    c.tick(
        &(at_s * 1000),
        &[Ok(QueueSample::visible(visible))],
        ServiceState::settled(tasks),
        state,
    )
}

const TARGET: &str = r#"
let per_task = params.target_backlog_per_task;
if current > 0 && (backlog / (current.to_float() * per_task) - 1.0).abs() <= params.tolerance {
    #{ desired: current, reason: "within tolerance" }
} else {
    let raw = if backlog <= 0.0 { 0 } else { (backlog / per_task).ceiling().to_int() };
    #{ desired: raw, reason: `${backlog} messages at ${per_task} a task` }
}
"#;

#[test]
fn a_script_re_implementing_target_decides_as_target() {
    let g = guards(1, 50);
    let builtin = Controller::new(
        PolicySpec::Target(TargetParams {
            target_backlog_per_task: 20.0,
            tolerance: 0.1,
            scale_in_stabilization_secs: 0,
            ..TargetParams::default()
        }),
        g.clone(),
        Combine::Max,
        vec![],
    );
    let scripted = Controller::new(
        script(
            TARGET,
            &[("target_backlog_per_task", 20.0), ("tolerance", 0.1)],
        ),
        g,
        Combine::Max,
        vec![],
    );
    let (mut a, mut b) = (ScalerState::default(), ScalerState::default());
    let (mut ta, mut tb) = (2u32, 2u32);
    let backlogs = [
        0u64, 5, 40, 41, 44, 400, 1_000, 999, 700, 120, 20, 0, 0, 3_000,
    ];
    for (i, v) in backlogs.iter().enumerate() {
        let da = tick(&builtin, 60 * i as i64, *v, ta, &mut a);
        let db = tick(&scripted, 60 * i as i64, *v, tb, &mut b);
        assert_eq!(
            (da.desired, da.action, da.limited_by),
            (db.desired, db.action, db.limited_by),
            "tick {i}, backlog {v}: {da:?} vs {db:?}"
        );
        assert!(matches!(db.reason, Reason::Script { .. }), "{db:?}");
        (ta, tb) = (da.desired, db.desired);
    }
}

#[test]
fn the_state_map_persists_between_decisions_and_through_json() {
    let c = Controller::new(
        script(
            r#"state.ticks = if "ticks" in state { state.ticks + 1 } else { 1 };
               state.last = backlog; state.note = "seen";
               state.window = if "window" in state { state.window + [backlog] } else { [backlog] };
               state.ticks"#,
            &[],
        ),
        guards(0, 100),
        Combine::Max,
        vec![],
    );
    let mut state = ScalerState::default();
    for i in 1..=3 {
        let d = tick(&c, 60 * i, 7, 0, &mut state);
        assert_eq!(d.desired, i as u32);
        // What S3 or a file keeps, and reads back.
        let json = serde_json::to_string(&state).unwrap();
        state = serde_json::from_str(&json).unwrap();
    }
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["script"]["ticks"], 3);
    assert_eq!(json["script"]["note"], "seen");
    assert_eq!(json["script"]["window"], serde_json::json!([7.0, 7.0, 7.0]));
}

#[test]
fn every_hostile_or_wrong_script_holds_and_the_decision_stays_quick() {
    let cases = [
        ("loop {}", "a loop without end"),
        ("let a = []; loop { a.push(1); }", "a growing array"),
        (r#"let s = "x"; loop { s += s; }"#, "a growing string"),
        (r#"throw "boom""#, "a throw"),
        ("0.0 / 0.0", "NaN"),
        ("-3", "a negative count"),
        ("2.5", "a fraction"),
        (r#""five""#, "text"),
        ("params.missing + 1", "a missing parameter"),
        ("nothing_here", "an unknown variable"),
        ("#{ reason: \"no count\" }", "a map without desired"),
        (r#"eval("1")"#, "eval"),
        ("state.nested = [[1], 2]; 3", "a state it cannot keep"),
        ("state.m = #{ a: 1 }; 3", "a map in the state"),
        ("fn f(n) { f(n + 1) } f(0)", "unbounded recursion"),
    ];
    for (source, what) in cases {
        let mut config = Config::default();
        config.policy = script(source, &[]);
        config.guards = guards(1, 50);
        let c = config.controller();
        let mut state = ScalerState::default();
        let started = Instant::now();
        // 12 tasks running, a backlog: a failure must neither scale in nor out.
        let d = tick(&c, 60, 500, 12, &mut state);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what}: took {:?}",
            started.elapsed()
        );
        assert_eq!(d.desired, 12, "{what}: {d:?}");
        assert!(
            matches!(d.reason, Reason::ScriptFailed { holding: 12 }),
            "{what}: {d:?}"
        );
        assert!(state.script.is_none(), "{what}: the state was kept");
    }
}

#[test]
fn a_failed_script_holds_the_desired_count_while_stopped_tasks_drain() {
    let c = Controller::new(script("loop {}", &[]), guards(1, 50), Combine::Max, vec![]);
    // A scale-in to 5 is under way: 7 tasks still run. Holding means 5, not 7.
    let service = ServiceState {
        desired: 5,
        running: 7,
        pending: 0,
    };
    let d = c.tick(
        &60_000,
        &[Ok(QueueSample::visible(500))],
        service,
        &mut ScalerState::default(),
    );
    assert_eq!(d.desired, 5, "{d:?}");
    assert!(
        matches!(d.reason, Reason::ScriptFailed { holding: 5 }),
        "{d:?}"
    );
}

#[test]
fn the_guards_apply_after_the_script() {
    let c = Controller::new(script("1000", &[]), guards(2, 10), Combine::Max, vec![]);
    let d = tick(&c, 60, 5, 4, &mut ScalerState::default());
    assert_eq!(d.desired, 10);
    let c = Controller::new(script("0", &[]), guards(2, 10), Combine::Max, vec![]);
    let d = tick(&c, 60, 5, 4, &mut ScalerState::default());
    assert_eq!(d.desired, 2);
}

#[test]
fn a_script_that_does_not_compile_is_refused_naming_the_key() {
    let mut config = Config::default();
    config.policy = script("let x = ;", &[]);
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("policy.source") && err.contains("compile"),
        "{err}"
    );
    let mut nan = Config::default();
    nan.policy = script("1", &[("k", f64::NAN)]);
    let err = nan.validate().unwrap_err().to_string();
    assert!(err.contains("policy.params.k"), "{err}");
    // A policy file's keys, as a user writes them.
    let parsed: PolicySpec =
        serde_json::from_str(r#"{"kind": "script", "source": "params.n", "params": {"n": 3.0}}"#)
            .unwrap();
    let PolicySpec::Script(p) = &parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(p.params, BTreeMap::from([("n".to_string(), 3.0)]));
}
