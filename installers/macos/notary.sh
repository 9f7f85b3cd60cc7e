# shellcheck shell=bash
# Sourced by sign_and_notarize.sh and make_dmg.sh: the notary service's credentials and one submission.

# Sets the array `credentials` from NOTARY_PROFILE (a notarytool keychain profile) or APPLE_ID,
# APPLE_TEAM_ID and APPLE_APP_PASSWORD; returns 1 (after saying so) when neither is set.
notary_credentials() {
    if [ -n "${NOTARY_PROFILE:-}" ]; then
        credentials=(--keychain-profile "$NOTARY_PROFILE")
    elif [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
        credentials=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
    else
        echo "Notarization skipped: set NOTARY_PROFILE, or APPLE_ID, APPLE_TEAM_ID and APPLE_APP_PASSWORD."
        return 1
    fi
}

# notary_submit FILE: submit, wait, and fail with the service's log unless it was Accepted.
notary_submit() {
    local result status id
    result=$(xcrun notarytool submit "$1" "${credentials[@]}" --wait --output-format json)
    status=$(python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", ""))' <<<"$result")
    if [ "$status" != "Accepted" ]; then
        echo "Notarization ended with status '$status': $result" >&2
        id=$(python3 -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))' <<<"$result")
        [ -n "$id" ] && xcrun notarytool log "$id" "${credentials[@]}" >&2
        exit 1
    fi
}
