//! The formats `fix` writes: each reads the same [`Fixes`](super::model::Fixes).

pub mod az;
pub mod bicep;
pub mod managed;
pub mod markdown;
pub mod terraform;
