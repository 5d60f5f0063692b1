//! moodle-ha: a reconciler that stands up and keeps a highly available Moodle site on AWS.
//!
//! The flow is one way: [`spec`] (load, default, validate) → [`desired`] state → observed
//! state ([`observed`], read by [`aws`]) → [`plan`] → [`executor`]. Everything before the
//! AWS adapters is pure and tested without AWS.

pub mod aws;
pub mod cli;
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
