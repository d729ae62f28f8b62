# A real ssh host for tests, on this machine: the system's sshd on 127.0.0.1 at a free high port,
# with keys made for the test. `load sshd` beside `load helper`, then:
#
#   setup_file()    { need_sshd; facet_sshd_start; }     # or facet_sshd_start DIR
#   teardown_file() { facet_sshd_stop; }
#
# facet_sshd_start exports
#   FACET_TEST_SSH_CONFIG  an ssh client config naming the host
#   FACET_TEST_SSH         "ssh -F <config>": the ssh command to give parallel, mpirun, rsync
#   FACET_TEST_HOST        facet-test-host, the host's name in that config
# so that `$FACET_TEST_SSH $FACET_TEST_HOST CMD` runs CMD there. Remote commands see the PATH
# that was set when facet_sshd_start ran (sshd's SetEnv), so the facet tools under test, and
# whatever else is on PATH, are found by name; the working folder is the user's home, as ssh's.
# Only loopback: sshd listens on 127.0.0.1 and nowhere else, keys only, no passwords.

FACET_TEST_HOST=facet-test-host

# Skip unless the system's sshd and ssh client are installed.
need_sshd() {
	[ -x /usr/sbin/sshd ] || skip "/usr/sbin/sshd not found (Debian openssh-server)"
	command -v ssh > /dev/null || skip "ssh not found (Debian openssh-client)"
	command -v ssh-keygen > /dev/null || skip "ssh-keygen not found (Debian openssh-client)"
}

# facet_sshd_free_port: a TCP port on 127.0.0.1 that nothing listens on now.
facet_sshd_free_port() {
	/usr/bin/python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# facet_sshd_start [DIR]: start sshd with its files in DIR (default $BATS_FILE_TMPDIR/sshd) and
# wait until a login works; fails with sshd's log when it does not within 20 seconds.
facet_sshd_start() {
	local dir=${1:-$BATS_FILE_TMPDIR/sshd} port pid i user
	user=$(id -un)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 700 "$dir"
	rm -f "$dir/host_key" "$dir/host_key.pub" "$dir/client_key" "$dir/client_key.pub"
	ssh-keygen -q -t ed25519 -N '' -C facet-test-host -f "$dir/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -C facet-test-client -f "$dir/client_key" || return 1
	cp "$dir/client_key.pub" "$dir/authorized_keys"
	chmod 600 "$dir/authorized_keys"
	# sshd started by root wants its privilege separation folder, as the init script makes it.
	[ "$(id -u)" -ne 0 ] || [ -d /run/sshd ] || mkdir -p -m 755 /run/sshd
	for _ in 1 2 3; do
		port=$(facet_sshd_free_port) || return 1
		cat > "$dir/sshd_config" <<-EOF
			Port $port
			ListenAddress 127.0.0.1
			HostKey $dir/host_key
			PidFile none
			AuthorizedKeysFile $dir/authorized_keys
			AllowUsers $user
			PermitRootLogin prohibit-password
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			PrintMotd no
			SetEnv PATH=$PATH
			LogLevel ERROR
		EOF
		cat > "$dir/ssh_config" <<-EOF
			Host $FACET_TEST_HOST
			    HostName 127.0.0.1
			    Port $port
			    User $user
			    IdentityFile $dir/client_key
			    IdentitiesOnly yes
			    StrictHostKeyChecking no
			    UserKnownHostsFile /dev/null
			    LogLevel ERROR
			    BatchMode yes
			    ConnectTimeout 5
		EOF
		/usr/sbin/sshd -t -f "$dir/sshd_config" 2> "$dir/sshd.log" || {
			echo "facet_sshd_start: sshd rejects its config: $(cat "$dir/sshd.log")" >&2
			return 1
		}
		# -D: stay in the foreground as our child; -e: log to stderr (into sshd.log). fd 3 is
		# closed so that BATS does not wait for sshd.
		/usr/sbin/sshd -D -e -f "$dir/sshd_config" < /dev/null > "$dir/sshd.log" 2>&1 3>&- &
		pid=$!
		echo "$pid" > "$dir/sshd.pid"
		export FACET_TEST_SSH_CONFIG=$dir/ssh_config
		export FACET_TEST_SSH="ssh -F $dir/ssh_config"
		export FACET_TEST_HOST FACET_TEST_SSHD_DIR=$dir
		for i in $(seq 100); do
			kill -0 "$pid" 2> /dev/null || break # it died: port taken meanwhile? try another
			if ssh -F "$dir/ssh_config" "$FACET_TEST_HOST" true < /dev/null 2>> "$dir/ssh.log"; then
				return 0
			fi
			sleep 0.2
		done
		kill "$pid" 2> /dev/null
		wait "$pid" 2> /dev/null
	done
	echo "facet_sshd_start: no login to sshd on 127.0.0.1:$port within 20 s; sshd said:" \
		"$(cat "$dir/sshd.log"); ssh said: $(tail -n 3 "$dir/ssh.log")" >&2
	rm -f "$dir/sshd.pid"
	return 1
}

# facet_sshd_stop: stop the sshd that facet_sshd_start started, with any session it still
# serves, and remove its files.
facet_sshd_stop() {
	local dir=${FACET_TEST_SSHD_DIR:-} pid child
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	if [ -f "$dir/sshd.pid" ]; then
		pid=$(cat "$dir/sshd.pid")
		for child in $(pgrep -P "$pid"); do
			kill "$child" 2> /dev/null
		done
		kill "$pid" 2> /dev/null
		wait "$pid" 2> /dev/null
		for _ in $(seq 50); do
			kill -0 "$pid" 2> /dev/null || break
			sleep 0.1
		done
	fi
	rm -rf "$dir"
	unset FACET_TEST_SSH_CONFIG FACET_TEST_SSH FACET_TEST_SSHD_DIR
	return 0
}
