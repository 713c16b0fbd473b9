# Install or upgrade: make systemd see the new units. The timer is not enabled here: the
# operator does that after editing /etc/ecr-login/config.toml.
systemctl daemon-reload >/dev/null 2>&1 || :
