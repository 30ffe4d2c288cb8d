"""The test images, built here (no registry can be reached) and cached in the test daemon.

Four images, each tagged with a digest of everything it is built from, so an unchanged
recipe is never built twice and a changed one never reuses a stale image:

- ``base``: Debian bookworm, ``mmdebstrap --variant=minbase`` piped into ``docker import``;
- ``papermerge``: laid out like the official ``papermerge/papermerge:2.1.9`` (see
  ``docker/papermerge/Dockerfile``), from the upstream tarball kept in ``docker/upstream/``;
- ``postgres`` and ``redis``: Debian's servers for the compose deployment.

``ensure_images(daemon)`` builds what is missing (one builder per image at a time, across
every run on the machine: the others wait for it) and returns ``{name: Image}``.  Run as a
script it builds them all: ``python3 tests/support/docker_images.py [--rebuild NAME]``.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from docker_daemon import DockerDaemon, DockerError

SUPPORT_DIR = Path(__file__).resolve().parent
ASSETS = SUPPORT_DIR / 'docker'
UPSTREAM_TARBALL = ASSETS / 'upstream' / 'papermerge-core-2.1.9.tar.gz'
CONSTRAINTS = SUPPORT_DIR / 'papermerge-2.1.5-constraints.txt'
REPOSITORY = 'papermerge-backup-test'
PAPERMERGE_VERSION = '2.1.9'
# pyenv's 3.10 is built against Debian 12's libraries: copied into the image it is what the
# official image runs (python:3.10-slim).
PYENV_VERSIONS = Path(os.environ.get('PYENV_ROOT', Path.home() / '.pyenv')) / 'versions'
MMDEBSTRAP = ['mmdebstrap', '--variant=minbase', '--quiet', '--include=ca-certificates',
              '--aptopt=Acquire::Retries "3"', 'bookworm', '-']
UNUSED_IMAGE_DAYS = 14


class Image:
    """A built image: ``name`` (base, papermerge, ...), ``tag`` (repository:tag), ``built``
    (True when this call built it, False when it came from the cache), ``seconds``."""

    def __init__(self, name, tag, built, seconds):
        self.name, self.tag, self.built, self.seconds = name, tag, built, seconds

    def __repr__(self):
        return 'Image(%s, %s)' % (self.tag, 'built in %.0f s' % self.seconds if self.built
                                  else 'cached')


# -- what an image is built from --------------------------------------------------------------
def _digest(parts):
    """A short digest of ``parts``: paths (their content) and strings."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.name.encode() + b'\0' + part.read_bytes())
        else:
            digest.update(str(part).encode())
        digest.update(b'\0')
    return digest.hexdigest()[:12]


def image_python():
    """(path, description) of the Python 3.10 the papermerge image gets, or (None,
    description) when there is none and the image falls back to Debian's python3.11."""
    candidates = sorted(PYENV_VERSIONS.glob('3.10.*/bin/python3.10'),
                        key=lambda p: [int(n) for n in p.parent.parent.name.split('.')
                                       if n.isdigit()])
    for candidate in reversed(candidates):
        if os.access(candidate, os.X_OK):
            version = candidate.parent.parent.name
            return candidate, 'CPython %s (pyenv build copied to /usr/local)' % version
    return None, "Debian's python3.11 (no CPython 3.10 on the build host)"


def _recipe_files(name):
    return sorted(p for p in (ASSETS / name).rglob('*') if p.is_file())


def image_tags():
    """{name: repository:tag} for the images the current recipes produce."""
    python, description = image_python()
    base = '%s/debian:bookworm-%s' % (REPOSITORY, _digest([' '.join(MMDEBSTRAP)]))
    tags = {'base': base}
    for name in ('postgres', 'redis'):
        tags[name] = '%s/%s:%s' % (REPOSITORY, name, _digest([base] + _recipe_files(name)))
    tags['papermerge'] = '%s/papermerge:%s-%s' % (REPOSITORY, PAPERMERGE_VERSION, _digest(
        [base, description, UPSTREAM_TARBALL, CONSTRAINTS] + _recipe_files('papermerge')))
    return tags


# -- building ---------------------------------------------------------------------------------
def _has_image(daemon, tag):
    return bool(daemon.docker('images', '-q', tag).strip())


def _build_base(daemon, tag, work_dir, _tags):
    """mmdebstrap into a tarball, then docker import (a pipe would hide mmdebstrap's failure)."""
    if not shutil.which('mmdebstrap'):
        raise DockerError('mmdebstrap is missing: run scripts/install-system-deps.sh')
    rootfs, log_file = work_dir / 'rootfs.tar', work_dir / 'mmdebstrap.log'
    with open(rootfs, 'wb') as out, open(log_file, 'wb') as log:
        result = subprocess.run(MMDEBSTRAP, stdout=out, stderr=log, check=False)
    if result.returncode != 0:
        raise DockerError('mmdebstrap failed:\n%s' % log_file.read_text()[-5000:])
    daemon.docker('import', '--change', 'CMD ["bash"]', str(rootfs), tag, timeout=900)


def _docker_build(daemon, tag, context, base):
    """The classic builder with the host's network: RUN steps reach Debian's mirror without
    an address of their own (the daemon has no bridge)."""
    labels = ['--label', 'papermerge-backup-tests.recipe=%s' % tag]
    daemon.docker('build', '--network', 'host', '--pull=false', '--rm', '--force-rm',
                  '--build-arg', 'BASE_IMAGE=%s' % base, *labels, '-t', tag, str(context),
                  timeout=3600)


def _build_service(name, daemon, tag, work_dir, tags):
    context = work_dir / 'context'
    shutil.copytree(ASSETS / name, context)
    _docker_build(daemon, tag, context, tags['base'])


def _copy_python(python, target):
    """CPython's prefix without tests, site-packages or scripts whose shebang names the host's
    path: python:3.10-slim's /usr/local holds the same."""
    prefix = python.parent.parent
    stdlib = python.name  # python3.10

    def ignore(directory, names):
        relative = Path(directory).relative_to(prefix)
        skipped = {n for n in names if n == '__pycache__'}
        if relative == Path('lib') / stdlib:
            skipped |= {n for n in names if n in ('test', 'site-packages', 'idlelib')}
        if relative == Path('bin'):
            skipped |= {n for n in names if n not in (stdlib, 'python3', 'python')}
        return skipped

    for part in ('bin', 'include', 'lib'):
        shutil.copytree(prefix / part, target / part, symlinks=True, ignore=ignore)
    (target / 'lib' / stdlib / 'site-packages').mkdir()


def _project(line):
    """The normalised project name a requirement line pins ('' for comments)."""
    name = line.split('#', 1)[0].split('==', 1)[0].split('<=', 1)[0].strip()
    return name.lower().replace('_', '-').replace('.', '-')


def _requirements(python_version):
    """The constraints (pins; upper bounds on an older Python, as build_papermerge_venv.sh
    does) without ocrmypdf-papermerge (installed with --no-deps), plus the image's extras,
    which replace the constraints' line of a project they name."""
    extra = (ASSETS / 'papermerge' / 'requirements-extra.txt').read_text()
    overridden = {_project(line) for line in extra.splitlines()} | {'ocrmypdf-papermerge'}
    lines = []
    for line in CONSTRAINTS.read_text().splitlines():
        if _project(line) and _project(line) not in overridden:
            lines.append(line if python_version == '3.11' else line.replace('==', '<=', 1))
    return '\n'.join(lines) + '\n' + extra


def _ocrmypdf_papermerge_pin():
    for line in CONSTRAINTS.read_text().splitlines():
        if line.lower().startswith('ocrmypdf-papermerge=='):
            return line.strip()
    raise DockerError('%s pins no ocrmypdf-papermerge' % CONSTRAINTS)


def _build_wheels(pip_python, requirements, wheelhouse):
    """Every dependency as a wheel for the image's Python, made on the host with the same
    interpreter: the host's pip reaches PyPI as the machine is set up to, and its cache keeps
    downloads and the wheels it built from source (uWSGI, django-haystack) for the next build.
    The image build then installs without network or compilers."""
    pip = [str(pip_python), '-m', 'pip', 'wheel', '--quiet', '--disable-pip-version-check',
           '--use-pep517',  # sdists build in isolation: the host Python needs no 'wheel'
           '--wheel-dir', str(wheelhouse)]
    for args in (['-r', str(requirements)], ['--no-deps', _ocrmypdf_papermerge_pin()],
                 ['pip<25', 'setuptools<70', 'wheel']):
        result = subprocess.run(pip + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, check=False)
        if result.returncode != 0:
            raise DockerError('pip wheel %s failed:\n%s'
                              % (' '.join(args), result.stdout[-5000:]))


def _extract_upstream(context):
    with tarfile.open(UPSTREAM_TARBALL) as tar:
        top = tar.getnames()[0].split('/')[0]
        members = [m for m in tar.getmembers()
                   if m.name.startswith(top + '/papermerge/') or
                   m.name.startswith(top + '/docker/prod/')]
        for member in members:
            if not (member.isfile() or member.isdir()):
                raise DockerError('unexpected member type in %s: %s'
                                  % (UPSTREAM_TARBALL, member.name))
            member.name = member.name[len(top) + 1:]
        tar.extractall(context, members=members)


def _build_papermerge(daemon, tag, work_dir, tags):
    python, description = image_python()
    context = work_dir / 'context'
    shutil.copytree(ASSETS / 'papermerge', context)
    _extract_upstream(context)
    (context / 'python').mkdir()
    if python is not None:
        _copy_python(python, context / 'python')
        pip_python, version = python, '3.10'
    else:
        pip_python, version = Path(shutil.which('python3.11') or 'python3.11'), '3.11'
    (context / 'requirements.txt').write_text(_requirements(version))
    _build_wheels(pip_python, context / 'requirements.txt', context / 'wheelhouse')
    daemon.docker('build', '--network', 'host', '--pull=false', '--rm', '--force-rm',
                  '--build-arg', 'BASE_IMAGE=%s' % tags['base'],
                  '--build-arg', 'PYTHON_DESCRIPTION=%s' % description,
                  '--label', 'papermerge-backup-tests.recipe=%s' % tag,
                  '-t', tag, str(context), timeout=3600)
    # The intermediate "build" stage (wheelhouse, compilers' output) is not worth keeping.
    daemon.docker('image', 'prune', '-f', '--filter', 'dangling=true', check=False)


_BUILDERS = {'base': _build_base, 'postgres': lambda *a: _build_service('postgres', *a),
             'redis': lambda *a: _build_service('redis', *a), 'papermerge': _build_papermerge}
_ORDER = ('base', 'redis', 'postgres', 'papermerge')


def _builds_dir(daemon):
    path = daemon.state_dir / 'builds'
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_image(daemon, name, tags=None, rebuild=False):
    """Build image ``name`` unless the daemon has it (waiting for another run that is building
    it); return an Image."""
    tags = tags or image_tags()
    tag = tags[name]
    builds = _builds_dir(daemon)
    stamp = builds / ('%s.used' % tag.replace('/', '_').replace(':', '_'))
    started = time.monotonic()
    with open(builds / ('%s.lock' % name), 'a+') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = False
        if rebuild and _has_image(daemon, tag):
            daemon.docker('rmi', tag)
        if not _has_image(daemon, tag):
            with tempfile.TemporaryDirectory(prefix='build-%s-' % name, dir=str(builds)) as work:
                _BUILDERS[name](daemon, tag, Path(work), tags)
            built = True
        stamp.write_text(tag)
    return Image(name, tag, built, time.monotonic() - started)


def ensure_images(daemon, names=_ORDER, rebuild=()):
    """Build the images (and the base they need) that the daemon lacks; {name: Image}."""
    tags = image_tags()
    wanted = [n for n in _ORDER if n in names or (n == 'base' and names)]
    images = {name: ensure_image(daemon, name, tags, rebuild=name in rebuild) for name in wanted}
    remove_unused_images(daemon, keep=set(tags.values()))
    return images


def remove_unused_images(daemon, keep, days=UNUSED_IMAGE_DAYS):
    """Remove our images that no run asked for in ``days`` days (old recipes); never one in
    ``keep`` or one a container uses."""
    builds = _builds_dir(daemon)
    limit = time.time() - days * 86400
    for stamp in builds.glob('*.used'):
        tag = stamp.read_text().strip()
        if tag in keep or stamp.stat().st_mtime > limit:
            continue
        if not daemon.docker('ps', '-aq', '--filter', 'ancestor=%s' % tag, check=False).strip():
            daemon.docker('rmi', tag, check=False)
            stamp.unlink()


def image_python_label(daemon, tag):
    """What the papermerge image's label says about its Python."""
    labels = json.loads(daemon.docker('image', 'inspect', '--format', '{{json .Config.Labels}}',
                                      tag))
    return labels.get('papermerge-backup-tests.python')


def main(argv):
    rebuild = argv[argv.index('--rebuild') + 1:] if '--rebuild' in argv else ()
    daemon = DockerDaemon().acquire()
    try:
        for image in ensure_images(daemon, rebuild=tuple(rebuild)).values():
            print(image)
    finally:
        daemon.release()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
