# shellcheck shell=bash
#
# Local stand-ins for AWS, for tests and manual runs: local-kms (KMS) and
# dynalite (DynamoDB, in memory), on ports chosen by the OS, so several runs
# can share a machine. dynalite listens on 127.0.0.1 only; local-kms has no
# setting for its address and listens on all interfaces, but is only used
# through 127.0.0.1. scripts/install-tools installs both.
#
# Usage, from a bash script running with `set -euo pipefail`:
#
#   source "$root/scripts/lib/local-servers.sh"
#   local_servers_start   # start both, wait until they answer, export AWS_*
#   ...                   # anything using the AWS SDK now talks to them
#
# local_servers_start sets EXIT/INT/TERM/HUP traps that stop the servers
# (whole process groups) and delete their temp dir however the script ends;
# a watchdog stops them as well if the script itself is killed with SIGKILL.
# When the script fails (exits non-zero, not by a signal), the tail of each
# server's log is printed.
#
# Exported for the AWS SDK (Go SDK v2 reads AWS_ENDPOINT_URL_<SERVICE>):
#   AWS_ENDPOINT_URL_KMS=http://127.0.0.1:<port>
#   AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:<port>
#   AWS_REGION=us-east-1 (and AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID=test,
#   AWS_SECRET_ACCESS_KEY=test; the user's ~/.aws files, profile, session
#   token and AWS_CA_BUNDLE are masked so that nothing can reach real AWS.
#
# Settings: LOCAL_SERVERS_TIMEOUT (seconds to wait for each server, default 30).

_ls_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

LOCAL_SERVERS_DIR=
_ls_names=()   # server names, in start order
_ls_pgids=()   # process group of each server (its session leader's pid)
_ls_jobs=()    # pids of our background children, to reap them
_ls_watchdog=  # process group of the watchdog

_ls_say() { printf 'local-servers: %s\n' "$*" >&2; }

# _ls_spawn NAME COMMAND... : run COMMAND in a new session (so its whole
# process group can be signalled, and a Ctrl-C in the terminal reaches only
# our traps), with output in $LOCAL_SERVERS_DIR/NAME.log.
_ls_spawn() {
	local name=$1 pidfile="$LOCAL_SERVERS_DIR/$1.pid" i
	shift
	# The inner shell records its own pid, which is the new session's and
	# process group's id whether or not setsid had to fork, then becomes COMMAND.
	# shellcheck disable=SC2016
	setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
		</dev/null >"$LOCAL_SERVERS_DIR/$name.log" 2>&1 &
	_ls_jobs+=($!)
	for ((i = 0; i < 500; i++)); do
		[[ -s $pidfile ]] && break
		sleep 0.01
	done
	if [[ ! -s $pidfile ]]; then
		_ls_say "could not start $name"
		return 1
	fi
	_ls_names+=("$name")
	_ls_pgids+=("$(<"$pidfile")")
}

_ls_pgid_of() {
	local i
	for i in "${!_ls_names[@]}"; do
		[[ ${_ls_names[$i]} == "$1" ]] && { echo "${_ls_pgids[$i]}"; return; }
	done
}

# _ls_tail NAME : print the end of a server's log.
_ls_tail() {
	local log="$LOCAL_SERVERS_DIR/$1.log"
	[[ -f $log ]] || return 0
	printf -- '----- last lines of %s log (%s) -----\n' "$1" "$log" >&2
	tail -n "${2:-25}" "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
	printf -- '----- end of %s log -----\n' "$1" >&2
}

# _ls_wait_port NAME REGEX : wait until the server's log has a line matching
# REGEX whose first capture group is the port it listens on; print the port.
_ls_wait_port() {
	local name=$1 regex=$2 pgid deadline line
	pgid=$(_ls_pgid_of "$name")
	deadline=$((SECONDS + ${LOCAL_SERVERS_TIMEOUT:-30} + 1)) # SECONDS counts whole seconds
	while ((SECONDS < deadline)); do
		if line=$(sed 's/\x1b\[[0-9;]*m//g' "$LOCAL_SERVERS_DIR/$name.log" | grep -E -m1 "$regex"); then
			[[ $line =~ $regex ]] && { echo "${BASH_REMATCH[1]}"; return 0; }
		fi
		if ! kill -0 -- "-$pgid" 2>/dev/null; then
			_ls_say "$name exited before it was listening"
			return 1
		fi
		sleep 0.02
	done
	_ls_say "$name did not start listening within ${LOCAL_SERVERS_TIMEOUT:-30}s"
	return 1
}

# _ls_wait_ready NAME URL TARGET CONTENT_TYPE : wait until an AWS JSON call to
# the server answers 200 (a real answer from the API, not just an open port).
_ls_wait_ready() {
	local name=$1 url=$2 target=$3 ctype=$4 pgid deadline code
	pgid=$(_ls_pgid_of "$name")
	deadline=$((SECONDS + ${LOCAL_SERVERS_TIMEOUT:-30} + 1)) # SECONDS counts whole seconds
	while ((SECONDS < deadline)); do
		# The signature is not checked by the stand-ins, only its shape.
		code=$(curl --silent --noproxy '*' --max-time 2 --output /dev/null --write-out '%{http_code}' \
			-X POST "$url/" \
			-H "X-Amz-Target: $target" -H "Content-Type: $ctype" \
			-H 'X-Amz-Date: 20200101T000000Z' \
			-H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/local/aws4_request, SignedHeaders=host;x-amz-date, Signature=00' \
			--data '{}') || true
		[[ $code == 200 ]] && return 0
		if ! kill -0 -- "-$pgid" 2>/dev/null; then
			_ls_say "$name exited before it answered"
			return 1
		fi
		sleep 0.02
	done
	_ls_say "$name did not answer $target at $url within ${LOCAL_SERVERS_TIMEOUT:-30}s (last HTTP status: ${code:-none})"
	return 1
}

local_servers_start() {
	local kms_bin="$_ls_root/.local/bin/local-kms"
	local dynalite_dir="$_ls_root/infra/local"
	local kms_port dynamodb_port t0=$SECONDS

	if [[ -n $LOCAL_SERVERS_DIR ]]; then
		_ls_say "already started"
		return 1
	fi
	if [[ ! -x $kms_bin || ! -d $dynalite_dir/node_modules/dynalite ]]; then
		_ls_say "local-kms or dynalite is missing: run scripts/install-tools first"
		return 1
	fi
	local tool
	for tool in curl setsid node; do
		command -v "$tool" >/dev/null || { _ls_say "$tool is needed but not installed"; return 1; }
	done

	LOCAL_SERVERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lambda-auth-servers.XXXXXX") || return 1
	trap '_ls_on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	# Start both, then wait for both: they come up in parallel.
	mkdir "$LOCAL_SERVERS_DIR/kms-data" || return 1
	# PORT=0: the OS picks the port and local-kms logs it. It listens on all
	# interfaces (it has no setting for the address); we only use loopback.
	# KMS_SEED_PATH points to a file that does not exist: start with no keys
	# (tests create their own), whatever /init/seed.yaml may hold.
	_ls_spawn kms env PORT=0 KMS_REGION=us-east-1 KMS_ACCOUNT_ID=000000000000 \
		KMS_DATA_PATH="$LOCAL_SERVERS_DIR/kms-data" KMS_SEED_PATH="$LOCAL_SERVERS_DIR/no-seed.yaml" \
		"$kms_bin" || return 1
	_ls_spawn dynamodb env DYNALITE_HOST=127.0.0.1 DYNALITE_PORT=0 \
		node "$dynalite_dir/dynalite-server.js" || return 1
	_ls_start_watchdog

	kms_port=$(_ls_wait_port kms 'Local KMS started on [0-9.:]*:([0-9]+)') || return 1
	dynamodb_port=$(_ls_wait_port dynamodb 'dynalite listening on http://[0-9.]+:([0-9]+)') || return 1
	_ls_wait_ready kms "http://127.0.0.1:$kms_port" TrentService.ListKeys application/x-amz-json-1.1 || return 1
	_ls_wait_ready dynamodb "http://127.0.0.1:$dynamodb_port" DynamoDB_20120810.ListTables application/x-amz-json-1.0 || return 1

	export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$kms_port"
	export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
	export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
	export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
	export AWS_EC2_METADATA_DISABLED=true
	# Nothing of the user's AWS setup may take part: no profile, no config or
	# credentials file, no other endpoints. The endpoints are plain http, and
	# AWS_CA_BUNDLE only slows every SDK start-up.
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
	unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ROLE_ARN \
		AWS_WEB_IDENTITY_TOKEN_FILE AWS_ENDPOINT_URL AWS_IGNORE_CONFIGURED_ENDPOINT_URLS \
		AWS_CA_BUNDLE AWS_USE_FIPS_ENDPOINT AWS_USE_DUALSTACK_ENDPOINT
	_ls_say "KMS at $AWS_ENDPOINT_URL_KMS, DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB (ready in $((SECONDS - t0))s, logs in $LOCAL_SERVERS_DIR)"
}

# The watchdog stops the servers if this shell dies without running its traps
# (SIGKILL). It lives in its own session too, so Ctrl-C does not end it early.
_ls_start_watchdog() {
	local pidfile="$LOCAL_SERVERS_DIR/watchdog.pid" groups="" g i
	for g in "${_ls_pgids[@]}"; do groups+=" -$g"; done
	# It pauses with `read -t` on a FIFO rather than running sleep, so that
	# stopping it leaves no orphaned child behind.
	mkfifo "$LOCAL_SERVERS_DIR/watchdog.fifo" || return 0
	# shellcheck disable=SC2016,SC2086
	setsid bash -c '
		echo $$ >"$0.tmp" && mv "$0.tmp" "$0"
		parent=$1 dir=$2; shift 2
		exec 3<>"$dir/watchdog.fifo"
		while kill -0 "$parent" 2>/dev/null; do read -r -t 1 -u 3 || :; done
		kill -TERM -- "$@" 2>/dev/null; read -r -t 2 -u 3 || :; kill -KILL -- "$@" 2>/dev/null
		rm -rf -- "$dir"' "$pidfile" "$$" "$LOCAL_SERVERS_DIR" $groups \
		</dev/null >/dev/null 2>&1 &
	_ls_jobs+=($!)
	for ((i = 0; i < 500; i++)); do
		[[ -s $pidfile ]] && break
		sleep 0.01
	done
	[[ -s $pidfile ]] && _ls_watchdog=$(<"$pidfile")
	return 0
}

# local_servers_stop : stop the servers (SIGTERM to each process group, SIGKILL
# after 5s) and delete their temp dir. Safe to call more than once.
local_servers_stop() {
	local g alive i
	[[ -n $LOCAL_SERVERS_DIR ]] || return 0
	if [[ -n $_ls_watchdog ]]; then
		kill -TERM -- "-$_ls_watchdog" 2>/dev/null || true
		_ls_watchdog=
	fi
	for g in "${_ls_pgids[@]}"; do
		kill -TERM -- "-$g" 2>/dev/null || true
	done
	for ((i = 0; i < 250; i++)); do
		alive=0
		for g in "${_ls_pgids[@]}"; do
			kill -0 -- "-$g" 2>/dev/null && alive=1
		done
		((alive)) || break
		sleep 0.02
	done
	if ((alive)); then
		_ls_say "servers did not stop on SIGTERM within 5s, killing them"
		for g in "${_ls_pgids[@]}"; do
			kill -KILL -- "-$g" 2>/dev/null || true
		done
	fi
	for g in "${_ls_jobs[@]}"; do
		wait "$g" 2>/dev/null || true
	done
	rm -rf -- "$LOCAL_SERVERS_DIR"
	LOCAL_SERVERS_DIR=
	_ls_names=()
	_ls_pgids=()
	_ls_jobs=()
}

# local_servers_wait : block until a server exits by itself (then return 1;
# the EXIT trap prints its log) or a signal ends the script.
local_servers_wait() {
	local i
	while :; do
		for i in "${!_ls_names[@]}"; do
			if ! kill -0 -- "-${_ls_pgids[$i]}" 2>/dev/null; then
				_ls_say "${_ls_names[$i]} exited"
				return 1
			fi
		done
		sleep 0.5
	done
}

_ls_on_exit() {
	local status=$?
	# On failure show what the servers said; not when stopped by a signal
	# (129 HUP, 130 Ctrl-C, 143 TERM), which is no failure of theirs.
	if ((status != 0 && status != 129 && status != 130 && status != 143)) && [[ -n $LOCAL_SERVERS_DIR ]]; then
		local name
		for name in "${_ls_names[@]}"; do
			_ls_tail "$name" 15
		done
	fi
	local_servers_stop
	exit "$status"
}
