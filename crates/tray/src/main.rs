//! `kubewire-tray`: kubewire in the system tray.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    kubewire_tray::run()
}
