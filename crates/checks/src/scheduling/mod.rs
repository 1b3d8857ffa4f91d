//! Scheduling checks: gang scheduling (all-or-nothing placement of a group of pods).

pub mod gang_scheduling;
