#!/usr/bin/env bash
# Runtime of the test image: upstream's apt packages (docker/prod/Dockerfile, final stage) plus the libraries
# python:3.10-slim carries for its interpreter.  Runs inside the image build.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# upstream: build-essential python3-dev postgresql-client tesseract-ocr tesseract-ocr-deu imagemagick
# poppler-utils git libmagic1 ghostscript file gcc
packages=(build-essential python3-dev postgresql-client tesseract-ocr tesseract-ocr-deu imagemagick
          poppler-utils git libmagic1 ghostscript file gcc)
# What python:3.10-slim installs for its interpreter (the lib-dynload modules link these).
packages+=(ca-certificates netbase tzdata libssl3 libsqlite3-0 libffi8 libbz2-1.0 liblzma5 zlib1g
           libncursesw6 libreadline8 libuuid1 libtirpc3 libnsl2 libexpat1 libgdbm6)

if [ -x /usr/local/bin/python3.10 ]; then
    ldconfig  # /usr/local/lib/libpython3.10.so.1.0
else
    packages+=(python3-venv)  # no 3.10 was found on the build host: /venv uses Debian's python3.11
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
rm -rf /var/lib/apt/lists/*
ldconfig

python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, uuid, readline, zlib; import sys; print(sys.version)'
