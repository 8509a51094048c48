# Sourced by client_install_test.sh and tests/packaging/test_wheel_bare_root.sh:
# the free loopback ports a test's mooncake_master listens on, and the wait
# until it does.

# Prints a TCP port of 127.0.0.1 that is free now.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_master PID RPC_PORT HTTP_PORT: waits up to 30 s until both ports
# of 127.0.0.1 accept connections; fails sooner when process PID exits.
wait_for_master() {
    local pid=$1 rpc_port=$2 http_port=$3
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$rpc_port") 2>/dev/null &&
            (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
