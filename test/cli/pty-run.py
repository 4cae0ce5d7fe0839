"""Runs argv[1:] on a new pseudo-terminal; once it printed "started", types the interrupt character (^C).
Prints what it wrote to the terminal, then "exit <code>". Used by cli.tty.test.ts."""
import os, pty, select, sys, time

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b''
deadline = time.time() + 60
sent = False
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not sent and b'started' in out:
        os.write(fd, b'\x03')
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.stdout.write('\nexit %d\n' % (os.waitstatus_to_exitcode(status)))
