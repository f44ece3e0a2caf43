#!/usr/bin/env bash
# The moto harness: a local AWS emulator on 127.0.0.1 that checks every
# SigV4 signature.
#
#   scripts/moto.sh install        install moto[server] into .build/moto-venv
#                                  (once; safe to run from parallel tests) and
#                                  print the path of moto_server
#   scripts/moto.sh serve [PORT]   start moto on 127.0.0.1:PORT (default 5000),
#                                  create an IAM user, its access key and a
#                                  role it may assume, switch authentication
#                                  on, print the settings as shell exports,
#                                  and run until interrupted
#
# Nothing here talks to any address but 127.0.0.1 (and PyPI, through pip,
# during the install).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOTO_VERSION="5.2.5"
MOTO_VENV="${MOTO_VENV:-$ROOT/.build/moto-venv}"
MARKER="$MOTO_VENV/.installed-moto-$MOTO_VERSION"

export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null

install() {
    mkdir -p "$(dirname "$MOTO_VENV")"
    # Test binaries run in parallel and each may call this: the first one
    # installs while the others wait on the lock. The marker is written last,
    # so an interrupted install is redone.
    exec 9>"$MOTO_VENV.lock"
    flock 9
    # A venv made by another script with the same moto version is kept.
    if [ ! -f "$MARKER" ] && [ -x "$MOTO_VENV/bin/python" ] &&
        "$MOTO_VENV/bin/python" -c "import sys, moto; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        touch "$MARKER"
    fi
    if [ ! -f "$MARKER" ]; then
        echo "installing moto[server]==$MOTO_VERSION into $MOTO_VENV" >&2
        rm -rf "$MOTO_VENV"
        python3 -m venv "$MOTO_VENV"
        "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "moto[server]==$MOTO_VERSION" >&2
        touch "$MARKER"
    fi
    flock -u 9
    echo "$MOTO_VENV/bin/moto_server"
}

# Sends one IAM query-protocol call. Authentication is still off, so moto
# routes on the credential scope of this placeholder Authorization header and
# does not check the signature.
iam_call() {
    local endpoint="$1"
    shift
    curl --silent --show-error --fail-with-body \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDBOOTSTRAP/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00' \
        --data-urlencode Version=2010-05-08 "$@" "$endpoint/"
}

xml_value() {
    sed -n "s:.*<$1>\([^<]*\)</$1>.*:\1:p" | head -n 1
}

serve() {
    local port="${1:-5000}"
    local endpoint="http://127.0.0.1:$port"
    local moto_server
    moto_server="$(install)"

    "$moto_server" -H 127.0.0.1 -p "$port" >&2 &
    local pid=$!
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT INT TERM

    for _ in $(seq 1 100); do
        if curl --silent --fail -o /dev/null "$endpoint/moto-api/"; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: moto_server exited before responding on $endpoint" >&2
            exit 1
        fi
        sleep 0.1
    done

    local user_arn key secret
    user_arn="$(iam_call "$endpoint" --data-urlencode Action=CreateUser --data-urlencode UserName=app-user | xml_value Arn)"
    key="$(iam_call "$endpoint" --data-urlencode Action=CreateAccessKey --data-urlencode UserName=app-user)"
    local allow_all='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    local trust="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$user_arn\"},\"Action\":\"sts:AssumeRole\"}]}"
    local role_arn
    role_arn="$(iam_call "$endpoint" --data-urlencode Action=CreateRole --data-urlencode RoleName=app-role \
        --data-urlencode "AssumeRolePolicyDocument=$trust" | xml_value Arn)"
    iam_call "$endpoint" --data-urlencode Action=PutUserPolicy --data-urlencode UserName=app-user \
        --data-urlencode PolicyName=allow-all --data-urlencode "PolicyDocument=$allow_all" >/dev/null
    iam_call "$endpoint" --data-urlencode Action=PutRolePolicy --data-urlencode RoleName=app-role \
        --data-urlencode PolicyName=allow-all --data-urlencode "PolicyDocument=$allow_all" >/dev/null

    # The body must be text/plain: a form-encoded body makes moto return 500.
    curl --silent --show-error --fail -o /dev/null -H 'Content-Type: text/plain' --data 0 \
        "$endpoint/moto-api/reset-auth"

    cat <<EOF
export MOTO_ENDPOINT=$endpoint
export MOTO_ACCESS_KEY_ID=$(echo "$key" | xml_value AccessKeyId)
export MOTO_SECRET_ACCESS_KEY=$(echo "$key" | xml_value SecretAccessKey)
export MOTO_ROLE_ARN=$role_arn
EOF
    echo "moto is ready on $endpoint with authentication on; Ctrl-C stops it" >&2
    wait "$pid"
}

case "${1:-}" in
    install) install ;;
    serve) shift; serve "$@" ;;
    *)
        echo "usage: scripts/moto.sh install | serve [PORT]" >&2
        exit 2
        ;;
esac
