#!/usr/bin/env python3
# Checks the generated manual pages against what they describe, never
# against the generators' own data: the headers read with a plain line
# scanner, the agent's real --help output, groff, and the agent parsing the
# page's configuration example.
import os
import re
import shutil
import subprocess
import sys
import tempfile

HEADERS = ["cookie.hpp", "error.hpp", "keys.hpp", "pinned_keys.hpp"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------------------
# Reading the headers without the generator: clang-format puts namespace
# members at column 0, class members at 2 and access labels at 1, and keeps
# a function's name on the line of its opening parenthesis.


def public_functions(text):
    """[(qualified name, line number)] of the public functions declared."""
    found = []
    ns, cls, access = [], None, None
    for n, raw in enumerate(text.split("\n"), 1):
        line = re.sub(r"//.*", "", raw).rstrip()
        m = re.match(r"^namespace ([\w:]+) \{$", line)
        if m:
            ns.append(m.group(1))
            continue
        if re.match(r"^\}\s*//\s*namespace", raw):
            ns.pop()
            continue
        m = re.match(r"^(class|struct) (\w+)\b.*\{$", line)
        if m:
            cls = m.group(2)
            access = "private" if m.group(1) == "class" else "public"
            continue
        if line == "};":
            cls = None
            continue
        m = re.match(r"^ (public|private|protected):$", line)
        if m:
            access = m.group(1)
            continue
        indent = "  " if cls else ""
        if cls and access != "public":
            continue
        m = re.match(r"^%s(?![ }#])(?!using\b|return\b|enum\b)(.*?)(~?\b\w+)\("
                     % indent, line)
        if not m or "operator" in line or m.group(2).startswith("~") or \
                line.endswith("= delete;"):
            continue
        found.append(("::".join(ns + ([cls] if cls else []) + [m.group(2)]),
                      n))
    return found


def normalize(code):
    code = re.sub(r"//[^\n]*", "", code)
    code = " ".join(code.split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", code))


def deroff(s):
    s = s.replace("\\ ", " ").replace("\\-", "-").replace("\\(dq", '"')
    s = s.replace("\\e", "\\").replace("\\&", "")
    return re.sub(r"\\f[BIPR]", "", s)


def synopsis_declarations(page_text):
    """The declarations of a section 3 page's SYNOPSIS, as plain text."""
    sec = page_text.split(".SH SYNOPSIS\n", 1)[1].split("\n.SH ", 1)[0]
    decls = []
    for line in sec.split("\n"):
        if line.startswith(".BI "):
            decls.append(deroff("".join(re.findall(r'"((?:[^"\\]|\\.)*)"',
                                                   line[4:]))))
    return decls


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------------------
# Section 3


def check_coverage(include_dir, man3):
    want = {}
    for h in HEADERS:
        for name, n in public_functions(read(os.path.join(
                include_dir, "dtls_cookie", h))):
            want.setdefault(name, "%s:%d" % (h, n))
    if len(want) < 30:
        fail("the scanner found only %d public functions; it is broken"
             % len(want))
    pages = {f[:-2] for f in os.listdir(man3) if f.endswith(".3")}
    missing = sorted(set(want) - pages)
    extra = sorted(pages - set(want))
    for name in missing:
        print("no page for %s (%s)" % (name, want[name]), file=sys.stderr)
    for name in extra:
        print("page %s.3 matches no public function" % name, file=sys.stderr)
    if missing or extra:
        fail("%d functions without a page, %d pages without a function"
             % (len(missing), len(extra)))
    for must in ["dtls_cookie::cookie_send", "dtls_cookie::cookie_verify",
                 "dtls_cookie::gnutls_compat::cookie_send",
                 "dtls_cookie::gnutls_compat::cookie_verify",
                 "dtls_cookie::pinned_key_source::pinned_key_source",
                 "dtls_cookie::fleet_secret::from_file"]:
        if must not in pages:
            fail("no page for %s" % must)
    print("%d public functions, each with its page" % len(want))


def check_synopsis(include_dir, man3):
    headers = {h: normalize(read(os.path.join(include_dir, "dtls_cookie", h)))
               for h in HEADERS}
    checked = 0
    for f in sorted(os.listdir(man3)):
        text = read(os.path.join(man3, f))
        inc = re.search(r"^\.B #include <dtls_cookie/([\w.]+)>$", text, re.M)
        if not inc or inc.group(1) not in headers:
            fail("%s: no #include of one of %s" % (f, HEADERS))
        code = headers[inc.group(1)]
        decls = synopsis_declarations(text)
        if not decls:
            fail("%s: no declaration in SYNOPSIS" % f)
        name = f[:-2].split("::")[-1]
        for d in decls:
            if not d.endswith(";") or (name + "(") not in d:
                fail("%s: SYNOPSIS line '%s' is no declaration of %s"
                     % (f, d, name))
            # Declared as written, or an inline definition or a
            # constructor with initializers that starts so.
            if d not in code and d[:-1] + " {" not in code and \
                    d[:-1] + " :" not in code:
                fail("%s: '%s' is not in %s" % (f, d, inc.group(1)))
            checked += 1

    # The reference pair in both modes, against a plain grep of the header.
    text = read(os.path.join(include_dir, "dtls_cookie", "cookie.hpp"))
    greps = re.findall(r"^int cookie_(?:send|verify)\(.*?\);", text,
                       re.M | re.S)
    pages = ["dtls_cookie::cookie_send", "dtls_cookie::cookie_verify",
             "dtls_cookie::gnutls_compat::cookie_send",
             "dtls_cookie::gnutls_compat::cookie_verify"]
    if len(greps) != 4:
        fail("grep found %d cookie_send/cookie_verify declarations, not 4"
             % len(greps))
    for decl, page in zip(greps, pages):
        got = synopsis_declarations(read(os.path.join(man3, page + ".3")))
        if got != [normalize(decl)]:
            fail("%s.3 SYNOPSIS %s != header %s"
                 % (page, got, [normalize(decl)]))
    print("%d SYNOPSIS declarations found verbatim in their headers"
          % checked)


def check_changed_declaration(generator, include_dir):
    """A signature edited in a copy of the headers shows up in the pages;
    one edited without its comment fails the build."""
    tmp = tempfile.mkdtemp(prefix="dc-man-test-")
    try:
        inc = os.path.join(tmp, "include")
        shutil.copytree(include_dir, inc)
        path = os.path.join(inc, "dtls_cookie", "cookie.hpp")
        text = read(path)
        old = ("int cookie_verify(const key_set* keys, const void* client_data,"
               "\n                  size_t client_data_size, const void* msg, "
               "size_t msg_size,\n                  prestate* prestate);")
        if text.count(old) != 1:
            fail("cookie_verify's declaration is not where the test expects")
        new = old.replace("size_t msg_size", "size_t datagram_size")
        edited = text.replace(old, new).replace(
            "// @msg_size: its size", "// @datagram_size: its size", 1)
        headers = [os.path.join(inc, "dtls_cookie", h) for h in HEADERS]

        def generate(content):
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
            out = os.path.join(tmp, "man3")
            r = run([sys.executable, generator, "--include-dir", inc,
                     "--out-dir", out, "--version", "0"] + headers)
            return r, out

        r, out = generate(edited)
        if r.returncode != 0:
            fail("generator failed on a consistent edit: " + r.stderr)
        page = read(os.path.join(out, "dtls_cookie::cookie_verify.3"))
        decl = synopsis_declarations(page)
        if decl != [normalize(new)]:
            fail("edited declaration not in the page: %s" % decl)
        if '.IP "size_t datagram_size"' not in page or "msg_size" in page:
            fail("ARGUMENTS do not follow the edited declaration")

        # A parameter added without its @line, a comment that names another
        # function: both stop the build, naming what is wrong.
        r, _ = generate(text.replace(old, old.replace(
            "prestate* prestate);", "prestate* prestate, int flags);")))
        if r.returncode == 0 or "'flags'" not in r.stderr:
            fail("an undocumented parameter was accepted: " + r.stderr)
        r, _ = generate(text.replace("// cookie_verify() - verifies the "
                                     "cookie in a ClientHello datagram",
                                     "// cookie_check() - verifies", 1))
        if r.returncode == 0 or "cookie_check" not in r.stderr:
            fail("a comment naming another function was accepted: "
                 + r.stderr)
    finally:
        shutil.rmtree(tmp)
    print("an edited declaration changes its page; an undocumented one "
          "fails generation")


# ---------------------------------------------------------------------------
# Section 8 against the binary


def render_ascii(page):
    r = run(["groff", "-man", "-Tascii", "-P-cbou", "-rLL=400n", page],
            env=dict(os.environ, LC_ALL="C"))
    if r.returncode != 0:
        fail("groff failed on %s: %s" % (page, r.stderr))
    return r.stdout


def help_options(help_text):
    """[(names, type, default, flags)] of a CLI11 help text's options."""
    opts = []
    section = None
    for line in help_text.split("\n"):
        if line and not line.startswith(" "):
            section = line.rstrip(":")
            continue
        if section in ("Subcommands", "Examples") or \
                not line.startswith("  -"):
            continue
        # The option column is 30 wide; a longer one ends its line.
        head = line[:30].strip() if len(line) > 30 and line[29] == " " \
            else line.strip()
        words = head.split()
        names = words[0].split(",")
        typ = default = None
        rest = words[1:]
        if rest and rest[0] not in ("...", "REQUIRED", "Needs:",
                                    "Excludes:"):
            typ, _, default = rest[0].partition("=")
            rest = rest[1:]
        opts.append((names, typ, default or None, rest))
    return opts


def help_examples(help_text):
    lines = help_text.split("\n")
    if "Examples:" not in lines:
        return []
    out = []
    for line in lines[lines.index("Examples:") + 1:]:
        if line.startswith("  ") and not line.startswith("   "):
            out.append(line.strip())
    return out


def page_sections(text):
    """{section: [lines]} with subsections ('SUBCOMMANDS/attach')."""
    out, cur = {}, None
    for line in text.split("\n"):
        if re.match(r"^[A-Z][A-Z ]+$", line):
            cur = line.strip()
        elif re.match(r"^   \S", line) and cur and \
                cur.startswith("SUBCOMMANDS"):
            cur = "SUBCOMMANDS/" + line.strip()
        elif cur:
            out.setdefault(cur, []).append(line)
    return out


def entries(lines):
    """{first name: entry text} of a rendered .TP option list."""
    out, cur = {}, None
    for line in lines:
        if re.match(r"^       -", line):
            cur = line.strip()
            out[cur.split()[0].rstrip(",")] = [cur]
        elif cur and line.strip():
            out[cur.split()[0].rstrip(",")].append(line.strip())
        elif not line.strip() and cur and re.match(r"^\S", line or "x"):
            cur = None
    return {k: " ".join(v) for k, v in out.items()}


def check_options(agent, page):
    text = render_ascii(page)
    sections = page_sections(text)
    top = run([agent, "--help"])
    if top.returncode != 0:
        fail("dtls-cookie --help failed: " + top.stderr)
    subs = []
    in_subs = False
    for line in top.stdout.split("\n"):
        if line == "Subcommands:":
            in_subs = True
        elif in_subs and line.startswith("  "):
            subs.append((line.split()[0], " ".join(line.split()[1:])))
        elif in_subs:
            break
    if len(subs) < 7:
        fail("dtls-cookie --help lists %d subcommands" % len(subs))

    count = 0
    targets = [("OPTIONS", top.stdout, None)]
    for sub, summary in subs:
        r = run([agent, sub, "--help"])
        if r.returncode != 0:
            fail("dtls-cookie %s --help failed: %s" % (sub, r.stderr))
        targets.append(("SUBCOMMANDS/" + sub, r.stdout, summary))
    for key, help_text, summary in targets:
        if key not in sections:
            fail("dtls-cookie.8 has no section %s" % key)
        body = sections[key]
        flat = " ".join(" ".join(body).split())
        if summary and not flat.startswith(summary):
            fail("%s: does not open with '%s'" % (key, summary))
        ents = entries(body)
        opts = help_options(help_text)
        if not opts:
            fail("no options parsed from the help of %s" % key)
        for names, typ, default, marks in opts:
            e = ents.get(names[0])
            if e is None:
                fail("%s: %s is in --help but not in the page"
                     % (key, ",".join(names)))
            head = ", ".join(names) + (" " + typ if typ else "")
            if not e.startswith(head):
                fail("%s: entry '%s' does not start with '%s'"
                     % (key, e, head))
            if default and "Default: %s." % default not in e:
                fail("%s: %s: default %s missing in '%s'"
                     % (key, names[-1], default, e))
            if "REQUIRED" in marks and "Required." not in e:
                fail("%s: %s is required, the page does not say so"
                     % (key, names[-1]))
            if "Needs:" in marks:
                need = marks[marks.index("Needs:") + 1]
                if "Needs %s." % need not in e:
                    fail("%s: %s needs %s, the page does not say so"
                         % (key, names[-1], need))
            count += 1
        if key != "OPTIONS":
            for ex in help_examples(help_text):
                if ex not in flat:
                    fail("%s: example '%s' missing" % (key, ex))
    for ex in help_examples(top.stdout):
        if ex not in " ".join(" ".join(sections.get("EXAMPLES", [])).split()):
            fail("EXAMPLES: '%s' missing" % ex)
    print("%d options of %d subcommands and the globals match --help"
          % (count, len(subs)))


def check_config_example(agent, page):
    """The page's configuration example parses in the real agent: check on
    an empty directory then fails for want of a responder (1), never as a
    usage error (2); a misspelt key in the same file is a usage error."""
    text = read(page)
    sec = text.split('.SH "CONFIGURATION FILE"\n', 1)[1].split("\n.SH ", 1)[0]
    m = re.search(r"^\.nf\n(.*?)^\.fi$", sec, re.M | re.S)
    if not m:
        fail("no example in CONFIGURATION FILE")
    example = deroff(m.group(1))
    if "[run]" not in example:
        fail("the example has no [run] table: " + example)
    tmp = tempfile.mkdtemp(prefix="dc-man-config-")
    try:
        conf = os.path.join(tmp, "dtls-cookie.conf")

        def parse(content):
            with open(conf, "w", encoding="utf-8") as f:
                f.write(content)
            return run([agent, "--config", conf, "check", "--pin-dir",
                        os.path.join(tmp, "no-responder")])

        r = parse(example)
        if r.returncode != 1 or "--config" in r.stderr:
            fail("the agent refused the page's example (exit %d): %s\n%s"
                 % (r.returncode, r.stderr, example))
        key = re.search(r"^(\w[\w-]*) =", example.split("[run]")[1], re.M)
        r = parse(example.replace(key.group(1) + " =",
                                  key.group(1) + "x =", 1))
        if r.returncode != 2:
            fail("a misspelt key was not a usage error (exit %d)"
                 % r.returncode)
    finally:
        shutil.rmtree(tmp)
    print("the configuration example parses:\n" + example.strip())


# ---------------------------------------------------------------------------
# Both sections


def all_pages(man_dir):
    pages = []
    for sec in ("man3", "man8"):
        d = os.path.join(man_dir, sec)
        pages += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    return pages


def check_render(man_dir):
    pages = all_pages(man_dir)
    if not any(p.endswith("dtls-cookie.8") for p in pages):
        fail("no dtls-cookie.8 in " + man_dir)
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    for p in pages:
        r = run(["groff", "-man", "-ww", "-z", p], env=env)
        if r.returncode != 0 or r.stderr:
            fail("groff -man -ww -z %s: %s" % (p, r.stderr))
        r = run(["man", "--warnings", "-l", p], env=env)
        if r.returncode != 0 or r.stderr:
            fail("man --warnings -l %s: %s" % (p, r.stderr))
        if "SYNOPSIS" not in r.stdout or "NAME" not in r.stdout:
            fail("%s renders without NAME or SYNOPSIS" % p)
    print("%d pages render without a warning" % len(pages))


def check_install(build_dir):
    """cmake --install puts every page under share/man, where man finds it
    by its qualified name."""
    tmp = tempfile.mkdtemp(prefix="dc-man-install-")
    try:
        r = run(["cmake", "--install", build_dir, "--prefix", tmp])
        if r.returncode != 0:
            fail("cmake --install failed: " + r.stderr)
        mandir = os.path.join(tmp, "share", "man")
        built = sorted(os.listdir(os.path.join(build_dir, "man", "man3")))
        got = sorted(os.listdir(os.path.join(mandir, "man3")))
        if built != got:
            fail("installed man3 %s != built %s" % (got, built))
        if not os.path.exists(os.path.join(mandir, "man8", "dtls-cookie.8")):
            fail("dtls-cookie.8 not installed")
        for args in (["3", "dtls_cookie::cookie_send"], ["8", "dtls-cookie"]):
            r = run(["man", "-M", mandir] + args,
                    env=dict(os.environ, MANPAGER="cat", PAGER="cat"))
            if r.returncode != 0 or args[1] not in r.stdout:
                fail("man %s: %s" % (" ".join(args), r.stderr))
    finally:
        shutil.rmtree(tmp)
    print("installed %d section 3 pages and dtls-cookie.8" % len(built))


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "coverage":
        check_coverage(*args)
    elif what == "synopsis":
        check_synopsis(*args)
    elif what == "changed":
        check_changed_declaration(*args)
    elif what == "options":
        check_options(*args)
    elif what == "config":
        check_config_example(*args)
    elif what == "render":
        check_render(*args)
    elif what == "install":
        check_install(*args)
    else:
        fail("unknown check " + what)


if __name__ == "__main__":
    main()
