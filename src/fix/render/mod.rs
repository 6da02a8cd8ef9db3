//! The formats `fix` writes: each reads the same [`Fixes`](super::model::Fixes) and writes the
//! same [`Layout`](super::layout::Layout).

pub mod az;
pub mod bicep;
#[cfg(test)]
mod conformance;
pub mod managed;
pub mod markdown;
pub mod terraform;
