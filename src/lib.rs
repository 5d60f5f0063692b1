//! moodle-ha: a reconciler that stands up and keeps a highly available Moodle site on AWS.
//!
//! The flow is one way: [`spec`] (load, default, validate) → [`desired`] state → observed
//! state ([`observed`], read by [`aws`]) → [`plan`] → [`executor`]. Everything before the
//! AWS adapters is pure and tested without AWS. Each command is a workflow in [`commands`],
//! composed from those steps; [`cli`] parses the arguments and prints the results.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod executor;
pub mod model;
pub mod names;
pub mod observed;
pub mod plan;
pub mod progress;
pub mod render;
pub mod report;
pub mod spec;
