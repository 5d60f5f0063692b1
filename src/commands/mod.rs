//! The commands as workflows. Each composes the pipeline's steps (load the spec, connect,
//! build the plan, carry it out) and returns what happened as a value, for the command line
//! ([`crate::cli`]) to print in text or JSON. What a workflow shows while it runs (warnings,
//! problems, the plan before confirmation, each step) goes through [`Ui`].
//!
//! - [`validate`], [`plan`], [`plan_dir`], [`drift`], [`apply`], [`destroy`], [`render`], [`history`],
//!   [`schema`], [`completions`]: one workflow each;
//! - [`load`]: reading the spec (or a saved plan) and connecting to AWS;
//! - [`pipeline`]: the plan-building steps the workflows share;
//! - [`execute`]: carrying a plan out, for apply and destroy;
//! - [`interrupt`]: SIGINT and SIGTERM during apply and destroy;
//! - [`upgrade`]: the upgrade workflow's steps against AWS and the cron instance's agent.

pub mod apply;
pub mod completions;
pub mod destroy;
pub mod drift;
pub mod execute;
pub mod history;
pub mod interrupt;
pub mod load;
pub mod pipeline;
pub mod plan;
pub mod plan_dir;
pub mod render;
pub mod schema;
pub mod ui;
pub mod upgrade;
pub mod validate;

pub use ui::Ui;
