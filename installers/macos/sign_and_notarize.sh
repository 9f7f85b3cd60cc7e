#!/usr/bin/env bash
# Sign "GLM-V Desktop.app" with a Developer ID under the hardened runtime, then notarize and staple it.
#
#   installers/macos/sign_and_notarize.sh "dist/GLM-V Desktop.app"
#
# MACOS_SIGN_IDENTITY   a "Developer ID Application: ..." identity in the keychain. Without it nothing is
#                       signed (the app keeps PyInstaller's ad-hoc signature) and nothing is notarized.
# NOTARY_PROFILE        a profile saved with `xcrun notarytool store-credentials`, or else
# APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD
#                       an Apple ID, its team and an app-specific password. Without either the signed
#                       app is not notarized.
set -euo pipefail

app=${1:?usage: sign_and_notarize.sh APP_PATH}
entitlements="$(cd "$(dirname "$0")" && pwd)/entitlements.plist"

if [ -z "${MACOS_SIGN_IDENTITY:-}" ]; then
    echo "Signing skipped: MACOS_SIGN_IDENTITY is not set ($app keeps its ad-hoc signature and is not notarized)."
    exit 0
fi

# --force replaces PyInstaller's ad-hoc signatures; the notary service requires the hardened runtime
# and a secure time stamp on every executable ("Resolving common notarization issues").
sign() {
    codesign --force --timestamp --options runtime --sign "$MACOS_SIGN_IDENTITY" "$@"
}

# Inside out, one code item at a time ("Creating distribution-signed code for macOS"): every Mach-O
# file, then the framework bundles, then the main executable and the app. Only those two get the
# entitlements: libraries take their host's ("Hardened Runtime"). `codesign --deep` would sign
# everything with the same options, entitlements included, which is why it is not used to sign.
main="$app/Contents/MacOS/$(/usr/libexec/PlistBuddy -c 'Print :CFBundleExecutable' "$app/Contents/Info.plist")"
while IFS= read -r -d '' file; do
    if [ "$file" != "$main" ] && [[ $(file -b "$file") == Mach-O* ]]; then
        sign "$file"
    fi
done < <(find "$app/Contents" -type f -print0)
# A framework is signed by its version directory, not its top ("TN2206: macOS Code Signing In Depth");
# -depth lists nested ones first. Versions/Current is a symlink, so -type d leaves it out.
while IFS= read -r -d '' version; do
    sign "$version"
done < <(find "$app/Contents" -depth -type d -regex '.*\.framework/Versions/[^/]*' -print0)
sign --entitlements "$entitlements" "$main"
sign --entitlements "$entitlements" "$app"
codesign --verify --deep --strict --verbose=2 "$app"
echo "Signed $app"

# shellcheck source=installers/macos/notary.sh
source "$(dirname "$0")/notary.sh"
notary_credentials || exit 0

# The notary service takes a zip of the app; ditto keeps the bundle's symlinks and metadata. The
# ticket is then stapled to the app itself: stapler cannot staple a zip ("Customizing the
# notarization workflow").
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ditto -c -k --keepParent "$app" "$work/app.zip"
notary_submit "$work/app.zip"
xcrun stapler staple "$app"
spctl --assess --type execute --verbose=2 "$app"
echo "Notarized and stapled $app"
