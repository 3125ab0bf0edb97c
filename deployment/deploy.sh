#!/usr/bin/env bash
# Deploy the Image Annotation System to AWS in one command:
#   build and push the three images, read their digests, deploy stacks 00-04 in order, print the URL.
#
#   deployment/deploy.sh [--config FILE] [--dry-run] [--skip-build] [--yes]
#   deployment/deploy.sh [--config FILE] [--dry-run] --teardown [--yes]
#
# Settings come from one file, deployment/config.env by default (copy config.example.env; the real
# file is git-ignored). --dry-run prints every AWS and Docker command instead of running it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"
START_DIR="$PWD"

CONFIG=""
DRY_RUN=0
TEARDOWN=0
SKIP_BUILD=0
ASSUME_YES=0

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Options:
  --config FILE   settings file (default: deployment/config.env)
  --dry-run       print every AWS/Docker command without running it (placeholder digests)
  --skip-build    do not build or push; deploy the images already in ECR under IMAGE_TAG
  --teardown      delete the stacks in reverse order (empties the buckets first)
  --yes           do not ask before tearing down, or before deleting a stack whose first
                  creation rolled back (ROLLBACK_COMPLETE) so that it can be created again
  -h, --help      show this help
EOF
}

die() { echo "deploy.sh: $*" >&2; exit 1; }
warn() { echo "warning: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --config) [ $# -ge 2 ] || die "--config needs a file"; CONFIG="$2"; shift 2 ;;
    --config=*) CONFIG="${1#--config=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --teardown) TEARDOWN=1; shift ;;
    --yes|-y) ASSUME_YES=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

# --- Settings -------------------------------------------------------------------------------------

# Every key the config file may set, as CFG_<KEY>, with its default (plain variables, not an
# associative array: the macOS system bash 3.2 runs this script too).
CFG_AWS_REGION=us-east-1
CFG_AWS_PROFILE=""
CFG_AWS_ACCOUNT_ID=""
CFG_STACK_PREFIX=image-annotation
CFG_PROJECT_NAME=image-annotation
CFG_IMAGE_TAG=""
CFG_LAMBDA_ARCHITECTURE=x86_64
CFG_LAB_ROLE_ARN=""
CFG_LAB_INSTANCE_PROFILE_NAME=""
CFG_ENABLE_SESSION_MANAGER=false
CFG_ALLOWED_INGRESS_CIDR=""
CFG_CERTIFICATE_ARN=""
CFG_ALARM_EMAIL=""
CFG_CAPTION_PROVIDER=gemini
CFG_CAPTION_LANGUAGE=en
CFG_GEMINI_API_KEY_FILE=""
CFG_GEMINI_MODEL_NAME=gemini-3.5-flash-lite
CFG_GEMINI_PROMPT="Describe this photo factually, as a careful photo librarian would."
CFG_GEMINI_TIMEOUT_SECONDS=30
CFG_OPENAI_API_KEY_FILE=""
CFG_OPENAI_BASE_URL=""
CFG_OPENAI_MODEL=gpt-4o-mini
CFG_OPENAI_TIMEOUT_SECONDS=30
CFG_THUMBNAIL_WIDTH=256
CFG_THUMBNAIL_HEIGHT=256
CFG_PREVIEW_SIZE=1440
CFG_THUMBNAIL_FORMAT=webp
CFG_KEEP_LOCATION=false
CFG_LOG_LEVEL=INFO
CFG_LOG_RETENTION_DAYS=14
CFG_JOB_LEASE_SECONDS=90
CFG_JOB_MAX_ATTEMPTS=5
CFG_TRASH_RETENTION_DAYS=30
CFG_LAMBDA_CONCURRENCY_LIMIT=10
CFG_MAX_UPLOAD_MB=20
CFG_DB_ENGINE_VERSION=8.4
CFG_DB_INSTANCE_CLASS=db.t4g.micro
CFG_DB_ALLOCATED_STORAGE=20
CFG_DB_MAX_ALLOCATED_STORAGE=""
CFG_DB_MULTI_AZ=false
CFG_DB_BACKUP_RETENTION_DAYS=7
CFG_DB_DELETION_PROTECTION=false
CFG_WEB_INSTANCE_TYPE=t3.small
CFG_WEB_MIN_SIZE=2
CFG_WEB_MAX_SIZE=4
CFG_WEB_TARGET_CPU=60
CFG_WEB_CONCURRENCY=2

is_setting() { declare -p "CFG_$1" > /dev/null 2>&1; }

# KEY=value lines; blank lines and lines starting with # are skipped; values may be quoted.
# The file is parsed, never sourced: it cannot run commands.
load_config() {
  local file="$1" line key value number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^[[:space:]]*([A-Z][A-Z0-9_]*)=(.*)$ ]] || die "$file:$number: expected KEY=value"
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    if [[ "$value" =~ ^\"(.*)\"[[:space:]]*$ || "$value" =~ ^\'(.*)\'[[:space:]]*$ ]]; then
      value="${BASH_REMATCH[1]}"
    else
      value="${value%"${value##*[![:space:]]}"}"
    fi
    if ! is_setting "$key"; then
      [ "$key" != PLATFORM ] || die "$file:$number: PLATFORM was replaced by LAMBDA_ARCHITECTURE (x86_64 or arm64)"
      die "$file:$number: unknown setting $key"
    fi
    printf -v "CFG_$key" '%s' "$value"
  done < "$file"
}

if [ -z "$CONFIG" ]; then
  CONFIG="$HERE/config.env"
  if [ ! -f "$CONFIG" ] && [ "$DRY_RUN" = 1 ]; then
    CONFIG="$HERE/config.example.env"
    echo "note: deployment/config.env not found; the dry run uses config.example.env"
  fi
elif [[ "$CONFIG" != /* ]]; then
  CONFIG="$START_DIR/$CONFIG"
fi
[ -f "$CONFIG" ] || die "no config file $CONFIG (cp deployment/config.example.env deployment/config.env and edit it)"
load_config "$CONFIG"

REGION="${CFG_AWS_REGION}"
PREFIX="${CFG_STACK_PREFIX}"
PROJECT="${CFG_PROJECT_NAME}"
# The prefix names the stacks and every named resource (ECR repositories must be lower case).
[[ "$PREFIX" =~ ^[a-z][a-z0-9-]{0,39}$ ]] \
  || die "STACK_PREFIX=$PREFIX: use 1 to 40 lower-case letters, digits and hyphens, starting with a letter"
# The Lambda images are built for the functions' architecture; the web image always for x86_64, the
# architecture of the instance types and the AMI stack 04 allows.
case "${CFG_LAMBDA_ARCHITECTURE}" in
  x86_64) LAMBDA_PLATFORM=linux/amd64 ;;
  arm64) LAMBDA_PLATFORM=linux/arm64 ;;
  *) die "LAMBDA_ARCHITECTURE=${CFG_LAMBDA_ARCHITECTURE}: use x86_64 or arm64" ;;
esac
WEB_PLATFORM=linux/amd64
case "${CFG_CAPTION_PROVIDER}" in
  gemini | openai) ;;
  *) die "CAPTION_PROVIDER=${CFG_CAPTION_PROVIDER}: use gemini or openai" ;;
esac
[ -n "${CFG_AWS_PROFILE}" ] && export AWS_PROFILE="${CFG_AWS_PROFILE}"

cd "$REPO_ROOT"

# --- Running (or printing) commands -----------------------------------------------------------------

exec 3>&1  # the trace goes to the original stdout, also from inside $(...)

# Quote each argument only as much as a shell needs, so printed commands can be pasted back.
quote() {
  local arg out="" single="'"
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+=" $arg"
    elif [[ "$arg" != *"$single"* ]]; then
      out+=" '$arg'"
    elif [[ ! "$arg" =~ [\$\`\"\\!] ]]; then
      out+=" \"$arg\""
    else
      out+=" '${arg//$single/$single\\$single$single}'"
    fi
  done
  printf '%s' "${out# }"
}

trace() { printf '+ %s\n' "$(quote "$@")" >&3; }

# Print a command, then run it unless this is a dry run.
run() {
  trace "$@"
  [ "$DRY_RUN" = 1 ] || "$@"
}

# Print a command whose output we need; a dry run answers with the placeholder $1 instead.
query() {
  local placeholder="$1"
  shift
  trace "$@"
  if [ "$DRY_RUN" = 1 ]; then
    printf '%s\n' "$placeholder"
  else
    "$@"
  fi
}

step() { printf '\n==> %s\n' "$*" >&3; }

sha256_hex() {
  if command -v sha256sum > /dev/null; then sha256sum | cut -c1-64; else shasum -a 256 | cut -c1-64; fi
}

# A digest-shaped placeholder, the same for the same repository and tag: sha256:DRYRUN<58 hex>.
dry_run_digest() { printf 'sha256:DRYRUN%s' "$(printf '%s' "$1" | sha256_hex | cut -c1-58)"; }

stack_name() { printf '%s-%s' "$PREFIX" "$1"; }

stack_output() {  # stack suffix, output key, dry-run placeholder
  query "$3" aws cloudformation describe-stacks --region "$REGION" --stack-name "$(stack_name "$1")" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

stack_exists() {
  [ "$DRY_RUN" = 1 ] && return 0
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$(stack_name "$1")" > /dev/null 2>&1
}

# The stack's status (CREATE_COMPLETE, ROLLBACK_COMPLETE, ...), or NONE when there is no such stack.
# A dry run prints the query and answers NONE.
stack_status() {
  local name errors status
  name="$(stack_name "$1")"
  trace aws cloudformation describe-stacks --region "$REGION" --stack-name "$name" \
    --query 'Stacks[0].StackStatus' --output text
  if [ "$DRY_RUN" = 1 ]; then
    printf 'NONE'
    return 0
  fi
  errors="$(mktemp)"
  if status="$(aws cloudformation describe-stacks --region "$REGION" --stack-name "$name" \
      --query 'Stacks[0].StackStatus' --output text 2> "$errors")"; then
    rm -f "$errors"
    printf '%s' "$status"
  elif grep -q 'does not exist' "$errors"; then
    rm -f "$errors"
    printf 'NONE'
  else
    cat "$errors" >&2
    rm -f "$errors"
    die "cannot read the status of stack $name (see the error above)"
  fi
}

# A stack whose first creation failed is left in ROLLBACK_COMPLETE: CloudFormation can neither update
# it nor create it again until it is deleted. Offer to delete it (--yes: without asking), so that the
# deploy that follows creates it afresh.
recover_rolled_back_stack() {
  local suffix="$1" name status answer=""
  name="$(stack_name "$suffix")"
  status="$(stack_status "$suffix")" || exit 1
  [ "$status" = ROLLBACK_COMPLETE ] || return 0
  echo "Stack $name is in ROLLBACK_COMPLETE: its first creation failed and was rolled back, and" >&3
  echo "CloudFormation cannot update such a stack; it has to be deleted and created again. Why it failed:" >&3
  echo "  aws cloudformation describe-stack-events --region $REGION --stack-name $name" >&3
  if [ "$ASSUME_YES" = 0 ]; then
    read -r -p "Delete $name and create it again? [y/N] " answer || answer=""
    case "$answer" in
      y | Y | yes | Yes | YES) ;;
      *) die "cancelled: $name is still in ROLLBACK_COMPLETE (run again with --yes to delete and recreate it)" ;;
    esac
  fi
  step "Delete the rolled-back stack $name, then create it again"
  run aws cloudformation delete-stack --region "$REGION" --stack-name "$name"
  run aws cloudformation wait stack-delete-complete --region "$REGION" --stack-name "$name"
}

deploy_stack() {  # stack suffix, template file, Key=Value parameters...
  local suffix="$1" template="deployment/$2"
  shift 2
  step "Stack $(stack_name "$suffix") from $template"
  recover_rolled_back_stack "$suffix"
  if ! run aws cloudformation deploy --region "$REGION" --stack-name "$(stack_name "$suffix")" \
      --template-file "$template" --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
      --tags "Project=$PROJECT" --parameter-overrides "$@"; then
    die "stack $(stack_name "$suffix") failed; see: aws cloudformation describe-stack-events --region $REGION --stack-name $(stack_name "$suffix")
(if it was being created and rolled back, the next deploy.sh run offers to delete and recreate it)"
  fi
}

require() {
  [ "$DRY_RUN" = 1 ] && return 0
  local tool
  for tool in "$@"; do
    command -v "$tool" > /dev/null || die "$tool is required (see deployment/README.md, Prerequisites)"
  done
}

# --- Images -------------------------------------------------------------------------------------------

# name|Dockerfile|output of stack 00 holding the repository URI|docker build --platform
IMAGES=(
  "web-app|web_app/Dockerfile|WebAppRepositoryUri|$WEB_PLATFORM"
  "annotation-lambda|lambda_functions/annotation_lambda/Dockerfile|AnnotationLambdaRepositoryUri|$LAMBDA_PLATFORM"
  "thumbnail-lambda|lambda_functions/thumbnail_lambda/Dockerfile|ThumbnailLambdaRepositoryUri|$LAMBDA_PLATFORM"
)
# <repository>@sha256:<digest> of each image, set by build_push_and_pin_images.
IMAGE_REF_web_app=""
IMAGE_REF_annotation_lambda=""
IMAGE_REF_thumbnail_lambda=""

# The repositories' tags are immutable: a tag, once pushed, always names the same image. So a build of
# uncommitted changes gets a tag of its own (-dirty-<UTC time>), and a commit's tag is reused as is.
image_tag() {
  local stamp
  stamp="$(date -u +%Y%m%d%H%M%S)"
  if [ -n "${CFG_IMAGE_TAG}" ]; then
    printf '%s' "${CFG_IMAGE_TAG}"
  elif git rev-parse --short=12 HEAD > /dev/null 2>&1; then
    local tag
    tag="$(git rev-parse --short=12 HEAD)"
    git diff --quiet HEAD -- 2> /dev/null || tag="$tag-dirty-$stamp"
    printf '%s' "$tag"
  else
    printf 'manual-%s' "$stamp"
  fi
}

# The digest of the image <repository URI>:<tag> in ECR, or nothing when there is none; any other error
# stops the script. A dry run prints the query and answers with the placeholder $3.
pushed_digest() {
  local uri="$1" tag="$2" placeholder="$3" errors digest
  local lookup=(aws ecr describe-images --region "$REGION" --repository-name "${uri#*/}"
    --image-ids "imageTag=$tag" --query 'imageDetails[0].imageDigest' --output text)
  trace "${lookup[@]}"
  if [ "$DRY_RUN" = 1 ]; then
    printf '%s' "$placeholder"
    return 0
  fi
  errors="$(mktemp)"
  if digest="$("${lookup[@]}" 2> "$errors")"; then
    rm -f "$errors"
    printf '%s' "$digest"
  elif grep -q ImageNotFoundException "$errors"; then
    rm -f "$errors"
  else
    cat "$errors" >&2
    rm -f "$errors"
    die "could not look up $uri:$tag in ECR"
  fi
}

build_push_and_pin_images() {
  local tag registry entry name dockerfile output platform uri digest
  tag="$(image_tag)"
  registry="$ACCOUNT_ID.dkr.ecr.$REGION.amazonaws.com"
  if [ "$SKIP_BUILD" = 0 ]; then
    step "Log in to $registry"
    trace aws ecr get-login-password --region "$REGION"
    printf '  | %s\n' "$(quote docker login --username AWS --password-stdin "$registry")" >&3
    if [ "$DRY_RUN" = 0 ]; then
      aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$registry"
    fi
  fi
  for entry in "${IMAGES[@]}"; do
    IFS='|' read -r name dockerfile output platform <<< "$entry"
    uri="$(stack_output ecr "$output" "$registry/$PREFIX-$name")"
    if [ "$SKIP_BUILD" = 1 ]; then
      digest="$(pushed_digest "$uri" "$tag" "$(dry_run_digest "$uri:$tag")")"
    else
      digest="$(pushed_digest "$uri" "$tag" "")"  # a dry run builds
    fi
    if [ "$SKIP_BUILD" = 0 ] && [ -n "$digest" ]; then
      step "Image $name: $uri:$tag is already in ECR, reused (tags are immutable: to deploy other code under"
      echo "    a tag you chose, set a new IMAGE_TAG; left empty, it is the git commit)" >&3
    elif [ "$SKIP_BUILD" = 0 ]; then
      step "Image $name ($dockerfile, $platform, build context: repository root)"
      run docker build --platform "$platform" --provenance=false -f "$dockerfile" -t "$uri:$tag" .
      run docker push "$uri:$tag"
      digest="$(pushed_digest "$uri" "$tag" "$(dry_run_digest "$uri:$tag")")"
    fi
    [[ "$digest" == sha256:* ]] || die "no image $uri:$tag in ECR (drop --skip-build to build it, or set IMAGE_TAG to a tag pushed before)"
    printf -v "IMAGE_REF_${name//-/_}" '%s' "$uri@$digest"
    echo "    $name -> $uri@$digest" >&3
  done
}

# Who may reach the load balancer: ALLOWED_INGRESS_CIDR, or by default this machine's public IPv4 address
# only (a dry run prints the look-up and answers with a documentation address).
DRY_RUN_ADDRESS=203.0.113.10
ingress_cidr() {
  local address
  if [ -n "${CFG_ALLOWED_INGRESS_CIDR}" ]; then
    printf '%s' "${CFG_ALLOWED_INGRESS_CIDR}"
    return 0
  fi
  address="$(query "$DRY_RUN_ADDRESS" curl -fsS --max-time 10 https://checkip.amazonaws.com)" \
    || die "could not find this machine's public address; set ALLOWED_INGRESS_CIDR (e.g. 198.51.100.7/32)"
  address="$(printf '%s' "$address" | tr -d '[:space:]')"
  [[ "$address" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die "checkip answered '$address'; set ALLOWED_INGRESS_CIDR"
  printf '%s/32' "$address"
}

# Store the API key in the file a setting names (GEMINI_API_KEY_FILE, OPENAI_API_KEY_FILE) in the secret
# stack 02 created empty for it, whitespace stripped; the key is never printed. Without a file nothing is
# stored, with a warning when that provider writes the captions.
store_api_key() {  # provider, setting naming the key file, stack 02 output holding the secret's ARN, 1 if in use
  local provider="$1" setting="$2" output="$3" in_use="$4" variable file arn hint="" key_file
  variable="CFG_$setting"
  file="${!variable}"
  if [ -z "$file" ] && [ "$in_use" = 0 ]; then
    return 0
  fi
  arn="$(stack_output app "$output" "arn:aws:secretsmanager:$REGION:$ACCOUNT_ID:secret:${output%Arn}-DRYRUN")"
  if [ -z "$file" ]; then
    [ "$provider" != OpenAI ] || [ -z "${CFG_OPENAI_BASE_URL}" ] \
      || hint=" (unless the server at OPENAI_BASE_URL takes none)"
    echo "warning: $setting is not set; captions fail until the $provider API key is stored$hint:" >&3
    echo "  aws secretsmanager put-secret-value --region $REGION --secret-id $arn --secret-string file://key.txt" >&3
    return 0
  fi
  [[ "$file" == /* ]] || file="$START_DIR/$file"
  step "Store the $provider API key from $file in Secrets Manager (the value is never printed)"
  if [ "$DRY_RUN" = 1 ]; then
    trace aws secretsmanager put-secret-value --region "$REGION" --secret-id "$arn" \
      --secret-string "file://<key file, whitespace stripped>"
    return 0
  fi
  [ -r "$file" ] || die "$setting $file is not readable"
  key_file="$(umask 077 && mktemp)"
  # shellcheck disable=SC2064 # expand now: the path is local
  trap "rm -f '$key_file'" EXIT
  tr -d '[:space:]' < "$file" > "$key_file"
  [ -s "$key_file" ] || die "$setting $file is empty"
  run aws secretsmanager put-secret-value --region "$REGION" --secret-id "$arn" \
    --secret-string "file://$key_file" --query VersionId --output text
  rm -f "$key_file"
}

# --- Deploy ---------------------------------------------------------------------------------------------

# The storage autoscaling ceiling in GiB: DB_MAX_ALLOCATED_STORAGE, or when empty max(100, 5 x allocated)
# up to 2000 (the template's limit). RDS refuses a ceiling less than 10 % above the allocated storage.
DB_MAX_ALLOCATED_STORAGE_LIMIT=2000
db_max_allocated_storage() {
  local allocated="${CFG_DB_ALLOCATED_STORAGE}" ceiling="${CFG_DB_MAX_ALLOCATED_STORAGE}" least
  [[ "$allocated" =~ ^[1-9][0-9]*$ ]] || die "DB_ALLOCATED_STORAGE=$allocated: a whole number of GiB"
  if [ -z "$ceiling" ]; then
    ceiling=$((allocated * 5))
    [ "$ceiling" -ge 100 ] || ceiling=100
    [ "$ceiling" -le "$DB_MAX_ALLOCATED_STORAGE_LIMIT" ] || ceiling="$DB_MAX_ALLOCATED_STORAGE_LIMIT"
  fi
  [[ "$ceiling" =~ ^[1-9][0-9]*$ ]] || die "DB_MAX_ALLOCATED_STORAGE=$ceiling: a whole number of GiB (or empty)"
  least=$(((allocated * 11 + 9) / 10))
  [ "$ceiling" -ge "$least" ] || die "DB_MAX_ALLOCATED_STORAGE=$ceiling: the storage autoscaling ceiling must be \
at least 10 % above DB_ALLOCATED_STORAGE=$allocated, that is at least $least GiB (RDS refuses less); \
raise it or leave it empty to have it computed"
  [ "$ceiling" -le "$DB_MAX_ALLOCATED_STORAGE_LIMIT" ] \
    || die "DB_MAX_ALLOCATED_STORAGE=$ceiling: at most $DB_MAX_ALLOCATED_STORAGE_LIMIT GiB"
  printf '%s' "$ceiling"
}

# Reserved concurrency of each job function (the sweeper reserves 1 more), or 0 for none. AWS only lets
# an account reserve while at least 100 executions stay unreserved, and new or lab accounts often have
# a limit of 10 in all: when the reservation cannot fit, warn and reserve nothing rather than let stack
# 03 fail halfway. What this deployment's functions hold already counts as available to them.
lambda_concurrency_limit() {
  local wanted="${CFG_LAMBDA_CONCURRENCY_LIMIT}" answer="" limit="" unreserved="" held=0 function current
  local needed spare fits hint=""
  [[ "$wanted" =~ ^(0|[1-9][0-9]{0,3})$ ]] \
    || die "LAMBDA_CONCURRENCY_LIMIT=$wanted: a whole number of executions per function (0: no reservation)"
  if [ "$wanted" = 0 ]; then
    printf '0'
    return 0
  fi
  answer="$(query "$(printf '1000\t1000')" aws lambda get-account-settings --region "$REGION" \
    --query '[AccountLimit.ConcurrentExecutions, AccountLimit.UnreservedConcurrentExecutions]' \
    --output text)" || answer=""
  read -r limit unreserved _ <<< "$answer" || true
  if ! [[ "$limit" =~ ^[0-9]+$ && "$unreserved" =~ ^[0-9]+$ ]]; then
    warn "could not read this account's Lambda concurrency (aws lambda get-account-settings); the functions" \
      "get no reserved concurrency, so a burst of uploads is not capped (deployment/README.md, Sizing)"
    printf '0'
    return 0
  fi
  for function in thumbnail annotation job-sweeper; do
    current="$(query None aws lambda get-function-concurrency --region "$REGION" \
      --function-name "$PREFIX-$function" --query ReservedConcurrentExecutions --output text 2> /dev/null)" \
      || current=None
    if [[ "$current" =~ ^[0-9]+$ ]]; then held=$((held + current)); fi
  done
  needed=$((2 * wanted + 1))
  spare=$((unreserved + held - 100))
  if [ "$needed" -le "$spare" ]; then
    printf '%s' "$wanted"
    return 0
  fi
  fits=$(((spare - 1) / 2))
  [ "$fits" -lt 1 ] || hint=" (at most $fits fits now)"
  warn "cannot reserve $needed concurrent executions ($wanted for each job function, 1 for the sweeper):" \
    "this account's Lambda limit is $limit with $unreserved unreserved, and AWS keeps 100 unreserved." \
    "The functions run WITHOUT reserved concurrency, so a burst of uploads can open more database" \
    "connections than a db.t4g.micro accepts (deployment/README.md, Sizing). Ask AWS for a higher" \
    "'Concurrent executions' quota (Service Quotas), or set LAMBDA_CONCURRENCY_LIMIT lower$hint."
  printf '0'
}

deploy() {
  local db_max_storage concurrency_limit
  db_max_storage="$(db_max_allocated_storage)" || exit 1
  require aws
  [ "$SKIP_BUILD" = 1 ] || require docker
  step "Account"
  ACCOUNT_ID="${CFG_AWS_ACCOUNT_ID}"
  if [ -z "$ACCOUNT_ID" ]; then
    ACCOUNT_ID="$(query 123456789012 aws sts get-caller-identity --region "$REGION" --query Account --output text)"
  fi
  echo "    $ACCOUNT_ID in $REGION, stacks $PREFIX-*" >&3

  step "Lambda concurrency"
  concurrency_limit="$(lambda_concurrency_limit)" || exit 1
  if [ "$concurrency_limit" = 0 ]; then
    echo "    no reserved concurrency" >&3
  else
    echo "    $concurrency_limit reserved for each job function, 1 for the sweeper" >&3
  fi

  deploy_stack ecr 00-ecr-repositories.yaml "ProjectName=$PROJECT" "StackPrefix=$PREFIX"

  build_push_and_pin_images

  local cidr
  cidr="$(ingress_cidr)"
  echo "    the load balancer admits $cidr (ALLOWED_INGRESS_CIDR)" >&3
  deploy_stack network 01-vpc-network.yaml \
    "ProjectName=$PROJECT" \
    "AllowedIngressCidr=$cidr"

  deploy_stack app 02-application-stack.yaml \
    "ProjectName=$PROJECT" \
    "StackPrefix=$PREFIX" \
    "DBEngineVersion=${CFG_DB_ENGINE_VERSION}" \
    "DBInstanceClass=${CFG_DB_INSTANCE_CLASS}" \
    "DBAllocatedStorage=${CFG_DB_ALLOCATED_STORAGE}" \
    "DBMaxAllocatedStorage=$db_max_storage" \
    "DBMultiAZ=${CFG_DB_MULTI_AZ}" \
    "DBBackupRetentionDays=${CFG_DB_BACKUP_RETENTION_DAYS}" \
    "DBDeletionProtection=${CFG_DB_DELETION_PROTECTION}"

  local uses_gemini=0 uses_openai=0
  if [ "${CFG_CAPTION_PROVIDER}" = openai ]; then uses_openai=1; else uses_gemini=1; fi
  store_api_key Gemini GEMINI_API_KEY_FILE GeminiApiKeySecretArn "$uses_gemini"
  store_api_key OpenAI OPENAI_API_KEY_FILE OpenAIApiKeySecretArn "$uses_openai"

  deploy_stack lambda 03-lambda-stack.yaml \
    "ProjectName=$PROJECT" \
    "StackPrefix=$PREFIX" \
    "LabRoleArn=${CFG_LAB_ROLE_ARN}" \
    "ThumbnailLambdaImageUri=${IMAGE_REF_thumbnail_lambda}" \
    "AnnotationLambdaImageUri=${IMAGE_REF_annotation_lambda}" \
    "LambdaArchitecture=${CFG_LAMBDA_ARCHITECTURE}" \
    "CaptionProvider=${CFG_CAPTION_PROVIDER}" \
    "CaptionLanguage=${CFG_CAPTION_LANGUAGE}" \
    "GeminiModelName=${CFG_GEMINI_MODEL_NAME}" \
    "GeminiPrompt=${CFG_GEMINI_PROMPT}" \
    "GeminiTimeoutSeconds=${CFG_GEMINI_TIMEOUT_SECONDS}" \
    "OpenAIBaseUrl=${CFG_OPENAI_BASE_URL}" \
    "OpenAIModel=${CFG_OPENAI_MODEL}" \
    "OpenAITimeoutSeconds=${CFG_OPENAI_TIMEOUT_SECONDS}" \
    "ThumbnailWidth=${CFG_THUMBNAIL_WIDTH}" \
    "ThumbnailHeight=${CFG_THUMBNAIL_HEIGHT}" \
    "PreviewSize=${CFG_PREVIEW_SIZE}" \
    "ThumbnailFormat=${CFG_THUMBNAIL_FORMAT}" \
    "KeepLocation=${CFG_KEEP_LOCATION}" \
    "LogLevel=${CFG_LOG_LEVEL}" \
    "JobLeaseSeconds=${CFG_JOB_LEASE_SECONDS}" \
    "JobMaxAttempts=${CFG_JOB_MAX_ATTEMPTS}" \
    "TrashRetentionDays=${CFG_TRASH_RETENTION_DAYS}" \
    "FunctionConcurrencyLimit=$concurrency_limit" \
    "LogRetentionDays=${CFG_LOG_RETENTION_DAYS}" \
    "AlarmEmail=${CFG_ALARM_EMAIL}"

  deploy_stack web 04-ec2-alb-asg-stack.yaml \
    "ProjectName=$PROJECT" \
    "StackPrefix=$PREFIX" \
    "LabRoleArn=${CFG_LAB_ROLE_ARN}" \
    "LabInstanceProfileName=${CFG_LAB_INSTANCE_PROFILE_NAME:-LabInstanceProfile}" \
    "EnableSessionManager=${CFG_ENABLE_SESSION_MANAGER}" \
    "WebAppImageUri=${IMAGE_REF_web_app}" \
    "LogLevel=${CFG_LOG_LEVEL}" \
    "JobLeaseSeconds=${CFG_JOB_LEASE_SECONDS}" \
    "JobMaxAttempts=${CFG_JOB_MAX_ATTEMPTS}" \
    "CaptionProvider=${CFG_CAPTION_PROVIDER}" \
    "CaptionLanguage=${CFG_CAPTION_LANGUAGE}" \
    "GeminiModelName=${CFG_GEMINI_MODEL_NAME}" \
    "GeminiPrompt=${CFG_GEMINI_PROMPT}" \
    "OpenAIModel=${CFG_OPENAI_MODEL}" \
    "MaxUploadMb=${CFG_MAX_UPLOAD_MB}" \
    "WebConcurrency=${CFG_WEB_CONCURRENCY}" \
    "LogRetentionDays=${CFG_LOG_RETENTION_DAYS}" \
    "InstanceType=${CFG_WEB_INSTANCE_TYPE}" \
    "MinSize=${CFG_WEB_MIN_SIZE}" \
    "MaxSize=${CFG_WEB_MAX_SIZE}" \
    "TargetCpuUtilization=${CFG_WEB_TARGET_CPU}" \
    "CertificateArn=${CFG_CERTIFICATE_ARN}"

  step "Done"
  local url admin_secret
  url="$(stack_output web LoadBalancerUrl "http://$PREFIX-web-DRYRUN.$REGION.elb.amazonaws.com")"
  admin_secret="$(stack_output app AdminPasswordSecretArn \
    "arn:aws:secretsmanager:$REGION:$ACCOUNT_ID:secret:AdminPasswordSecret-DRYRUN")"
  echo "Web app: $url" >&3
  echo "Sign in as admin; the password is in Secrets Manager (never printed here). Read it with:" >&3
  echo "  aws secretsmanager get-secret-value --region $REGION --secret-id $admin_secret --query SecretString --output text" >&3
  if [ -z "${CFG_CERTIFICATE_ARN}" ]; then
    echo "warning: no CERTIFICATE_ARN: the site is plain HTTP, so passwords and session cookies cross the network in clear." >&3
  fi
}

# --- Teardown -------------------------------------------------------------------------------------------

delete_stack() {
  local suffix="$1"
  if ! stack_exists "$suffix"; then
    echo "    $(stack_name "$suffix") does not exist" >&3
    return 0
  fi
  step "Delete stack $(stack_name "$suffix")"
  run aws cloudformation delete-stack --region "$REGION" --stack-name "$(stack_name "$suffix")"
  run aws cloudformation wait stack-delete-complete --region "$REGION" --stack-name "$(stack_name "$suffix")"
}

# The buckets are versioned: every object version and delete marker goes, 1000 at a time (one listing
# call of at most 1000 entries, the most one delete-objects call takes), until a listing finds none.
# A dry run prints the first listing only.
empty_bucket() {  # output key of stack 02 holding a bucket name
  local bucket batch previous=""
  bucket="$(stack_output app "$1" "$PREFIX-app-$(tr '[:upper:]' '[:lower:]' <<< "$1")-dryrun")"
  [ -n "$bucket" ] && [ "$bucket" != None ] || return 0
  step "Empty bucket $bucket (every version)"
  while :; do
    batch="$(query '{"Objects": []}' aws s3api list-object-versions --region "$REGION" --bucket "$bucket" \
      --max-keys 1000 --no-paginate --output json \
      --query '{Objects: [Versions, DeleteMarkers][].{Key: Key, VersionId: VersionId}, Quiet: `true`}')"
    [[ "$batch" == *'"Key"'* ]] || return 0
    [ "$batch" != "$previous" ] || die "could not delete these objects from $bucket: $batch"
    run aws s3api delete-objects --region "$REGION" --bucket "$bucket" --delete "$batch"
    previous="$batch"
  done
}

teardown() {
  require aws
  if [ "$DRY_RUN" = 0 ] && [ "$ASSUME_YES" = 0 ]; then
    echo "This deletes the stacks $PREFIX-{web,lambda,app,network,ecr} in $REGION, every uploaded image"
    echo "and thumbnail, and the container images. RDS keeps a final snapshot."
    read -r -p "Type '$PREFIX' to continue: " answer
    [ "$answer" = "$PREFIX" ] || die "cancelled"
  fi
  delete_stack web
  delete_stack lambda
  if stack_exists app; then
    empty_bucket ImageBucketName
    empty_bucket ThumbnailBucketName
  fi
  delete_stack app
  delete_stack network
  delete_stack ecr
  step "Done"
  echo "RDS left a final snapshot (it still costs storage). List and delete it with:" >&3
  echo "  aws rds describe-db-snapshots --region $REGION --snapshot-type manual --query 'DBSnapshots[].DBSnapshotIdentifier'" >&3
  echo "  aws rds delete-db-snapshot --region $REGION --db-snapshot-identifier <id>" >&3
}

if [ "$DRY_RUN" = 1 ]; then
  echo "Dry run: commands are printed, not run; digests and outputs are placeholders."
fi
if [ "$TEARDOWN" = 1 ]; then
  teardown
else
  deploy
fi
