#!/usr/bin/env bash
# Upload the web client to a stack deployed with WebHosting=cloudfront:
#   scripts/deploy-web.sh STACK_NAME
# Reads the stack's ApiUrl, WebBucketName and WebDistributionId outputs,
# writes config.js with the API's URL into a copy of web/, syncs it to the
# bucket and invalidates the CloudFront cache. Needs the AWS CLI and
# credentials for the stack's account.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:?usage: scripts/deploy-web.sh STACK_NAME}"
output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
api_url=$(output ApiUrl)
bucket=$(output WebBucketName)
distribution=$(output WebDistributionId)
if [ -z "$bucket" ] || [ "$bucket" = "None" ]; then
  echo "stack $stack has no WebBucketName output: deploy it with WebHosting=cloudfront" >&2
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp -R web/. "$out/"
printf 'export default {\n  apiBaseUrl: "%s",\n};\n' "$api_url" >"$out/config.js"
aws s3 sync "$out/" "s3://$bucket/" --delete
aws cloudfront create-invalidation --distribution-id "$distribution" --paths '/*' >/dev/null
echo "web client: $(output WebUrl)  (API $api_url)"
