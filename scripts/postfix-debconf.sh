#!/usr/bin/env bash
# The test set-up's dealings with Postfix's debconf question "General mail configuration
# type" (postfix/main_mailer_type), as root. scripts/setup.sh --test calls it.
#
#   postfix-debconf.sh preseed   answer "No configuration" for the coming installation:
#                                Postfix is installed without a main.cf, does not start,
#                                and apt-get asks nothing. The tests run their own
#                                throwaway instances and never need the system's Postfix.
#   postfix-debconf.sh forget    if this machine's Postfix is still unconfigured (no
#                                /etc/postfix/main.cf) and the answer is "No configuration",
#                                mark the question as not seen: the answer is then nobody's
#                                choice, and the next `dpkg-reconfigure postfix` (or an
#                                interactive upgrade) asks it again instead of repeating it.
#                                The value stays, so an unattended upgrade still configures
#                                nothing and starts no mail server behind the admin's back.
#
# To make this machine's Postfix a mail server afterwards: dpkg-reconfigure postfix
# (choose "Internet Site"); that writes /etc/postfix/main.cf.
set -euo pipefail

question=postfix/main_mailer_type
main_cf="${POSTFIX_MAIN_CF:-/etc/postfix/main.cf}"

case "${1:-}" in
    preseed)
        echo "postfix $question select No configuration" | debconf-set-selections
        ;;
    forget)
        [ -e "$main_cf" ] && exit 0  # configured: the answer is the admin's
        value="$(printf 'GET %s\n' "$question" | debconf-communicate postfix 2>/dev/null || true)"
        if [ "$value" = "0 No configuration" ]; then
            printf 'FSET %s seen false\n' "$question" | debconf-communicate postfix >/dev/null
            echo "setup: Postfix is installed but not configured (no $main_cf); the tests" \
                 "do not need it. To make it this machine's mail server: dpkg-reconfigure postfix"
        fi
        ;;
    *)
        echo "usage: $0 preseed|forget" >&2
        exit 64
        ;;
esac
