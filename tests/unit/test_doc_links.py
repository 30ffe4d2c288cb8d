# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every relative link in the collection's Markdown (README.md, docs/, the roles' and scenarios' READMEs) resolves:
the file or directory exists and, when the link names a heading (`file.md#heading`), the heading does too.

Links to other sites are not fetched (the tests run offline); links inside code blocks and code spans are not links.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where the collection keeps Markdown a reader follows; generated and vendored trees (.venv, .cache) are not ours.
DOCUMENT_TREES = ('docs', 'roles', 'extensions', 'playbooks', 'demo')

_FENCE = re.compile(r'^ {0,3}(```|~~~)')
_CODE_SPAN = re.compile(r'(`+).+?\1')
_INLINE_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_REFERENCE_DEFINITION = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
_HEADING = re.compile(r'^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$')
_EXTERNAL = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')


def markdown_files(root=ROOT):
    files = [root / 'README.md'] if (root / 'README.md').is_file() else []
    for tree in DOCUMENT_TREES:
        if (root / tree).is_dir():
            files.extend(p for p in sorted((root / tree).rglob('*.md')) if 'work' not in p.relative_to(root).parts)
    return files


def _prose_lines(text, keep_code_spans=False):
    """The lines outside fenced code blocks, numbered from 1, with code spans blanked out unless kept."""
    in_fence = None
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if fence:
            if in_fence is None:
                in_fence = fence.group(1)
            elif fence.group(1) == in_fence:
                in_fence = None
            continue
        if in_fence is None:
            yield number, line if keep_code_spans else _CODE_SPAN.sub('', line)


def links(text):
    """(line number, target) of every inline link, image and reference definition."""
    found = []
    for number, line in _prose_lines(text):
        definition = _REFERENCE_DEFINITION.match(line)
        if definition:
            found.append((number, definition.group(1)))
        found.extend((number, match.group(1)) for match in _INLINE_LINK.finditer(line))
    return found


def heading_anchors(text):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats -1, -2."""
    anchors, seen = set(), {}
    for _number, line in _prose_lines(text, keep_code_spans=True):
        heading = _HEADING.match(line)
        if not heading:
            continue
        title = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading.group(1)).replace('`', '')
        slug = re.sub(r'[^\w\- ]', '', title.strip().lower(), flags=re.UNICODE).replace(' ', '-')
        anchors.add(slug if slug not in seen else '%s-%d' % (slug, seen[slug]))
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def broken_links(path):
    """'file:line: target (why)' for every relative link of the Markdown file at path that does not resolve."""
    text = path.read_text(encoding='utf-8')
    broken = []
    for number, target in links(text):
        if _EXTERNAL.match(target):
            continue
        file_part, _sep, anchor = target.partition('#')
        resolved = (path.parent / file_part).resolve() if file_part else path
        problem = None
        if not resolved.exists():
            problem = 'no such file'
        elif anchor and resolved.suffix == '.md' and resolved.is_file():
            if anchor.lower() not in heading_anchors(resolved.read_text(encoding='utf-8')):
                problem = 'no heading #%s there' % anchor
        if problem:
            broken.append('%s:%d: %s (%s)' % (path, number, target, problem))
    return broken


def test_the_collection_has_markdown_to_check():
    names = set(str(p.relative_to(ROOT)) for p in markdown_files())
    assert {'README.md', 'docs/design.md', 'docs/reference/modules/papermerge_backup.md'} <= names


@pytest.mark.parametrize('path', markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_a_link_to_a_missing_file_is_reported(tmp_path):
    (tmp_path / 'there.md').write_text('# There\n', encoding='utf-8')
    page = tmp_path / 'page.md'
    page.write_text('See [there](there.md), [gone](gone.md) and [the guide][guide].\n\n[guide]: ../nowhere/guide.md\n',
                    encoding='utf-8')
    assert broken_links(page) == ['%s:1: gone.md (no such file)' % page,
                                  '%s:3: ../nowhere/guide.md (no such file)' % page]


def test_a_link_to_a_missing_heading_is_reported(tmp_path):
    (tmp_path / 'guide.md').write_text('# Guide\n\n## Step 2: `make demo`, then restore\n\n## Step 2: `make demo`, then restore\n',
                                       encoding='utf-8')
    page = tmp_path / 'page.md'
    page.write_text('[a](guide.md#step-2-make-demo-then-restore) [b](guide.md#step-2-make-demo-then-restore-1) '
                    '[c](guide.md#step-3) [d](#nothing-here)\n', encoding='utf-8')
    assert broken_links(page) == ['%s:1: guide.md#step-3 (no heading #step-3 there)' % page,
                                  '%s:1: #nothing-here (no heading #nothing-here there)' % page]


def test_code_and_other_sites_are_not_links(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('Run `[x](missing.md)` or see <https://example.org> and [site](https://example.org/a.md).\n\n'
                    '```markdown\n[y](missing.md)\n```\n', encoding='utf-8')
    assert broken_links(page) == []
