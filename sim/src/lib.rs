//! StepScale's deterministic simulator: traces, a modelled ECS fleet and queue, metrics and plots.

pub mod policy_file;
