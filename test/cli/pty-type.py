"""Runs argv[2:] on a new pseudo-terminal; once it printed "Password", types argv[1] and Enter.
Prints everything the terminal showed, then "exit <code>". Used by cli.auth.test.ts (password prompt)."""
import os, pty, select, sys, time

answer = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b''
deadline = time.time() + 60
typed = False
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
    if not typed and b'Password' in out:
        os.write(fd, answer + b'\r')
        typed = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.stdout.write('\nexit %d\n' % (os.waitstatus_to_exitcode(status)))
