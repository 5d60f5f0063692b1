//! moodle-ha: a reconciler that stands up and keeps a highly available Moodle site on AWS.
//!
//! The flow is one way: [`spec`] (load, default, validate) → [`desired`] state → observed
//! state ([`observed`], read by `aws`) → [`plan`] → [`executor`]. Each command is a workflow
//! in `commands`, composed from those steps; `cli` parses the arguments and prints the
//! results; [`upgrade`] holds the upgrade's pure rules. Everything but the AWS adapters (`aws`), the workflows (`commands`) and the
//! command line (`cli`) is pure and builds without any AWS SDK crate: those three modules
//! exist only with the `aws` feature (on by default), and
//! `cargo test --lib --no-default-features` tests the core alone.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod cli;
#[cfg(feature = "aws")]
pub mod commands;
pub mod desired;
pub mod executor;
pub mod model;
pub mod names;
pub mod observed;
pub mod plan;
pub mod progress;
pub mod release;
pub mod render;
pub mod report;
pub mod spec;
pub mod upgrade;
pub mod workflow;
