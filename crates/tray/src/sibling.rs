//! Finding the app's other binary (the tray starts `kubewire-window`, the window starts
//! `kubewire-tray`): installed side by side, so it is next to this one.

use std::path::PathBuf;

/// Binary `name` (without `.exe`): the path in `override_env` when set, else next to this
/// executable, else `name` for the `PATH` to resolve.
#[must_use]
pub fn binary(name: &str, override_env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_env) {
        return PathBuf::from(path);
    }
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file)))
        .unwrap_or_else(|| PathBuf::from(file))
}
