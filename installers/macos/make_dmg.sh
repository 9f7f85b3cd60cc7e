#!/usr/bin/env bash
# Pack the app into a compressed disk image, next to a link to /Applications to drag it onto; sign,
# notarize and staple the image too when the credentials are set (the same variables as
# sign_and_notarize.sh, which should run on the app first).
#
#   installers/macos/make_dmg.sh "dist/GLM-V Desktop.app" dist/glmv-desktop-0.1.0-macos-arm64.dmg
set -euo pipefail

app=${1:?usage: make_dmg.sh APP_PATH OUT_DMG}
out=${2:?usage: make_dmg.sh APP_PATH OUT_DMG}
name=$(basename "$app" .app)

# A signed app must still verify: anything written into the bundle since signing would break it.
if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    codesign --verify --deep --strict "$app"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/image"
ditto "$app" "$work/image/$name.app"
ln -s /Applications "$work/image/Applications"

# UDZO: a read-only, zlib-compressed image (hdiutil(1)). On CI machines hdiutil now and then fails
# with "Resource busy"; trying again is the known workaround (actions/runner-images issue 7522).
for attempt in 1 2 3 4 5; do
    if hdiutil create -volname "$name" -srcfolder "$work/image" -format UDZO -ov "$out"; then
        break
    fi
    if [ "$attempt" -eq 5 ]; then
        exit 1
    fi
    sleep 10
done
echo "Made $out"

if [ -z "${MACOS_SIGN_IDENTITY:-}" ]; then
    echo "Signing skipped: MACOS_SIGN_IDENTITY is not set ($out is unsigned)."
    exit 0
fi
# A disk image is data, not code: no hardened runtime or entitlements, only the signature and a time stamp.
codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$out"
codesign --verify --verbose=2 "$out"

# shellcheck source=installers/macos/notary.sh
source "$(dirname "$0")/notary.sh"
notary_credentials || exit 0
# A disk image is submitted as it is, and its ticket stapled to it ("Customizing the notarization workflow").
notary_submit "$out"
xcrun stapler staple "$out"
# Gatekeeper's check for a downloaded disk image: "open", judged by the image's own signature.
spctl --assess --type open --context context:primary-signature --verbose=2 "$out"
echo "Signed, notarized and stapled $out"
