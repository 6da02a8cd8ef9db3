//! `watch`: `check`, repeated, with each check's history.

use crate::cli::WatchArgs;
use crate::Stop;

/// `amlprobe watch`.
pub fn watch(args: &WatchArgs) -> Result<i32, Stop> {
    let _ = args;
    Err(Stop::usage("watch is not available in this build"))
}
