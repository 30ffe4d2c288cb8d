"""The standard age tools (Debian's `age` package: age, age-keygen) as the tests use them: keys, and
encrypting or decrypting files the way a user would on a bare machine.

The age CLI reads a passphrase only from a terminal, so passphrase runs get a pseudo-terminal (pty) and
the passphrase is typed at its prompt.
"""

import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

AGE = shutil.which('age') or '/usr/bin/age'
AGE_KEYGEN = shutil.which('age-keygen') or '/usr/bin/age-keygen'


class Keys:
    """Key pairs in ``directory``: an age X25519 identity, an ssh-ed25519 and an ssh-rsa key."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.x25519 = self.directory / 'identity.txt'
        subprocess.run([AGE_KEYGEN, '-o', str(self.x25519)], check=True, stderr=subprocess.DEVNULL)
        self.x25519_recipient = subprocess.run(
            [AGE_KEYGEN, '-y', str(self.x25519)], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        self.ed25519 = self.directory / 'id_ed25519'
        self.rsa = self.directory / 'id_rsa'
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'ed@test', '-f', str(self.ed25519)],
                       check=True)
        subprocess.run(['ssh-keygen', '-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'rsa@test',
                        '-f', str(self.rsa)], check=True)

    @property
    def ed25519_recipient(self):
        return Path(str(self.ed25519) + '.pub').read_text().strip()

    @property
    def rsa_recipient(self):
        return Path(str(self.rsa) + '.pub').read_text().strip()

    def secret(self):
        """The AGE-SECRET-KEY-1... line of the X25519 identity."""
        return [line for line in self.x25519.read_text().splitlines() if line.startswith('AGE-SECRET-KEY-')][0]


def decrypt(source, target, identity):
    """`age -d -i identity -o target source`; raises CalledProcessError (stderr attached) when age refuses."""
    subprocess.run([AGE, '-d', '-i', str(identity), '-o', str(target), str(source)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def encrypt(source, target, recipient=None, recipients_file=None):
    argv = [AGE, '-e', '-o', str(target)]
    argv += ['-r', recipient] if recipient else ['-R', str(recipients_file)]
    subprocess.run(argv + [str(source)], check=True)


def with_passphrase(args, passphrase, timeout=120):
    """Run `age args...` in a pseudo-terminal, typing passphrase at each of its prompts; (exit status,
    what it printed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: age, with the pty as its terminal
        try:
            os.execv(AGE, [AGE] + [str(arg) for arg in args])
        finally:
            os._exit(127)
    output, line, deadline = b'', b'', time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                data = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            output += data
            line = (line + data).split(b'\n')[-1]
            if b'assphrase' in line and line.rstrip().endswith(b':'):
                os.write(fd, passphrase.encode() + b'\n')
                line = b''
    finally:
        os.close(fd)
    return _reap(pid, max(deadline - time.monotonic(), 10)), output.decode('utf-8', 'replace')


def _reap(pid, grace):
    """The child's exit code; killed when it has not ended within grace seconds."""
    until = time.monotonic() + grace
    while time.monotonic() < until:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
