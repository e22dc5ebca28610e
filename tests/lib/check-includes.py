#!/usr/bin/env python3
"""The include rules of agent/, read from docs/architecture.md and checked
against the sources. Run by make check.

  tests/lib/check-includes.py [--agent DIR] [--doc FILE]
  tests/lib/check-includes.py --self-test

Rules (docs/architecture.md, "Include rules"):
  1. "x.h" names a header of the including file's own folder; a header of
     another folder is included as "folder/x.h" (so a reader sees the
     dependency), and only from the folders the "layers" table says that
     folder may include.
  2. No folder includes another folder's *_internal.h.
  3. The layers table has no cycle, so neither has the code.
  4. Each external library's headers are included only by the files the
     "includes" table names for it.
  5. Every .c file of agent/ has its line in the doc's "Folders" section,
     under its folder, and every file named there exists.
Every violation is printed as FILE:LINE: message; the exit status is 1 if
there is any. --self-test plants one violation of each rule in a copy of
agent/ and fails unless each is caught (and the copy without them passes).
"""
import os
import re
import shutil
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')


def table(doc_text, name):
    """The rows of the table between <!-- NAME: ... --> and <!-- /NAME -->,
    each a list of cells, header and separator rows left out."""
    m = re.search(r"<!-- %s:.*?-->(.*?)<!-- /%s -->" % (name, name), doc_text, re.S)
    if not m:
        return None
    rows = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(cells)
    return rows[1:]  # the first row names the columns


def ticked(cell):
    """The `quoted` items of a cell."""
    return re.findall(r"`([^`]+)`", cell)


def load_rules(doc):
    text = open(doc).read()
    problems = []
    layers = table(text, "layers")
    libs = table(text, "includes")
    if not layers:
        problems.append("%s: no layers table (<!-- layers: ... -->)" % doc)
    if not libs:
        problems.append("%s: no includes table (<!-- includes: ... -->)" % doc)
    may = {}
    for row in layers or []:
        folder = ticked(row[0])
        if len(folder) != 1:
            problems.append("%s: layers row %r: the first cell must be one `folder`" % (doc, row[0]))
            continue
        may[folder[0].rstrip("/")] = set(f.rstrip("/") for f in ticked(row[1]))
    ext = []
    for row in libs or []:
        ext.append((row[0], ticked(row[1]), set(ticked(row[2]))))
    return may, ext, problems


def cycle(may):
    """One cycle of the may-include graph as a list of folders, or None."""
    state = {}
    path = []

    def visit(n):
        state[n] = 1
        path.append(n)
        for m in sorted(may.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        path.pop()
        state[n] = 2
        return None

    for n in sorted(may):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def sources(agent):
    for dirpath, _, files in os.walk(agent):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                full = os.path.join(dirpath, f)
                yield os.path.relpath(full, agent).replace(os.sep, "/")


def check(agent, doc):
    may, ext, problems = load_rules(doc)
    if problems:
        return problems
    c = cycle(may)
    if c:
        problems.append("%s: the layers table has a cycle: %s" % (doc, " -> ".join(c)))
    folders = set(d for d in os.listdir(agent) if os.path.isdir(os.path.join(agent, d)))
    for f in sorted(folders - set(may)):
        problems.append("agent/%s/: a folder the layers table of %s does not name" % (f, doc))
    for f in sorted(set(may) - folders - {"main.c"}):
        problems.append("%s: the layers table names `%s`, which agent/ does not have" % (doc, f))
    named = set()
    for _, _, files in ext:
        named |= files
    for rel in sorted(sources(agent)):
        folder = rel.split("/")[0] if "/" in rel else rel
        for n, line in enumerate(open(os.path.join(agent, rel), errors="replace"), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            where = "agent/%s:%d" % (rel, n)
            kind, name = m.groups()
            if kind == "<":
                for lib, prefixes, allowed in ext:
                    if any(name.startswith(p) for p in prefixes) and rel not in allowed:
                        problems.append("%s: includes <%s> (%s); docs/architecture.md allows it only in %s"
                                        % (where, name, lib, ", ".join(sorted(allowed))))
                continue
            if "/" not in name:
                here = os.path.dirname(rel)
                if not os.path.isfile(os.path.join(agent, here, name)):
                    owner = [r for r in sources(agent) if r.endswith("/" + name)]
                    hint = ' (write "%s")' % owner[0] if owner else ""
                    problems.append('%s: "%s" is not a header of %s/%s' % (where, name, here or "agent", hint))
                continue
            target = name.split("/")[0]
            if not os.path.isfile(os.path.join(agent, name)):
                problems.append('%s: "%s" does not exist' % (where, name))
                continue
            if target == folder:
                problems.append('%s: "%s" is in this file\'s own folder: include it as "%s"'
                                % (where, name, name.split("/", 1)[1]))
                continue
            if name.endswith("_internal.h"):
                problems.append('%s: "%s" is internal to %s/: only its own folder includes it'
                                % (where, name, target))
                continue
            if target not in may.get(folder, set()):
                problems.append("%s: %s/ may not include %s/ (docs/architecture.md, layers table: %s/ may include %s)"
                                % (where, folder, target, folder,
                                   ", ".join(sorted(may.get(folder, ()))) or "nothing"))
    problems += documented(agent, doc)
    for lib, _, allowed in ext:
        for f in sorted(allowed):
            if not os.path.isfile(os.path.join(agent, f)):
                problems.append("%s: the includes table names %s for %s, which does not exist" % (doc, f, lib))
    return problems


def documented(agent, doc):
    """Every .c file of agent/ has a line "- `file.c`..." under its folder's
    "### `folder/`" heading of the doc, and every such line names a file that
    is there."""
    problems = []
    listed = {}
    folder = None
    for n, line in enumerate(open(doc), 1):
        m = re.match(r"^### `([a-z]+)/`", line)
        if m:
            folder = m.group(1)
            continue
        if line.startswith("## "):
            folder = None
        if folder and line.startswith("- "):
            head = line.split(":", 1)[0]
            for f in re.findall(r"`([a-z_]+\.c)`", head):
                listed["%s/%s" % (folder, f)] = n
    present = set(r for r in sources(agent) if r.endswith(".c") and "/" in r)
    for f in sorted(present - set(listed)):
        problems.append("agent/%s: no line for it under \"### `%s/`\" in %s"
                        % (f, f.split("/")[0], doc))
    for f in sorted(set(listed) - present):
        problems.append("%s:%d: names agent/%s, which is not there" % (doc, listed[f], f))
    return problems


def self_test():
    """Each rule broken once in a copy of agent/: each must be caught."""
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        agent = os.path.join(tmp, "agent")
        doc = os.path.join(tmp, "architecture.md")
        shutil.copytree(os.path.join(ROOT, "agent"), agent)
        shutil.copy(os.path.join(ROOT, "docs", "architecture.md"), doc)
        base = check(agent, doc)
        if base:
            print("self-test: the unchanged tree does not pass:\n  " + "\n  ".join(base))
            return 1
        plants = [
            ("base/log.c", '#include "stream/event.h"\n', "base/ may not include stream/"),
            ("kolla/kolla.c", '#include "volume/format_internal.h"\n', "is internal to volume/"),
            ("kolla/kolla.c", '#include "log.h"\n', 'write "base/log.h"'),
            ("base/reason.c", "#include <libvirt/libvirt.h>\n", "allows it only in"),
            ("stream/event.c", '#include "stream/hookfile.h"\n', "own folder"),
        ]
        for f, text, expect in plants:
            path = os.path.join(agent, f)
            saved = open(path).read()
            open(path, "w").write(text + saved)
            got = check(agent, doc)
            open(path, "w").write(saved)
            hit = [p for p in got if expect in p and f in p]
            print("self-test: %-16s %-40s %s" % (f, text.strip(), "caught" if hit else "MISSED"))
            failures += not hit
        # A file the doc does not describe.
        extra = os.path.join(agent, "base", "planted.c")
        open(extra, "w").write("/* planted */\n")
        got = check(agent, doc)
        os.unlink(extra)
        hit = [p for p in got if "base/planted.c: no line for it" in p]
        print("self-test: %-16s %-40s %s" % ("base/planted.c", "(no line in the doc)", "caught" if hit else "MISSED"))
        failures += not hit
        # A cycle planted in the table itself.
        text = open(doc).read()
        planted = re.sub(r"(\| `base/` \|)([^|\n]*)\|", r"\1 `cli/` \|", text, count=1)
        open(doc, "w").write(planted)
        got = check(agent, doc)
        hit = [p for p in got if "has a cycle" in p]
        print("self-test: layers table: base/ may include cli/  %s" % ("caught" if hit else "MISSED"))
        failures += not hit
    print("self-test: %d planted, %d missed" % (7, failures))
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    agent = os.path.join(ROOT, "agent")
    doc = os.path.join(ROOT, "docs", "architecture.md")
    args = argv[1:]
    while args:
        if args[0] == "--agent" and len(args) > 1:
            agent = args[1]
        elif args[0] == "--doc" and len(args) > 1:
            doc = args[1]
        else:
            print(__doc__.strip().splitlines()[2], file=sys.stderr)
            return 2
        args = args[2:]
    problems = check(agent, doc)
    for p in problems:
        print(p)
    if problems:
        print("includes: %d problem(s)" % len(problems))
        return 1
    may, ext, _ = load_rules(doc)
    print("includes: %d folders, %d libraries, every include where docs/architecture.md says, "
          "every .c file described there" % (len(may), len(ext)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
