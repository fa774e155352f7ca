#!/bin/sh
# Installs Debian's chromium for tests/test_browser.py (JupyterLab driven by Playwright).
# Never fails the build: where it cannot install, it says why and the browser test skips.
# Playwright's own browser download (`playwright install`) is never used.
set -u

BROWSER="${WORKSHOP_BROWSER:-/usr/bin/chromium}"

if [ -x "$BROWSER" ]; then
    echo "install-browser: $BROWSER is present; nothing to install."
    exit 0
fi
if [ "$BROWSER" != /usr/bin/chromium ]; then
    echo "install-browser: WORKSHOP_BROWSER=$BROWSER is not an executable; not installing" \
         "anything (unset WORKSHOP_BROWSER to use Debian's /usr/bin/chromium)."
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get on this machine; the browser test will skip." \
         "Install Chromium yourself and set WORKSHOP_BROWSER=/path/to/chromium to run it."
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-browser: not root; the browser test will skip." \
         "To run it: sudo apt-get install -y --no-install-recommends chromium"
    exit 0
fi

echo "install-browser: installing Debian's chromium (apt-get)..."
if DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
   && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
        >/dev/null; then
    echo "install-browser: installed $("$BROWSER" --version 2>/dev/null || echo chromium)."
else
    echo "install-browser: apt-get could not install chromium (see above); the browser test" \
         "will skip. Retry with: apt-get update && apt-get install -y --no-install-recommends chromium"
fi
exit 0
