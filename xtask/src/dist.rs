//! `cargo xtask dist`: release binaries (`kubewired`, `kubewire`), the UI, and the Linux packages
//! (.deb, .rpm) from the Tauri bundler with `installers/tauri.bundle.json`. The packages land in
//! `target/dist/`, listed with their sizes.
//!
//! The bundle configuration points at `target/dist/stage/` (always under the workspace, whatever
//! CARGO_TARGET_DIR says): the daemon and CLI binaries and the maintainer scripts, rendered from
//! `installers/linux/{deb,rpm}/*` with `installers/linux/common.sh` pasted in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::sh;

/// The line in a maintainer script template that `common.sh` replaces.
pub const COMMON_MARK: &str = "#@common@";

/// Which build goes into the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Optimised binaries: what users get.
    Release,
    /// The debug build the tests already made (CI checks the packaging without a second,
    /// optimised build of everything).
    Debug,
}

impl Profile {
    /// Cargo's output directory name.
    pub const fn dir(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Debug => "debug",
        }
    }
}

/// The built packages.
#[derive(Debug, Clone)]
pub struct Packages {
    pub deb: PathBuf,
    pub rpm: PathBuf,
}

/// Cargo's target directory as the build sees it.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { crate::root().join(p) })
        .unwrap_or_else(|| crate::root().join("target"))
}

/// Where the bundle configuration finds binaries and rendered scripts.
pub fn stage_dir() -> PathBuf {
    crate::root().join("target/dist/stage")
}

/// Where `dist` puts the packages.
pub fn out_dir() -> PathBuf {
    crate::root().join("target/dist")
}

/// A maintainer script: `template` with the line [`COMMON_MARK`] replaced by `common`.
pub fn render_script(template: &str, common: &str) -> Result<String> {
    let mut found = 0;
    let mut out = String::with_capacity(template.len() + common.len());
    for line in template.lines() {
        if line.trim() == COMMON_MARK {
            found += 1;
            out.push_str(common.trim_end());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if found != 1 {
        bail!("a maintainer script template must have the line {COMMON_MARK} exactly once (found {found})");
    }
    Ok(out)
}

/// The maintainer scripts: (template under installers/linux, staged name).
pub const SCRIPTS: &[&str] = &[
    "deb/postinst",
    "deb/prerm",
    "deb/postrm",
    "rpm/post",
    "rpm/preun",
    "rpm/postun",
];

/// Renders every maintainer script into `stage`.
pub fn render_scripts(installers: &Path, stage: &Path) -> Result<()> {
    let common = std::fs::read_to_string(installers.join("linux/common.sh")).context("reading common.sh")?;
    for name in SCRIPTS {
        let src = installers.join("linux").join(name);
        let template = std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
        let text = render_script(&template, &common).with_context(|| src.display().to_string())?;
        let dst = stage.join(name);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&dst, text)?;
        set_mode(&dst, 0o755)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Copies the daemon's, the CLI's and the tray's binaries into the stage (mode 0755); the window's
/// is the bundle's main binary, built by `tauri build`.
fn stage_binaries(stage: &Path, profile: Profile) -> Result<()> {
    let release = target_dir().join(profile.dir());
    for bin in ["kubewired", "kubewire", "kubewire-tray"] {
        let dst = stage.join(bin);
        std::fs::copy(release.join(bin), &dst).with_context(|| format!("staging {bin}"))?;
        set_mode(&dst, 0o755)?;
    }
    Ok(())
}

/// The shell completion scripts the packages install: (shell, staged name, installed path).
pub const COMPLETIONS: &[(&str, &str, &str)] = &[
    (
        "bash",
        "completions/kubewire",
        "/usr/share/bash-completion/completions/kubewire",
    ),
    (
        "zsh",
        "completions/_kubewire",
        "/usr/share/zsh/vendor-completions/_kubewire",
    ),
    (
        "fish",
        "completions/kubewire.fish",
        "/usr/share/fish/vendor_completions.d/kubewire.fish",
    ),
];

/// The staged directory of man pages (one per command), installed as /usr/share/man/man1.
pub const MAN_DIR: &str = "man1";

/// Writes the completion scripts and the man pages into the stage, from the staged `kubewire`
/// itself (`kubewire completions SHELL`, `kubewire man --out-dir`), so they match the binary.
fn stage_shell_files(stage: &Path) -> Result<()> {
    let kubewire = stage.join("kubewire");
    for (shell, name, _) in COMPLETIONS {
        let out = std::process::Command::new(&kubewire)
            .args(["completions", shell])
            .output()
            .with_context(|| format!("running {} completions {shell}", kubewire.display()))?;
        if !out.status.success() || out.stdout.is_empty() {
            bail!(
                "kubewire completions {shell} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let dst = stage.join(name);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&dst, out.stdout).with_context(|| format!("writing {}", dst.display()))?;
        set_mode(&dst, 0o644)?;
    }
    let man = stage.join(MAN_DIR);
    if man.exists() {
        std::fs::remove_dir_all(&man).with_context(|| format!("emptying {}", man.display()))?;
    }
    let status = std::process::Command::new(&kubewire)
        .arg("man")
        .arg("--out-dir")
        .arg(&man)
        .status()
        .with_context(|| format!("running {} man", kubewire.display()))?;
    if !status.success() {
        bail!("kubewire man --out-dir {} failed ({status})", man.display());
    }
    for entry in std::fs::read_dir(&man)? {
        set_mode(&entry?.path(), 0o644)?;
    }
    Ok(())
}

/// The newest file in `dir` whose name ends with `ext`.
fn newest(dir: &Path, ext: &str) -> Result<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if !path.to_string_lossy().ends_with(ext) {
            continue;
        }
        let modified = std::fs::metadata(&path)?.modified()?;
        if best.as_ref().is_none_or(|(t, _)| modified > *t) {
            best = Some((modified, path));
        }
    }
    best.map(|(_, p)| p)
        .with_context(|| format!("no {ext} in {}", dir.display()))
}

/// Human size: "7.4 MB".
pub fn size_text(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1_000_000.0;
    format!("{mb:.1} MB")
}

/// The packages built last, copied to `target/dist/`.
pub fn collect(profile: Profile) -> Result<Packages> {
    let bundle = target_dir().join(profile.dir()).join("bundle");
    let out = out_dir();
    std::fs::create_dir_all(&out)?;
    let mut copied = Vec::new();
    for (sub, ext) in [("deb", ".deb"), ("rpm", ".rpm")] {
        let src = newest(&bundle.join(sub), ext)?;
        let name = src.file_name().context("package without a name")?;
        let dst = out.join(name);
        std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        copied.push(dst);
    }
    let [deb, rpm] =
        <[PathBuf; 2]>::try_from(copied).map_err(|_| anyhow::anyhow!("two packages expected"))?;
    Ok(Packages { deb, rpm })
}

/// Prints each file with its size.
pub fn list(paths: &[&Path]) -> Result<()> {
    for path in paths {
        let len = std::fs::metadata(path)?.len();
        eprintln!("dist: {:>9}  {}", size_text(len), path.display());
    }
    Ok(())
}

/// `cargo xtask dist [--debug]`.
pub fn run(profile: Profile) -> Result<Packages> {
    let root = crate::root();
    // A debug build is the workspace's own (`cargo xtask test` has just built it): building only
    // the three packages would unify other features and rebuild ~170 crates (86 s in CI).
    let build: &[&str] = match profile {
        Profile::Debug => &["build", "--workspace", "--bins"],
        Profile::Release => &[
            "build",
            "-p",
            "kubewire-daemon",
            "-p",
            "kubewire-cli",
            "-p",
            "kubewire-tray",
            "--bins",
            "--release",
        ],
    };
    sh::cargo(build)?;
    let stage = stage_dir();
    std::fs::create_dir_all(&stage)?;
    stage_binaries(&stage, profile)?;
    stage_shell_files(&stage)?;
    render_scripts(&root.join("installers"), &stage)?;
    crate::tray::build_ui()?;
    let tauri = root.join("ui/node_modules/.bin/tauri");
    if !tauri.is_file() {
        bail!(
            "{} is missing: the UI's npm dependencies carry the Tauri CLI",
            tauri.display()
        );
    }
    let config = root.join("installers/tauri.bundle.json");
    let src_tauri = root.join("src-tauri");
    let debug: &[&str] = if profile == Profile::Debug {
        &["--debug"]
    } else {
        &[]
    };
    eprintln!(
        "$ (cd src-tauri && tauri build {}--ci --bundles deb,rpm --config installers/tauri.bundle.json)",
        debug.iter().map(|a| format!("{a} ")).collect::<String>()
    );
    let status = std::process::Command::new(&tauri)
        .arg("build")
        .args(debug)
        .args(["--ci", "--bundles", "deb,rpm", "--config"])
        .arg(&config)
        .current_dir(&src_tauri)
        .status()
        .context("starting the Tauri CLI")?;
    if !status.success() {
        bail!("tauri build failed ({status})");
    }
    let packages = collect(profile)?;
    let release = target_dir().join(profile.dir());
    list(&[
        &packages.deb,
        &packages.rpm,
        &release.join("kubewire-tray"),
        &release.join("kubewire-window"),
        &release.join("kubewired"),
        &release.join("kubewire"),
    ])?;
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_part_replaces_its_mark_once() {
        let out = render_script("#!/bin/sh\nset -e\n#@common@\nkw_x\n", "kw_x() { :; }\n").unwrap();
        assert_eq!(out, "#!/bin/sh\nset -e\nkw_x() { :; }\nkw_x\n");
        assert!(render_script("#!/bin/sh\n", "x").is_err(), "no mark");
        assert!(render_script("#@common@\n#@common@\n", "x").is_err(), "two marks");
    }

    /// Every real maintainer script renders, passes `sh -n`, and defines what it calls.
    #[test]
    fn the_maintainer_scripts_render_and_parse() {
        let stage = tempfile_dir();
        render_scripts(&crate::root().join("installers"), &stage).unwrap();
        for name in SCRIPTS {
            let path = stage.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(COMMON_MARK), "{name}");
            assert!(
                text.contains("kw_systemd_running()"),
                "{name}: common part missing"
            );
            if name.starts_with("deb/") {
                assert!(
                    text.starts_with("#!/bin/sh\n"),
                    "{name}: a .deb script needs its interpreter"
                );
            }
            let ok = std::process::Command::new("sh")
                .arg("-n")
                .arg(&path)
                .status()
                .unwrap();
            assert!(ok.success(), "{name}: sh -n failed");
        }
        let postinst = std::fs::read_to_string(stage.join("deb/postinst")).unwrap();
        for call in ["kw_create_group", "kw_add_installing_user", "kw_enable_and_start"] {
            assert!(
                postinst.contains(&format!("\n    {call}\n")),
                "postinst does not call {call}"
            );
        }
        let postrm = std::fs::read_to_string(stage.join("deb/postrm")).unwrap();
        let body = &postrm[postrm.rfind("case \"$1\" in").unwrap()..];
        let purge = body.find("purge)").unwrap();
        assert!(
            body[purge..].contains("kw_remove_group"),
            "the group goes on purge"
        );
        assert!(!body[..purge].contains("kw_remove_group"), "…and only on purge");
        std::fs::remove_dir_all(&stage).unwrap();
    }

    #[test]
    fn sizes_read_in_megabytes() {
        assert_eq!(size_text(2_640_000), "2.6 MB");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kubewire-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
