// Writes dtls-cookie(8) from the agent's CLI11 definition (cli.cpp) and the
// prose in dtls-cookie.8.in, so every subcommand, option, type, default,
// group and example in the page is the one the binary parses.
#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "dtls_cookie/version.hpp"

namespace {

// A fault in the template or in the CLI definition that would make the
// page wrong; generation stops with it.
struct gen_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------
// roff

// Code (options, commands, paths, file contents): every '-' a minus sign, so
// that what a reader copies from the page runs.
std::string code(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  return out;
}

// Prose: word hyphens stay hyphens; words that are code (options, the
// command's name, paths) get minus signs.
std::string prose(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t j = std::min(s.find(' ', i), s.size());
    const std::string_view word = s.substr(i, j - i);
    const size_t start = word.find_first_not_of("(`'\"[");
    const bool is_code =
        (start != std::string_view::npos && word[start] == '-') ||
        word.find("dtls-cookie") != std::string_view::npos ||
        word.find('/') != std::string_view::npos;
    std::string w = is_code ? code(word) : std::string(word);
    if (!is_code) {
      std::string e;
      for (char c : w) e += c == '\\' ? std::string("\\e") : std::string(1, c);
      w = e;
    }
    out += w;
    if (j < s.size()) out += ' ';
    i = j + 1;
  }
  return out;
}

// A text line must not start with a control character.
std::string text_line(const std::string& s) {
  if (!s.empty() && (s[0] == '.' || s[0] == '\'')) return "\\&" + s;
  return s;
}

std::string quoted(const std::string& roff) { return "\"" + roff + "\""; }

// ---------------------------------------------------------------------------
// What a footer holds: prose, then "Examples:" with one command per line
// indented by two spaces and its explanation indented further, then prose
// again.

struct example {
  std::string command;
  std::string explanation;
};

struct footer_parts {
  std::vector<std::string> lead;  // paragraphs before the examples
  std::vector<example> examples;
  std::vector<std::string> tail;  // paragraphs after them
};

footer_parts split_footer(const std::string& footer) {
  footer_parts f;
  std::istringstream in(footer);
  std::string line, para;
  bool in_examples = false, after = false;
  auto end_para = [&] {
    if (para.empty()) return;
    (after ? f.tail : f.lead).push_back(para);
    para.clear();
  };
  while (std::getline(in, line)) {
    const size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) {
      end_para();
      continue;
    }
    const std::string text = line.substr(indent);
    if (!in_examples && !after && text == "Examples:") {
      end_para();
      in_examples = true;
      continue;
    }
    if (in_examples && indent == 2) {
      f.examples.push_back({text, ""});
      continue;
    }
    if (in_examples && indent > 2 && !f.examples.empty()) {
      std::string& e = f.examples.back().explanation;
      e += (e.empty() ? "" : " ") + text;
      continue;
    }
    if (in_examples) {
      in_examples = false;
      after = true;
    }
    para += (para.empty() ? "" : " ") + text;
  }
  end_para();
  return f;
}

// ---------------------------------------------------------------------------
// Options

bool is_flag(const CLI::Option* o) { return o->get_type_size_max() == 0; }

bool is_meta(const CLI::App& app, const CLI::Option* o) {
  return o == app.get_help_ptr() || o == app.get_help_all_ptr() ||
         o == app.get_version_ptr() || o == app.get_config_ptr();
}

std::vector<std::string> names(const CLI::Option* o) {
  std::vector<std::string> out;
  for (const std::string& s : o->get_snames()) out.push_back("-" + s);
  for (const std::string& l : o->get_lnames()) out.push_back("--" + l);
  return out;
}

std::string long_name(const CLI::Option* o) {
  if (o->get_lnames().empty())
    throw gen_error("option " + o->get_name() + " has no long name");
  return "--" + o->get_lnames().front();
}

// "--port P[,P...]" in roff; "-v, --verbose", or "-v" for a synopsis.
std::string option_head(const CLI::Option* o, bool all_names = true) {
  std::string out;
  for (const std::string& n : names(o)) {
    out += (out.empty() ? "" : ", ") + std::string("\\fB") + code(n) + "\\fP";
    if (!all_names) break;
  }
  if (!is_flag(o) && !o->get_type_name().empty())
    out += " \\fI" + code(o->get_type_name()) + "\\fP";
  return out;
}

// Required, default, repetition and dependencies, as one sentence each.
std::vector<std::string> option_facts(const CLI::Option* o) {
  std::vector<std::string> facts;
  if (o->get_required()) facts.push_back("Required.");
  if (!is_flag(o) && !o->get_default_str().empty())
    facts.push_back("Default: \\fB" + code(o->get_default_str()) + "\\fP.");
  if (!is_flag(o) && o->get_items_expected_max() > 1) {
    std::string f = "Repeatable";
    if (o->get_delimiter() != '\0')
      f += std::string("; values may also be separated by '") +
           o->get_delimiter() + "'";
    facts.push_back(f + ".");
  }
  for (const CLI::Option* n : o->get_needs())
    facts.push_back("Needs \\fB" + code(long_name(n)) + "\\fP.");
  for (const CLI::Option* x : o->get_excludes())
    facts.push_back("Not with \\fB" + code(long_name(x)) + "\\fP.");
  return facts;
}

// The description as CLI11 has it, then the facts on a line of their own.
void write_option(std::ostream& out, const CLI::Option* o) {
  out << ".TP\n" << option_head(o) << "\n";
  out << text_line(prose(o->get_description())) << "\n";
  std::string facts;
  for (const std::string& f : option_facts(o))
    facts += (facts.empty() ? "" : " ") + f;
  if (!facts.empty()) out << ".br\n" << facts << "\n";
}

// Options in CLI11's groups, in the order the help shows them.
void write_grouped_options(std::ostream& out, const CLI::App& app,
                           bool headings) {
  std::vector<std::string> groups;
  for (const CLI::Option* o : app.get_options())
    if (!o->get_group().empty() &&
        std::find(groups.begin(), groups.end(), o->get_group()) == groups.end())
      groups.push_back(o->get_group());
  for (const std::string& g : groups) {
    if (headings) out << ".PP\n.B " << quoted(prose(g) + ":") << "\n";
    for (const CLI::Option* o : app.get_options())
      if (o->get_group() == g) write_option(out, o);
  }
}

std::vector<CLI::App*> subcommands(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

// ---------------------------------------------------------------------------
// Sections

void write_examples(std::ostream& out, const std::vector<example>& examples) {
  for (const example& e : examples)
    out << ".TP\n.B " << code(e.command) << "\n"
        << text_line(prose(e.explanation)) << "\n";
}

void write_paragraphs(std::ostream& out, const std::vector<std::string>& ps) {
  for (size_t i = 0; i < ps.size(); ++i)
    out << (i ? ".PP\n" : "") << text_line(prose(ps[i])) << "\n";
}

// "dtls-cookie attach --iface IF[,IF...] --port P[,P...] [OPTIONS]"
std::string synopsis_line(const CLI::App& app, const CLI::App* sub) {
  std::string line = "\\fB" + code(app.get_name()) + "\\fP";
  if (sub == nullptr) {
    for (const CLI::Option* o : app.get_options())
      if (!o->get_group().empty() && o != app.get_help_ptr() &&
          o != app.get_version_ptr())
        line += " [" + option_head(o, false) + "]";
    return line + " \\fISUBCOMMAND\\fP [\\fIOPTIONS\\fP]";
  }
  line += " \\fB" + code(sub->get_name()) + "\\fP";
  for (const CLI::Option* o : sub->get_options())
    if (o->get_required()) line += " " + option_head(o);
  return line + " [\\fIOPTIONS\\fP]";
}

void write_synopsis(std::ostream& out, CLI::App& app) {
  out << ".SH SYNOPSIS\n";
  bool first = true;
  auto emit = [&](const std::string& line) {
    if (!first) out << ".br\n";
    first = false;
    out << ".in +4n\n.ti -4n\n" << line << "\n.in -4n\n";
  };
  emit(synopsis_line(app, nullptr));
  for (CLI::App* sub : subcommands(app)) emit(synopsis_line(app, sub));
  emit("\\fB" + code(app.get_name()) + "\\fP \\fB" +
       code(long_name(app.get_version_ptr())) + "\\fP | \\fB" +
       code(long_name(app.get_help_ptr())) + "\\fP");
}

void write_subcommands(std::ostream& out, CLI::App& app) {
  for (CLI::App* sub : subcommands(app)) {
    const footer_parts f = split_footer(sub->get_footer());
    out << ".SS " << sub->get_name() << "\n";
    out << text_line(prose(sub->get_description())) << "\n";
    for (const std::string& p : f.lead)
      out << ".PP\n" << text_line(prose(p)) << "\n";
    for (const std::string& p : f.tail)
      out << ".PP\n" << text_line(prose(p)) << "\n";
    write_grouped_options(out, *sub, true);
    if (!f.examples.empty()) {
      out << ".PP\n.B Examples:\n";
      write_examples(out, f.examples);
    }
  }
}

// The config file's keys: the long names without their dashes.
void write_config_keys(std::ostream& out, CLI::App& app) {
  auto keys = [&](const CLI::App& a) {
    std::string list;
    for (const CLI::Option* o : a.get_options())
      if (!is_meta(a, o) && !is_meta(app, o) && o->get_configurable())
        list += (list.empty() ? "" : ", ") + std::string("\\fB") +
                code(o->get_lnames().front()) + "\\fP";
    return list;
  };
  out << ".TP\n(top level)\n" << keys(app) << "\n";
  for (CLI::App* sub : subcommands(app))
    out << ".TP\n.B [" << sub->get_name() << "]\n" << keys(*sub) << "\n";
}

std::string toml_value(const std::string& v) {
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos)
    return v;
  return "\"" + v + "\"";
}

// The last example of a subcommand, written as a config file.
void write_config_example(std::ostream& out, CLI::App& app,
                          const std::string& name) {
  CLI::App* sub = app.get_subcommand(name);
  const auto examples = split_footer(sub->get_footer()).examples;
  if (examples.empty()) throw gen_error(name + " has no example");
  std::istringstream in(examples.back().command);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<std::string> top, table;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.rfind("-", 0) != 0) continue;  // the command and subcommand
    CLI::Option* o = nullptr;
    bool global = false;
    try {
      o = sub->get_option(w);
    } catch (const CLI::OptionNotFound&) {
      o = app.get_option(w);
      global = true;
    }
    std::string line = o->get_lnames().front() + " = ";
    if (is_flag(o)) {
      line += "true";
    } else {
      const std::string v = words.at(++i);
      const char d = o->get_delimiter();
      if (d != '\0' && v.find(d) != std::string::npos) {
        std::string list;
        std::istringstream items(v);
        for (std::string item; std::getline(items, item, d);)
          list += (list.empty() ? "" : ", ") + toml_value(item);
        line += "[" + list + "]";
      } else {
        line += toml_value(v);
      }
    }
    (global ? top : table).push_back(line);
  }
  out << ".PP\n.RS\n.nf\n";
  for (const std::string& l : top) out << code(l) << "\n";
  out << "[" << name << "]\n";
  for (const std::string& l : table) out << code(l) << "\n";
  out << ".fi\n.RE\n";
}

// Every option the template names must exist, or its prose has drifted.
void check_template_options(const std::string& tmpl, CLI::App& app) {
  std::set<std::string> known;
  auto add = [&](const CLI::App& a) {
    for (const CLI::Option* o : a.get_options())
      for (const std::string& n : names(o)) known.insert(n);
  };
  add(app);
  for (CLI::App* sub : subcommands(app)) add(*sub);
  std::istringstream in(tmpl);
  size_t lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (line.rfind(".\\\"", 0) == 0) continue;
    for (size_t p = line.find("\\-\\-"); p != std::string::npos;
         p = line.find("\\-\\-", p + 4)) {
      std::string opt = "--";
      for (size_t k = p + 4; k < line.size();) {
        if (line.compare(k, 2, "\\-") == 0) {
          opt += '-';
          k += 2;
        } else if (std::isalnum(static_cast<unsigned char>(line[k]))) {
          opt += line[k++];
        } else {
          break;
        }
      }
      if (!known.count(opt))
        throw gen_error("template line " + std::to_string(lineno) + " names " +
                        opt + ", which is no option of " + app.get_name());
    }
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw gen_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string generate(CLI::App& app, const std::string& tmpl,
                     const std::string& footer) {
  check_template_options(tmpl, app);
  std::ostringstream out;
  out << ".\\\" Generated by man/gen_agent_man from the agent's command line "
         "(userspace/agent/cli.cpp) and man/dtls-cookie.8.in; do not edit.\n";
  out << ".TH DTLS\\-COOKIE 8 \"\" \"dtls-cookie " << DTLS_COOKIE_VERSION
      << "\" \"System Administration\"\n";
  out << ".nh\n.ad l\n.SH NAME\n";
  std::string description = app.get_description();
  const std::string prefix = app.get_name() + ": ";
  if (description.rfind(prefix, 0) == 0)
    description = description.substr(prefix.size());
  out << code(app.get_name()) << " \\- " << prose(description) << "\n";
  write_synopsis(out, app);

  const footer_parts app_footer = split_footer(app.get_footer());
  std::istringstream in(tmpl);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(".\\\"", 0) == 0) continue;
    if (line.size() < 3 || line.front() != '@' || line.back() != '@') {
      out << line << "\n";
      continue;
    }
    const std::string key = line.substr(1, line.size() - 2);
    if (key == "GLOBAL_OPTIONS") {
      write_grouped_options(out, app, false);
    } else if (key == "SUBCOMMANDS") {
      write_subcommands(out, app);
    } else if (key == "CONFIG_KEYS") {
      write_config_keys(out, app);
    } else if (key.rfind("CONFIG_EXAMPLE ", 0) == 0) {
      write_config_example(out, app, key.substr(15));
    } else if (key == "APP_FOOTER_LEAD") {
      write_paragraphs(out, app_footer.lead);
    } else if (key == "APP_EXAMPLES") {
      write_examples(out, app_footer.examples);
    } else if (key == "APP_FOOTER_TAIL") {
      write_paragraphs(out, app_footer.tail);
    } else if (key == "FOOTER") {
      std::istringstream f(footer);
      for (std::string l; std::getline(f, l);)
        if (l.rfind(".\\\"", 0) != 0) out << l << "\n";
    } else {
      throw gen_error("unknown placeholder @" + key + "@");
    }
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s TEMPLATE FOOTER OUTPUT\n", argv[0]);
    return 2;
  }
  try {
    dtls_cookie::agent::command_line cli;
    const std::string page =
        generate(cli.app(), read_file(argv[1]), read_file(argv[2]));
    std::ofstream out(argv[3]);
    out << page;
    if (!out.flush()) throw gen_error(std::string("cannot write ") + argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gen_agent_man: %s\n", e.what());
    return 1;
  }
  return 0;
}
