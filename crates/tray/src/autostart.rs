//! Start at login (the setting): an autostart entry that runs `kubewire-tray --minimized`
//! (`~/.config/autostart/kubewire.desktop` on Linux, a LaunchAgent on macOS, the Run key on Windows).

use auto_launch::AutoLaunchBuilder;

/// Started at login: stay in the tray, no window.
pub const MINIMIZED_FLAG: &str = "--minimized";

/// The entry's name (the same as the Tauri app's before, so an existing entry is replaced).
const NAME: &str = "kubewire";

/// Turns starting at login on or off; the error in words.
pub fn set(enabled: bool) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("where is kubewire-tray? {e}"))?;
    let mut builder = AutoLaunchBuilder::new();
    builder
        .set_app_name(NAME)
        .set_app_path(&exe.display().to_string())
        .set_args(&[MINIMIZED_FLAG]);
    #[cfg(target_os = "macos")]
    builder.set_macos_launch_mode(auto_launch::MacOSLaunchMode::LaunchAgent);
    let entry = builder.build().map_err(|e| e.to_string())?;
    let result = if enabled { entry.enable() } else { entry.disable() };
    result.map_err(|e| e.to_string())
}
