//! Integration tests: the real binary against the local AWS emulator over HTTP, checked with
//! plain AWS API calls. One test binary (it links the SDK once).

mod adopt;
mod bad_input;
mod completions;
mod converge;
mod corpus;
mod cron;
mod data_tier;
mod drift;
mod edge_security;
mod fuzz;
mod harness;
mod interrupt;
mod lock;
mod network_efs;
mod proxy;
mod release;
mod resilience;
mod rollback_aurora;
mod secrets;
mod security;
mod upgrade;
mod web_tier;
