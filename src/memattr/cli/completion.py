"""``memattr completion bash|zsh|fish``: a shell completion script, generated from the parsers.

The script is written from the same argparse parsers the commands use (every command, every
sub-command such as ``decode mair``, every option, the choices of an option, the values of
``--policy`` and ``--cpu`` from their registries), so it cannot drift from the command line.
Install::

    memattr completion bash > ~/.local/share/bash-completion/completions/memattr
    memattr completion zsh > "${fpath[1]}/_memattr"      # or: source <(memattr completion zsh)
    memattr completion fish > ~/.config/fish/completions/memattr.fish
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run", "Node", "tree", "script", "SHELLS"]

SHELLS = ("bash", "zsh", "fish")

_FILE = "@file"  # the value is a path
_ANY = "@any"  # the value is free text (nothing to offer)
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+:/-")


def register(subparsers: Any) -> None:
    """Add ``completion`` and its argument."""
    p = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for SHELL, generated from memattr's own "
        "parsers: commands, sub-commands, options, choices and policy/CPU names.  Install: "
        "'memattr completion bash > ~/.local/share/bash-completion/completions/memattr'; "
        "'memattr completion zsh > \"${fpath[1]}/_memattr\"' (or 'source <(memattr completion "
        "zsh)'); 'memattr completion fish > ~/.config/fish/completions/memattr.fish'.",
    )
    p.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash, zsh or fish")


class Node:
    """One parser of the command tree: its sub-commands, options and positional arguments.

    :param path: the command words leading to it (``()`` for ``memattr`` itself).
    """

    def __init__(self, path: tuple[str, ...], help: str = "") -> None:
        self.path = path
        self.help = help
        self.subs: list[tuple[str, str]] = []  # (name, help), aliases included
        self.options: list[tuple[tuple[str, ...], str, str | None]] = []  # (strings, help, values)
        self.positional: str | None = None  # _FILE, words, or None

    @property
    def key(self) -> str:
        """The path as the scripts write it: ``""``, ``"decode"``, ``"decode/mair"``."""
        return "/".join(self.path)

    def values(self, option: str) -> str | None:
        """What the option takes: None (a flag), _FILE, _ANY, or space-separated choices."""
        for strings, _help, values in self.options:
            if option in strings:
                return values
        return None


def _help(text: str | None) -> str:
    """The first sentence of an argparse help text, without %-formatting, one line."""
    if not text or text == argparse.SUPPRESS:
        return ""
    text = " ".join(text.replace("%%", "%").split())
    head = text.split(". ")[0].split(" (")[0] if len(text) > 70 else text
    return head[:80]


def _dynamic(dest: str) -> list[str] | None:
    """Values from a registry for options the parsers leave free: --policy, --cpu."""
    if dest == "policy":
        from ..linux.policy import policies

        return list(policies())
    if dest == "cpu":
        from ..arch.cpu import PRESETS

        return ["all", *PRESETS]
    return None


def _words(values: Any) -> str:
    return " ".join(str(v) for v in values if str(v) and set(str(v)) <= _SAFE)


def _name(action: argparse.Action) -> str:
    """The metavar (or dest) of an action, lower case."""
    meta = action.metavar if isinstance(action.metavar, str) else None
    return (meta or action.dest or "").lower()


def _option_values(action: argparse.Action) -> str | None:
    if action.nargs == 0:
        return None
    if action.choices is not None:
        return _words(action.choices)
    dynamic = _dynamic(action.dest)
    if dynamic is not None:
        return _words(dynamic)
    if "file" in _name(action):
        return _FILE
    return _ANY


def tree(parser: argparse.ArgumentParser | None = None) -> list[Node]:
    """Every parser of the command line, top first (``memattr``, then each command ...)."""
    if parser is None:
        from . import build_parser

        parser, _modules = build_parser()
    out: list[Node] = []

    def visit(p: argparse.ArgumentParser, path: tuple[str, ...], help: str) -> None:
        node = Node(path, help)
        out.append(node)
        children: list[tuple[str, argparse.ArgumentParser, str]] = []
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: _help(a.help) for a in action._choices_actions}
                seen: dict[int, str] = {}
                for name, sub in action.choices.items():
                    main = seen.setdefault(id(sub), name)  # an alias shares its command's parser
                    node.subs.append((name, helps.get(main, "")))
                    children.append((name, sub, helps.get(main, "")))
            elif action.option_strings:
                node.options.append((tuple(action.option_strings), _help(action.help),
                                     _option_values(action)))
            elif node.positional is None:
                if action.choices is not None:
                    node.positional = _words(action.choices)
                elif any(w in _name(action) for w in ("file", "esr", "input")):
                    node.positional = _FILE
        for name, sub, h in children:
            visit(sub, (*path, name), h)

    visit(parser, (), parser.description or "")
    return out


# --- bash ---------------------------------------------------------------------------------------

def _sq(text: str) -> str:
    """``text`` in single quotes for bash/zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def _case(name: str, rows: list[tuple[str, str]], args: str) -> list[str]:
    out = [f"{name}() {{", f"    case {args} in"]
    out += [f"        {_sq(k)}) echo {_sq(v)} ;;" for k, v in rows if v]
    out += ["    esac", "}", ""]
    return out


def _data_functions(nodes: list[Node]) -> list[str]:
    subs = [(n.key, " ".join(s for s, _ in n.subs)) for n in nodes]
    opts = [(n.key, " ".join(s for strings, _, _ in n.options for s in strings)) for n in nodes]
    vals = [(f"{n.key}|{s}", v) for n in nodes for strings, _, v in n.options
            if v is not None for s in strings]
    pos = [(n.key, n.positional or "") for n in nodes]
    return (_case("_memattr_subs", subs, '"$1"') + _case("_memattr_opts", opts, '"$1"')
            + _case("_memattr_vals", vals, '"$1|$2"') + _case("_memattr_pos", pos, '"$1"'))


_WALK = """\
# The command path ("", "decode", "decode/mair") of the words before the cursor; options and the
# values of the options that take one are skipped.
_memattr_path() {
    local cmdpath="" skip=0 w s
    for w in "$@"; do
        if [[ $skip == 1 ]]; then skip=0; continue; fi
        if [[ $w == -* ]]; then
            [[ $w != *=* && -n $(_memattr_vals "$cmdpath" "$w") ]] && skip=1
            continue
        fi
        for s in $(_memattr_subs "$cmdpath"); do
            if [[ $s == "$w" ]]; then cmdpath="${cmdpath:+$cmdpath/}$w"; break; fi
        done
    done
    echo "$cmdpath"
}
"""

_HEADER = "# {shell} completion for memattr. Generated by `memattr completion {shell}` from " \
          "memattr's parsers; do not edit."


def _bash(nodes: list[Node]) -> str:
    body = [_HEADER.format(shell="bash"), ""] + _data_functions(nodes) + [_WALK, """\
_memattr() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath vals
    (( COMP_CWORD > 1 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmdpath=$(_memattr_path "${COMP_WORDS[@]:1:COMP_CWORD-1}")
    COMPREPLY=()
    if [[ $cur == --*=* ]]; then
        vals=$(_memattr_vals "$cmdpath" "${cur%%=*}")
        case "$vals" in
            @file) COMPREPLY=($(compgen -f -P "${cur%%=*}=" -- "${cur#*=}")) ;;
            @any|"") ;;
            *) COMPREPLY=($(compgen -P "${cur%%=*}=" -W "$vals" -- "${cur#*=}")) ;;
        esac
        return
    fi
    if [[ $prev == -* && $prev != *=* ]]; then
        vals=$(_memattr_vals "$cmdpath" "$prev")
        case "$vals" in
            "") ;;
            @file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
            @any) return ;;
            *) COMPREPLY=($(compgen -W "$vals" -- "$cur")); return ;;
        esac
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_memattr_opts "$cmdpath")" -- "$cur"))
        return
    fi
    vals=$(_memattr_subs "$cmdpath")
    [[ -z $vals ]] && vals=$(_memattr_pos "$cmdpath")
    case "$vals" in
        @file) COMPREPLY=($(compgen -f -- "$cur")) ;;
        "") ;;
        *) COMPREPLY=($(compgen -W "$vals" -- "$cur")) ;;
    esac
}

complete -o filenames -F _memattr memattr
"""]
    return "\n".join(body)


# --- zsh ----------------------------------------------------------------------------------------

def _zdescribe(rows: list[tuple[str, str]]) -> str:
    return " ".join(_sq(f"{name.replace(':', chr(92) + ':')}:{h}") for name, h in rows)


def _zsh(nodes: list[Node]) -> str:
    described = []
    for n in nodes:
        rows = [(s, h) for s, h in n.subs]
        if rows:
            described.append((n.key, f"_describe -t commands 'memattr command' "
                                     f"({_zdescribe(rows)})"))
    odesc = []
    for n in nodes:
        rows = [(s, h) for strings, h, _ in n.options for s in strings]
        odesc.append((n.key, f"_describe -t options 'option' ({_zdescribe(rows)})"))
    body = [_HEADER.format(shell="zsh").replace("# zsh", "#compdef memattr\n# zsh"), ""]
    body += _data_functions(nodes)
    body += ["_memattr_describe_subs() {", '    case "$1" in']
    body += [f"        {_sq(k)}) {v} ;;" for k, v in described]
    body += ["    esac", "}", "", "_memattr_describe_opts() {", '    case "$1" in']
    body += [f"        {_sq(k)}) {v} ;;" for k, v in odesc]
    body += ["    esac", "}", ""]
    body += [_WALK, """\
_memattr() {
    local cur="${words[CURRENT]}" prev="" cmdpath vals
    (( CURRENT > 2 )) && prev="${words[CURRENT-1]}"
    cmdpath=$(_memattr_path "${(@)words[2,CURRENT-1]}")
    if [[ $prev == -* && $prev != *=* ]]; then
        vals=$(_memattr_vals "$cmdpath" "$prev")
        case "$vals" in
            "") ;;
            @file) _files; return ;;
            @any) _message 'value'; return ;;
            *) compadd -- ${=vals}; return ;;
        esac
    fi
    if [[ $cur == -* ]]; then
        _memattr_describe_opts "$cmdpath"
        return
    fi
    if [[ -n $(_memattr_subs "$cmdpath") ]]; then
        _memattr_describe_subs "$cmdpath"
        return
    fi
    vals=$(_memattr_pos "$cmdpath")
    case "$vals" in
        @file) _files ;;
        "") ;;
        *) compadd -- ${=vals} ;;
    esac
}

if [[ "${funcstack[1]}" == "_memattr" ]]; then
    _memattr "$@"
else
    compdef _memattr memattr
fi
"""]
    return "\n".join(body)


# --- fish ---------------------------------------------------------------------------------------

def _fq(text: str) -> str:
    """``text`` in single quotes for fish."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(nodes: list[Node]) -> str:
    paths = " ".join(_fq(n.key) for n in nodes if n.key)
    valued = " ".join(_fq(f"{n.key}|{s}") for n in nodes for strings, _, v in n.options
                      if v is not None for s in strings)
    out = [_HEADER.format(shell="fish"), "",
           f"set -g __memattr_paths {paths}",
           f"set -g __memattr_valued {valued}", "",
           "# The command path of the words before the cursor (options and their values skipped).",
           "function __memattr_path",
           "    set -l path ''",
           "    set -l skip 0",
           "    for w in (commandline -opc)[2..-1]",
           "        if test $skip = 1",
           "            set skip 0",
           "            continue",
           "        end",
           "        if string match -q -- '-*' $w",
           "            if not string match -q -- '*=*' $w; and contains -- \"$path|$w\" "
           "$__memattr_valued",
           "                set skip 1",
           "            end",
           "            continue",
           "        end",
           "        set -l next $w",
           "        test -n \"$path\"; and set next \"$path/$w\"",
           "        contains -- $next $__memattr_paths; and set path $next",
           "    end",
           "    echo $path",
           "end", "",
           "function __memattr_at",
           "    set -l here (__memattr_path)",
           "    test \"$here\" = \"$argv[1]\"",
           "end", "",
           "complete -c memattr -f", ""]
    for n in nodes:
        cond = f"-n {_fq('__memattr_at ' + _fq(n.key))}"
        for name, h in n.subs:
            out.append(f"complete -c memattr {cond} -a {_fq(name)} -d {_fq(h)}")
        for strings, h, values in n.options:
            flags = " ".join(f"-l {s[2:]}" if s.startswith("--") else f"-s {s[1:]}"
                             for s in strings)
            if values is None:
                arg = ""
            elif values == _FILE:
                arg = " -r -F"
            elif values == _ANY:
                arg = " -x"
            else:
                arg = f" -x -a {_fq(values)}"
            out.append(f"complete -c memattr {cond} {flags}{arg} -d {_fq(h)}")
        if not n.subs and n.positional == _FILE:
            out.append(f"complete -c memattr {cond} -F")
        elif not n.subs and n.positional:
            out.append(f"complete -c memattr {cond} -a {_fq(n.positional)}")
    return "\n".join(out) + "\n"


def script(shell: str, parser: argparse.ArgumentParser | None = None) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    nodes = tree(parser)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](nodes)


def run(args: argparse.Namespace) -> int:
    """Print the script."""
    import sys

    sys.stdout.write(script(args.shell))
    return 0
