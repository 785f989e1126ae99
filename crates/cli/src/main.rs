//! `kubewire`: the command line.
fn main() {}
