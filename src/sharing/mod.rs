//! The sharing engine (docs/sharing.md), in one place and free of any database: `decision`
//! decides whether one version goes to one reader and why; `classes` groups the readers that
//! see the same thing; `ownership` says who may version an id; `view` dates a reader's rows; and
//! `plan` turns a snapshot of one community into the changes that bring every reader's view in
//! line with the decision. The service loads the snapshot and storage writes the changes.

pub mod classes;
pub mod decision;
pub mod facts;
pub mod ownership;
pub mod plan;
pub mod view;
