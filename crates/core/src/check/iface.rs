//! The interface name a Plan asks for. It becomes an argument of `ip`, a path under
//! `/var/run/wireguard/` and a D-Bus link name: no `/`, no `..`, no NUL, no leading `-` (an option to
//! `ip`), at most 15 bytes (Linux's IFNAMSIZ), letters, digits, `_`, `-` and `.` only.

/// The longest interface name (Linux's IFNAMSIZ minus the NUL).
pub const MAX_INTERFACE_NAME: usize = 15;

/// Why an interface name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "interface name {name:?} is refused: {why} (use 1 to {MAX_INTERFACE_NAME} letters, digits, '_', '-' or '.', \
     such as kubewire0)"
)]
pub struct InterfaceNameError {
    /// The name (escaped and shortened for the message).
    pub name: String,
    /// What is wrong.
    pub why: &'static str,
}

/// Checks an interface name.
pub fn check_interface_name(name: &str) -> Result<(), InterfaceNameError> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_INTERFACE_NAME {
        Some("it is longer than 15 bytes")
    } else if name.contains('/') || name.contains('\0') || name.contains("..") || name == "." {
        Some("it contains '/', '..' or NUL")
    } else if name.starts_with('-') || name.starts_with('.') {
        Some("it starts with '-' or '.'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Some("it has characters other than letters, digits, '_', '-' and '.'")
    } else {
        None
    };
    match why {
        Some(why) => Err(InterfaceNameError {
            name: super::caps::capped(name, 40),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "kubewire0",
            "wg0",
            "kwd1a2",
            "kw_0",
            "kw-0",
            "kw.0",
            "abcdefghijklmno",
        ] {
            assert!(check_interface_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn dangerous_names_are_refused() {
        for name in [
            "",
            "abcdefghijklmnop",
            "../etc",
            "a/b",
            "..",
            ".",
            "kw\0",
            "-h",
            "kw 0",
            "kw\n0",
            "kw\"0",
            "kw:0",
            "kwé",
        ] {
            assert!(check_interface_name(name).is_err(), "{name:?}");
        }
        let e = check_interface_name("../../etc").unwrap_err().to_string();
        assert!(e.contains("'..'") && e.contains("kubewire0"), "{e}");
    }
}
