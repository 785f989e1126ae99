//! `kubewire-lab`: brings the lab cluster up and down, and changes it.
fn main() {}
