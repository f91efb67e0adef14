# Sourced by scripts/install-tools: runs steps side by side and shows their
# progress on stderr (what runs, n of m steps done, elapsed seconds).
#
#   . "$root/scripts/progress.bash"
#   progress_init install-tools               # the prefix of every line
#   progress_step "local-kms" go_tool ...     # a step: a name and a command, run in the
#   progress_step --go "our commands" go ...  # background with its output in a log;
#                                             # --go: a go command run with -v, whose log
#                                             # gives modules downloaded and packages compiled
#   progress_wait                             # until every step has ended: 1 if one failed
#
# On a terminal (stderr is one; PROGRESS_TTY=1 or 0 overrides), one line
# rewritten in place every second:
#   install-tools: [2/5 done, 14s] local-kms 9s (3 modules downloaded, 40 packages compiled) · DynamoDB Local 14s
# Otherwise plain lines: one naming every step, one when a step ends (with
# the last line of its log), and every PROGRESS_EVERY seconds (default 10)
# what still runs:
#   install-tools: [0/5 done, 0s] started side by side: local-kms · DynamoDB Local · ...
#   install-tools: [2/5 done, 14s] local-kms: done in 9s (3 modules downloaded, 40 packages compiled): local-kms v0.0.0-... installed
#   install-tools: [2/5 done, 20s] running: DynamoDB Local 20s
# A step that fails has its whole log printed. Step logs live in a temporary
# folder removed by progress_wait.

# progress_init PREFIX : starts a display.
progress_init() {
	_progress_prefix=$1
	_progress_names=()
	_progress_pids=()
	_progress_starts=()
	_progress_go=()
	_progress_ended=()
	_progress_dir=$(mktemp -d "${TMPDIR:-/tmp}/progress.XXXXXX")
	_progress_t0=$SECONDS
	_progress_tty=${PROGRESS_TTY:-}
	if [[ -z $_progress_tty ]]; then
		if [[ -t 2 ]]; then _progress_tty=1; else _progress_tty=0; fi
	fi
}

# progress_step [--go] NAME COMMAND [ARG...] : starts COMMAND in the
# background (its stdout and stderr into the step's log).
progress_step() {
	local go=0
	if [[ $1 == --go ]]; then
		go=1
		shift
	fi
	local name=$1 i=${#_progress_names[@]}
	shift
	_progress_names+=("$name")
	_progress_starts+=("$SECONDS")
	_progress_go+=("$go")
	_progress_ended+=(0)
	("$@") >"$_progress_dir/$i.log" 2>&1 &
	_progress_pids+=("$!")
}

_progress_say() { printf '%s: %s\n' "$_progress_prefix" "$*" >&2; }

# _progress_detail I : "(N modules, M packages)" for a --go step, from its log.
_progress_detail() {
	local log=$_progress_dir/$1.log modules packages
	((_progress_go[$1])) || return 0
	modules=$(grep -c '^go: downloading ' "$log" 2>/dev/null) || true
	# go -v prints each package it compiles, alone on its line.
	packages=$(grep -cE '^[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~+-]+)*$' "$log" 2>/dev/null) || true
	if ((modules > 0)); then
		printf ' (%d modules downloaded, %d packages compiled)' "$modules" "${packages:-0}"
	else
		printf ' (%d packages compiled)' "${packages:-0}"
	fi
}

# progress_wait : shows the progress until every step has ended. Returns 1
# if any failed, after printing its log.
progress_wait() {
	local total=${#_progress_names[@]} done=0 failed=0 i status line running last_plain=$SECONDS last_drawn=-1
	local every=${PROGRESS_EVERY:-10}
	trap '_progress_stop; exit 130' INT TERM
	if ((!_progress_tty)); then
		running=""
		for i in "${!_progress_names[@]}"; do running+="${running:+ · }${_progress_names[i]}"; done
		_progress_say "[0/$total done, $((SECONDS - _progress_t0))s] started side by side: $running"
	fi
	while ((done < total)); do
		for i in "${!_progress_pids[@]}"; do
			((_progress_ended[i])) && continue
			kill -0 "${_progress_pids[i]}" 2>/dev/null && continue
			status=0
			wait "${_progress_pids[i]}" || status=$?
			_progress_ended[i]=1
			done=$((done + 1))
			((_progress_tty)) && printf '\r\033[K' >&2
			if ((status == 0)); then
				line=$(grep -v '^go: downloading ' "$_progress_dir/$i.log" | tail -n1)
				_progress_say "[$done/$total done, $((SECONDS - _progress_t0))s] ${_progress_names[i]}: done in $((SECONDS - _progress_starts[i]))s$(_progress_detail "$i")${line:+: ${line#*: }}"
			else
				failed=1
				_progress_say "[$done/$total done, $((SECONDS - _progress_t0))s] ${_progress_names[i]}: FAILED (exit $status) after $((SECONDS - _progress_starts[i]))s; its output:"
				sed 's/^/    /' "$_progress_dir/$i.log" >&2
			fi
		done
		((done < total)) || break
		# The line of running steps (greps of their logs: CPU that a first
		# run's builds want) only when it is shown: on a terminal once a
		# second, else every PROGRESS_EVERY seconds.
		if ((_progress_tty ? SECONDS != last_drawn : SECONDS - last_plain >= every)); then
			running=""
			for i in "${!_progress_pids[@]}"; do
				((_progress_ended[i])) && continue
				running+="${running:+ · }${_progress_names[i]} $((SECONDS - _progress_starts[i]))s$(_progress_detail "$i")"
			done
			if ((_progress_tty)); then
				last_drawn=$SECONDS
				line="$_progress_prefix: [$done/$total done, $((SECONDS - _progress_t0))s] $running"
				printf '\r\033[K%s' "${line:0:$((${COLUMNS:-100} - 1))}" >&2
			else
				last_plain=$SECONDS
				_progress_say "[$done/$total done, $((SECONDS - _progress_t0))s] running: $running"
			fi
		fi
		sleep 0.5
	done
	trap - INT TERM
	rm -rf -- "$_progress_dir"
	((failed == 0))
}

# _progress_stop : ends every step still running (Ctrl-C).
_progress_stop() {
	local i
	for i in "${!_progress_pids[@]}"; do
		((_progress_ended[i])) || kill -- "${_progress_pids[i]}" 2>/dev/null || true
	done
	((_progress_tty)) && printf '\r\033[K' >&2
	rm -rf -- "$_progress_dir"
}
