#!/usr/bin/env python3
"""Checks a program's --help text: each option says what it means and, when
it takes a value, its default (shown by boost::program_options as (=VALUE),
or said in words: "default", "none", "required", "needed with").

usage: help_complete.py HELP-FILE [MIN-OPTIONS]   (exit 1 naming what lacks)
"""
import re
import sys

text = open(sys.argv[1]).read()
min_options = int(sys.argv[2]) if len(sys.argv) > 2 else 10
# boost::program_options: "  --name arg (=default)   meaning", the meaning
# wrapped onto lines indented to its column.
entries, cur = [], None
for line in text.splitlines():
    m = re.match(r'^  (?:-\w \[ )?--([\w-]+)(?: \])?( arg)?( \(=[^)]*\))?\s*(.*)$', line)
    if m:
        cur = [m.group(1), bool(m.group(2)), bool(m.group(3)), m.group(4)]
        entries.append(cur)
    elif cur and line.startswith(' ' * 10):
        cur[3] += ' ' + line.strip()
bad = []
for name, arg, default, meaning in entries:
    if len(meaning) < 12:
        bad.append(name + ': no meaning')
    elif arg and not default and not re.search(r'default|none|required|needed with', meaning):
        bad.append(name + ': no default')
for b in bad:
    print('   ', b)
sys.exit(1 if bad or len(entries) < min_options else 0)
