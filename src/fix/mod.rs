//! `amlprobe fix REPORT`: from a report that `check` wrote, the least-privilege changes that
//! would make its failing and warning checks pass, for the team that owns the firewall, the
//! NSG, the routes and DNS. It reads only the report and sends nothing.

pub mod derive;
pub mod layout;
pub mod model;
pub mod read;
pub mod render;
#[cfg(test)]
pub mod sample;

use crate::cli::{FixArgs, FixFormat};
use crate::exit::{Stop, EXIT_FAILED, EXIT_OK};

/// The report named on the command line, checked and turned into changes.
pub fn fixes(args: &FixArgs) -> Result<model::Fixes, Stop> {
    use crate::input::{read_at_most, REPORT_LIMIT};
    let (what, bytes) = match args.report.as_str() {
        "-" => (
            "standard input",
            read_at_most(std::io::stdin().lock(), REPORT_LIMIT),
        ),
        path => (
            path,
            crate::input::read(std::path::Path::new(path), REPORT_LIMIT),
        ),
    };
    let bytes = bytes.map_err(|e| Stop::usage(format!("{what}: {e}")))?;
    let report = read::parse(&bytes).map_err(|e| Stop::usage(format!("{what}: {e}")))?;
    Ok(derive::derive(&report, args.names.clone()))
}

/// `fix`: print the changes in the chosen format. Exit 0 when there is nothing to change, 1
/// when changes or advice were printed.
pub fn run(args: &FixArgs) -> Result<i32, Stop> {
    let fixes = fixes(args)?;
    let text = render(&fixes, args.format);
    crate::exit::emit(&text)?;
    Ok(if fixes.nothing() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// `fixes` in `format`.
pub fn render(fixes: &model::Fixes, format: FixFormat) -> String {
    match format {
        FixFormat::Markdown => render::markdown::render(fixes),
        FixFormat::Az => render::az::render(fixes),
        FixFormat::Bicep => render::bicep::render(fixes),
        FixFormat::Terraform => render::terraform::render(fixes),
        FixFormat::ManagedNetwork => render::managed::render(fixes),
    }
}
