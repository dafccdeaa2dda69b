#!/usr/bin/env python3
# Writes one section 3 manual page per public function of the library's
# headers, from the structured doc comment above each declaration and from
# the declaration text itself, so a changed signature changes its page.
"""Generate section 3 manual pages from dtls_cookie headers.

The doc comment format (line comments right above the declaration, no
blank line in between; blank comment lines separate paragraphs):

    // name() - one-line summary, the NAME section's text
    // @param: what the parameter is; continuation lines are indented
    //   by two more spaces
    //
    // Description paragraphs.
    //
    // Returns: what comes back, naming the kErr* codes.
    // Throws: which exceptions, when.
    // See also: other_function(), gnutls_dtls_cookie_send(3)

name is the unqualified name (the class name for a constructor); the
page is named after the qualified one (dtls_cookie::fleet_secret::derive).
One comment covers the overloads declared on the lines right after it.
Every public function of a header given on the command line must carry
such a comment, every parameter must have its @param line and no other,
and a function that returns something must say what under Returns:;
otherwise generation fails, naming the header line.
"""

import argparse
import os
import re
import sys

DOC_NAME = re.compile(r"^(~?[A-Za-z_]\w*)\(\) - (\S.*)$")
PARAM = re.compile(r"^@(\w+):\s*(.*)$")
TAG = re.compile(r"^(Returns|Throws|See also):\s*(.*)$")
SECTION_OF_TAG = {"Returns": "RETURNS", "Throws": "EXCEPTIONS",
                  "See also": "SEE ALSO"}
SPECIFIERS = {"static", "virtual", "explicit", "inline", "constexpr",
              "friend", "[[nodiscard]]"}
ERROR_CODE = re.compile(r"\binline constexpr int (k\w+) = (-?\d+);")


class GenError(Exception):
    pass


# ---------------------------------------------------------------------------
# Reading a header: statements with their scope, access and comment block.


class Statement:
    def __init__(self, text, first_line, last_line, scope, access, has_body):
        self.text = text              # code only, bodies and comments removed
        self.first_line = first_line  # 1-based
        self.last_line = last_line
        self.scope = scope            # [(kind, name, head, head line)]
        self.access = access          # "public"/"private"/"protected"
        self.has_body = has_body


def code_chars(src):
    """Yields (index, char) of code, blanking comments, strings and
    preprocessor lines (their characters come out as spaces, newlines kept,
    so line numbers stay right)."""
    out = []
    i, n = 0, len(src)
    at_line_start = True
    while i < n:
        c = src[i]
        if at_line_start and src[i:].lstrip(" \t").startswith("#"):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
            continue
        out.append(c)
        at_line_start = c == "\n"
        i += 1
    return "".join(out)


def matching(text, i, open_c, close_c):
    """Index just past the bracket that closes text[i] == open_c."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return j + 1
    raise GenError("unbalanced %s" % open_c)


def statements(src):
    code = code_chars(src)
    line_of = [0] * (len(code) + 1)
    line = 1
    for i, c in enumerate(code):
        line_of[i] = line
        if c == "\n":
            line += 1
    line_of[len(code)] = line

    result = []
    scope = []          # [(kind, name, head, head line)]
    access = ["public"]  # per scope level; namespaces are public
    buf, buf_start, has_body = [], None, False
    paren = 0
    i = 0

    def flush(end):
        nonlocal buf, buf_start, has_body
        text = " ".join("".join(buf).split())
        text = re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))
        if text:
            result.append(Statement(text, line_of[buf_start], line_of[end],
                                    list(scope), access[-1], has_body))
        buf, buf_start, has_body = [], None, False

    while i < len(code):
        c = code[i]
        if c in "()":
            paren += 1 if c == "(" else -1
        if paren == 0 and c == ";":
            flush(i)
            i += 1
            continue
        if paren == 0 and c == "{":
            head = " ".join("".join(buf).split())
            m = re.match(r"^(?:inline )?namespace\s*([\w:]*)$", head)
            k = re.match(r"^(class|struct|union)\s+(\w+)\b[^(]*$", head)
            e = re.match(r"^enum\b", head)
            head_line = line_of[buf_start] if buf_start is not None else 0
            if m:
                scope.append(("namespace", m.group(1), head, head_line))
                access.append("public")
                buf, buf_start = [], None
            elif k:
                scope.append(("class", k.group(2), head, head_line))
                access.append("private" if k.group(1) == "class"
                              else "public")
                buf, buf_start = [], None
            elif e:
                # An enum's body is data; skip it with its declaration.
                i = matching(code, i, "{", "}")
                continue
            elif "(" in head and not head.endswith("="):
                # A function body: dropped, the declaration ends here.
                i = matching(code, i, "{", "}")
                has_body = True
                flush(i - 1)
                continue
            else:
                # A brace initializer: part of the statement, not of scope.
                j = matching(code, i, "{", "}")
                buf.append(code[i:j])
                i = j
            i += 1 if m or k else 0
            continue
        if paren == 0 and c == "}":
            flush(i)
            if scope:
                scope.pop()
                access.pop()
            i += 1
            continue
        if paren == 0 and c == ":" and code[i:i + 2] != "::" and \
                code[i - 1] != ":":
            word = "".join(buf).strip()
            if word in ("public", "private", "protected") and scope and \
                    scope[-1][0] == "class":
                access[-1] = word
                buf, buf_start = [], None
                i += 1
                continue
        if buf_start is None and not c.isspace():
            buf_start = i
        if buf_start is not None:
            buf.append(c)
        i += 1
    return result


def split_top(text, sep=","):
    """Splits at sep outside (), <>, [], {}."""
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "(<[{":
            depth += 1
        elif c in ")>]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


class Param:
    """One parameter: its declaration, name and default argument."""

    def __init__(self, text):
        self.text = text
        eq = default_at(text)
        self.decl = (text if eq < 0 else text[:eq]).strip()
        self.default = "" if eq < 0 else text[eq + 1:].strip()
        m = re.search(r"(\w+)\s*(\[[^\]]*\])?$", self.decl)
        if not m or len(self.decl.split()) < 2 or m.group(1) in (
                "const", "int", "char", "void"):
            raise GenError("parameter without a name: '%s'" % text)
        self.name = m.group(1)
        self.suffix = m.group(2) or ""


def default_at(text):
    """Where the '=' of a default argument is (outside brackets, not part
    of ==, <=, >=, !=), or -1."""
    depth = 0
    for i, c in enumerate(text):
        if c in "(<[{":
            depth += 1
        elif c in ")>]}":
            depth -= 1
        elif c == "=" and depth == 0 and text[i - 1] not in "=<>!" and \
                text[i + 1:i + 2] != "=":
            return i
    return -1


class Function:
    """One declaration of a function, from its statement."""

    def __init__(self, st):
        self.statement = st
        text = st.text
        self.special = text.endswith(("= default", "= delete"))
        open_paren = text.index("(")
        m = re.search(r"(~?[A-Za-z_]\w*)\s*$", text[:open_paren])
        if not m:
            raise GenError("cannot find the name in '%s'" % text)
        self.name = m.group(1)
        self.is_operator = "operator" in text[:open_paren]
        close = matching(text, open_paren, "(", ")")
        # Unnamed parameters are fine where no page is made (operators).
        try:
            self.params = [Param(p) for p in split_top(text[open_paren + 1:
                                                            close - 1])]
            self.param_error = None
        except GenError as e:
            self.params, self.param_error = [], str(e)
        tail = text[close:]
        # A constructor's member initializers are definition, not
        # declaration.
        mi = re.match(r"^([^:]*?)\s*:(?!:)", tail)
        if mi and st.has_body:
            tail = mi.group(1)
        self.declaration = (text[:close] + tail).strip()
        lead = [w for w in text[:m.start(1)].split() if w not in SPECIFIERS]
        self.return_type = " ".join(lead)

    @property
    def returns_value(self):
        return self.return_type not in ("", "void")


def is_function(st):
    t = st.text
    if "(" not in t or re.match(r"^(using|typedef|static_assert|friend|"
                                r"return|template)\b", t):
        return False
    before = t[:t.index("(")]
    if default_at(before) >= 0:
        return False  # a variable with a parenthesised initializer
    return re.search(r"~?[A-Za-z_]\w*\s*$", before) is not None


# ---------------------------------------------------------------------------
# The doc comment.


class Doc:
    def __init__(self, name, summary):
        self.name = name
        self.summary = summary
        self.params = []         # [(name, text)]
        self.description = []   # paragraphs
        self.tags = {}           # tag -> text


def comment_block(lines, first_line):
    """The comment lines right above first_line (1-based), as text without
    the leading '//', and the number of the block's first line."""
    body = []
    i = first_line - 2
    while i >= 0 and lines[i].strip().startswith("//"):
        body.insert(0, lines[i].strip()[2:])
        i -= 1
    return body, i + 2


def parse_doc(block, where):
    m = DOC_NAME.match(block[0].strip()) if block else None
    if not m:
        return None
    doc = Doc(m.group(1), m.group(2).strip())
    state = None  # ("param", i) | ("desc",) | ("tag", name)
    para = []

    def end_para():
        if para:
            doc.description.append(" ".join(para))
            para.clear()

    for raw in block[1:]:
        line = raw[1:] if raw.startswith(" ") else raw
        if not line.strip():
            end_para()
            state = None
            continue
        p = PARAM.match(line)
        t = TAG.match(line)
        if p:
            end_para()
            doc.params.append([p.group(1), p.group(2)])
            state = ("param", len(doc.params) - 1)
        elif t:
            end_para()
            if t.group(1) in doc.tags:
                raise GenError("%s: '%s:' given twice" % (where, t.group(1)))
            doc.tags[t.group(1)] = t.group(2)
            state = ("tag", t.group(1))
        elif state and state[0] == "param" and line.startswith("  "):
            doc.params[state[1]][1] += " " + line.strip()
        elif state and state[0] == "tag":
            doc.tags[state[1]] += " " + line.strip()
        elif state and state[0] == "param":
            raise GenError("%s: text after @%s: must be indented by two "
                           "spaces or follow a blank comment line"
                           % (where, doc.params[state[1]][0]))
        else:
            para.append(line.strip())
            state = ("desc",)
    end_para()
    return doc


# ---------------------------------------------------------------------------
# Collecting the pages of a header.


def paragraphs(block):
    out, para = [], []
    for raw in block + [""]:
        if raw.strip():
            para.append(raw.strip())
        elif para:
            out.append(" ".join(para))
            para = []
    return out


class Page:
    def __init__(self, qualified, header, doc, decls, scope, where):
        self.class_doc = []
        self.qualified = qualified
        self.header = header
        self.doc = doc
        self.decls = decls
        self.scope = scope
        self.where = where


def qualify(scope, name):
    return "::".join([s[1] for s in scope if s[1]] + [name])


def collect(path, rel, errors):
    """The pages of one header; each fault is appended to errors."""
    src = open(path, encoding="utf-8").read()
    lines = src.split("\n")
    pages = []
    current = None  # the page whose overloads may follow directly
    for st in statements(src):
        if not is_function(st):
            current = None
            continue
        fn = Function(st)
        where = "%s:%d" % (rel, st.first_line)
        block, block_line = comment_block(lines, st.first_line)
        try:
            doc = parse_doc(block, "%s:%d" % (rel, block_line))
        except GenError as e:
            errors.append(str(e))
            current = None
            continue
        public = st.access == "public"
        if doc is None and current is not None and not block and \
                fn.name == current.decls[0].name and \
                st.first_line == current.decls[-1].statement.last_line + 1:
            current.decls.append(fn)
            continue
        current = None
        if doc is None:
            if public and not fn.special and not fn.is_operator and \
                    not fn.name.startswith("~"):
                errors.append("%s: public function %s has no doc comment "
                              "('// %s() - summary' right above it)"
                              % (where, qualify(st.scope, fn.name), fn.name))
            continue
        if not public:
            errors.append("%s: %s is not public; its comment must not be a "
                          "manual page" % (where, fn.name))
            continue
        if doc.name != fn.name:
            errors.append("%s: the doc comment names %s() but the "
                          "declaration below it is %s" % (where, doc.name,
                                                          fn.name))
            continue
        current = Page(qualify(st.scope, fn.name), rel, doc, [fn],
                       st.scope, where)
        pages.append(current)
    # What a class is for opens the pages of its constructors, or of all
    # its members when it has no constructor (an interface).
    classes = {}
    for page in pages:
        if page.scope and page.scope[-1][0] == "class":
            classes.setdefault(page.scope[-1], []).append(page)
    for cls, members in classes.items():
        ctors = [p for p in members if p.decls[0].name == cls[1]]
        block, _ = comment_block(lines, cls[3])
        for page in ctors or members:
            page.class_doc = paragraphs(block)
    good = []
    for page in pages:
        try:
            check(page)
            good.append(page)
        except GenError as e:
            errors.append(str(e))
    return good


def check(page):
    declared = []
    for fn in page.decls:
        if fn.param_error:
            raise GenError("%s: %s" % (page.where, fn.param_error))
        for p in fn.params:
            if p.name not in declared:
                declared.append(p.name)
    documented = [p[0] for p in page.doc.params]
    for name in declared:
        if name not in documented:
            raise GenError("%s: %s: parameter '%s' has no '@%s:' line"
                           % (page.where, page.doc.name, name, name))
    for name in documented:
        if name not in declared:
            raise GenError("%s: %s: '@%s:' names no parameter of the "
                           "declaration" % (page.where, page.doc.name, name))
    if any(fn.returns_value for fn in page.decls) and \
            "Returns" not in page.doc.tags:
        raise GenError("%s: %s returns %s but its comment has no "
                       "'Returns:'" % (page.where, page.doc.name,
                                       page.decls[0].return_type))


# ---------------------------------------------------------------------------
# roff.


def esc(text):
    """Text for a roff text line or a quoted macro argument."""
    text = text.replace("\\", "\\e").replace('"', "\\(dq")
    # Minus signs of options and negative numbers, not word hyphens.
    text = re.sub(r"(?<![\w-])-(?=[-\d])", r"\\-", text)
    text = re.sub(r"(?<=\\-)-", r"\\-", text)
    return text


def line(text):
    return ("\\&" + text) if text[:1] in (".", "'") else text


class Markup:
    """Inline references in prose: functions with pages in bold (with the
    section when not on this page), error codes with their values."""

    def __init__(self, pages, codes):
        self.pages = pages
        self.codes = codes

    def resolve(self, name, scope):
        names = [s[1] for s in scope if s[1]]
        for k in range(len(names), -1, -1):
            q = "::".join(names[:k] + [name])
            if q in self.pages:
                return q
        return None

    def __call__(self, text, page):
        out = esc(text)

        def code(m):
            return "\\fB%s\\fP (\\-%s)" % (m.group(1),
                                           self.codes[m.group(1)].lstrip("-"))

        def func(m):
            q = self.resolve(m.group(1).replace("\\e", "\\"), page.scope)
            if q is None:
                return m.group(0)
            return "\\fB%s\\fP()" % m.group(1)

        out = re.sub(r"\b(%s)\b" % "|".join(map(re.escape, self.codes))
                     if self.codes else r"(?!)", code, out)
        out = re.sub(r"\b((?:\w+::)*\w+)\(\)", func, out)
        return out


def synopsis(page):
    """The header, then the declarations in their namespace and class, as
    C++ a reader can paste; each declaration hangs, so its continuation
    lines stand out."""
    out = [".B #include <%s>" % page.header, ".sp"]
    closers = []
    namespaces = [s[1] for s in page.scope if s[0] == "namespace" and s[1]]
    classes = [s for s in page.scope if s[0] == "class"]
    if namespaces:
        out += [".B namespace %s {" % "::".join(namespaces), ".br"]
        closers.insert(0, "}")
    indent = 0
    for c in classes:
        out += [".B %s {" % esc(c[2]), ".br"]
        out += [".B \\ public:", ".br"] if c[2].startswith("class") else []
        closers.insert(0, "};")
        indent += 2
    if indent:
        out.append(".in +%dn" % indent)
    for fn in page.decls:
        out += [".in +4n", ".ti -4n", ".BI " + bi_args(fn), ".in -4n"]
    if indent:
        out.append(".in -%dn" % indent)
    for c in closers:
        out += [".br", ".B %s" % c]
    return out


def bi_args(fn):
    """The declaration as alternating bold/italic .BI arguments: the
    parameter names in italics, all else in bold."""
    text = fn.declaration + ";"
    pieces, pos = [], 0
    start = text.index(fn.name + "(") + len(fn.name)
    for p in fn.params:
        k = text.index(p.text, start)
        name_at = k + p.decl.rindex(p.name + p.suffix)
        pieces.append(text[pos:name_at])
        pieces.append(p.name)
        pos = name_at + len(p.name)
        start = k + len(p.text)
    pieces.append(text[pos:])
    # Inside the parameter list lines break only after a comma or the '='
    # of a default argument, as clang-format breaks them; before it,
    # between return type and name.
    out, in_params = [], False
    for s in pieces:
        head, paren, rest = (s.partition("(") if not in_params
                             else ("", "", s))
        in_params = in_params or bool(paren)
        out.append('"%s"' % (esc(head + paren) +
                             re.sub(r"(?<![,=]) ", r"\\ ", esc(rest))))
    return " ".join(out)


def render(page, markup, version, footer):
    doc = page.doc
    out = [
        '.\\" Generated by man/gen_api_man.py from %s; do not edit.'
        % page.header,
        '.TH "%s" 3 "" "dtls-cookie %s" "dtls-cookie API"'
        % (page.qualified, version),
        ".nh",
        ".ad l",
        ".SH NAME",
        "%s \\- %s" % (page.qualified, esc(doc.summary)),
        ".SH SYNOPSIS",
    ]
    out += synopsis(page)
    if doc.params:
        out.append(".SH ARGUMENTS")
        by_name = {}
        for fn in page.decls:
            for p in fn.params:
                by_name.setdefault(p.name, p)
        for name, text in doc.params:
            p = by_name[name]
            label = p.decl + (" = " + p.default if p.default else "")
            out += ['.IP "%s" 12' % esc(label), line(markup(text, page))]
    description = page.class_doc + doc.description
    if description:
        out.append('.SH "DESCRIPTION"')
        for k, para in enumerate(description):
            if k:
                out.append(".PP")
            out.append(line(markup(para, page)))
    for tag in ("Returns", "Throws"):
        if tag in doc.tags:
            out += ['.SH "%s"' % SECTION_OF_TAG[tag],
                    line(markup(doc.tags[tag], page))]
    out += footer
    refs = see_also(page, markup)
    if refs:
        out.append('.SH "SEE ALSO"')
        for k, (name, sec) in enumerate(refs):
            out.append(".BR %s (%s)%s" % (esc(name), sec,
                                         "," if k + 1 < len(refs) else ""))
    return "\n".join(out) + "\n"


def see_also(page, markup):
    text = page.doc.tags.get("See also", "")
    refs = []
    for item in [s.strip() for s in text.split(",") if s.strip()]:
        m = re.match(r"^([\w:.-]+)\((\d\w*)\)$", item)
        f = re.match(r"^((?:\w+::)*~?\w+)\(\)$", item)
        if m:
            refs.append((m.group(1), m.group(2)))
        elif f:
            q = markup.resolve(f.group(1), page.scope)
            if q is None:
                raise GenError("%s: See also: %s has no page"
                               % (page.where, item))
            refs.append((q, "3"))
        else:
            raise GenError("%s: See also: '%s' is neither name() nor "
                           "name(section)" % (page.where, item))
    return refs


def error_codes(include_dir):
    path = os.path.join(include_dir, "dtls_cookie", "error.hpp")
    if not os.path.exists(path):
        return {}
    return dict(ERROR_CODE.findall(open(path, encoding="utf-8").read()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--include-dir", required=True,
                    help="the directory headers are included from")
    ap.add_argument("--out-dir", required=True,
                    help="where the .3 pages go (its old .3 files are "
                    "removed)")
    ap.add_argument("--version", required=True)
    ap.add_argument("--footer", help="roff sections for every page")
    ap.add_argument("--list", action="store_true",
                    help="print the qualified names instead of writing")
    ap.add_argument("headers", nargs="+")
    a = ap.parse_args()

    pages, errors = [], []
    for h in a.headers:
        rel = os.path.relpath(os.path.abspath(h),
                              os.path.abspath(a.include_dir))
        pages += collect(h, rel, errors)
    seen = {}
    for p in pages:
        if p.qualified in seen:
            errors.append("%s: %s is documented twice (also at %s); put its "
                          "overloads right below one comment"
                          % (p.where, p.qualified, seen[p.qualified]))
        seen[p.qualified] = p.where
    if errors:
        for e in errors:
            print("gen_api_man: %s" % e, file=sys.stderr)
        return 1

    if a.list:
        for p in pages:
            print(p.qualified)
        return 0

    footer = []
    if a.footer:
        footer = [l for l in open(a.footer, encoding="utf-8").read()
                  .split("\n") if l.strip() and not l.startswith('.\\"')]
    markup = Markup({p.qualified: p for p in pages},
                    error_codes(a.include_dir))
    try:
        rendered = {p.qualified: render(p, markup, a.version, footer)
                    for p in pages}
    except GenError as e:
        print("gen_api_man: %s" % e, file=sys.stderr)
        return 1
    os.makedirs(a.out_dir, exist_ok=True)
    for f in os.listdir(a.out_dir):
        if f.endswith(".3") and f[:-2] not in rendered:
            os.remove(os.path.join(a.out_dir, f))
    for name, text in rendered.items():
        path = os.path.join(a.out_dir, name + ".3")
        old = open(path, encoding="utf-8").read() \
            if os.path.exists(path) else None
        if old != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
