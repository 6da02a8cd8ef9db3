//! The `check` command: one run of the checks (see [`crate::session`]), delivered.

use std::sync::{Arc, Mutex};

use crate::cli::CheckArgs;
use crate::exit::Stop;
use crate::report::redact::Redactor;
use crate::session::{deliver, output_format, Setup, Sink};

/// `amlprobe check`.
pub fn check(args: &CheckArgs) -> Result<i32, Stop> {
    let setup = Setup::new(args)?;
    let format = output_format(args);
    let redactor = Arc::new(
        args.redact
            .then(|| Mutex::new(Redactor::new(&setup.context, &setup.node))),
    );
    let (report, streamed) = setup.run(Sink::new(format, redactor.clone()));
    let code = deliver(report, args, format, &redactor)?;
    streamed.map(|()| code)
}
