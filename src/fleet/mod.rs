//! `merge` and `diff`: reports of many nodes, or of one node at two times, side by side.

use crate::cli::{DiffArgs, MergeArgs};
use crate::Stop;

/// `amlprobe merge`.
pub fn merge(args: &MergeArgs) -> Result<i32, Stop> {
    let _ = args;
    Err(Stop::usage("merge is not available in this build"))
}

/// `amlprobe diff`.
pub fn diff(args: &DiffArgs) -> Result<i32, Stop> {
    let _ = args;
    Err(Stop::usage("diff is not available in this build"))
}
