#!/usr/bin/env python3
"""The role's variables as a Markdown table, from roles/rbd-luks-agent/defaults/main.yml:
each variable's default and the comment lines just above it.

  tools/vars-table.py            print the table
  tools/vars-table.py --update   rewrite it in README.md (between the vars-table markers)
  tools/vars-table.py --check    exit 1 if README.md's table differs
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = os.path.join(HERE, "..", "roles", "rbd-luks-agent", "defaults", "main.yml")
README = os.path.join(HERE, "..", "README.md")
BEGIN, END = "<!-- vars-table begin -->", "<!-- vars-table end -->"


def cell(text):
    return text.replace("|", "\\|").strip()


def default_of(lines):
    """The value as written: one line, or a note for a block."""
    first = lines[0].split(":", 1)[1].strip()
    if first in (">-", ">", "|", "|-"):
        return "(expression, see defaults/main.yml)"
    if first == "":
        return "(list/dict, see defaults/main.yml)"
    return "`" + first.strip('"') + "`" if first not in ('""', "''") else '`""`'


def rows():
    comment, out, current = [], [], None
    with open(DEFAULTS) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^([a-z_][a-z0-9_]*):", line)
        if m:
            out.append((m.group(1), default_of(lines[i:]), " ".join(comment)))
            comment = []
        elif line.startswith("# ") and not line.startswith("# --"):
            comment.append(line[2:])
        elif not line.startswith((" ", "-")):
            comment = []  # a blank line or a section header ends a description
    return out


def table():
    text = ["| variable | default | what it is |", "|---|---|---|"]
    for name, default, description in rows():
        text.append("| `%s` | %s | %s |" % (name, cell(default), cell(description)))
    return "\n".join(text) + "\n"


def main():
    arg = sys.argv[1] if len(sys.argv) > 1 else ""
    if arg not in ("", "--update", "--check"):
        sys.exit(__doc__)
    if not arg:
        sys.stdout.write(table())
        return
    with open(README) as f:
        readme = f.read()
    begin, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    new = readme[:begin] + "\n" + table() + readme[end:]
    if arg == "--check":
        if new != readme:
            sys.exit("README.md's variable table is out of date: run tools/vars-table.py --update")
        return
    with open(README, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
