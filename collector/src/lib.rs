//! The collector library (being written: see issue 2).
