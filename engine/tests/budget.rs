//! Shared budgets over random decisions: the sum never exceeds the budget, the higher priority
//! wins when it binds, and a cut decision records what was really decided.

use proptest::prelude::*;
use stepscale_engine::budget::{decide_within, BudgetSpec, Budgets, MemberSpec};
use stepscale_engine::policy::{Combine, TargetParams};
use stepscale_engine::{
    Controller, Guards, Limit, ManualClock, PolicySpec, QueueSample, ScalerState, ServiceState,
};

fn controller(min_tasks: u32, cooldown: i64) -> Controller {
    Controller::new(
        PolicySpec::Target(TargetParams {
            target_backlog_per_task: 10.0,
            ..TargetParams::default()
        }),
        Guards {
            min_tasks,
            max_tasks: 100,
            scale_out_cooldown_secs: cooldown,
            scale_in_cooldown_secs: cooldown,
            ..Guards::default()
        },
        Combine::Max,
        vec![],
    )
}

fn budget(max_tasks: u32, priorities: [i32; 2]) -> BudgetSpec {
    BudgetSpec {
        name: "cluster".into(),
        max_tasks: Some(max_tasks),
        max_vcpu: None,
        members: ["a", "b"]
            .iter()
            .zip(priorities)
            .map(|(s, priority)| MemberSpec {
                service: (*s).into(),
                priority,
                vcpu: None,
            })
            .collect(),
    }
}

const NAMES: [&str; 2] = ["a", "b"];

/// Runs `steps` (which service decides, and its backlog) and returns every sum of desired
/// counts after a decision, with the final counts.
fn run(
    cap: u32,
    mins: [u32; 2],
    priorities: [i32; 2],
    cooldown: i64,
    steps: &[(usize, u64)],
) -> (Vec<u32>, [u32; 2]) {
    let specs = [budget(cap, priorities)];
    let mut desired = mins;
    let mut budgets = Budgets::new(&specs, |s| {
        let i = usize::from(s == "b");
        (mins[i], desired[i])
    });
    let controllers = [controller(mins[0], cooldown), controller(mins[1], cooldown)];
    let mut states = [ScalerState::default(), ScalerState::default()];
    let clock = ManualClock::new(1_000_000);
    let mut sums = Vec::new();
    for (k, &(i, visible)) in steps.iter().enumerate() {
        let _ = clock.set(1_000_000 + 15_000 * (k as i64 + 1));
        let sample = QueueSample {
            visible,
            ..QueueSample::default()
        };
        let (d, want) = decide_within(
            &controllers[i],
            &clock,
            &[Ok(sample)],
            ServiceState::settled(desired[i]),
            &mut states[i],
            |_| budgets.cap(NAMES[i]).map(|c| c.tasks),
        );
        budgets.commit(NAMES[i], want, d.desired);
        desired[i] = d.desired;
        sums.push(desired[0] + desired[1]);
    }
    (sums, desired)
}

proptest! {
    #[test]
    fn the_sum_never_exceeds_the_budget(
        cap in 2u32..60, min_a in 0u32..5, min_b in 0u32..5, pa in -2i32..3, pb in -2i32..3,
        cooldown in prop_oneof![Just(0i64), Just(60), Just(600)],
        steps in proptest::collection::vec((0usize..2, 0u64..2_000), 1..80),
    ) {
        prop_assume!(min_a + min_b <= cap);
        let (sums, _) = run(cap, [min_a, min_b], [pa, pb], cooldown, &steps);
        for (k, s) in sums.iter().enumerate() {
            prop_assert!(*s <= cap, "after decision {k}: {s} tasks over a budget of {cap}");
        }
    }
}

#[test]
fn the_higher_priority_wins_within_one_round() {
    // Both want 50 tasks (backlog 500 at 10 per task) under a budget of 20; b ranks higher.
    let steps: Vec<(usize, u64)> = (0..6).map(|k| (k % 2, 500)).collect();
    let (_, [a, b]) = run(20, [2, 1], [0, 5], 0, &steps);
    assert_eq!((a, b), (2, 18), "b should hold all but a's minimum");
    // Equal priorities: whoever decides first keeps what it took.
    let (_, [a, b]) = run(20, [2, 1], [0, 0], 0, &steps);
    assert_eq!((a, b), (19, 1));
}

#[test]
fn a_cut_scale_out_starts_no_cooldown() {
    let specs = [budget(10, [0, 0])];
    let budgets = Budgets::new(&specs, |s| if s == "a" { (1, 4) } else { (1, 6) });
    let c = controller(1, 300);
    let mut state = ScalerState::default();
    let clock = ManualClock::new(1_000_000);
    let sample = QueueSample {
        visible: 500,
        ..QueueSample::default()
    };
    let (d, want) = decide_within(
        &c,
        &clock,
        &[Ok(sample)],
        ServiceState::settled(4),
        &mut state,
        |_| budgets.cap("a").map(|c| c.tasks),
    );
    assert_eq!(
        (want, d.desired, d.limited_by),
        (50, 4, Some(Limit::Budget))
    );
    assert_eq!(state.last_scale_out_ms, None, "a hold records no scale-out");
}
