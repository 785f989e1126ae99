//! `kubewire-window`: kubewire's window, started by the tray.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    kubewire_window::run()
}
