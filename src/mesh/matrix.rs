//! `merge` over `mesh` reports: the from→to matrix and the blocked pairs.
