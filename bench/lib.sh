# bench/lib.sh — what the bench scripts share; they source it (it is not a
# command). After sourcing: $root is the repository, $tmp a directory
# removed on exit (with the simulator stopped).
#
#   need_gnu_time SCRIPT    exit 2 unless GNU time is at /usr/bin/time
#   start_simulator [FLAGS] start "$tmp/sfmc simulator FLAGS" on a free
#                           loopback port, wait until it serves, and export
#                           the SFMC_* variables it prints
#   stop_simulator          stop it (also done on exit)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
sim_pid=""

stop_simulator() {
	if [ -n "$sim_pid" ]; then
		kill -INT "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
		sim_pid=""
	fi
}
trap 'stop_simulator; rm -rf "$tmp"' EXIT INT TERM

need_gnu_time() {
	if ! /usr/bin/time -v true >/dev/null 2>&1; then
		echo "$1: GNU time is needed at /usr/bin/time (Debian/Ubuntu: sudo apt-get install time)" >&2
		exit 2
	fi
}

start_simulator() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
	"$tmp/sfmc" simulator --addr "127.0.0.1:$port" "$@" >"$tmp/sim.out" 2>&1 &
	sim_pid=$!
	for _ in $(seq 1 100); do
		grep -q "serving until" "$tmp/sim.out" 2>/dev/null && break
		sleep 0.05
	done
	grep -q "serving until" "$tmp/sim.out" || { echo "simulator did not start:" >&2; cat "$tmp/sim.out" >&2; exit 2; }
	eval "$(grep '^export ' "$tmp/sim.out")"
	sim_addr="127.0.0.1:$port"
}
