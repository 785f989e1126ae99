//! A fault point for the lab's own life-cycle test: with `KUBEWIRE_LAB_FAULT=<point>` the controller
//! stops dead at `<point>` (it logs that it does, then sleeps until killed), as a controller that
//! hangs or is killed halfway through `lab up` would. Unset, nothing happens.

/// Hangs here for good when `KUBEWIRE_LAB_FAULT` names `point`.
pub fn point(point: &str) {
    if std::env::var("KUBEWIRE_LAB_FAULT").is_ok_and(|p| p == point) {
        tracing::warn!(
            point,
            "KUBEWIRE_LAB_FAULT: the controller stops here until it is killed"
        );
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
