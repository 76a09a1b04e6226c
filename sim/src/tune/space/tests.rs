//! Space files: ranges found and filled in, grids exact, bad spaces refused by key.

use super::*;

fn parse(text: &str) -> Result<Space, SpaceError> {
    Space::parse(text, Path::new("space.toml"))
}

const TARGET: &str = r#"
[guards]
min_tasks = { values = [1, 2] }
max_tasks = 60
scale_in_cooldown_secs = { min = 0, max = 900, step = 60 }
[policy]
kind = "target"
target_backlog_per_task = { min = 0.5, max = 20.0, log = true }
"#;

#[test]
fn ranges_are_found_and_filled_in() {
    let s = parse(TARGET).unwrap();
    let keys: Vec<_> = s.params.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "guards.min_tasks",
            "guards.scale_in_cooldown_secs",
            "policy.target_backlog_per_task"
        ]
    );
    let c = s.config(&[0.9, 0.5, 1.0]).unwrap();
    assert_eq!(c.guards.min_tasks, 2);
    assert_eq!(c.guards.max_tasks, 60);
    assert_eq!(c.guards.scale_in_cooldown_secs, 480);
    let lo = s.config(&[0.0, 0.0, 0.0]).unwrap();
    assert_eq!(lo.guards.min_tasks, 1);
    // The filled-in document renders as a policy file that parses again.
    let text = toml::to_string(&s.document(&[0.2, 0.3, 0.4])).unwrap();
    let again: Config = toml::from_str(&text).unwrap();
    again.validate().unwrap();
}

#[test]
fn a_stepped_grid_takes_every_point_when_the_range_is_not_a_multiple_of_its_step() {
    let d = Domain::Range {
        min: 0.0,
        max: 15.0,
        log: false,
        step: Some(4.0),
        integer: true,
    };
    let values: Vec<Value> = d.grid(10).into_iter().map(|u| d.value_at(u)).collect();
    assert_eq!(
        values,
        [0, 4, 8, 12].map(Value::Integer).to_vec(),
        "the grid of {{min = 0, max = 15, step = 4}}"
    );
    // Random draws take each point alike.
    let mut seen = [0usize; 4];
    for i in 0..4000 {
        if let Value::Integer(v) = d.value_at((f64::from(i) + 0.5) / 4000.0) {
            seen[(v / 4) as usize] += 1;
        }
    }
    assert_eq!(seen, [1000; 4]);
    let f = Domain::Range {
        min: 0.5,
        max: 2.0,
        log: false,
        step: Some(0.4),
        integer: false,
    };
    let values: Vec<Value> = f.grid(10).into_iter().map(|u| f.value_at(u)).collect();
    assert_eq!(values, [0.5, 0.9, 1.3, 1.7].map(Value::Float).to_vec());
}

#[test]
fn step_bands_and_guards_can_be_searched() {
    let s = parse(
        r#"
[guards]
max_step = { min = 1, max = 10 }
scale_in_cooldown_secs = { min = 0, max = 600 }
[policy]
kind = "step"
scale_out_threshold = { min = 10.0, max = 50.0 }
scale_in_threshold = 5.0
[[policy.scale_out_steps]]
lower = 0.0
upper = 200.0
adjustment = { values = [1, 2] }
[[policy.scale_out_steps]]
lower = 200.0
adjustment = { min = 2, max = 8 }
[[policy.scale_in_steps]]
upper = 0.0
adjustment = -1
"#,
    )
    .unwrap();
    assert!(s
        .params
        .iter()
        .any(|p| p.key == "policy.scale_out_steps[1].adjustment"));
}

#[test]
fn bad_spaces_are_refused_naming_the_key() {
    let cases = [
        (
            "[policy]\nkind = \"target\"\ntarget_backlog_per_task = { min = 5.0, max = 1.0 }\n",
            "policy.target_backlog_per_task",
            "empty",
        ),
        (
            "[policy]\nkind = \"target\"\ntargt = 3.0\ntarget_backlog_per_task = { min = 1.0, max = 2.0 }\n",
            "targt",
            "unknown",
        ),
        (
            "[policy]\nkind = \"target\"\ninclude_in_flight = { min = 0, max = 1 }\n",
            "policy.include_in_flight",
            "does not take a number",
        ),
        (
            "[policy]\nkind = \"target\"\ntarget_backlog_per_task = { min = 0.0, max = 1.0, log = true }\n",
            "policy.target_backlog_per_task",
            "log range",
        ),
        ("[policy]\nkind = \"target\"\n", "", "no range"),
    ];
    for (text, key, rule) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(rule), "{text}: {err}");
    }
}

#[test]
fn grids_cover_the_ends() {
    let d = Domain::Range {
        min: 0.0,
        max: 900.0,
        log: false,
        step: Some(60.0),
        integer: true,
    };
    let g = d.grid(5);
    assert_eq!(g.len(), 16);
    assert_eq!(d.value_at(g[15]), Value::Integer(900));
    assert_eq!(d.value_at(g[0]), Value::Integer(0));
}
