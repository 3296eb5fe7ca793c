#!/bin/sh
# Verify sm-lint's sagemaker engine against the real service, with an AWS account.
#
#   pip install 'sm-lint[aws]'
#   examples/sagemaker/verify.sh ROLE_ARN [IMAGE]
#
# ROLE_ARN is a SageMaker execution role (trusted by sagemaker.amazonaws.com, allowed to write
# CloudWatch Logs). IMAGE defaults to AWS's scikit-learn processing image of the region, which
# every account may pull. Credentials and region come from the standard AWS chain (AWS_PROFILE,
# AWS_REGION, ...). It creates three small ml.m5.xlarge Processing jobs, each bounded by
# MaxRuntimeInSeconds=600 and stopped by sm-lint on any way out: a few cents in all (README,
# "Running on SageMaker"). The reports go to stdout; the JSON ones are kept in ./sm-lint-verify/.
set -eu

ROLE=${1:?usage: verify.sh ROLE_ARN [IMAGE]}
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
if [ -n "${2:-}" ]; then
  IMAGE=$2
elif [ "$REGION" = us-east-1 ]; then
  IMAGE=683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
else
  echo "verify.sh: give the IMAGE for $REGION, for example the scikit-learn processing image:" >&2
  echo "  python -c 'import sagemaker; print(sagemaker.image_uris.retrieve(\"sklearn\", \"$REGION\", \"1.2-1\"))'" >&2
  exit 2
fi
OUT=sm-lint-verify
mkdir -p "$OUT"
COMMON="--engine sagemaker --role $ROLE --region $REGION --instance-type ml.m5.xlarge --max-runtime 600"

# 1. A job that handles SIGINT: the completion scenario lets it end by itself (Completed, no
#    finding); the stop scenario stops it once it logs "ready" (Stopping -> Stopped, timed).
#    Two jobs at once.
WORKER="import signal, sys, time
def stop(*_):
    print('caught SIGINT, exiting', flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
print('ready', flush=True)
time.sleep(90)
print('done', flush=True)"
echo "== completion and stop of a well-behaved job"
# shellcheck disable=SC2086
sm-lint run "$IMAGE" $COMMON --scenario completion,stop --jobs 2 --ready-log ready \
  --entrypoint python3 --arg -c --arg "$WORKER" --report "json=$OUT/good.json" || true

# 2. A job that fails as Processing jobs fail: SM301 with its log line and ExitMessage (exit 1).
FAILER="import sys
open('/opt/ml/output/message', 'w').write('input table is empty')
print('error: input table is empty', file=sys.stderr)
sys.exit(3)"
echo "== completion of a failing job (SM301 expected)"
# shellcheck disable=SC2086
sm-lint run "$IMAGE" $COMMON --scenario completion --entrypoint python3 --arg -c --arg "$FAILER" \
  --report "json=$OUT/failing.json" || true

# Nothing may be left running: this lists (and stops) any sm-lint job of yours still InProgress.
echo "== leftovers"
sm-lint run --engine sagemaker --region "$REGION" --cleanup
echo "JSON reports: $OUT/good.json $OUT/failing.json"
