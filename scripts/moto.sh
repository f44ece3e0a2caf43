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
#   scripts/moto.sh start [PORT]   the same as serve, but return once moto is
#                                  ready and leave it running in the
#                                  background (default port: a free one). The
#                                  exports include MOTO_PID; stop moto with
#                                  kill "$MOTO_PID". Its log goes to
#                                  $MOTO_LOG (default .build/moto-PORT.log).
#
# Scripts can also source this file and call moto_start and moto_stop: moto
# is then a child of the calling shell, so moto_stop can wait for it to exit.
# moto_start sets MOTO_PID, MOTO_ENDPOINT, MOTO_ACCESS_KEY_ID,
# MOTO_SECRET_ACCESS_KEY and MOTO_ROLE_ARN.
#
# Nothing here talks to any address but 127.0.0.1 (and PyPI, through pip,
# during the install).
set -euo pipefail

MOTO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_VERSION="5.2.5"
MOTO_VENV="${MOTO_VENV:-$MOTO_ROOT/.build/moto-venv}"
MOTO_MARKER="$MOTO_VENV/.installed-moto-$MOTO_VERSION"

# How long moto may take to respond to its first request, in tenths of a second.
MOTO_STARTUP_TENTHS=300

export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null

# Installs moto[server] into $MOTO_VENV unless it is there, and prints the
# path of moto_server.
moto_install() {
    mkdir -p "$(dirname "$MOTO_VENV")"
    # Test binaries run in parallel and each may call this: the first one
    # installs while the others wait on the lock. The marker is written last,
    # so an interrupted install is redone. Without flock (macOS), parallel
    # installs are not serialized.
    local locked=false
    if command -v flock >/dev/null; then
        exec 9>"$MOTO_VENV.lock"
        flock 9
        locked=true
    fi

    # A venv made by another script with the same moto version is kept.
    if [ ! -f "$MOTO_MARKER" ] && [ -x "$MOTO_VENV/bin/python" ] &&
        "$MOTO_VENV/bin/python" -c "import sys, moto; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        touch "$MOTO_MARKER"
    fi
    if [ ! -f "$MOTO_MARKER" ]; then
        echo "installing moto[server]==$MOTO_VERSION into $MOTO_VENV" >&2
        rm -rf "$MOTO_VENV"
        if ! python3 -m venv "$MOTO_VENV" >&2; then
            echo "error: python3 -m venv failed; on Debian and Ubuntu install python3-venv" >&2
            exit 1
        fi
        "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "moto[server]==$MOTO_VERSION" >&2
        touch "$MOTO_MARKER"
    fi

    if [ "$locked" = true ]; then
        flock -u 9
        exec 9>&-
    fi
    echo "$MOTO_VENV/bin/moto_server"
}

# Sends one IAM query-protocol call. Authentication is still off, so moto
# routes on the credential scope of this placeholder Authorization header and
# does not check the signature.
moto_iam_call() {
    local endpoint="$1"
    shift
    curl --silent --show-error --fail-with-body \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDBOOTSTRAP/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00' \
        --data-urlencode Version=2010-05-08 "$@" "$endpoint/"
}

moto_xml_value() {
    sed -n "s:.*<$1>\([^<]*\)</$1>.*:\1:p" | head -n 1
}

# Prints a port that was free a moment ago.
moto_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts moto_server ($1) on port $2 in the background, with its output in
# $MOTO_LOG (stderr when unset), and waits until it responds. Sets MOTO_PID and
# MOTO_ENDPOINT. Returns 1, with moto stopped, when moto exits first.
moto_spawn() {
    local moto_server="$1" port="$2"
    MOTO_ENDPOINT="http://127.0.0.1:$port"
    if [ -n "${MOTO_LOG:-}" ]; then
        "$moto_server" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 </dev/null &
    else
        "$moto_server" -H 127.0.0.1 -p "$port" >&2 </dev/null &
    fi
    MOTO_PID=$!

    local _
    for _ in $(seq 1 "$MOTO_STARTUP_TENTHS"); do
        if curl --silent --fail -o /dev/null "$MOTO_ENDPOINT/moto-api/"; then
            return 0
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            wait "$MOTO_PID" 2>/dev/null || true
            echo "moto_server exited before responding on $MOTO_ENDPOINT" >&2
            return 1
        fi
        sleep 0.1
    done
    moto_stop
    echo "error: moto_server did not respond on $MOTO_ENDPOINT within $((MOTO_STARTUP_TENTHS / 10)) s" >&2
    exit 1
}

# Creates the IAM user, its access key and a role it may assume, gives both
# an allow-all policy, then switches authentication on. Sets
# MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY and MOTO_ROLE_ARN.
moto_bootstrap() {
    local endpoint="$1"
    local user_arn key
    user_arn="$(moto_iam_call "$endpoint" --data-urlencode Action=CreateUser --data-urlencode UserName=app-user | moto_xml_value Arn)"
    key="$(moto_iam_call "$endpoint" --data-urlencode Action=CreateAccessKey --data-urlencode UserName=app-user)"
    local allow_all='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    # moto denies `:root` and bare account principals, so the trust policy
    # names the user's exact ARN.
    local trust="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$user_arn\"},\"Action\":\"sts:AssumeRole\"}]}"
    MOTO_ROLE_ARN="$(moto_iam_call "$endpoint" --data-urlencode Action=CreateRole --data-urlencode RoleName=app-role \
        --data-urlencode "AssumeRolePolicyDocument=$trust" | moto_xml_value Arn)"
    moto_iam_call "$endpoint" --data-urlencode Action=PutUserPolicy --data-urlencode UserName=app-user \
        --data-urlencode PolicyName=allow-all --data-urlencode "PolicyDocument=$allow_all" >/dev/null
    moto_iam_call "$endpoint" --data-urlencode Action=PutRolePolicy --data-urlencode RoleName=app-role \
        --data-urlencode PolicyName=allow-all --data-urlencode "PolicyDocument=$allow_all" >/dev/null
    MOTO_ACCESS_KEY_ID="$(echo "$key" | moto_xml_value AccessKeyId)"
    MOTO_SECRET_ACCESS_KEY="$(echo "$key" | moto_xml_value SecretAccessKey)"

    # The body must be text/plain: a form-encoded body makes moto return 500.
    curl --silent --show-error --fail -o /dev/null -H 'Content-Type: text/plain' --data 0 \
        "$endpoint/moto-api/reset-auth"
}

# Installs moto if needed, starts it in the background on port $1 (a free
# port when empty) and bootstraps it. Returns once moto is ready.
moto_start() {
    local port="${1:-}"
    local moto_server
    moto_server="$(moto_install)"

    if [ -n "$port" ]; then
        moto_spawn "$moto_server" "$port" || exit 1
    else
        # Another process can take a free port before moto binds it, so try
        # a few ports.
        local attempt
        for attempt in 1 2 3; do
            if moto_spawn "$moto_server" "$(moto_free_port)"; then
                break
            fi
            if [ "$attempt" = 3 ]; then
                echo "error: moto_server did not start on any of 3 free ports" >&2
                exit 1
            fi
        done
    fi

    moto_bootstrap "$MOTO_ENDPOINT"
}

# Stops the moto that moto_start started and waits for it to exit.
moto_stop() {
    if [ -z "${MOTO_PID:-}" ]; then
        return 0
    fi
    kill "$MOTO_PID" 2>/dev/null || true
    # `wait` works only on a child of this shell: `scripts/moto.sh start`
    # leaves an orphan, so poll for that one.
    if ! wait "$MOTO_PID" 2>/dev/null; then
        local _
        for _ in $(seq 1 50); do
            kill -0 "$MOTO_PID" 2>/dev/null || break
            sleep 0.1
        done
    fi
    MOTO_PID=
}

moto_exports() {
    cat <<EOF
export MOTO_ENDPOINT=$MOTO_ENDPOINT
export MOTO_ACCESS_KEY_ID=$MOTO_ACCESS_KEY_ID
export MOTO_SECRET_ACCESS_KEY=$MOTO_SECRET_ACCESS_KEY
export MOTO_ROLE_ARN=$MOTO_ROLE_ARN
EOF
}

moto_serve() {
    trap moto_stop EXIT
    trap 'exit 130' INT TERM
    moto_start "${1:-5000}"
    moto_exports
    echo "moto is ready on $MOTO_ENDPOINT with authentication on; Ctrl-C stops it" >&2
    wait "$MOTO_PID"
}

moto_start_detached() {
    local port="${1:-}"
    if [ -z "$port" ]; then
        port="$(moto_free_port)"
    fi
    mkdir -p "$MOTO_ROOT/.build"
    MOTO_LOG="${MOTO_LOG:-$MOTO_ROOT/.build/moto-$port.log}"
    moto_start "$port"
    moto_exports
    echo "export MOTO_PID=$MOTO_PID"
    echo "moto is ready on $MOTO_ENDPOINT with authentication on (log: $MOTO_LOG); stop it with: kill $MOTO_PID" >&2
}

# Run as a command, not sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        install) moto_install ;;
        serve) shift; moto_serve "$@" ;;
        start) shift; moto_start_detached "$@" ;;
        *)
            echo "usage: scripts/moto.sh install | serve [PORT] | start [PORT]" >&2
            exit 2
            ;;
    esac
fi
