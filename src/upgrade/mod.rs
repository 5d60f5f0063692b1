//! Moodle upgrades (issue 19), the pure parts: what a branch needs, from the new code's own
//! `environment.xml` ([`environment`]), and whether the site may go from the code it runs to
//! the new release ([`preflight`]), and the workflow's steps and maintenance window
//! ([`steps`]), run by [`crate::workflow`].

pub mod environment;
pub mod preflight;
pub mod steps;
