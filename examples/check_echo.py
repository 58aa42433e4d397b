#!/usr/bin/env python3
"""Runs the two examples together: echo_server on a free port, echo_client
against it with 1,000 echoes. Used by `meson test` (suite 'examples')."""
import subprocess
import sys


def command(exe):
    # A Windows build runs under Wine when the tests run on Linux (with the
    # WINEPREFIX the build's test environment sets).
    return (["wine", exe] if exe.endswith(".exe") and sys.platform != "win32" else [exe])


def main():
    server_exe, client_exe = sys.argv[1], sys.argv[2]
    server = subprocess.Popen(command(server_exe) + ["tcp|127.0.0.1|0", "--clients", "1"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        print("server:", line)
        if not line.startswith("listening on "):
            return 1
        client = subprocess.run(command(client_exe) + [line[len("listening on "):], "1000"],
                                timeout=120)
        print("client exit status", client.returncode)
        server.wait(timeout=60)
        print("server:", server.stdout.read().strip())
        return 0 if client.returncode == 0 and server.returncode == 0 else 1
    finally:
        if server.poll() is None:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
