//! The rows of each section of the table: the measurements come from the library's modules,
//! the goals and how each figure is compared live here.

pub mod archive;
pub mod cold;
pub mod warm;
