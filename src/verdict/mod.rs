//! From what a check saw to its verdict, and the fix that goes with it. The reasons themselves
//! and what each means are in [`crate::reason`].

mod finish;
mod remedy;

pub use finish::{finish, judge};
pub use remedy::{allowed_by, refused_by_name, remediation, Subject};
