//! The tray app's part of `setup` and `test`: the Debian packages Tauri, WebKitGTK and the UI test
//! need, tauri-driver, building the front end (`ui/dist`, which the `kubewire-window` crate embeds),
//! and the end-to-end test of the real app against the lab (`tests/ui-e2e/run.sh`).

use std::path::PathBuf;

use anyhow::Result;

use crate::sh;

/// Debian packages: Tauri's build (WebKitGTK, GTK, the tray's appindicator, librsvg), the headless
/// UI test (Xvfb, WebKitWebDriver) and the tools of the test and cost scripts.
pub const PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "file",
    "libwebkit2gtk-4.1-dev",
    "libgtk-3-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libssl-dev",
    "libsoup-3.0-dev",
    "xvfb",
    "xauth",
    "imagemagick",
    "webkit2gtk-driver",
    "jq",
    "bc",
    "python3-xlib",
    // xwininfo: the tray's D-Bus test looks for the window "Open kubewire" shows.
    "x11-utils",
];

/// tauri-driver (the WebDriver bridge; 2.x, 3 is an alpha), when missing.
pub fn setup() -> Result<()> {
    let installed =
        sh::have("tauri-driver") || dirs_home().is_some_and(|h| h.join(".cargo/bin/tauri-driver").is_file());
    if !installed {
        sh::cargo(&["install", "tauri-driver", "--version", "^2", "--locked"])?;
    }
    Ok(())
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `ui/dist`: `npm ci` (when `node_modules` is missing) and `npm run build` in `ui/`.
pub fn build_ui() -> Result<()> {
    let ui = crate::root().join("ui");
    let ui = ui.to_string_lossy();
    if !crate::root().join("ui/node_modules").is_dir() {
        sh::run("npm", &["--prefix", &ui, "ci", "--no-audit", "--no-fund"])?;
    }
    sh::run("npm", &["--prefix", &ui, "run", "build"])
}

/// The front end's own checks: types (`svelte-check`) and the component tests (Vitest, IPC mocked).
pub fn ui_tests() -> Result<()> {
    let ui = crate::root().join("ui");
    let ui = ui.to_string_lossy();
    sh::run("npm", &["--prefix", &ui, "run", "check"])?;
    sh::run("npm", &["--prefix", &ui, "test"])
}

/// The end-to-end test of the real app (debug build) against the lab that is up.
pub fn e2e() -> Result<()> {
    sh::cargo(&["build", "-p", "kubewire-tray", "-p", "kubewire-window"])?;
    let script = crate::root().join("tests/ui-e2e/run.sh");
    sh::run(&script.to_string_lossy(), &[])
}
