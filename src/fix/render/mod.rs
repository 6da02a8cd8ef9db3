//! The formats `fix` writes: each reads the same [`Fixes`](super::model::Fixes). The scripts and
//! the declarations write the same [`Layout`](super::layout::Layout); markdown puts them in
//! fenced blocks under its own words.

pub mod az;
pub mod bicep;
#[cfg(test)]
mod conformance;
pub mod managed;
pub mod markdown;
pub mod terraform;
