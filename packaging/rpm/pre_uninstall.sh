# Removal ($1 = 0, not an upgrade): stop and disable the timers and services, including
# every ecr-login@USER instance.
if [ "$1" -eq 0 ]; then
    for unit in ecr-login.timer ecr-login.service $(systemctl list-units --all --plain --no-legend 'ecr-login@*' 2>/dev/null | awk '{print $1}'); do
        systemctl --no-reload disable --now "$unit" >/dev/null 2>&1 || :
    done
fi
