# Shared by the .deb and .rpm maintainer scripts: `cargo xtask dist` pastes this file into each
# script in place of its "common" mark line (xtask/src/dist.rs), so every script stays self-contained.

KW_GROUP=kubewire
KW_UNIT=kubewired.service
KW_STATE=/var/lib/kubewire
KW_SOCKET=/run/kubewire/kubewired.sock

kw_say() { echo "kubewire: $*"; }

# systemd is PID 1 (not in a chroot, a container without it, or a sysvinit machine).
kw_systemd_running() { [ -d /run/systemd/system ]; }

kw_create_group() {
    if command -v systemd-sysusers >/dev/null 2>&1 && [ -f /usr/lib/sysusers.d/kubewire.conf ]; then
        systemd-sysusers /usr/lib/sysusers.d/kubewire.conf || true
    fi
    if ! getent group "$KW_GROUP" >/dev/null; then
        groupadd --system "$KW_GROUP"
    fi
}

# The user who ran the installer: sudo sets SUDO_USER, pkexec sets PKEXEC_UID.
kw_installing_user() {
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        echo "$SUDO_USER"
    elif [ -n "${PKEXEC_UID:-}" ] && [ "$PKEXEC_UID" != 0 ]; then
        getent passwd "$PKEXEC_UID" | cut -d: -f1
    fi
}

kw_add_installing_user() {
    user=$(kw_installing_user)
    if [ -z "$user" ] || ! id -u "$user" >/dev/null 2>&1; then
        kw_say "to use kubewire without root, add yourself to the group: sudo usermod -aG $KW_GROUP \$USER (then log in again)"
        return 0
    fi
    if id -nG "$user" | tr ' ' '\n' | grep -qx "$KW_GROUP"; then
        return 0
    fi
    usermod -a -G "$KW_GROUP" "$user"
    kw_say "added $user to the group $KW_GROUP: log out and in again (or reboot) so the tray app and the kubewire CLI may use the daemon"
}

kw_enable_and_start() {
    if command -v systemctl >/dev/null 2>&1; then
        systemctl enable "$KW_UNIT" >/dev/null 2>&1 || kw_say "could not enable $KW_UNIT"
    fi
    if kw_systemd_running; then
        systemctl daemon-reload || true
        if systemctl restart "$KW_UNIT"; then
            kw_say "the daemon kubewired is running (systemctl status $KW_UNIT)"
        else
            kw_say "kubewired did not start: see journalctl -u $KW_UNIT"
        fi
    else
        kw_say "systemd is not running here: start the daemon yourself (kubewired, as root)"
    fi
}

# Stops the daemon (its SIGTERM path removes interface, routes and DNS changes), then undoes whatever a
# daemon that did not stop cleanly left, as its state file says.
kw_stop_and_clean() {
    if kw_systemd_running; then
        systemctl stop "$KW_UNIT" || true
    fi
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable "$KW_UNIT" >/dev/null 2>&1 || true
    fi
    if [ -x /usr/bin/kubewired ]; then
        /usr/bin/kubewired cleanup --socket "$KW_SOCKET" --state-dir "$KW_STATE" ||
            kw_say "a kubewired not run by systemd may still be running: stop it (SIGTERM) to remove its tunnel"
    fi
}

kw_remove_group() {
    if getent group "$KW_GROUP" >/dev/null; then
        groupdel "$KW_GROUP" || kw_say "could not remove the group $KW_GROUP"
    fi
}
