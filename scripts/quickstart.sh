#!/usr/bin/env bash
# Runs examples/quickstart.rs against a local AWS emulator, from a clean
# clone: installs moto into .build/moto-venv (once), starts it on a free
# 127.0.0.1 port with an IAM user and a role the user may assume, runs the
# example with those settings, and stops moto on exit.
#
#   scripts/quickstart.sh [EXAMPLE FLAGS]
#
# Needs the Rust toolchain, Python 3 (with venv) and curl. Extra arguments go
# to the example (try --seconds 60). moto's request log is written to
# .build/quickstart-moto.log. Nothing here talks to any address but
# 127.0.0.1, apart from pip (PyPI) and cargo (crates.io) downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source scripts/moto.sh

for tool in cargo python3 curl; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool is missing; the quickstart needs the Rust toolchain, python3 and curl" >&2
        exit 1
    fi
done

step "moto"
moto_install >/dev/null
echo "moto $MOTO_VERSION in $MOTO_VENV"

step "start moto"
mkdir -p "$BUILD_DIR"
MOTO_LOG="$BUILD_DIR/quickstart-moto.log"
trap moto_stop EXIT
trap 'exit 130' INT TERM
moto_start
echo "moto on $MOTO_ENDPOINT (process $MOTO_PID), user access key $MOTO_ACCESS_KEY_ID, role $MOTO_ROLE_ARN"

step "build the example"
cargo build --example quickstart

step "run the example"
# The example refreshes every ~10 s: 900-second credentials with an
# 890-second advisory window.
AWS_ROLE_ARN="$MOTO_ROLE_ARN" \
    AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL_STS="$MOTO_ENDPOINT" \
    AWS_ENDPOINT_URL_S3="$MOTO_ENDPOINT" \
    AWS_ACCESS_KEY_ID="$MOTO_ACCESS_KEY_ID" \
    AWS_SECRET_ACCESS_KEY="$MOTO_SECRET_ACCESS_KEY" \
    cargo run --quiet --example quickstart -- \
    --duration 900 --advisory-window 890 --seconds 30 "$@"

step "stop moto"
moto_stop
echo "moto stopped"
