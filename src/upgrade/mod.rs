//! Moodle upgrades (issue 19), the pure parts: what a branch needs, from the new code's own
//! `environment.xml` ([`environment`]); whether the site may go from the code it runs to the
//! new release ([`preflight`]); the workflow's steps and maintenance window ([`steps`]), run
//! by [`crate::workflow`]; and a release change planned as that workflow ([`plan`]).

pub mod environment;
pub mod plan;
pub mod preflight;
pub mod steps;
