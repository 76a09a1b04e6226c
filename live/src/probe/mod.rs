//! The probe trait every queue adapter implements (`contract`), and the enum that forwards to
//! them (`any`). Adapters depend on the contract only; the enum depends on every adapter.

mod any;
mod contract;

pub use any::{AnyProbe, ProbeContext};
pub use contract::{Probe, ProbeError};
