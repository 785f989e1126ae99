//! Unit tests of what `installers/` holds for macOS and Windows (not buildable here) and of the
//! bundle configuration: the XML parses, and every name that must agree with the code or with
//! another file does (service and pipe names, socket paths, the WireGuard DLL's path, component
//! references, the files the Tauri bundler is told to take).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

fn root() -> PathBuf {
    crate::root()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value after `<key>name</key>` in a plist dict.
fn plist_value<'a>(dict: Node<'a, 'a>, name: &str) -> Node<'a, 'a> {
    let mut children = dict.children().filter(Node::is_element);
    while let Some(child) = children.next() {
        if child.has_tag_name("key") && child.text() == Some(name) {
            return children.next().unwrap_or_else(|| panic!("{name} has no value"));
        }
    }
    panic!("no key {name}")
}

#[test]
fn the_launchd_plist_runs_the_installed_daemon_on_the_macos_socket() {
    let text = read("installers/macos/dev.kubewire.kubewired.plist");
    let doc = Document::parse_with_options(
        &text,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        },
    )
    .unwrap();
    let dict = doc.root_element().first_element_child().unwrap();
    assert!(dict.has_tag_name("dict"));
    assert_eq!(plist_value(dict, "Label").text(), Some("dev.kubewire.kubewired"));
    let args: Vec<&str> = plist_value(dict, "ProgramArguments")
        .children()
        .filter(Node::is_element)
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(args[0], "/usr/local/bin/kubewired");
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    // The CLI and the tray find the daemon at the platform's default socket.
    let ipc = read("crates/ipc/src/lib.rs");
    assert!(
        ipc.contains(&format!(
            "pub const DEFAULT_SOCKET: &str = \"{}\";",
            after("--socket")
        )),
        "the plist's socket is not kubewire-ipc's macOS default"
    );
    assert_eq!(after("--group"), "kubewire");
    assert!(plist_value(dict, "RunAtLoad").has_tag_name("true"));
    // The package puts the daemon where the plist runs it; the uninstaller cleans the same state.
    let build = read("installers/macos/build-pkg.sh");
    assert!(build.contains("$root/usr/local/bin/") && build.contains("$bins/kubewired"));
    let uninstall = read("installers/macos/uninstall.sh");
    assert!(uninstall.contains(&format!("--state-dir {}", after("--state-dir"))));
    let post = read("installers/macos/scripts/postinstall");
    assert!(post.contains("LABEL=dev.kubewire.kubewired") && post.contains("launchctl bootstrap system"));
}

#[test]
fn the_macos_code_paths_exist() {
    assert!(read("crates/tunnel/src/macos.rs").contains("utun"));
    assert!(read("crates/dns/src/os/macos.rs").contains("\"/etc/resolver\""));
}

fn wix() -> String {
    read("installers/windows/kubewire.wxs")
}

fn elements<'a>(doc: &'a Document<'a>, tag: &str) -> Vec<Node<'a, 'a>> {
    doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
}

#[test]
fn the_wix_fragment_installs_and_starts_the_service_the_daemon_runs_as() {
    let text = wix();
    let doc = Document::parse(&text).unwrap();
    let install = elements(&doc, "ServiceInstall");
    let control = elements(&doc, "ServiceControl");
    assert_eq!((install.len(), control.len()), (1, 1));
    let windows = read("crates/daemon/src/os/windows.rs");
    let name = install[0].attribute("Name").unwrap();
    assert!(windows.contains(&format!("pub const SERVICE_NAME: &str = \"{name}\";")));
    assert_eq!(control[0].attribute("Name"), Some(name));
    assert_eq!(control[0].attribute("Start"), Some("install"));
    assert_eq!(control[0].attribute("Stop"), Some("both"));
    assert_eq!(control[0].attribute("Remove"), Some("uninstall"));
    assert_eq!(install[0].attribute("Account"), Some("LocalSystem"));
    assert_eq!(install[0].attribute("Start"), Some("auto"));
    // `kubewired service`: the subcommand exists (on Windows).
    let args = install[0].attribute("Arguments").unwrap();
    assert!(args.starts_with("service "), "{args}");
    let main = read("crates/daemon/src/main.rs");
    assert!(main.contains("#[cfg(windows)]\n    Service,"));
    // The service's component holds the daemon's executable as its key.
    let component = install[0].parent_element().unwrap();
    let file = component.children().find(|n| n.has_tag_name("File")).unwrap();
    assert_eq!(file.attribute("Name"), Some("kubewired.exe"));
    assert_eq!(file.attribute("KeyPath"), Some("yes"));
}

#[test]
fn the_wix_fragment_groups_what_it_defines_under_the_name_tauri_is_given() {
    let text = wix();
    let doc = Document::parse(&text).unwrap();
    let defined: BTreeSet<&str> = elements(&doc, "Component")
        .iter()
        .filter_map(|c| c.attribute("Id"))
        .collect();
    let referenced: BTreeSet<&str> = elements(&doc, "ComponentRef")
        .iter()
        .filter_map(|c| c.attribute("Id"))
        .collect();
    assert_eq!(
        defined, referenced,
        "every component in the group, and only those"
    );
    let mut guids = BTreeSet::new();
    for c in elements(&doc, "Component") {
        assert!(
            guids.insert(c.attribute("Guid").unwrap()),
            "a component GUID is used twice"
        );
    }
    let group = elements(&doc, "ComponentGroup")[0].attribute("Id").unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&read("installers/windows/tauri.windows.json")).unwrap();
    let wix = &config["bundle"]["windows"]["wix"];
    assert_eq!(wix["componentGroupRefs"][0], group);
    let fragment = wix["fragmentPaths"][0].as_str().unwrap();
    // Paths in a Tauri configuration are relative to src-tauri/.
    let fragment = normalize(&root().join("src-tauri").join(fragment));
    assert_eq!(fragment, root().join("installers/windows/kubewire.wxs"));
}

/// `defguard_wireguard_rs`' Windows source, found through cargo metadata.
fn defguard_windows_source() -> String {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        // Not --offline: metadata reads every platform's packages, and a machine that only built for
        // Linux and Windows may not have the others' (Android, Apple) downloaded yet.
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "x86_64-pc-windows-gnu",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "defguard_wireguard_rs")
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap()
        .to_owned();
    let src = Path::new(&manifest)
        .parent()
        .unwrap()
        .join("src/wgapi_windows.rs");
    std::fs::read_to_string(src).unwrap()
}

#[test]
fn the_wireguard_dll_lands_where_defguard_wireguard_rs_loads_it() {
    let source = defguard_windows_source();
    let line = source
        .lines()
        .skip_while(|l| !l.contains("target_arch = \"x86_64\""))
        .find(|l| l.contains("WIREGUARD_DLL_PATH"))
        .unwrap();
    let wanted = line.split('"').nth(1).unwrap();
    let text = wix();
    let doc = Document::parse(&text).unwrap();
    let dll = elements(&doc, "File")
        .into_iter()
        .find(|f| f.attribute("Id") == Some("WireGuardAmd64Dll"))
        .unwrap();
    let mut path = vec![dll.attribute("Name").unwrap()];
    let mut node = dll.parent_element();
    while let Some(n) = node {
        if n.has_tag_name("DirectoryRef") {
            assert_eq!(
                n.attribute("Id"),
                Some("INSTALLDIR"),
                "relative to the service's directory"
            );
            break;
        }
        if n.has_tag_name("Directory") {
            path.push(n.attribute("Name").unwrap());
        }
        node = n.parent_element();
    }
    path.reverse();
    assert_eq!(path.join("/"), wanted);
    assert!(read("crates/daemon/src/os/windows.rs").contains("set_current_dir"));
}

#[test]
fn the_bundle_configuration_names_files_that_exist_or_are_staged() {
    let config: serde_json::Value = serde_json::from_str(&read("installers/tauri.bundle.json")).unwrap();
    assert_eq!(config["mainBinaryName"], "kubewire-window");
    let targets: Vec<&str> = config["bundle"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(
        targets,
        ["deb", "rpm"],
        "AppImage cannot be built offline nor hold a service"
    );
    let src_tauri = root().join("src-tauri");
    let stage = crate::dist::stage_dir();
    for kind in ["deb", "rpm"] {
        let section = &config["bundle"]["linux"][kind];
        let files = section["files"].as_object().unwrap();
        for dest in [
            "/usr/bin/kubewire-tray",
            "/usr/bin/kubewired",
            "/usr/bin/kubewire",
            "/usr/lib/systemd/system/kubewired.service",
            "/usr/lib/sysusers.d/kubewire.conf",
        ] {
            assert!(files.contains_key(dest), "{kind}: {dest}");
        }
        let mut sources: Vec<&str> = files.values().filter_map(|v| v.as_str()).collect();
        for key in [
            "desktopTemplate",
            "postInstallScript",
            "preRemoveScript",
            "postRemoveScript",
        ] {
            sources.push(section[key].as_str().unwrap());
        }
        for source in sources {
            let path = src_tauri.join(source);
            let normal = normalize(&path);
            if let Ok(staged) = normal.strip_prefix(&stage) {
                let staged = staged.to_string_lossy();
                assert!(
                    ["kubewired", "kubewire", "kubewire-tray", crate::dist::MAN_DIR]
                        .contains(&staged.as_ref())
                        || crate::dist::SCRIPTS.contains(&staged.as_ref())
                        || crate::dist::COMPLETIONS
                            .iter()
                            .any(|(_, name, _)| *name == staged.as_ref()),
                    "{kind}: {source} is not something dist stages"
                );
            } else {
                assert!(normal.is_file(), "{kind}: {source} does not exist");
            }
        }
    }
}

#[test]
fn macos_and_windows_bundle_the_tray_next_to_the_window() {
    for config in [
        "installers/macos/tauri.macos.json",
        "installers/windows/tauri.windows.json",
    ] {
        let config: serde_json::Value = serde_json::from_str(&read(config)).unwrap();
        let bins = config["bundle"]["externalBin"].as_array().unwrap();
        let staged = normalize(&root().join("src-tauri").join(bins[0].as_str().unwrap()));
        assert_eq!(staged, crate::dist::stage_dir().join("kubewire-tray"));
    }
    let workflow = read(".github/workflows/release.yml");
    for name in [
        "kubewire-tray-universal-apple-darwin",
        "kubewire-tray-x86_64-pc-windows-msvc.exe",
    ] {
        assert!(workflow.contains(name), "the release workflow stages {name}");
    }
}

/// `a/b/../c` → `a/c` (the staged files may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
