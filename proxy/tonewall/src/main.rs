//! The `tonewall` command.

fn main() {}
