# Shared by the scripts in this folder. Sourced, not run.

# Nothing here may reach a real AWS endpoint, a credential file or the
# instance-metadata service.
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true

BUILD_DIR="$(pwd)/.build"

step() {
    printf '\n==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}

# Installs SoftHSM2 and opensc (the PKCS#11 tests' token and its key tool)
# and the tools the moto script uses, when they are missing.
install_system_packages() {
    local missing=()
    [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null || missing+=(softhsm2)
    command -v pkcs11-tool >/dev/null || missing+=(opensc)
    command -v curl >/dev/null || missing+=(curl)
    command -v flock >/dev/null || missing+=(util-linux)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "softhsm2, opensc, curl and flock present"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: ${missing[*]} missing; run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

# Installs moto's server into .build/moto-venv when it is missing.
install_moto() {
    scripts/moto.sh install >/dev/null
    echo "moto $("$BUILD_DIR/moto-venv/bin/python" -c 'import moto; print(moto.__version__)') in $BUILD_DIR/moto-venv"
}

# Lists the crate's features, except `default`.
crate_features() {
    cargo metadata --no-deps --format-version 1 --locked |
        python3 -c 'import json,sys; print("\n".join(sorted(f for f in json.load(sys.stdin)["packages"][0]["features"] if f != "default")))'
}
