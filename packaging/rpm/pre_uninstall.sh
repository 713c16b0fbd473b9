# Removal ($1 = 0, not an upgrade): stop and disable the timers and services, template
# instances included, so no timer fires for a binary that is gone.
if [ "$1" -eq 0 ]; then
    for link in /etc/systemd/system/*.wants/ecr-login*; do
        [ -L "$link" ] || continue
        systemctl --no-reload disable "${link##*/}" >/dev/null 2>&1 || :
    done
    if [ -d /run/systemd/system ]; then
        for unit in $(systemctl list-units --all --plain --no-legend 'ecr-login*' | awk '{print $1}'); do
            systemctl stop "$unit" >/dev/null 2>&1 || :
        done
    fi
fi
