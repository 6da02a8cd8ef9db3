//! `fix --format managed`.

use crate::fix::model::Fixes;

pub fn render(fixes: &Fixes) -> String {
    let _ = fixes;
    String::new()
}
