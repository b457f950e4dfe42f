//! Placeholder while the comparison bench is written.
fn main() {}
