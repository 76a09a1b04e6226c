#!/usr/bin/env bash
# The Lambda package per probe and with every probe: the stripped `bootstrap` and its zip
# (`zip -9`, the layout `cargo lambda build --output-format zip` makes), in bytes.
#
#   bash benches/lambda_sizes.sh [probe ...]      # default: each probe, then all of them
#
# Every build carries the S3 state store. Release builds: a few minutes for the first, about
# one for each further feature set. Writes only under $CARGO_TARGET_DIR (default target/) and a
# temporary folder it removes.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
all="sqs,sns,cloudwatch,prometheus,kinesis,kafka,amazon-mq,rabbitmq,redis"
probes=("$@")
((${#probes[@]})) || probes=(sqs sns kinesis kafka amazon-mq rabbitmq redis "$all")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '| probes | bootstrap (stripped) | zip |\n| --- | ---: | ---: |\n'
for p in "${probes[@]}"; do
  cargo build --quiet --release -p stepscale-live --bin stepscale-lambda --features "lambda,s3-state,$p" >&2
  rm -f "$work/bootstrap" "$work/bootstrap.zip"
  cp "$target/release/stepscale-lambda" "$work/bootstrap"
  strip "$work/bootstrap"
  (cd "$work" && zip -q -9 bootstrap.zip bootstrap)
  label="$p"; [[ $p == "$all" ]] && label="all"
  printf '| %s | %s | %s |\n' "$label" "$(stat -c %s "$work/bootstrap")" "$(stat -c %s "$work/bootstrap.zip")"
done
