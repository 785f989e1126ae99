//! The tray icon: what it shows ([`Shown`], from the [`TrayModel`]) and one backend per OS that
//! follows it: a StatusNotifierItem over D-Bus on Linux (`linux`), the native tray of macOS and
//! Windows elsewhere (`other`, `tray-icon` on a `tao` event loop).
//! Menu clicks go to [`crate::actions::menu`], the same functions the window's commands and the
//! tests use.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::run;
#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::run;

use crate::model::{MenuEntry, TrayModel};
use crate::types::{ContextInfo, Phase};

/// The tray's id (the StatusNotifierItem's `Id`, the native tray's id).
pub const TRAY_ID: &str = "kubewire";

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub icon: Phase,
    pub tooltip: String,
    pub menu: Vec<MenuEntry>,
}

impl Shown {
    /// What `model` wants shown.
    #[must_use]
    pub fn of(model: &TrayModel, contexts: &[ContextInfo]) -> Self {
        Self {
            icon: model.icon(),
            tooltip: model.tooltip(),
            menu: model.menu(contexts),
        }
    }
}

/// The PNG of a tray state.
#[must_use]
pub fn icon_png(phase: Phase) -> &'static [u8] {
    match phase {
        Phase::Disconnected => include_bytes!("../../icons/tray-disconnected.png"),
        Phase::Connecting => include_bytes!("../../icons/tray-connecting.png"),
        Phase::Connected => include_bytes!("../../icons/tray-connected.png"),
        Phase::Degraded => include_bytes!("../../icons/tray-degraded.png"),
        Phase::Error => include_bytes!("../../icons/tray-error.png"),
    }
}

/// An icon as RGBA pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    /// Row-major, 4 bytes per pixel: red, green, blue, alpha.
    pub pixels: Vec<u8>,
}

/// Why an icon cannot be decoded (a build problem: the icons are compiled in).
#[derive(Debug, thiserror::Error)]
pub enum IconError {
    #[error("the tray icon is not a readable PNG: {0}")]
    Png(#[from] png::DecodingError),
    #[error("the tray icon must be 8-bit RGBA")]
    Format,
}

/// Decodes a state's icon.
pub fn icon_rgba(phase: Phase) -> Result<Rgba, IconError> {
    let decoder = png::Decoder::new(std::io::Cursor::new(icon_png(phase)));
    let mut reader = decoder.read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size().ok_or(IconError::Format)?];
    let info = reader.next_frame(&mut pixels)?;
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return Err(IconError::Format);
    }
    pixels.truncate(info.buffer_size());
    Ok(Rgba {
        width: info.width,
        height: info.height,
        pixels,
    })
}

/// Every state's icon, decoded once.
#[derive(Debug, Clone)]
pub struct Icons(Vec<(Phase, Rgba)>);

impl Icons {
    /// Decodes all five.
    pub fn load() -> Result<Self, IconError> {
        let phases = [
            Phase::Disconnected,
            Phase::Connecting,
            Phase::Connected,
            Phase::Degraded,
            Phase::Error,
        ];
        phases
            .into_iter()
            .map(|p| icon_rgba(p).map(|i| (p, i)))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The icon of `phase`.
    #[must_use]
    pub fn get(&self, phase: Phase) -> Option<&Rgba> {
        self.0.iter().find(|(p, _)| *p == phase).map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_distinct_square_icon() -> Result<(), IconError> {
        let icons = Icons::load()?;
        let mut seen = Vec::new();
        for phase in [
            Phase::Disconnected,
            Phase::Connecting,
            Phase::Connected,
            Phase::Degraded,
            Phase::Error,
        ] {
            let icon = icons.get(phase).ok_or(IconError::Format)?;
            assert_eq!(icon.width, icon.height);
            assert_eq!(icon.pixels.len(), (icon.width * icon.height * 4) as usize);
            assert!(!seen.contains(&icon.pixels), "{phase:?} looks like another state");
            seen.push(icon.pixels.clone());
        }
        Ok(())
    }
}
