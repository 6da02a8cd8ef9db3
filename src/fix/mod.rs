//! `amlprobe fix REPORT`: from a report that `check` wrote, the least-privilege changes that
//! would make its failing and warning checks pass, for the team that owns the firewall, the
//! NSG, the routes and DNS. It reads only the report and sends nothing.

pub mod model;
pub mod render;
