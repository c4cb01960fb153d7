#!/usr/bin/env python3
"""console_test.py CORVID ECHO_GUEST: drives corvid's serial console through a pseudo-terminal.

--serial stdio: the terminal goes raw while the guest runs; Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A H
prints the help, other Ctrl-A keys are swallowed, Ctrl-A X ends corvid with status 0; the terminal's
mode is restored after Ctrl-A X, after SIGTERM and after a fatal Ctrl-\\ (SIGQUIT).
--serial pty: corvid names the pty as QEMU does, and bytes pass through it both ways, Ctrl-A too.
"""
import fcntl
import os
import re
import resource
import select
import signal
import subprocess
import sys
import termios
import time

CORVID, GUEST = sys.argv[1], sys.argv[2]
RUN = [CORVID, "run", "--accel", "tcg", "--memory", "64M", "--kernel", GUEST]
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def read_until(fd, pattern, timeout=60.0, seen=b""):
    """Reads fd until the bytes match pattern; returns everything read (or what came, on timeout)."""
    buf = seen
    deadline = time.monotonic() + timeout
    while not re.search(pattern, buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"waiting for {pattern!r}; got {buf[-400:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            raise TimeoutError(f"EOF waiting for {pattern!r}; got {buf[-400:]!r}")
        buf += chunk
    return buf


def start_on_pty(args):
    """corvid with a fresh pty as its controlling terminal (stdin/stdout/stderr)."""
    master, slave = os.openpty()
    cooked = termios.tcgetattr(slave)

    def child_setup():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, preexec_fn=child_setup)
    return p, master, slave, cooked


def lflag_raw(slave):
    lflag = termios.tcgetattr(slave)[3]
    return not (lflag & termios.ICANON) and not (lflag & termios.ECHO)


def check_restored(slave, cooked, how):
    now = termios.tcgetattr(slave)
    if now != cooked:
        fail(f"terminal mode not restored after {how}: {now} != {cooked}")
    else:
        print(f"ok: terminal mode restored after {how}")


def stdio_escapes():
    p, master, slave, cooked = start_on_pty(RUN + ["--serial", "stdio"])
    try:
        out = read_until(master, rb"echo: ready")
        if not lflag_raw(slave):
            fail("the terminal is not raw while the guest runs")
        os.write(master, b"ab")
        out = read_until(master, rb"\[61\]\[62\]", seen=out)
        print("ok: keys reach the guest")
        os.write(master, b"\x01\x01")
        out = read_until(master, rb"\[01\]", seen=out)
        print("ok: Ctrl-A Ctrl-A sends one Ctrl-A")
        os.write(master, b"\x01h")
        out = read_until(master, rb"C-a x +exit corvid", seen=out)
        print("ok: Ctrl-A H prints the help")
        os.write(master, b"\x01zc")
        out = read_until(master, rb"\[63\]", seen=out)
        if b"[7a]" in out:
            fail("Ctrl-A z reached the guest")
        else:
            print("ok: other Ctrl-A keys are swallowed")
        os.write(master, b"\x01x")
        out = read_until(master, rb"corvid: Terminated", seen=out)
        rc = p.wait(timeout=30)
        if rc != 0:
            fail(f"Ctrl-A X: exit status {rc}, expected 0")
        else:
            print("ok: Ctrl-A X ends corvid with status 0")
        if b"terminating on signal" in out:
            fail("Ctrl-A X reported a signal")
        check_restored(slave, cooked, "Ctrl-A X")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def stdio_signal(how):
    p, master, slave, cooked = start_on_pty(RUN + ["--serial", "stdio"])
    try:
        read_until(master, rb"echo: ready")
        if how == "SIGTERM":
            p.send_signal(signal.SIGTERM)
            want = 0
        else:  # Ctrl-\ through the terminal: SIGQUIT, fatal by default
            os.write(master, b"\x1c")
            want = -signal.SIGQUIT
        rc = p.wait(timeout=30)
        if rc != want:
            fail(f"{how}: exit status {rc}, expected {want}")
        check_restored(slave, cooked, how)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def pty_backend():
    p = subprocess.Popen(RUN + ["--serial", "pty"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = read_until(p.stdout.fileno(), rb"\n", timeout=30)
        m = re.search(rb"char device redirected to (/dev/pts/\d+) \(label serial0\)", line)
        if not m:
            fail(f"--serial pty did not name its device: {line!r}")
            return
        print("ok:", line.decode().strip())
        fd = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
        try:
            # corvid left the pty raw (no echo, no line editing): nothing for the client to set,
            # and setting it here could flush bytes the guest already sent.
            if not lflag_raw(fd):
                fail("the pty is not in raw mode")
            out = read_until(fd, rb"echo: ready")
            os.write(fd, b"xy\x01x")
            read_until(fd, rb"\[78\]\[79\]\[01\]\[78\]", seen=out)
            print("ok: bytes pass through the pty both ways, Ctrl-A X included")
        finally:
            os.close(fd)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        if rc != 0:
            fail(f"--serial pty: exit status {rc} after SIGTERM, expected 0")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


for test in (stdio_escapes, lambda: stdio_signal("SIGTERM"), lambda: stdio_signal("Ctrl-\\"),
             pty_backend):
    try:
        test()
    except (TimeoutError, subprocess.TimeoutExpired) as e:
        fail(str(e))
print("PASS" if failures == 0 else f"{failures} failure(s)")
sys.exit(1 if failures else 0)
