"""A strict reader of the Prometheus text exposition format, as node_exporter's textfile collector takes it.

Stricter than Prometheus' own parser where the textfile collector is: every family has its HELP and TYPE before
its first sample, each once; a family's samples are contiguous; no (name, labels) twice; no client-side
timestamps (node_exporter refuses files with them); label values quoted with the format's escapes; the text ends
with a newline.  ``parse(text)`` -> {name: {'help', 'type', 'samples': {frozenset(labels.items()): value}}};
ValueError says which line is wrong.
"""

import math
import re

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
_HELP = re.compile(r'^# HELP (%s) (.*)$' % NAME)
_TYPE = re.compile(r'^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$' % NAME)
_SAMPLE = re.compile(r'^(%s)(\{.*\})? (\S+)$' % NAME)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def _labels(text, number):
    if not text:
        return frozenset()
    body, labels = text[1:-1], {}
    while body:
        match = _LABEL.match(body)
        if not match:
            raise ValueError('line %d: bad label set %r' % (number, text))
        if match.group(1) in labels:
            raise ValueError('line %d: label %s twice' % (number, match.group(1)))
        labels[match.group(1)] = match.group(2)
        body = body[match.end():]
    return frozenset(labels.items())


def _value(text, number):
    try:
        value = float(text)
    except ValueError:
        raise ValueError('line %d: %r is not a number (a timestamp after the value is refused too)'
                         % (number, text))
    if math.isnan(value):
        raise ValueError('line %d: NaN' % number)
    return value


def parse(text):
    if text and not text.endswith('\n'):
        raise ValueError('the text does not end with a newline')
    families, current, finished = {}, None, set()
    for number, line in enumerate(text.splitlines(), 1):
        help_match, type_match = _HELP.match(line), _TYPE.match(line)
        if help_match or type_match:
            name = (help_match or type_match).group(1)
            family = families.setdefault(name, {'help': None, 'type': None, 'samples': {}})
            key = 'help' if help_match else 'type'
            if family[key] is not None or family['samples']:
                raise ValueError('line %d: %s of %s twice, or after its samples' % (number, key.upper(), name))
            family[key] = (help_match or type_match).group(2)
            continue
        if line.startswith('#') or not line.strip():
            raise ValueError('line %d: %r is neither HELP, TYPE nor a sample' % (number, line))
        match = _SAMPLE.match(line)
        if not match:
            raise ValueError('line %d: %r is not a sample' % (number, line))
        name = match.group(1)
        family = families.get(name)
        if family is None or family['help'] is None or family['type'] is None:
            raise ValueError('line %d: sample of %s before its HELP and TYPE' % (number, name))
        if name != current and name in finished:
            raise ValueError('line %d: the samples of %s are not together' % (number, name))
        if current and name != current:
            finished.add(current)
        current = name
        labels = _labels(match.group(2), number)
        if labels in family['samples']:
            raise ValueError('line %d: %s%s twice' % (number, name, match.group(2) or ''))
        family['samples'][labels] = _value(match.group(3), number)
    return families


def by_label(families, label='label'):
    """{name: {label value: value}} for families whose samples each have just that one label."""
    found = {}
    for name, family in families.items():
        for labels, value in family['samples'].items():
            labels = dict(labels)
            if set(labels) != {label}:
                raise ValueError('%s has labels %s, not just %s' % (name, sorted(labels), label))
            found.setdefault(name, {})[labels[label]] = value
    return found
